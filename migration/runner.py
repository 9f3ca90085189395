"""One typed facade over ``ansible_runner.run`` (≈60 untyped keyword arguments).

Each call gets a private data directory under the run's directory (kept as the artifacts of that
step), an explicit timeout, and an event handler that writes a structured log (``events.jsonl``)
and feeds progress to the caller. The result is a :class:`PlaybookResult`, never a raw dict.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ansible_mitogen
import ansible_runner

from jiyue.paths import bundled

from . import processes

PLAYBOOKS = bundled(__file__, "playbooks")
#: Mitogen for Ansible's strategy plugins (mitogen_linear)
MITOGEN_STRATEGIES = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"

EventSink = Callable[[dict[str, Any]], None]
#: hears each playbook's process group: (job label, group, True when it started / False when it ended)
ProcessSink = Callable[[str, processes.Group, bool], None]


@dataclass
class HostFailure:
    host: str
    task: str
    message: str
    unreachable: bool = False


@dataclass
class PlaybookResult:
    playbook: str
    status: str  # successful | failed | timeout | canceled
    rc: int
    seconds: float
    artifacts: Path
    stats: dict[str, dict[str, int]] = field(default_factory=dict)  # per host: ok, changed, failures, ...
    failures: list[HostFailure] = field(default_factory=list)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)  # registered results reported by tasks
    bytes_copied: int = 0  # file data rsync transferred (its --stats), over every host and path
    #: in check mode: what each task would change (host, task, item, diff) or why it was not simulated
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    @property
    def changed(self) -> int:
        return sum(h.get("changed", 0) for h in self.stats.values())

    def summary(self) -> str:
        if self.ok:
            return f"{self.playbook}: ok, {self.changed} changed, {self.seconds:.1f} s"
        why = "; ".join(f"{f.host}: {f.task}: {f.message}" for f in self.failures[:3]) or self.status
        return f"{self.playbook}: {self.status}: {why}"


def failure_message(res: dict[str, Any]) -> str:
    """What a failed task said, readable: Ansible's message with the command's stderr (its first
    and last lines: where rsync, ssh or psql say why), per failed item of a loop ("One or more
    items failed" alone says nothing)."""
    failed = [r for r in res.get("results") or [] if isinstance(r, dict) and (r.get("failed") or r.get("unreachable"))]
    parts = []
    for r in failed or [res]:
        text = str(r.get("msg") or r.get("reason") or "failed").strip()
        lines = str(r.get("stderr") or "").strip().splitlines()
        stderr = "\n".join(lines if len(lines) <= 4 else [*lines[:2], "…", *lines[-2:]])
        if stderr and stderr not in text:
            text = f"{text}: {stderr}"
        item = r.get("item")
        if isinstance(item, str | int) and failed:
            text = f"{item}: {text}"
        parts.append(text)
    return "; ".join(parts) or "failed"


_RSYNC_TRANSFERRED = re.compile(r"^Total transferred file size: ([\d,.]+) bytes", re.MULTILINE)


def rsync_bytes(res: dict[str, Any]) -> int:
    """The file data an rsync task transferred, from the ``--stats`` in its output (0 if none)."""
    m = _RSYNC_TRANSFERRED.search(str(res.get("stdout") or ""))
    return int(re.sub(r"[,.]", "", m.group(1))) if m else 0


@dataclass
class RunnerSettings:
    """How Ansible runs. ``fast`` is the project's ansible.cfg (pipelining, ControlPersist, many
    forks) and Mitogen's strategy (``mitogen``: one Python interpreter per host for the whole
    playbook instead of one per task, over the same ssh and its checked host keys); ``fast=False``
    is Ansible's defaults (the benchmark's baseline)."""

    fast: bool = True
    forks: int = 25
    timeout: int = 1800
    mitogen: bool = True


class Runner:
    def __init__(self, run_dir: Path, inventory: Path, *, settings: RunnerSettings | None = None,
                 on_event: EventSink | None = None, playbooks: Path = PLAYBOOKS, run_id: str = "",
                 on_process: ProcessSink | None = None, sockets: Path | None = None) -> None:
        self.run_dir = run_dir
        self.sockets = sockets
        self.inventory = inventory
        self.settings = settings or RunnerSettings()
        self.on_event = on_event
        self.playbooks = playbooks
        self.run_id = run_id or run_dir.name
        self.on_process = on_process
        #: set when the run stops: ansible-runner ends the playbooks in flight (its cancel_callback)
        self.cancel = threading.Event()
        self._seq = 0
        self._seq_lock = threading.Lock()
        self._bin = processes.launcher(run_dir / "bin")

    def env(self) -> dict[str, str]:
        env = {"ANSIBLE_CONFIG": str(self.playbooks / "ansible.cfg"),
               "ANSIBLE_COLLECTIONS_PATH": str(self.playbooks / "collections"),
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "False",
               # Ansible's commands from this Python's environment (the venv), even when it is not on PATH
               # the launcher first (the playbook's process group, recorded, ended with the driver),
               # then Ansible's commands from this Python's environment (the venv), even when it is
               # not on PATH
               "PATH": os.pathsep.join([str(self._bin), str(Path(sys.executable).parent),
                                        os.environ.get("PATH", "")]),
               processes.MARKER: self.run_id}
        # Persistent ssh connections are keyed by user, host and port only (%C): two environments
        # with the same addresses (two labs, a lab and production) must never share a socket, or a
        # command meant for one host runs on another. The derived inventory gives each connection
        # profile its own socket directory (ansible_control_path_dir, see
        # migration.inventory.Connection.control_path_dir): an inventory variable, it outranks
        # any ANSIBLE_SSH_CONTROL_PATH_DIR set here, and it holds for every user of the inventory.
        if self.settings.fast and self.settings.mitogen and "ANSIBLE_STRATEGY" not in os.environ:
            # Mitogen's strategy, unless the caller chose a strategy (ANSIBLE_STRATEGY=linear: Ansible's own)
            env.update({"ANSIBLE_STRATEGY": "mitogen_linear", "ANSIBLE_STRATEGY_PLUGINS": str(MITOGEN_STRATEGIES)})
            if self.sockets is not None:
                # Mitogen's ssh takes ssh_args but not the control path Ansible's ssh adds: the
                # same per-run socket directory, so a step reuses the connections (through the
                # bastion) an earlier step of the run opened, and the run's end closes them
                self.sockets.mkdir(parents=True, exist_ok=True, mode=0o700)
                env["ANSIBLE_SSH_ARGS"] = f"{_ssh_args(self.playbooks)} -o ControlPath={self.sockets}/%C"
        if not self.settings.fast:
            env.update({"ANSIBLE_PIPELINING": "False", "ANSIBLE_SSH_ARGS": "-o ControlMaster=no",
                        "ANSIBLE_FORKS": "5"})
        return env

    def run(self, playbook: str, extravars: dict[str, Any], *, label: str, limit: str | None = None,
            inventory: Path | None = None, check: bool = False, spare: bool = False) -> PlaybookResult:
        """Run ``playbook``; with ``check``, in Ansible's check mode with diffs: nothing changes on
        any host, and the result says what each task would change. With ``spare``, its artifacts
        go to a private temporary directory, removed afterwards: a clean-up that must work when
        the run's disk is full."""
        with self._seq_lock:
            self._seq += 1
            seq = self._seq
        if spare:
            # a clean-up: it also runs when the run's disk is full, and when the run is stopping
            with tempfile.TemporaryDirectory(prefix="jiyue-") as tmp:
                return self._run(Path(tmp) / f"{seq:03d}-{label}", playbook, extravars, label, limit, inventory,
                                 check, cancellable=False)
        return self._run(self.run_dir / f"{seq:03d}-{label}", playbook, extravars, label, limit, inventory, check)

    def _run(self, data_dir: Path, playbook: str, extravars: dict[str, Any], label: str, limit: str | None,
             inventory: Path | None, check: bool, cancellable: bool = True) -> PlaybookResult:
        data_dir.mkdir(parents=True, exist_ok=True)
        process_file = data_dir / processes.PROCESS_FILE
        group: list[processes.Group] = []
        log = (data_dir / "events.jsonl").open("a", encoding="utf-8")
        failures: list[HostFailure] = []
        facts: dict[str, dict[str, Any]] = {}
        copied = [0]
        changes: list[dict[str, Any]] = []

        def handler(event: dict[str, Any]) -> bool:
            if not group:
                g = processes.Group.read(process_file)
                if g is not None:
                    group.append(g)
                    if self.on_process is not None:
                        self.on_process(label, g, True)
            data = event.get("event_data", {})
            kind = event.get("event", "")
            res = data.get("res") or {}
            record = {"at": event.get("created"), "event": kind, "host": data.get("host"),
                      "task": data.get("task"), "changed": res.get("changed")}
            if kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
                msg = failure_message(res)
                failures.append(HostFailure(data.get("host", "?"), data.get("task", "?"), msg[-600:],
                                            kind == "runner_on_unreachable"))
                record["message"] = msg[-600:]
            # a loop's items each report (runner_item_on_ok); its task's own result repeats them
            if kind == "runner_item_on_ok" or (kind == "runner_on_ok" and "results" not in res):
                n = rsync_bytes(res)
                if n:
                    copied[0] += n
                    record["bytes"] = n
            if check and res.get("changed") and (kind == "runner_item_on_ok"
                                                 or (kind == "runner_on_ok" and "results" not in res)):
                changes.append({"host": data.get("host"), "task": data.get("task"),
                                "item": _label(res), "diff": _diff(res)})
            if check and kind in ("runner_on_skipped", "runner_item_on_skipped") and "check mode" in str(
                    res.get("skip_reason") or res.get("msg") or ""):
                changes.append({"host": data.get("host"), "task": data.get("task"), "item": _label(res),
                                "diff": None, "not_simulated": "runs only for real (not in check mode)"})
            if kind == "runner_on_ok" and isinstance(res.get("ansible_facts"), dict):
                reported = {k: v for k, v in res["ansible_facts"].items() if k.startswith("jiyue_")}
                if reported:
                    facts.setdefault(data.get("host", "?"), {}).update(reported)
            log.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            if self.on_event is not None:
                self.on_event(record)
            return True

        t0 = time.monotonic()
        settings = self.settings
        # the process's own start and end beside Ansible's events: what a step spends before the
        # first task and after the last is the process's start-up, not the hosts' work
        log.write(json.dumps({"at": _now(), "event": "jiyue_process_start", "playbook": playbook}) + "\n")
        try:
            r = ansible_runner.run(
                private_data_dir=str(data_dir),
                project_dir=str(self.playbooks),
                playbook=str(self.playbooks / playbook),
                inventory=str(inventory or self.inventory),
                extravars=extravars,
                limit=limit,
                forks=settings.forks if settings.fast else 5,
                timeout=settings.timeout,
                envvars={**self.env(), "JIYUE_PROCESS_FILE": str(process_file), processes.JOB: str(data_dir)},
                cancel_callback=self.cancel.is_set if cancellable else None,
                event_handler=handler,
                cmdline="--check --diff" if check else None,
                quiet=True,
                suppress_env_files=True,
            )
        except BaseException:
            # interrupted, or the event handler failed (a full disk): the playbook's group ends
            # before the driver goes on
            processes.end_job(group[0] if group else processes.Group.read(process_file), str(data_dir), grace=5)
            raise
        finally:
            log.write(json.dumps({"at": _now(), "event": "jiyue_process_end", "playbook": playbook}) + "\n")
            log.close()
            if group and self.on_process is not None:
                self.on_process(label, group[0], False)
        stats: dict[str, dict[str, int]] = {}
        for key, per_host in (r.stats or {}).items():
            if isinstance(per_host, dict):
                for host, n in per_host.items():
                    stats.setdefault(host, {})[key] = int(n)
        return PlaybookResult(playbook=playbook, status=r.status, rc=int(r.rc or 0),
                              seconds=time.monotonic() - t0, artifacts=data_dir, stats=stats, failures=failures,
                              facts=facts, bytes_copied=copied[0], changes=changes)


def _now() -> str:
    """Now as Ansible's events stamp it (ISO 8601, UTC)."""
    return datetime.now(UTC).isoformat()


def _ssh_args(playbooks: Path) -> str:
    """The ssh_args of the playbooks' ansible.cfg."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(playbooks / "ansible.cfg", encoding="utf-8")
    return cfg.get("ssh_connection", "ssh_args", fallback="")


def _label(res: dict[str, Any]) -> str | None:
    item = res.get("item")
    if item is None:
        return None
    if isinstance(item, dict):
        return str(item.get("path") or item.get("source") or item.get("name") or next(iter(item.values()), ""))
    return str(item)


def _diff(res: dict[str, Any]) -> str | None:
    """Ansible's diff of a task, as unified text where it has one (file contents), else before/after."""
    diffs = res.get("diff")
    if not diffs:
        return None
    out = []
    for d in diffs if isinstance(diffs, list) else [diffs]:
        if not isinstance(d, dict):
            continue
        if d.get("prepared"):
            out.append(str(d["prepared"]))
            continue
        before, after = d.get("before"), d.get("after")
        if before != after:
            out.append(f"{d.get('before_header') or 'before'}: {str(before)[:200]!r} -> "
                       f"{d.get('after_header') or 'after'}: {str(after)[:200]!r}")
    return "\n".join(out) or None
