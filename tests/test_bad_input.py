"""Bad input, across every command: exit 2, a message naming the file as typed and the field, no
traceback, and nothing changed in the input tree or the state. An unexpected error is exit 4:
one line, the traceback in the error log beside the state.

Each case builds its bad input in a copy of a generated city (the working directory is the test's
own folder, so paths are given relative, as a person types them), runs the real command, and
compares a digest of the whole folder before and after.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli
from cli import app, main
from jiyue.status import ExitStatus

REPO = Path(__file__).resolve().parents[1]
DEP = "city/departments/d001.yaml"
WAIVER = """waivers:
  - rule: jiyue-intranet-no-floating-ip
    resource: "*"
    justification: {justification}
    approver: security office
    expires: {expires}
"""
BOMB = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
               for p, c in zip(["", *"abcdefgh"], "abcdefghi", strict=True))


def digest(root: Path) -> str:
    """Every path under ``root`` with its kind, mode and contents (a link's target, not followed)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            st = p.lstat()
            h.update(f"{p.relative_to(root)} {st.st_mode:o}\n".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(p).encode())
            elif stat.S_ISREG(st.st_mode):
                h.update(p.read_bytes())
    return h.hexdigest()


def replace(path: str, pattern: str, new: str) -> None:
    p = Path(path)
    text, n = re.subn(pattern, new, p.read_text(encoding="utf-8"), count=1, flags=re.M)
    assert n == 1, f"{pattern!r} not in {path}"
    p.write_text(text, encoding="utf-8")


def write(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")


def linked_department() -> None:
    """d001.yaml is a link to a file outside the registry, with an impossible date in it."""
    Path("elsewhere").mkdir()
    os.replace(DEP, "elsewhere/d001.yaml")
    os.symlink("../../elsewhere/d001.yaml", DEP)
    replace("elsewhere/d001.yaml", r"date: '\d{4}-\d\d-\d\d'", "date: 2017-02-30")


def valid_connection() -> None:
    write("conn.yaml", "bastions: {intranet: 10.0.0.1}\nprivate_key: id\nknown_hosts: kh\n")


# (id, how to break the input, the command, what the message names: the file as typed, the field)
CASES: list[tuple[str, Callable[[], None], list[str], list[str]]] = [
    # crashes of the YAML loader
    ("impossible-date", lambda: replace(DEP, r"date: '\d{4}-\d\d-\d\d'", "date: 2017-02-30"),
     ["validate", "--city", "city"], [DEP, "systems[0].approval.date", "2017-02-30"]),
    ("impossible-date-waiver", lambda: write("w.yaml", WAIVER.format(justification="ok", expires="2017-02-30")),
     ["policy", "check", "--city", "city", "--waivers", "w.yaml"], ["w.yaml:6", "waivers[0].expires"]),
    ("deep-nesting", lambda: write("city/departments/d002.yaml", "a: " + "[" * 400 + "]" * 400 + "\n"),
     ["city", "summary", "--city", "city"], ["city/departments/d002.yaml:1", "a[0][0]", "32 levels"]),
    ("symlink-loop", lambda: os.symlink("loop.yaml", "city/departments/loop.yaml"),
     ["infra", "stacks", "--city", "city"], ["city/departments/loop.yaml", "symbolic link"]),
    ("symlinked-department", linked_department,
     ["catalog", "export", "--city", "city"], [DEP, "systems[0].approval.date"]),
    ("alias-bomb-waiver", lambda: write("w.yaml", "waivers: []\n" + BOMB),
     ["policy", "check", "--city", "city", "--waivers", "w.yaml"], ["w.yaml:6", "e[0]", "aliases"]),
    ("alias-bomb-registry", lambda: write("city/departments/d002.yaml", BOMB),
     ["ipam", "--city", "city"], ["city/departments/d002.yaml:5", "e[0]", "aliases"]),
    # numbers beyond any city's
    ("huge-quota", lambda: replace(DEP, r"^  vcpus: \d+", "  vcpus: " + "1" + "0" * 32),
     ["validate", "--city", "city"], [DEP + ":9", "quotas.vcpus", "less than or equal"]),
    ("huge-users", lambda: replace(DEP, r"^  users: \d+", "  users: " + "1" + "0" * 38),
     ["filing", "check", "--city", "city"], [DEP, "systems[0].users"]),
    ("infinite-data", lambda: replace(DEP, r"data_gb: [\d.]+", "data_gb: .inf"),
     ["infra", "preview", "--all", "--city", "city"], [DEP, "systems[0].legacy_hosts[0].data_gb", "finite"]),
    ("slot-beyond-the-supernet", lambda: write("city/ipam.lock.yaml",
                                               "slots:\n  d000: 0\n  d001: 1\n  d002: 99999999\n  d003: 3\n"),
     ["validate", "--city", "city"], ["city/ipam.lock.yaml:4", "slots.d002"]),
    ("duplicate-resource-code", lambda: write("city/catalog.lock.yaml", "resources:\n"
                                              "  d000-s00-records: '301001000001'\n"
                                              "  d000-s01-records: '301001000001'\n"),
     ["catalog", "codes", "--city", "city", "--update-lock"], ["city/catalog.lock.yaml:3",
                                                               "resources.d000-s01-records", "already"]),
    ("untyped-item", lambda: replace(DEP, r"^(\s*)- name: 编号\n\s*type: string$", r"\1- 编号"),
     ["catalog", "export", "--city", "city", "--format", "json"], [DEP, ".fields[0]", "has no data type"]),
    # waivers as strict as the registry
    ("duplicate-expires", lambda: write("w.yaml", WAIVER.format(justification="ok", expires="2030-01-01")
                                        + "    expires: 2031-01-01\n"),
     ["policy", "check", "--city", "city", "--waivers", "w.yaml"], ["w.yaml:7", "waivers[0].expires", "duplicate"]),
    ("blank-justification", lambda: write("w.yaml", WAIVER.format(justification='"   "', expires="2030-01-01")),
     ["policy", "check", "--city", "city", "--waivers", "w.yaml"], ["w.yaml:2", "waivers[0]", "justification"]),
    # files a command writes
    ("output-in-missing-folder", lambda: None,
     ["catalog", "export", "--city", "city", "--format", "csv", "--output", "nodir/catalog.csv"],
     ["--output", "nodir/catalog.csv"]),
    ("xlsx-to-stdout", lambda: None, ["catalog", "export", "--city", "city", "--format", "xlsx"],
     ["--output", "binary"]),
    ("catalog-diff-unknown-base", lambda: None, ["catalog", "diff", "--base", "nope", "--city", "city"],
     ["--base", "nope"]),
    ("output-onto-folder", lambda: Path("adir").mkdir(),
     ["policy", "check", "--city", "city", "--output", "adir"], ["--output", "adir", "folder"]),
    ("audit-report-onto-folder", lambda: Path("adir").mkdir(),
     ["audit", "report", "--city", "city", "--format", "html", "-o", "adir"], ["--output", "adir"]),
    ("migrate-report-missing-folder", lambda: None,
     ["migrate", "report", "--output", "nodir/wave.html", "--state", "st/state.db"], ["--output", "nodir/wave.html"]),
    ("facts-onto-folder", lambda: Path("adir").mkdir(),
     ["policy", "facts", "--city", "city", "--out", "adir"], ["--out", "adir"]),
    ("hosts-report-onto-folder", lambda: Path("adir").mkdir(),
     ["policy", "hosts", "--inventory", "inv.yml", "--output", "adir"], ["--output", "adir"]),
    ("generate-onto-file", lambda: write("afile", "x\n"),
     ["city", "generate", "--out", "afile"], ["--out", "afile", "is a file"]),
    ("schema-onto-file", lambda: write("afile", "x\n"),
     ["city", "schema", "--out", "afile"], ["--out", "afile", "is a file"]),
    # files other commands wrote
    ("malformed-graph", lambda: write("g.json", '[{"stack": "s", "resources": [{"urn": 1, "type": "t"}]}]'),
     ["policy", "check", "--city", "city", "--graph", "g.json"], ["--graph", "g.json", "[0].resources[0].urn"]),
    ("malformed-outputs", lambda: (write("out.json", '{"stack": '), valid_connection()),
     ["audit", "collect", "--city", "city", "--outputs", "out.json", "--connection", "conn.yaml",
      "--state", "st/state.db"], ["--outputs", "out.json"]),
    ("state-is-a-folder", lambda: Path("st").mkdir(),
     ["migrate", "status", "--city", "city", "--state", "st"], ["st", "folder"]),
    # names
    ("invalid-lab-name", lambda: None,
     ["migrate", "run", "--wave", "0", "--city", "city", "--lab", "Bad_Name", "--state", "st/state.db"],
     ["--lab", "Bad_Name"]),
    ("invalid-lab-name-hosts", lambda: None,
     ["policy", "hosts", "--lab", "../etc", "--city", "city"], ["--lab", "../etc"]),
    ("unknown-department-audit", lambda: None,
     ["audit", "report", "--city", "city", "--departments", "d001,nope"], ["--departments", "'nope'"]),
    ("unknown-department-lab", lambda: None,
     ["lab", "up", "--city", "city", "--departments", "nope"], ["--departments", "'nope'"]),
    ("unknown-department-pilot", lambda: None,
     ["migrate", "plan", "--city", "city", "--pilot", "nope"], ["--pilot", "'nope'"]),
]


@pytest.fixture
def workdir(mini_city: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's folder as the working directory, holding the city as ``city/``."""
    monkeypatch.chdir(mini_city.parent)
    return mini_city.parent


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_names_the_file_and_field_and_changes_nothing(
        case: tuple[str, Callable[[], None], list[str], list[str]], workdir: Path) -> None:
    _, breaks, args, names = case
    breaks()
    before = digest(workdir)
    result = CliRunner().invoke(app, args)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert "Traceback" not in output
    assert result.exit_code == ExitStatus.BAD_INPUT, output
    for name in names:
        assert name in output, f"{name!r} not named:\n{output}"
    assert "elsewhere" not in output  # a linked file is named by its link
    assert digest(workdir) == before, "the command changed its input or its state"


@pytest.mark.parametrize("command", [[str(REPO / ".venv/bin/jiyue")], [sys.executable, "-m", "cli"]],
                         ids=["console-script", "python-m-cli"])
def test_the_installed_command_exits_2_too(command: list[str], workdir: Path) -> None:
    replace(DEP, r"date: '\d{4}-\d\d-\d\d'", "date: 2017-02-30")
    before = digest(workdir)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([*command, "validate", "--city", "city"], capture_output=True, text=True, env=env)
    assert p.returncode == ExitStatus.BAD_INPUT, p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    assert f"{DEP}:" in p.stderr and "systems[0].approval.date" in p.stderr
    assert digest(workdir) == before


def _planted(*_: object, **__: object) -> None:
    raise RuntimeError("a planted fault\nwith a second line")


@pytest.mark.parametrize("args,log", [
    (["city", "summary", "--city", "city"], ".jiyue/jiyue-error.log"),
    (["migrate", "plan", "--city", "city", "--state", "st/state.db"], "st/jiyue-error.log"),
])
def test_an_internal_error_is_one_line_exit_4_and_a_log(args: list[str], log: str, workdir: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli.registry_cmds, "summarize", _planted)
    monkeypatch.setattr(cli.migrate_cmds, "plan_waves", _planted)
    assert main(args) == ExitStatus.INTERNAL == 4
    err = capsys.readouterr().err
    assert err == f"jiyue: internal error: RuntimeError: a planted fault; the details are in {log}\n"
    path = workdir / log
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "with a second line" in text
    assert f"jiyue {' '.join(args)}" in text


def test_an_interrupt_stays_130(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.registry_cmds, "summarize", interrupt)
    with pytest.raises(SystemExit) as exc:
        main(["city", "summary", "--city", "city"])
    assert exc.value.code == ExitStatus.INTERRUPTED
    assert not (workdir / ".jiyue").exists()
