"""What ``--state`` may be given, and what the state files are afterwards (real SQLite files, no lab).

A command that only reads the state never creates, converts or locks it; whatever is not a jiyue
state is refused with exit 2 and left byte for byte as it was, with no file added beside it; a
full disk is reported as such and leaves the state as it was; the state and its runs are private.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer
from click.testing import Result

from cli.where import open_store
from jiyue.registry import load_city
from jiyue.registry.generate import generate
from migration.state import ORDER, SCHEMA_VERSION, State, StateError, StateFull, Store

SYSTEMS = 200
#: the commands that only read the state (those that read a registry read a small one: see ``city``)
READERS = [("migrate", "status", "CITY"), ("migrate", "status", "--format", "json", "CITY"), ("migrate", "report"),
           ("migrate", "plan", "CITY"), ("audit", "score", "CITY"), ("audit", "report", "CITY")]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("city") / "city", departments=2, systems_per_department=2, seed=7)


@pytest.fixture
def run(cli, city) -> Callable[..., Result]:  # noqa: ANN001
    """The CLI, with ``CITY`` in a command standing for ``--city`` of the small city."""

    def invoke(*args: object) -> Result:
        return cli(*[a for x in args for a in (("--city", city) if x == "CITY" else (x,))])

    return invoke


def _write_state(db: Path, systems: int = SYSTEMS) -> None:
    """A state with many rows: systems through the forward path with their steps' details and
    the audit's evidence."""
    detail = {"message": "ok", "discovered": {f"host{i}": {"accounts": [{"name": f"u{j}", "uid": 1000 + j}
                                                                        for j in range(12)]} for i in range(2)}}
    with Store.open(db, write=True) as s:
        assert s.db is not None
        s.db.execute("PRAGMA synchronous=OFF")  # quicker to write; the file is the same
        for i in range(systems):
            sid = f"d{i % 20:03d}-system{i}"
            s.register(sid, f"d{i % 20:03d}")
            for to in ORDER[2:7]:
                seq = s.step_started(sid, to.value, "r1")
                s.step_finished(seq, sid, "ok", 1.5, detail)
                s.transition(sid, to, run_id="r1", force=True)
            s.add_evidence(sid, "host:x", detail)


@pytest.fixture(scope="module")
def big_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("big") / "state.db"
    _write_state(db)
    return db


def _copy_state(big: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(big, dest / "state.db")
    shutil.copyfile(big.with_name("state.db.lock"), dest / "state.db.lock")
    return dest / "state.db"


def _empty(tmp: Path, big: Path) -> Path:
    (tmp / "state.db").write_bytes(b"")
    return tmp / "state.db"


def _text(tmp: Path, big: Path) -> Path:
    (tmp / "state.db").write_text("hello, I am not SQLite\n")
    return tmp / "state.db"


def _foreign(tmp: Path, big: Path) -> Path:
    """Another program's SQLite file, with a table of its own called ``systems``."""
    db = tmp / "inventory.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE systems (hostname TEXT, rack TEXT)")
    con.executemany("INSERT INTO systems VALUES (?, ?)", [(f"h{i}", "r1") for i in range(50)])
    con.commit()
    con.close()
    return db


def _folder(tmp: Path, big: Path) -> Path:
    (tmp / "states").mkdir()
    (tmp / "states" / "notes.txt").write_text("mine\n")
    return tmp / "states"


def _damaged(tmp: Path, big: Path) -> Path:
    """Bytes overwritten at a page in the middle of a real state of many rows."""
    db = _copy_state(big, tmp)
    data = bytearray(db.read_bytes())
    at = len(data) // 2 // 4096 * 4096
    data[at:at + 1024] = b"\xff" * 1024
    db.write_bytes(bytes(data))
    return db


def _truncated(tmp: Path, big: Path) -> Path:
    db = _copy_state(big, tmp)
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2 + 1234])
    return db


def _newer(tmp: Path, big: Path) -> Path:
    db = _copy_state(big, tmp)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    return db


BAD = {"empty": (_empty, "is an empty file"), "text": (_text, "not an SQLite file"),
       "foreign": (_foreign, "not a jiyue state database (its tables: systems"),
       "folder": (_folder, "is a folder"), "damaged": (_damaged, "is damaged"),
       "truncated": (_truncated, "is damaged"), "newer": (_newer, "written by a newer jiyue")}


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and its digest: what a refused command must leave as it was."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_what_is_not_a_jiyue_state_is_refused_and_left_as_it_was(kind, big_state, tmp_path, run, city):
    make, message = BAD[kind]
    folder = tmp_path / "here"
    folder.mkdir()
    bad = make(folder, big_state)
    before = _snapshot(folder)
    system = next(iter(load_city(city).systems))
    for command in [*READERS, ("migrate", "run", "--system", system, "--lab", "nolab", "CITY")]:
        result = run(*command, "--state", bad)
        assert result.exit_code == 2, (command, result.output)
        assert str(bad) in result.stderr and message in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.output
        assert _snapshot(folder) == before, f"{command} changed {kind}"
    for write in (False, True):
        with pytest.raises(StateError, match=re.escape(message)), Store.open(bad, write=write):
            pass
    assert _snapshot(folder) == before


def test_a_state_not_written_yet_is_read_as_empty_and_never_created(tmp_path, run):
    missing = tmp_path / "not-yet" / "state.db"
    for command in READERS:
        result = run(*command, "--state", missing)
        assert result.exit_code == 0, (command, result.output)
        if "plan" not in command:  # the plan falls back on the registry's signs of a zombie, as always
            assert "no migration state yet" in result.stderr and str(missing) in result.stderr, command
    assert not missing.parent.exists()
    assert '"systems": []' in run("migrate", "status", "--format", "json", "CITY", "--state", missing).stdout
    with Store.open(missing, write=False) as s:
        assert not s.exists and s.all() == [] and s.evidence() == []
    assert list(tmp_path.iterdir()) == []


def test_a_reader_adds_nothing_beside_a_state_nobody_is_writing(big_state, tmp_path, run):
    db = _copy_state(big_state, tmp_path)
    before = _snapshot(tmp_path)
    for command in READERS:
        result = run(*command, "--state", db)
        assert result.exit_code == 0, (command, result.output)
    assert "d000-system0" in run("migrate", "status", "CITY", "--state", db).stdout
    assert _snapshot(tmp_path) == before


def test_a_reader_is_never_refused_while_a_driver_writes(tmp_path):
    db = tmp_path / "state.db"
    with Store.open(db, write=True) as driver:
        driver.register("a-web", "a")
        with Store.open(db, write=False) as reader:
            assert [s.id for s in reader.all()] == ["a-web"]
            driver.transition("a-web", State.planned)
            assert reader.get("a-web").state is State.planned


def test_a_driver_waits_for_a_reader_a_moment(big_state, tmp_path):
    db = _copy_state(big_state, tmp_path)
    opened: list[float] = []

    def drive() -> None:
        with Store.open(db, write=True):
            opened.append(time.monotonic())

    with Store.open(db, write=False) as reader:
        assert reader.get("d000-system0") is not None
        t = threading.Thread(target=drive)
        t.start()
        time.sleep(0.3)
        released = time.monotonic()
    t.join(10)
    assert opened and opened[0] >= released


def test_status_refuses_outputs_that_are_not_there(tmp_path, run):
    conn = tmp_path / "connection.yaml"
    conn.write_text("bastions: {}\n")
    result = run("migrate", "status", "CITY", "--state", tmp_path / "state.db", "--outputs", tmp_path / "none.json",
                 "--connection", conn)
    assert result.exit_code == 2 and "--outputs" in result.stderr and "does not exist" in result.stderr
    assert not (tmp_path / "state.db").exists()


# ---------------------------------------------------------------- a full disk


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs of its own, unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "jiyue-state-full", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path) -> Path:
    """Fill the disk to the last byte."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        for chunk in (65536, 512, 1):
            try:
                while f.write(b"\0" * chunk):
                    pass
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    assert shutil.disk_usage(disk).free == 0
    return filler


def _planned_with_a_step_started(s: Store) -> int:
    s.register("a-web", "a")
    s.transition("a-web", State.planned, run_id="r1")
    seq = s.step_started("a-web", "precheck", "r1")
    assert s.db is not None
    s.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # what comes next must grow the WAL
    return seq


def _assert_consistent(db: Path) -> None:
    with Store.open(db, write=True) as s:
        got = s.get("a-web")
        assert got is not None and got.state is State.planned and got.running_step == "precheck"
        assert [t["to"] for t in s.transitions("a-web")] == ["registered", "planned"]
        assert [(x["step"], x["finished_at"]) for x in s.steps("a-web")] == [("precheck", None)]
        assert s.db is not None and s.db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_full_disk_records_nothing_and_the_step_is_done_again(tiny_disk):
    db = tiny_disk / "state.db"
    with Store.open(db, write=True) as s:
        seq = _planned_with_a_step_started(s)
        filler = _fill(tiny_disk)
        with pytest.raises(StateFull, match=f"the disk holding {db} is full"):
            s.step_finished(seq, "a-web", "ok", 2.0, {"message": "ok", "padding": "x" * 20000})
        with pytest.raises(StateFull, match=f"the disk holding {db} is full"):
            s.transition("a-web", State.prechecked, run_id="r1")
        assert s.get("a-web").state is State.planned  # the store is still usable to read
        filler.unlink()
    _assert_consistent(db)  # the step is still running: the next run does it again


def test_a_full_disk_ends_the_command_with_exit_3(tiny_disk, capsys):
    db = tiny_disk / "state.db"
    with pytest.raises(typer.Exit) as ended, open_store(db, write=True) as s:
        _planned_with_a_step_started(s)
        filler = _fill(tiny_disk)
        s.transition("a-web", State.prechecked, run_id="r1", detail={"padding": "x" * 20000})
    assert ended.value.exit_code == 3
    assert f"the disk holding {db} is full" in capsys.readouterr().err
    filler.unlink()
    _assert_consistent(db)


# ---------------------------------------------------------------- private files


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_the_state_and_its_runs_are_private(tmp_path):
    folder = tmp_path / "jiyue"
    db = folder / "state.db"
    umask = os.umask(0o022)
    try:
        with Store.open(db, write=True) as s:
            s.register("a-web", "a")
            run = folder / "runs" / "r1"
            (run / "ansible" / "001-precheck").mkdir(parents=True)  # as ansible-runner and the engine write them
            (run / "inventory.yml").write_text("all: {}\n")
            subprocess.run(["sh", "-c", f"echo event > {run / 'ansible' / '001-precheck' / 'stdout'}"], check=True)
            for name in ("state.db", "state.db-wal", "state.db-shm", "state.db.lock"):
                assert _mode(folder / name) == 0o600, name
        assert os.umask(0o022) == 0o022, "the umask is given back"
    finally:
        os.umask(umask)
    assert _mode(folder) == 0o700
    for p in (folder / "runs").rglob("*"):
        assert _mode(p) & 0o077 == 0, f"{p} is readable by others: {oct(_mode(p))}"
    assert _mode(folder / "runs") == 0o700


def test_a_state_from_before_is_made_private_by_the_next_driver(tmp_path):
    db = tmp_path / "state.db"
    with Store.open(db, write=True):
        pass
    (tmp_path / "runs" / "r0").mkdir(parents=True)
    for p, mode in ((db, 0o644), (tmp_path / "state.db.lock", 0o644), (tmp_path / "runs", 0o755)):
        p.chmod(mode)
    with Store.open(db, write=False):
        assert _mode(db) == 0o644, "a reader changes nothing"
    with Store.open(db, write=True):
        pass
    assert (_mode(db), _mode(tmp_path / "state.db.lock"), _mode(tmp_path / "runs")) == (0o600, 0o600, 0o700)


def test_integrity_check_of_a_state_of_200_systems_is_cheap(big_state):
    started = time.perf_counter()
    with Store.open(big_state, write=False) as s:
        assert len(s.all()) == SYSTEMS
    assert time.perf_counter() - started < 1.0

