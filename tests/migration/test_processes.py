"""The driver owns what it starts (:mod:`migration.processes`), on real processes: a run's
processes end, whatever group they are in and even when they ignore SIGTERM; nothing of
another run or without a run id is touched; a process started as the driver's own ends when its
driver is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from migration import processes


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def stubborn(run_id: str | None, procs: list[subprocess.Popen[bytes]], job: str = "") -> subprocess.Popen[bytes]:
    """A process group (a shell and its child) that ignores SIGTERM, carrying ``run_id`` (and ``job``)."""
    env = {k: v for k, v in os.environ.items() if k not in (processes.MARKER, processes.JOB)}
    if run_id is not None:
        env[processes.MARKER] = run_id
    if job:
        env[processes.JOB] = job
    p = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 300 & wait"], start_new_session=True, env=env)
    procs.append(p)
    for _ in range(50):
        if len(processes._group_left(p.pid)) == 2:
            break
        time.sleep(0.02)
    return p


def test_end_run_ends_every_process_of_the_run_and_only_those(spawned: list[subprocess.Popen[bytes]]) -> None:
    mine = stubborn("r-mine", spawned)
    other = stubborn("r-other", spawned)
    unmarked = stubborn(None, spawned)
    assert len(processes.of_run("r-mine")) == 2
    found = processes.end_run("r-mine", [processes.Group(mine.pid, processes.start_time(mine.pid) or 0)], grace=0.5)
    assert mine.pid in found and len(found) == 2
    assert processes.of_run("r-mine") == []
    assert processes._group_left(mine.pid) == []
    assert len(processes._group_left(other.pid)) == 2 and len(processes._group_left(unmarked.pid)) == 2


def test_a_recorded_group_whose_pid_was_reused_is_not_signalled(spawned: list[subprocess.Popen[bytes]]) -> None:
    p = stubborn(None, spawned)
    stale = processes.Group(p.pid, (processes.start_time(p.pid) or 0) - 1)  # another process had this pid
    assert processes.terminate([stale]) == []
    processes.end_job(stale, "job-that-is-not-running", grace=0.2)
    assert len(processes._group_left(p.pid)) == 2


def test_end_job_ends_the_job_only_and_escalates_to_sigkill(spawned: list[subprocess.Popen[bytes]]) -> None:
    p = stubborn("r-a", spawned, job="/runs/r-a/ansible/001-x-replicate")
    other = stubborn("r-a", spawned, job="/runs/r-a/ansible/002-y-replicate")
    t0 = time.monotonic()
    processes.end_job(processes.Group(p.pid, processes.start_time(p.pid) or 0), "/runs/r-a/ansible/001-x-replicate",
                      grace=0.5)
    assert processes._group_left(p.pid) == []
    assert p.wait(5) == -signal.SIGKILL
    assert time.monotonic() - t0 < 5
    assert len(processes._group_left(other.pid)) == 2, "another job of the same run was ended"


def test_an_owned_process_ends_with_its_killed_driver(tmp_path: Path) -> None:
    pidfile = tmp_path / "child"
    driver = textwrap.dedent(f"""
        import subprocess, sys, time
        from migration import processes
        child = subprocess.Popen(processes.owned(["sleep", "300"]), start_new_session=True)
        open({str(pidfile)!r}, "w").write(str(child.pid))
        time.sleep(300)
    """)
    d = subprocess.Popen([sys.executable, "-c", driver], cwd=Path(__file__).resolve().parents[2])
    try:
        for _ in range(100):
            if pidfile.exists() and pidfile.read_text():
                break
            time.sleep(0.05)
        child = int(pidfile.read_text())
        time.sleep(0.2)
        assert processes.start_time(child) is not None
        os.kill(d.pid, signal.SIGKILL)
        d.wait()
        for _ in range(100):
            if processes.start_time(child) is None:
                break
            time.sleep(0.05)
        assert processes.start_time(child) is None, "the owned process outlived its killed driver"
    finally:
        if d.poll() is None:
            d.kill()


def test_the_launcher_records_the_playbook_group(tmp_path: Path) -> None:
    bindir = processes.launcher(tmp_path / "bin")
    record = tmp_path / "process"
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "JIYUE_PROCESS_FILE": str(record)}
    p = subprocess.run(["ansible-playbook", "--version"], env=env, capture_output=True, text=True,
                       start_new_session=True, timeout=60)
    assert p.returncode == 0 and "ansible-playbook" in p.stdout
    group = processes.Group.read(record)
    assert group is not None and group.start > 0
    assert oct((tmp_path / "bin" / "ansible-playbook").stat().st_mode & 0o777) == "0o700"


def test_the_run_refuses_to_start_without_setpriv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(FileNotFoundError, match="setpriv with --pdeathsig"):
        processes.require()
