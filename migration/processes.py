"""The driver owns what it starts: every process of a run carries the run's id in its environment,
and whatever a killed run left running is ended before the next run touches a host.

Each playbook run is its own process group (ansible-runner starts ``ansible-playbook`` on a pty,
as a session leader); a small launcher (:func:`launcher`) writes the group's id and start time
into the job's directory before it ``exec``\\ s ``ansible-playbook`` under ``setpriv
--pdeathsig TERM``, so the playbook is told to stop the moment its driver dies. The driver
records each group in the state (:meth:`migration.state.Store.process_started`). The verification
suite runs the same way (:func:`owned`).

What a killed run leaves behind is found two ways that do not depend on each other: the groups
its state recorded (and the launcher's files), and every process whose environment carries its
run id (:data:`MARKER`): ssh control masters and Ansible's workers inherit it, whatever their
group. :func:`end_run` ends them, politely first, and waits until none is left. Processes the
project installs on hosts (heartbeats, replication) are started over ssh, which passes no
environment: they never carry the marker and are never touched.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

#: the environment variable every process of a run carries: the run's id
MARKER = "JIYUE_RUN_ID"
#: the environment variable every process of one playbook run carries: its job directory
JOB = "JIYUE_JOB"
#: the launcher writes "<pid> <start time>" of the playbook's process group here (in the job's directory)
PROCESS_FILE = "process"
#: how long ended processes get to exit after SIGTERM before SIGKILL
GRACE = 10.0

LAUNCHER = """#!/bin/sh
# jiyue: the playbook's process group, recorded before it runs; ended with its driver.
printf '%s %s\\n' "$$" "$(cut -d' ' -f22 /proc/$$/stat)" > "$JIYUE_PROCESS_FILE"
exec setpriv --pdeathsig TERM -- {playbook} "$@"
"""


@dataclass(frozen=True)
class Group:
    """A process group a run started: its leader's pid and start time (clock ticks since boot,
    /proc's field 22), which tell it apart from a later process that got the same pid."""

    pid: int
    start: int

    @classmethod
    def read(cls, path: Path) -> Group | None:
        try:
            pid, start = path.read_text().split()
            return cls(int(pid), int(start))
        except (OSError, ValueError):
            return None


def launcher(directory: Path) -> Path:
    """A directory holding ``ansible-playbook``, the launcher, to put first on a job's PATH."""
    real = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent) + os.pathsep
                        + os.environ.get("PATH", ""))
    if real is None:
        raise FileNotFoundError("ansible-playbook is not installed (make setup)")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    script = directory / "ansible-playbook"
    text = LAUNCHER.format(playbook=shlex.quote(real))
    if not script.exists() or script.read_text() != text:
        tmp = directory / f".ansible-playbook.{os.getpid()}.{threading.get_ident()}"
        tmp.write_text(text)
        tmp.chmod(0o700)
        os.replace(tmp, script)
    return directory


def owned(argv: list[str]) -> list[str]:
    """``argv`` as a process that the kernel ends when its driver dies (run it with
    ``start_new_session=True`` to make it a group of its own)."""
    return ["setpriv", "--pdeathsig", "TERM", "--", *argv]


def start_time(pid: int) -> int | None:
    """The start time of process ``pid``, None when there is none (or only its zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _group_left(pgid: int) -> list[int]:
    """The live (not zombie) processes of group ``pgid``."""
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                out.append(int(entry.name))
    return out


def alive(group: Group) -> bool:
    return start_time(group.pid) == group.start


def carrying(name: str, value: str) -> list[int]:
    """Every live process whose environment has ``name=value`` (never this process)."""
    needle = f"{name}={value}".encode()
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            env = Path(entry.path, "environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            out.append(int(entry.name))
    return out


def of_run(run_id: str) -> list[int]:
    """Every process whose environment carries ``run_id`` (never this process)."""
    return carrying(MARKER, run_id)


def _end(find: Callable[[], list[int]], what: str, grace: float) -> list[int]:
    """SIGTERM, once, to what ``find`` finds (Ansible forwards the first to its workers and
    resets its handler: a second would kill it before it does); SIGKILL to whatever is left
    after ``grace`` seconds; returns when nothing is found, with every pid it saw."""
    found: set[int] = set()
    termed: set[int] = set()
    deadline = time.monotonic() + grace
    while left := find():
        found.update(left)
        if time.monotonic() > deadline:
            _signal(left, signal.SIGKILL)
            if time.monotonic() > deadline + grace:
                raise ProcessLookupError(f"{what} does not end: {left}")
        else:
            _signal([p for p in left if p not in termed], signal.SIGTERM)
            termed.update(left)
        time.sleep(0.1)
    return sorted(found)


def _signal(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def terminate(groups: Iterable[Group]) -> list[int]:
    """SIGTERM to each group whose leader is still the process recorded; the pids signalled."""
    out = []
    for g in groups:
        if alive(g):
            out.append(g.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(g.pid, signal.SIGTERM)
    return out


def end_job(group: Group | None, job: str, grace: float = GRACE) -> None:
    """End one job: its process group and every process carrying its job marker (:data:`JOB`:
    Ansible's workers start sessions of their own), and wait until none is left."""
    if group is not None:
        terminate([group])
    _end(lambda: carrying(JOB, job), f"job {job}", grace)


def close_sockets(directory: Path) -> int:
    """Ask every ssh control master with a socket in ``directory`` to exit, then remove it;
    the number asked. Never raises: it runs on the way out."""
    n = 0
    if directory.is_dir():
        for sock in directory.iterdir():
            if sock.is_socket():
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "jiyue"],
                                   capture_output=True, timeout=10, check=False)
                n += 1
        shutil.rmtree(directory, ignore_errors=True)
    return n


def end_run(run_id: str, groups: Iterable[Group] = (), sockets: Path | None = None,
            grace: float = GRACE) -> list[int]:
    """End what run ``run_id`` left running: its recorded process groups (SIGTERM to each group
    whose leader is still the process that was recorded), its ssh control masters (``-O exit``),
    then every process still carrying its id (SIGTERM once, SIGKILL after ``grace`` seconds).
    Returns when none is left, with the pids it found; raises ProcessLookupError when something
    outlives SIGKILL (a process stuck in the kernel)."""
    found = set(terminate(groups))
    if sockets is not None:
        close_sockets(sockets)
    return sorted(found | set(_end(lambda: of_run(run_id), f"run {run_id}", grace)))


def require() -> None:
    """What owning the run's processes needs on the controller: ``setpriv`` with
    ``--pdeathsig`` (util-linux 2.33 or later)."""
    try:
        ok = subprocess.run(owned(["true"]), capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    if not ok:
        raise FileNotFoundError("setpriv with --pdeathsig (util-linux 2.33 or later) is missing: "
                                "install util-linux (make system-packages)")
