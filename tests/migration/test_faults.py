"""Faults during a migration, on a lab of its own ("fault"): every scenario ends with no byte
lost (the sources' data equal to a manifest taken before, by the same probes the verification
uses) and each system either verified or rolled back, never half cut over (the service name,
the freeze marker, the sources' read-only flag, the services on both sides and the temporary
migration keys all agree with the state).

- kill -9 of the driver (``jiyue migrate run`` in a subprocess) mid-wave, then the same command
  again: it resumes, every system ends verified, no finished step is run again;
- an injected verification failure (the target's database changed after the cutover): the
  engine rolls back, the source serves again with its data unchanged;
- the target's disk full (a 64 KiB tmpfs on its data path): replicate fails saying so, the
  source is untouched; without the tmpfs the next run is verified;
- the lab link of the target cut and restored while replicate runs;
- sshd's per-connection processes on the target killed while the cutover runs: the step fails,
  the name stays on the source; the next run is verified;
- the source written to while replicate runs: the cutover's freeze and final sync bring every
  row and file written before the freeze onto the target, verified against the frozen source.

- a target unreachable from the middle of replicate on (its link down): the step fails, and when
  the driver exits no source still grants the run's key; with the link back, the next run is
  verified with no key left anywhere;
- Ctrl-C to ``jiyue migrate run`` while replicate runs: exit 130, the step failed as
  interrupted (never rolled back), nothing of the run left running and no key granted; the same
  command then resumes and is verified;
- the state database on a tiny file system that fills while replicate runs: ``jiyue migrate
  run`` says the disk is full (exit 3, no traceback), no key is left granted, and with space
  freed the same command resumes and is verified.

A resumed run first ends whatever the killed one left running (its recorded process groups and
every process carrying its run id), and waits for it, before its first step.

The departments are small ones that no other lab of the test suite or the demo uses
(foreign-affairs, forestry, qingniwaqiao-street, cac, tourism, xigang-edu), each
scenario on systems of its own.
A full migration of one system takes about a minute of mostly waiting on ssh round trips, so the
scenarios run concurrently (a bounded pool started by the module fixture; each test waits for
its own scenario and reports its failures).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab.gate import LabFlows
from migration import probes, processes
from migration.engine import Engine, service_name
from migration.inventory import Connection, read_outputs
from migration.run import Sources, run_systems
from migration.runner import RunnerSettings
from migration.state import State, Store

REPO = Path(__file__).resolve().parents[2]
LAB_NAME = "fault"
DEPARTMENTS = ["foreign-affairs", "forestry", "qingniwaqiao-street", "cac", "tourism", "xigang-edu"]
#: scenarios at once: each is mostly ssh latency, the machine has 2 cores
PARALLEL = 3
SCENARIO_TIMEOUT = 900

pytestmark = pytest.mark.lab


# --------------------------------------------------------------------------- the lab


@dataclass
class FaultLab:
    lab: Any
    model: Any
    ip: Any
    plan: Any
    outputs: dict[str, Any]
    conn: Connection
    tmp: Path

    def sh(self, host: str, script: str, check: bool = True) -> str:
        proc = self.lab.exec(host, ["sh", "-c", script], check=False)
        assert not check or proc.returncode == 0, f"{host}: {script}: {proc.stderr}"
        return proc.stdout

    def probe(self, host: str, script: str, arg: Any) -> Any:
        return json.loads(self.lab.exec(host, ["python3", "-c", script, json.dumps(arg)]).stdout)

    def psql(self, host: str, db: str, sql: str, check: bool = True) -> str:
        return self.sh(host, f"cd / && runuser -u postgres -- psql -XAt -v ON_ERROR_STOP=1 -d {shlex.quote(db)} "
                             f"-c {shlex.quote(sql)}", check=check)


@pytest.fixture(scope="module")
def fault_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultLab]:
    from infra.outputs import city_targets
    from jiyue.ipam import plan as ip_plan
    from jiyue.registry import load_city
    from lab import Lab
    from lab.bringup import lab_up

    model = load_city(REPO / "inventories" / "dalian")
    ip = ip_plan(model)
    with lab_up(Lab(LAB_NAME, progress=lambda _: None), model, ip, DEPARTMENTS, city_targets(model, ip)) as up:
        yield FaultLab(up.lab, model, ip, up.plan, read_outputs(up.lab.dir / "outputs.json"),
                       Connection.from_lab(up.lab.dir), tmp_path_factory.mktemp("faults"))


@contextmanager
def driver(fl: FaultLab, name: str, systems: list[str], *, hook: Callable[[str, str], None] | None = None,
           on_event: Callable[[dict[str, Any]], None] | None = None,
           progress: Callable[[str, str], None] | None = None) -> Iterator[tuple[Engine, Store]]:
    """One driver run over the state ``<tmp>/<name>/state.db``, set up as ``jiyue migrate run``
    sets it up (a second ``driver`` on the same name resumes from that state)."""
    with run_systems(fl.model, Sources(fl.outputs, fl.conn, LabFlows(fl.lab)), fl.tmp / name / "state.db", systems,
                     argv=["test_faults", name], ip=fl.ip, settings=RunnerSettings(timeout=600), on_event=on_event,
                     hook=hook, progress=progress) as run:
        yield run.engine, run.store


# --------------------------------------------------------------------------- what must hold


def manifest(fl: FaultLab, system: str) -> dict[str, Any]:
    """What the sources of ``system`` hold: every data path and nginx site by SHA-256 with mode,
    owner, mtime and ACL; every database table by row count and checksum."""
    out: dict[str, Any] = {}
    for h in fl.model.systems[system].legacy_hosts:
        paths = list(h.data_paths)
        if "nginx" in [s.value for s in h.services]:
            paths += ["/etc/nginx/sites-available", "/etc/nginx/sites-enabled"]
        if paths:
            out[f"{h.name} files"] = fl.probe(h.name, probes.FILES, paths)
        if h.databases:
            out[f"{h.name} databases"] = fl.probe(h.name, probes.DATABASES, list(h.databases))
    return out


def resolved(fl: FaultLab, engine: Engine, system: str) -> str | None:
    """The address the system's clients resolve its service name to (None: no entry)."""
    s = fl.model.systems[system]
    out = fl.sh(f"bastion-{s.zone.value}", f"getent hosts {service_name(fl.model, s)} || true").split()
    return out[0] if out else None


def front(engine: Engine, system: str) -> dict[str, Any]:
    """The pair whose address the service name gets (the first with nginx, else the first)."""
    pairs = engine.pairs(engine.model.systems[system])
    return next((p for p in pairs if "nginx" in p["services"]), pairs[0])


def running(fl: FaultLab, host: str, service: str) -> bool:
    return fl.lab.exec(host, ["/usr/local/sbin/jiyue-service", "status", service], check=False).returncode == 0


def migration_keys_left(fl: FaultLab, engine: Engine, system: str) -> list[str]:
    left = []
    for p in engine.pairs(engine.model.systems[system]):
        if fl.sh(p["source"], "grep -c 'jiyue-migration:' /root/.ssh/authorized_keys || true").strip() != "0":
            left.append(f"{p['source']}: authorized_keys")
        if fl.lab.exec(p["target"], ["test", "-e", "/root/.jiyue-migration"], check=False).returncode == 0:
            left.append(f"{p['target']}: /root/.jiyue-migration")
    return left


def assert_settled(fl: FaultLab, engine: Engine, store: Store, system: str, expected: State) -> None:
    """``system`` is ``expected`` (verified or rolled-back) and everything on the hosts agrees."""
    st = store.get(system)
    assert st.state is expected, f"{system}: {st.state.value} ({st.error})"
    assert st.running_step is None
    pairs = engine.pairs(engine.model.systems[system])
    marker = f"/var/lib/jiyue/frozen-{system}"
    cut = expected is State.verified
    where = resolved(fl, engine, system)
    if cut:
        assert where == front(engine, system)["target_address"], f"{system}: the name resolves to {where}"
    else:
        assert where in (None, front(engine, system)["source_address"]), f"{system}: the name resolves to {where}"
    for p in pairs:
        frozen = fl.lab.exec(p["source"], ["test", "-e", marker], check=False).returncode == 0
        assert frozen == cut, f"{p['source']}: freeze marker {'missing' if cut else 'left'}"
        for db in p["databases"]:
            ro = fl.psql(p["source"], db, "SHOW default_transaction_read_only").strip()
            assert ro == ("on" if cut else "off"), f"{p['source']}: {db} read-only is {ro}"
        for svc in set(p["services"]) & {"nginx", "postgresql"}:
            assert running(fl, p["source"], svc), f"{p['source']}: {svc} is not running"
            assert running(fl, p["target"], svc) == cut, f"{p['target']}: {svc} {'stopped' if cut else 'running'}"
        if not cut and "nginx" in p["services"]:
            status = fl.sh(p["source"], "python3 -c \"import urllib.request; "
                                        "print(urllib.request.urlopen('http://127.0.0.1/', timeout=10).status)\"")
            assert status.strip() == "200"
    assert migration_keys_left(fl, engine, system) == []


def cli_argv(*args: Any) -> list[str]:
    return [str(Path(sys.executable).parent / "jiyue"), *map(str, args)]


# --------------------------------------------------------------------------- the scenarios


def kill_mid_wave(fl: FaultLab) -> dict[str, Any]:
    """``jiyue migrate run --department foreign-affairs --cutover`` killed with SIGKILL while the
    second system's replicate playbook runs, then run again."""
    dep = "foreign-affairs"
    systems = [s.id for s in fl.model.departments[dep].systems]
    before = {s: manifest(fl, s) for s in systems}
    state = fl.tmp / "kill" / "state.db"
    state.parent.mkdir(parents=True, exist_ok=True)
    argv = cli_argv("migrate", "run", "--department", dep, "--cutover", "--lab", LAB_NAME, "--state", state,
                    "--max-parallel", "1")
    with (state.parent / "first.log").open("w") as log:
        # Ctrl-C reaches the driver even when the tests run in the background, where the shell
        # hands every child SIGINT ignored (and Python then never turns it into KeyboardInterrupt)
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
        deadline = time.monotonic() + 600
        victim = None
        try:
            while victim is None:
                assert proc.poll() is None, f"the driver ended (rc {proc.returncode}) before the second system ran"
                assert time.monotonic() < deadline, "the second system never replicated"
                time.sleep(0.2)
                if not state.exists():
                    continue
                with closing(sqlite3.connect(state, timeout=5)) as db:
                    try:
                        order = [r[0] for r in db.execute("SELECT system FROM steps ORDER BY seq")]
                        now = dict(db.execute("SELECT id, running_step FROM systems WHERE running_step IS NOT NULL"))
                        playing = {r[0] for r in db.execute("SELECT label FROM processes WHERE ended_at IS NULL")}
                    except sqlite3.OperationalError:  # tables not created yet
                        continue
                # killed while the second system's replicate playbook runs
                victim = next((s for s, step in now.items() if s != order[0] and step == "replicate"
                               and f"{s}-replicate" in playing), None) if order else None
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with closing(sqlite3.connect(state)) as db:
        first = db.execute("SELECT seq, system, step, outcome FROM steps ORDER BY seq").fetchall()
        killed_run = db.execute("SELECT id FROM runs WHERE finished_at IS NULL").fetchone()[0]
        recorded = db.execute("SELECT pid, label FROM processes WHERE run_id=? AND ended_at IS NULL",
                              (killed_run,)).fetchall()
    playbook = next(pid for pid, label in recorded if label == f"{victim}-replicate")
    # the kernel ends the playbook with its driver (its parent's death signal)
    for _ in range(100):
        if processes.start_time(playbook) is None:
            break
        time.sleep(0.1)
    assert processes.start_time(playbook) is None, f"the killed driver's playbook (pid {playbook}) lives on"
    # a straggler of the killed run that ignores SIGTERM (as a process stuck in a system call
    # would): the resumed run must end it, and wait for it, before its first step
    straggler = subprocess.Popen(["sh", "-c", "trap '' TERM; while :; do sleep 1; done"], start_new_session=True,
                                 env={**os.environ, processes.MARKER: killed_run})
    ended_at: list[float] = []

    def watch() -> None:
        straggler.wait()
        ended_at.append(time.time())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    done_before = {(s, step) for _, s, step, outcome in first if outcome == "ok"}
    interrupted = [(s, step) for _, s, step, outcome in first if outcome is None]
    assert interrupted == [(victim, "replicate")], first
    assert any(s != victim for s, _ in done_before)

    try:
        again = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=700)
    finally:
        if straggler.poll() is None:
            straggler.kill()
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    watcher.join(5)
    assert processes.of_run(killed_run) == [], "a process of the killed run survived the resumed run"
    with closing(sqlite3.connect(state)) as db:
        steps = db.execute("SELECT seq, system, step, outcome, started_at FROM steps ORDER BY seq").fetchall()
        unended = db.execute("SELECT pid FROM processes WHERE run_id=? AND ended_at IS NULL", (killed_run,)).fetchall()
    assert unended == [], f"processes of the killed run are still recorded as running: {unended}"
    resumed_first = next(row for row in steps if row[0] > first[-1][0])
    assert straggler.returncode == -signal.SIGKILL and ended_at, "the straggler was not ended"
    assert ended_at[0] <= dt.datetime.fromisoformat(resumed_first[4]).timestamp() + 0.5, \
        "the resumed run's first step started before the killed run's processes had ended"
    steps = [row[:4] for row in steps]
    second = [(s, step) for seq, s, step, _ in steps if seq > first[-1][0] and step != "revoke"]
    assert not set(second) & done_before, f"steps finished before the kill were run again: {set(second) & done_before}"
    assert second[0] == (victim, "replicate"), "the interrupted step is the first one run again"
    ok = Counter((s, step) for _, s, step, outcome in steps if outcome == "ok" and step != "revoke")
    assert max(ok.values()) == 1, ok
    for s in systems:
        assert ok[(s, "verify")] == 1
    assert not list(state.parent.glob("runs/*/migration_key*")), "the killed run's temporary key is left"
    with driver(fl, "kill-check", systems) as (engine, _), Store.open(state, write=False) as store:
        for s in systems:
            assert_settled(fl, engine, store, s, State.verified)
            assert manifest(fl, s) == before[s], f"{s}: the source changed"
    return {"victim": victim, "before kill": sorted(done_before), "after": second}


def verification_failure(fl: FaultLab) -> dict[str, Any]:
    """After the cutover of cac-sitemon, a row of the TARGET's database changes: the verification
    fails, the engine rolls back, the source serves again with its data unchanged."""
    system = "cac-sitemon"
    before = manifest(fl, system)
    corrupted: list[str] = []

    def hook(sid: str, step: str) -> None:
        if sid == system and step == "cutover":
            pair = next(p for p in engine.pairs(engine.model.systems[sid]) if p["databases"])
            db = pair["databases"][0]
            fl.psql(pair["target"], db, "UPDATE app.records SET amount = coalesce(amount, 0) + 1 "
                                        "WHERE id = (SELECT min(id) FROM app.records)")
            corrupted.append(f"{pair['target']}:{db}")

    with driver(fl, "verify", [system], hook=hook) as (engine, store):
        out = engine.drive(system, State.verified)
        assert corrupted
        steps = [(r.step, r.ok) for r in out.steps]
        assert steps[-2:] == [("verify", False), ("rollback", True)], steps
        assert "checksums differ" in out.steps[-2].message, out.steps[-2].message
        assert out.state is State.rolled_back and "rolled back" in (out.error or "")
        assert_settled(fl, engine, store, system, State.rolled_back)
    assert manifest(fl, system) == before, "the source changed"
    return {"corrupted": corrupted, "verify": out.steps[-2].message}


def disk_full(fl: FaultLab) -> dict[str, Any]:
    """A 64 KiB tmpfs on forestry-resource's data path on the target, mounted after the precheck
    passed: replicate fails saying the disk is full; unmounted, the next run is verified."""
    system = "forestry-resource"
    before = manifest(fl, system)
    mounted: list[tuple[str, str]] = []

    def hook(sid: str, step: str) -> None:
        if sid == system and step == "precheck":
            for p in engine.pairs(engine.model.systems[sid]):
                for path in p["data_paths"]:
                    fl.sh(p["target"], f"mkdir -p {path} && mount -t tmpfs -o size=64k,mode=0755 jiyue-full {path}")
                    mounted.append((p["target"], path))

    try:
        with driver(fl, "full", [system], hook=hook) as (engine, store):
            out = engine.drive(system, State.verified)
            assert mounted
            assert out.state is State.prechecked, out.state
            assert [(r.step, r.ok) for r in out.steps] == [("precheck", True), ("replicate", False)]
            assert "No space left on device" in (out.error or ""), out.error
            message = out.error
            assert resolved(fl, engine, system) != front(engine, system)["target_address"]
            assert migration_keys_left(fl, engine, system) == []
        assert manifest(fl, system) == before, "the source changed"
    finally:
        for host, path in mounted:
            fl.sh(host, f"umount {path}", check=False)
    with driver(fl, "full", [system]) as (engine, store):
        out = engine.drive(system, State.verified)
        assert [r.step for r in out.steps][0] == "replicate", "the precheck is not redone"
        assert_settled(fl, engine, store, system, State.verified)
    assert manifest(fl, system) == before, "the source changed"
    return {"message": message}


def link_cut(fl: FaultLab) -> dict[str, Any]:
    """The target's link (eth0 in its namespace) down for 5 s while forestry-fire's files are
    pulled, then up again with its default route restored."""
    system = "forestry-fire"
    before = manifest(fl, system)
    cut: list[str] = []
    threads: list[threading.Thread] = []

    def flap(target: str) -> None:
        gateway = fl.plan.host(target).gateway
        fl.sh(target, "ip link set eth0 down")
        time.sleep(5)
        fl.sh(target, f"ip link set eth0 up && ip route replace default via {gateway} dev eth0")
        cut.append(fl.sh(target, "ip route show default").strip())

    def on_event(record: dict[str, Any]) -> None:
        if (record["event"] == "playbook_on_task_start" and not threads
                and str(record.get("task", "")).startswith("Pull each data directory")):
            target = engine.pairs(engine.model.systems[system])[0]["target"]
            threads.append(threading.Thread(target=flap, args=(target,), daemon=True))
            threads[0].start()

    outcomes = []
    with driver(fl, "link", [system], on_event=on_event) as (engine, store):
        out = engine.drive(system, State.verified)
        outcomes.append((out.state.value, out.error))
        for t in threads:
            t.join(30)
        assert cut and "default via" in cut[0], "the link was not cut and restored"
    if out.state is not State.verified:
        assert [(r.step, r.ok) for r in out.steps][-1][1] is False
        with driver(fl, "link", [system]) as (engine, store):
            out = engine.drive(system, State.verified)
            outcomes.append((out.state.value, out.error))
    with driver(fl, "link", [system]) as (engine, store):
        assert_settled(fl, engine, store, system, State.verified)
    assert manifest(fl, system) == before, "the source changed"
    return {"outcomes": outcomes}


KILL_SSHD = r"""
import os, signal
killed = []
for pid in os.listdir("/proc"):
    if not pid.isdigit() or pid == "1":
        continue
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        continue
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    ppid = int(stat[stat.rindex(")") + 2:].split()[1])
    if comm.startswith("sshd") and ppid == 1:
        try:
            os.kill(int(pid), signal.SIGKILL)
            killed.append(pid)
        except OSError:
            pass
print(len(killed))
"""


def sshd_killed(fl: FaultLab) -> dict[str, Any]:
    """While cac-report's cutover pulls the final sync, every per-connection sshd on the target
    is killed (for 4 s, so that reconnecting fails too; sshd itself is the host's PID 1 and
    stays): the cutover fails with the name still on the source; the next run is verified."""
    system = "cac-report"
    before = manifest(fl, system)
    phase: list[str] = []
    killed: list[int] = []
    threads: list[threading.Thread] = []

    def killer(target: str) -> None:
        end = time.monotonic() + 4
        while time.monotonic() < end:
            killed.append(int(fl.lab.exec(target, ["python3", "-c", KILL_SSHD]).stdout))
            time.sleep(0.1)

    def on_event(record: dict[str, Any]) -> None:
        if (phase and phase[-1] == "cutover" and record["event"] == "playbook_on_task_start" and not threads
                and str(record.get("task", "")).startswith("Pull each data directory")):
            target = engine.pairs(engine.model.systems[system])[0]["target"]
            threads.append(threading.Thread(target=killer, args=(target,), daemon=True))
            threads[0].start()

    with driver(fl, "sshd", [system], on_event=on_event, progress=lambda s, msg: phase.append(msg)) as (engine, store):
        out = engine.drive(system, State.verified)
        for t in threads:
            t.join(30)
        assert sum(killed) > 0, "no sshd connection was killed"
        assert out.state is State.verified_test, f"{out.state}: {out.error}"
        assert out.steps[-1].step == "cutover" and not out.steps[-1].ok
        failed_with = out.error
        # never half cut over: the name stays on the source (frozen until the cutover runs again)
        assert resolved(fl, engine, system) != front(engine, system)["target_address"]
    with driver(fl, "sshd", [system]) as (engine, store):
        out = engine.drive(system, State.verified)
        assert [r.step for r in out.steps] == ["cutover", "verify"], [r.step for r in out.steps]
        assert_settled(fl, engine, store, system, State.verified)
    assert manifest(fl, system) == before, "the source changed"
    return {"killed": sum(killed), "failed with": failed_with}


def written_during_replicate(fl: FaultLab) -> dict[str, Any]:
    """Rows inserted into qingniwaqiao-street-grid's source database and files added to its web
    root while replicate runs: the cutover's final sync brings them all; verified against the
    frozen source."""
    system = "qingniwaqiao-street-grid"
    hosts = fl.model.systems[system].legacy_hosts
    db_host = next(h for h in hosts if h.databases)
    web_host = next(h for h in hosts if h.data_paths)
    db, root = db_host.databases[0], web_host.data_paths[0]
    before = manifest(fl, system)
    written: dict[str, list[str]] = {"rows": [], "files": []}
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def writer() -> None:
        n = 0
        while not stop.is_set():
            tag = f"fault-writer-{n:04d}"
            fl.psql(db_host.name, db, f"INSERT INTO app.audit_log (action) VALUES ('{tag}')")
            written["rows"].append(tag)
            fl.sh(web_host.name, f"mkdir -p {root}/uploads/fault && head -c {4096 + 97 * n} /dev/urandom "
                                 f"> {root}/uploads/fault/{tag}.bin")
            written["files"].append(f"uploads/fault/{tag}.bin")
            n += 1
            time.sleep(0.05)

    def progress(sid: str, msg: str) -> None:
        if msg == "replicate":
            threads.append(threading.Thread(target=writer, daemon=True))
            threads[0].start()
        elif msg.startswith("replicate ") and threads:
            stop.set()
            threads[0].join(60)

    with driver(fl, "writer", [system], progress=progress) as (engine, store):
        out = engine.drive(system, State.verified)
        assert len(written["rows"]) >= 3, written
        assert out.state is State.verified, f"{out.state}: {out.error}"
        assert_settled(fl, engine, store, system, State.verified)
        target = next(p["target"] for p in engine.pairs(engine.model.systems[system]) if p["databases"])
        web_target = next(p["target"] for p in engine.pairs(engine.model.systems[system]) if p["data_paths"])
    on_target = set(fl.psql(target, db, "SELECT action FROM app.audit_log WHERE action LIKE 'fault-writer-%'").split())
    assert on_target == set(written["rows"])
    files = set(fl.sh(web_target, f"cd {root} && ls uploads/fault | sed 's|^|uploads/fault/|'").split())
    assert files == set(written["files"])
    # nothing the sources held before is lost or changed: only the writer's rows and files are new
    after = manifest(fl, system)
    for key, data in before.items():
        for name, content in data.items():
            if key.endswith("files"):
                new = {k for k in after[key][name] if k not in content}
                assert {k: after[key][name][k] for k in content if k in after[key][name]} == content
                assert all("fault" in k or k == "uploads" for k in new), new
            else:
                assert {t: v for t, v in after[key][name].items() if t != "app.audit_log"} == \
                    {t: v for t, v in content.items() if t != "app.audit_log"}
                assert after[key][name]["app.audit_log"][0] == content["app.audit_log"][0] + len(written["rows"])
    return {"rows": len(written["rows"]), "files": len(written["files"]), "verify": out.steps[-1].message}


def grants_left(fl: FaultLab, engine: Engine, system: str) -> list[str]:
    """The sources of ``system`` that still grant a migration key."""
    return [p["source"] for p in engine.pairs(engine.model.systems[system])
            if fl.sh(p["source"], "grep -c 'jiyue-migration:' /root/.ssh/authorized_keys || true").strip() != "0"]


def target_lost(fl: FaultLab) -> dict[str, Any]:
    """xigang-edu-web's target loses its link (eth0 down, not restored) when its files start to be
    pulled: replicate fails, and by the time the driver has exited no source grants the run's key
    (the playbook's own revoke never ran on the lost target). With the link back, the next run
    takes back what the lost target kept and is verified."""
    system = "xigang-edu-web"
    before = manifest(fl, system)
    downed: list[str] = []

    def on_event(record: dict[str, Any]) -> None:
        if (record["event"] == "playbook_on_task_start" and not downed
                and str(record.get("task", "")).startswith("Pull each data directory")):
            target = engine.pairs(engine.model.systems[system])[0]["target"]
            fl.sh(target, "ip link set eth0 down")
            downed.append(target)

    try:
        with driver(fl, "lost", [system], on_event=on_event) as (engine, store):
            out = engine.drive(system, State.verified)
            assert downed, "the target's link was never cut"
            assert out.state is State.prechecked, f"{out.state}: {out.error}"
            steps = [(r.step, r.ok) for r in out.steps]
            assert steps[:2] == [("precheck", True), ("replicate", False)], steps
            assert "revoke" in [s["step"] for s in store.steps(system)], "no revoke after the lost target"
        left = grants_left(fl, engine, system)
        assert left == [], f"the run's key is still granted on {left} after the driver exited"
    finally:
        for target in downed:
            gateway = fl.plan.host(target).gateway
            fl.sh(target, f"ip link set eth0 up && ip route replace default via {gateway} dev eth0")
    with driver(fl, "lost", [system]) as (engine, store):
        out = engine.drive(system, State.verified)
        assert out.state is State.verified, f"{out.state}: {out.error}"
        assert_settled(fl, engine, store, system, State.verified)
    assert manifest(fl, system) == before, "the source changed"
    return {"failed with": steps, "then": out.state.value}


def state_disk_full(fl: FaultLab) -> dict[str, Any]:
    """``jiyue migrate run`` with its state (and runs) on a 16 MiB tmpfs that is filled while
    tourism-agency replicates: it says the disk is full (exit 3), never a traceback,
    and leaves no key granted; with the space back, the same command resumes and is verified."""
    system = "tourism-agency"
    before = manifest(fl, system)
    mount = fl.tmp / "statefs"
    mount.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "jiyue-statefs", str(mount)], check=True)
    state = mount / "state.db"
    argv = cli_argv("migrate", "run", "--system", system, "--cutover", "--lab", LAB_NAME, "--state", state)
    try:
        with (fl.tmp / "statefs.log").open("w") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
            deadline = time.monotonic() + 300
            filled = False
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
                if not filled and state.exists():
                    with closing(sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5)) as db:
                        try:
                            now = db.execute("SELECT running_step FROM systems WHERE id=?", (system,)).fetchone()
                        except sqlite3.OperationalError:
                            continue
                    if now and now[0] == "replicate":
                        subprocess.run(["dd", "if=/dev/zero", f"of={mount}/fill", "bs=64k"], capture_output=True)
                        filled = True
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        output = (fl.tmp / "statefs.log").read_text()
        assert filled, "the state's disk was never filled"
        assert proc.returncode == 3, f"exit {proc.returncode}: {output[-2000:]}"
        assert "Traceback" not in output, output[-3000:]
        assert "full" in output, output[-2000:]
        with driver(fl, "statefs-check", [system]) as (engine, _):
            left = grants_left(fl, engine, system)
        assert left == [], f"the run's key is still granted on {left} after the driver exited"
        (mount / "fill").unlink()
        again = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=600)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        with driver(fl, "statefs-check", [system]) as (engine, _), Store.open(state, write=False) as store:
            assert_settled(fl, engine, store, system, State.verified)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
    assert manifest(fl, system) == before, "the source changed"
    return {"first": output.strip().splitlines()[-3:], "then": "verified"}


def interrupted(fl: FaultLab) -> dict[str, Any]:
    """Ctrl-C (SIGINT) to ``jiyue migrate run --system tourism-portal --cutover`` while its
    replicate playbook runs: it stops (exit 130) with the step failed as interrupted and the system
    where it was, no process of the run left and no key granted; the same command then resumes
    and is verified."""
    system = "tourism-portal"
    before = manifest(fl, system)
    state = fl.tmp / "interrupt" / "state.db"
    state.parent.mkdir(parents=True, exist_ok=True)
    argv = cli_argv("migrate", "run", "--system", system, "--cutover", "--lab", LAB_NAME, "--state", state)
    with (state.parent / "first.log").open("w") as log:
        # Ctrl-C reaches the driver even when the tests run in the background, where the shell
        # hands every child SIGINT ignored (and Python then never turns it into KeyboardInterrupt)
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
        deadline = time.monotonic() + 600
        try:
            while True:
                assert proc.poll() is None, f"the driver ended (rc {proc.returncode}) before replicate ran"
                assert time.monotonic() < deadline, "replicate never ran"
                time.sleep(0.2)
                if not state.exists():
                    continue
                with closing(sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5)) as db:
                    try:
                        playing = {r[0] for r in db.execute("SELECT label FROM processes WHERE ended_at IS NULL")}
                    except sqlite3.OperationalError:
                        continue
                if f"{system}-replicate" in playing:
                    break
            proc.send_signal(signal.SIGINT)
            proc.wait(120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = (state.parent / "first.log").read_text()
    assert proc.returncode == 130, f"exit {proc.returncode}: {output[-2000:]}"
    assert "Traceback" not in output, output[-3000:]
    with closing(sqlite3.connect(f"file:{state}?mode=ro", uri=True)) as db:
        rid = db.execute("SELECT id FROM runs ORDER BY started_at DESC").fetchone()[0]
        now = db.execute("SELECT state, running_step FROM systems WHERE id=?", (system,)).fetchone()
        steps = db.execute("SELECT step, outcome FROM steps WHERE system=? ORDER BY seq", (system,)).fetchall()
    assert processes.of_run(rid) == [], "a process of the interrupted run lives on"
    assert now == ("prechecked", None), now
    assert ("replicate", "failed") in steps and ("rollback", "ok") not in steps, steps
    with driver(fl, "interrupt-check", [system]) as (engine, _):
        left = grants_left(fl, engine, system)
    assert left == [], f"the run's key is still granted on {left} after the interrupt"
    again = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    with driver(fl, "interrupt-check", [system]) as (engine, _), Store.open(state, write=False) as store:
        assert_settled(fl, engine, store, system, State.verified)
    assert manifest(fl, system) == before, "the source changed"
    return {"steps": steps, "then": "verified"}


SCENARIOS: dict[str, Callable[[FaultLab], dict[str, Any]]] = {
    "kill": kill_mid_wave,  # the longest first
    "writer": written_during_replicate,
    "verify": verification_failure,
    "sshd": sshd_killed,
    "link": link_cut,
    "full": disk_full,
    "lost": target_lost,
    "statefs": state_disk_full,
    "interrupt": interrupted,
}


@pytest.fixture(scope="module")
def scenarios(fault_lab: FaultLab, request: pytest.FixtureRequest) -> Iterator[dict[str, Future[dict[str, Any]]]]:
    """The scenarios of the tests selected (``-k``), started at once in a bounded pool."""
    selected = {getattr(item.function, "scenario", None) for item in request.session.items
                if item.module is request.module}
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="fault") as pool:
        futures = {name: pool.submit(fn, fault_lab) for name, fn in SCENARIOS.items() if name in selected}
        yield futures
    print(f"\nfault scenarios: {time.monotonic() - started:.0f} s")


def scenario(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The scenario a test waits for (the module fixture starts only those of selected tests)."""
    def mark(test: Callable[..., None]) -> Callable[..., None]:
        test.scenario = name  # type: ignore[attr-defined]
        return test
    return mark


def outcome(scenarios: dict[str, Future[dict[str, Any]]], name: str) -> dict[str, Any]:
    result = scenarios[name].result(timeout=SCENARIO_TIMEOUT)
    print(f"{name}: {json.dumps(result, ensure_ascii=False, default=str)[:1500]}")
    return result


# --------------------------------------------------------------------------- the tests


@scenario("kill")
def test_kill_9_mid_wave_then_resume(scenarios: dict[str, Future[dict[str, Any]]]) -> None:
    outcome(scenarios, "kill")


@scenario("verify")
def test_injected_verification_failure_rolls_back(scenarios: dict[str, Future[dict[str, Any]]]) -> None:
    outcome(scenarios, "verify")


@scenario("full")
def test_target_disk_full(scenarios: dict[str, Future[dict[str, Any]]]) -> None:
    outcome(scenarios, "full")


@scenario("link")
def test_link_cut_and_restored_during_replicate(scenarios: dict[str, Future[dict[str, Any]]]) -> None:
    outcome(scenarios, "link")


@scenario("sshd")
def test_sshd_killed_on_the_target_mid_cutover(scenarios: dict[str, Future[dict[str, Any]]]) -> None:
    outcome(scenarios, "sshd")


@scenario("writer")
def test_source_written_during_replicate(scenarios: dict[str, Future[dict[str, Any]]]) -> None:
    outcome(scenarios, "writer")


@scenario("lost")
def test_target_unreachable_mid_replicate_leaves_no_grant(scenarios: dict[str, Future[dict[str, Any]]]) -> None:
    outcome(scenarios, "lost")


@scenario("statefs")
def test_state_on_a_full_disk(scenarios: dict[str, Future[dict[str, Any]]]) -> None:
    outcome(scenarios, "statefs")



@scenario("interrupt")
def test_ctrl_c_mid_replicate(scenarios: dict[str, Future[dict[str, Any]]]) -> None:
    outcome(scenarios, "interrupt")
