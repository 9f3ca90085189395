"""The steps of one system's migration, driven through the playbooks, recorded in the state.

For each system the engine looks at its state, runs the next step, and records the transition
when (and only when) the step succeeded. A failed step leaves the state where it was, with the
error; a failed verification rolls back. The source is never changed by anything before
``finalize`` except the cutover's freeze, which rollback undoes.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from jiyue.catalog import FilingContext, filing_gaps, in_scope
from jiyue.ipam import IpPlan
from jiyue.registry import CityModel
from jiyue.registry.schema import Site, System
from jiyue.stacks import StackName

from . import consolidate, processes, verify
from .inventory import Connection, department_inventory, write_inventory
from .runner import Runner
from .state import ORDER, State, StateError, Store

Hook = Callable[[str, str], None]  # (system, step just finished)


class FlowGate(Protocol):
    """The network's temporary migration flows (the flow table's ``migration`` kind): a system's
    targets reach its own legacy sources (tcp/22, they pull) only between :meth:`open` and
    :meth:`close`. The lab's edges implement it; for real stacks the city's firewall change
    process does, outside the driver."""

    def open(self, system: str, pairs: Sequence[tuple[str, str]]) -> None:
        """Let each (target, source) of ``system`` connect; idempotent."""

    def close(self, system: str) -> None:
        """Close every flow of ``system``; idempotent."""


class Fence(Protocol):
    """A site's loss, staged where the network can be told (the lab: the hosts cut off from every
    network, their processes and data left as they are). For real stacks the operator declares
    the primary lost, and fences it, outside the driver."""

    def cut(self, hosts: Sequence[str]) -> None:
        """Cut ``hosts`` off; idempotent."""

    def restore(self, hosts: Sequence[str]) -> None:
        """Give ``hosts`` their networks back; idempotent."""


class PrecheckFailed(Exception):
    pass


@dataclass
class StepResult:
    system: str
    step: str
    ok: bool
    seconds: float
    message: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class SystemOutcome:
    system: str
    state: State
    steps: list[StepResult]
    error: str | None = None


#: the forward path: from this state, run this step, and on success go there
FORWARD: dict[State, tuple[str, State]] = {
    State.planned: ("precheck", State.prechecked),
    State.prechecked: ("replicate", State.replicated),
    State.replicated: ("test-cutover", State.test_cutover),
    State.test_cutover: ("verify-test", State.verified_test),
    State.verified_test: ("cutover", State.cutover),
    State.cutover: ("verify", State.verified),
}
#: the steps whose playbooks carry what a system runs on (accounts, jobs) to its targets
CARRIES = ("precheck", "replicate", "test-cutover", "cutover", "rollback")
#: the steps whose playbooks grant the run's key from the targets to their sources (and take it back)
GRANTS = ("replicate", "test-cutover", "cutover")
PLAYBOOK = {"precheck": "precheck.yml", "replicate": "replicate.yml", "test-cutover": "test_cutover.yml",
            "cutover": "cutover.yml", "rollback": "rollback.yml", "finalize": "finalize.yml",
            "decommission": "decommission.yml"}
#: how far along the forward path a state is
RANK = {s: i for i, s in enumerate(ORDER)}


def run_id() -> str:
    """Sortable by time, and unique (two drivers on two states may start in one millisecond: the
    id marks a run's processes and names its ssh sockets)."""
    return "r-" + dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-%f")[:-3] + "-" + secrets.token_hex(2)


class Engine:
    def __init__(self, model: CityModel, ip: IpPlan, outputs: dict[str, dict[str, Any]], conn: Connection,
                 store: Store, runner: Runner, inventory: Path, run_dir: Path, rid: str, *,
                 hook: Hook | None = None, progress: Callable[[str, str], None] | None = None,
                 on_step: Callable[[StepResult], None] | None = None, flows: FlowGate | None = None) -> None:
        self.model, self.ip, self.outputs, self.conn = model, ip, outputs, conn
        self.flows = flows
        self.filing = FilingContext.of(model)  # the filing gate's view of the registry (G6)
        self.store, self.runner, self.inventory, self.run_dir, self.run_id = store, runner, inventory, run_dir, rid
        self.hook = hook
        self.progress = progress or (lambda system, msg: None)  # (system, step) at start, then its outcome
        self.on_step = on_step  # every finished step, as recorded
        self._db_lock = threading.Lock()
        #: set when the run is interrupted: no system starts another step
        self.stopping = threading.Event()
        self._swept: set[str] = set()  # systems whose grants left by a killed run were taken back
        self._key: Path | None = None
        self._host_keys = _known_hosts(conn.known_hosts)
        self._inventories: dict[str, Path] = {}

    # ---- data the playbooks need (the contract of playbooks/README.md)
    def targets(self, system: System) -> list[dict[str, Any]]:
        dep = self.model.department_of[system.id]
        stack = str(StackName(system.zone, Site.primary, dep))
        data = (self.outputs.get(stack, {}).get("systems") or {}).get(system.id)
        if not data:
            raise PrecheckFailed(f"{system.id}: no target in the stack outputs of {stack} "
                                 f"(deploy the stack, or bring the lab up for {dep})")
        return [h for h in data["hosts"] if h.get("state") == "running"]

    def pairs(self, system: System) -> list[dict[str, Any]]:
        """One item per legacy host: its target and what it copies there (the copy plan of
        :mod:`migration.consolidate`: a tree several sources hold is copied as the registry says)."""
        targets = self.targets(system)
        by_name = {t["name"]: t for t in targets}
        where = consolidate.assign(system, [t["name"] for t in targets])
        plan = consolidate.copy_plan(system, [t["name"] for t in targets])
        dep = self.model.department_of[system.id]
        out = []
        for h in system.legacy_hosts:
            t = by_name[where[h.name]]
            out.append({"source": h.name, "target": t["name"],
                        "source_address": self.ip.mapped_address(dep, h.lan, h.address),
                        "target_address": t["address"], "services": [s.value for s in h.services],
                        "data_paths": list(h.data_paths), "databases": list(h.databases),
                        "copies": [c.as_dict() for c in plan[t["name"]] if c.source == h.name]})
        return out

    def extravars(self, system: System) -> dict[str, Any]:
        pairs = self.pairs(system) if self._has_target(system) else [self._decommission_pair(system, h)
                                                                     for h in system.legacy_hosts]
        return {
            "jiyue_run_id": self.run_id,
            "jiyue_system": {"id": system.id, "department": self.model.department_of[system.id],
                             "zone": system.zone.value, "service_name": service_name(self.model, system)},
            "jiyue_pairs": pairs,
            "jiyue_migration_key": str(self.migration_key()),
            "jiyue_source_host_keys": {p["source"]: self._host_key(p["source"], p["source_address"]) for p in pairs},
            "jiyue_clients": [f"bastion-{system.zone.value}"],
            "jiyue_archive_dir": "/var/backups/jiyue",
        }

    def _has_target(self, system: System) -> bool:
        try:
            return bool(self.targets(system))
        except PrecheckFailed:
            return False

    def _decommission_pair(self, system: System, h: Any) -> dict[str, Any]:
        dep = self.model.department_of[system.id]
        return {"source": h.name, "source_address": self.ip.mapped_address(dep, h.lan, h.address),
                "services": [s.value for s in h.services], "data_paths": list(h.data_paths),
                "databases": list(h.databases)}

    def _host_key(self, name: str, address: str) -> str:
        key = self._host_keys.get(name) or self._host_keys.get(address)
        if key is None:
            raise PrecheckFailed(f"{name}: its host key is not in {self.conn.known_hosts}; add it after checking "
                                 "its fingerprint with the department (host-key checking stays on)")
        return key

    def inventory_for(self, system: System) -> Path:
        """The inventory of the system's department (a slice of the wave's, written once per run):
        a step's playbook run and its verification parse only the hosts they may touch."""
        dep = self.model.department_of[system.id]
        with self._db_lock:
            if dep not in self._inventories:
                wave = yaml.safe_load(self.inventory.read_text(encoding="utf-8"))
                self._inventories[dep] = write_inventory(department_inventory(wave, dep),
                                                         self.run_dir / "inventory" / f"{dep}.yml")
            return self._inventories[dep]

    def migration_key(self) -> Path:
        """A temporary key for this run; the playbooks install and remove it, the run deletes it."""
        with self._db_lock:
            if self._key is None:
                key = self.run_dir / "migration_key"
                if not key.exists():
                    self.run_dir.mkdir(parents=True, exist_ok=True)
                    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"jiyue-{self.run_id}",
                                    "-f", str(key)], check=True)
                self._key = key
            return self._key

    def discard_key(self) -> None:
        if self._key is not None:
            for p in (self._key, self._key.with_suffix(".pub")):
                p.unlink(missing_ok=True)
            self._key = None

    # ---- store access from several department threads
    def _st(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        with self._db_lock:
            return fn(*args, **kw)

    def process_seen(self, label: str, group: processes.Group, started: bool) -> None:
        """Record a process group of this run (the runner's and the verification's callback)."""
        try:
            if started:
                self._st(self.store.process_started, self.run_id, group.pid, group.start, label)
            else:
                self._st(self.store.process_ended, self.run_id, group.pid, group.start)
        except StateError:
            pass  # a full disk must not stop a clean-up: the launcher's file and the run id still find it

    # ---- the run's key: granted only while a step runs, taken back on every way out
    def revoke(self, system: System, why: str) -> StepResult:
        """Take every migration key back from the system's sources (and from its targets, where
        they answer), each host reached directly: what a step whose target became unreachable, a
        failed or interrupted step, or a killed driver left behind. Recorded as a step of its own."""
        pairs = self.pairs(system) if self._has_target(system) else [
            self._decommission_pair(system, h) for h in system.legacy_hosts]
        hosts = [p["source"] for p in pairs] + [p["target"] for p in pairs if p.get("target")]
        try:
            seq: int | None = self._st(self.store.step_started, system.id, "revoke", self.run_id)
        except StateError:
            seq = None  # the state cannot be written (a full disk): revoke all the same, unrecorded
        t0 = time.monotonic()
        try:
            r = self.runner.run("revoke.yml", {"jiyue_run_id": self.run_id, "jiyue_revoke_hosts": hosts},
                                label=f"{system.id}-revoke", inventory=self.inventory_for(system), spare=True)
            # what matters is the sources: a lost target holds only the private half, useless
            # once no source grants it, and taken back by the next precheck's revoke
            sources = {p["source"] for p in pairs}
            missed = sorted({f.host for f in r.failures} | {h for h in hosts if not r.stats.get(h, {}).get("ok")})
            ok = not set(missed) & sources
            message = f"taken back on every source; not reached: {', '.join(missed)}" if missed and ok \
                else r.summary()
            detail: dict[str, Any] = {"why": why, "revoked": r.facts, "not_reached": missed}
        except Exception as exc:  # noqa: BLE001 - recorded; the next step's precheck of grants sees the rest
            ok, message, detail = False, f"{type(exc).__name__}: {exc}", {"why": why}
        if seq is not None:
            self._st(self.store.step_finished, seq, system.id, "ok" if ok else "failed", time.monotonic() - t0,
                     {"message": message, **detail})
        return StepResult(system.id, "revoke", ok, time.monotonic() - t0, message, detail)

    # ---- one system
    def drive(self, system_id: str, until: State) -> SystemOutcome:
        """Run the steps from the system's state up to ``until`` (never past it, never redone)."""
        system = self.model.systems[system_id]
        results: list[StepResult] = []
        while True:
            cur = self._st(self.store.get, system_id).state
            if self.stopping.is_set():
                return SystemOutcome(system_id, cur, results, "interrupted before its next step")
            if cur not in FORWARD or RANK.get(cur, 99) >= RANK[until]:
                return SystemOutcome(system_id, cur, results, self._st(self.store.get, system_id).error)
            step, nxt = FORWARD[cur]
            res = self._step(system, step)
            results.append(res)
            if res.ok:
                self._st(self.store.transition, system_id, nxt, run_id=self.run_id, detail=res.detail or None)
                if self.hook:
                    self.hook(system_id, step)
                continue
            self._st(self.store.fail, system_id, f"{step}: {res.message}")
            if step in ("verify-test", "verify") and not self.stopping.is_set():
                rb = self.rollback(system_id, reason=f"{step} failed: {res.message}")
                results.append(rb)
                if rb.ok:
                    self._st(self.store.fail, system_id, f"{step} failed, rolled back: {res.message}")
            return SystemOutcome(system_id, self._st(self.store.get, system_id).state, results,
                                 self._st(self.store.get, system_id).error)

    def _step(self, system: System, step: str) -> StepResult:
        left = self._st(self.store.get, system.id)
        if left is not None and left.running_step in (*GRANTS, "revoke") and system.id not in self._swept:
            # a killed driver left this step running: its key may still be granted on the sources
            self._swept.add(system.id)
            self.revoke(system, f"{left.running_step} of an earlier run never ended")
        seq = self._st(self.store.step_started, system.id, step, self.run_id)
        self.progress(system.id, step)
        t0 = time.monotonic()
        try:
            ok, message, detail = self._do(system, step)
        except PrecheckFailed as exc:
            ok, message, detail = False, str(exc), {}
        except Exception as exc:  # noqa: BLE001 - recorded with the step, the run goes on with others
            ok, message, detail = False, f"{type(exc).__name__}: {exc}", {}
        except BaseException:
            if step in GRANTS:
                self.revoke(system, f"{step} interrupted")
            raise
        if self.stopping.is_set() and not ok:
            message = f"interrupted: {message}"
        if step in GRANTS and not ok:
            # the playbook takes its grant back in an always: section, but not on a host it lost
            rv = self.revoke(system, f"{step} failed")
            detail["revoke"] = {"ok": rv.ok, "message": rv.message}
        elif step == "precheck" and detail.get("reported"):
            stale = {h: f["jiyue_stale_grants"] for h, f in detail["reported"].items() if f.get("jiyue_stale_grants")}
            if stale:
                rv = self.revoke(system, "grants of earlier runs found by the precheck")
                detail["stale_grants"] = stale
                message += f"; took back {sum(map(len, stale.values()))} migration key grant(s) of earlier runs " \
                           f"on {', '.join(sorted(stale))}" + ("" if rv.ok else f" (revoke failed: {rv.message})")
        seconds = time.monotonic() - t0
        self._st(self.store.step_finished, seq, system.id, "ok" if ok else "failed", seconds,
                 {"message": message, **detail})
        copied = detail.get("bytes_copied", 0)
        self.progress(system.id, f"{step} {'ok' if ok else 'FAILED'} ({seconds:.1f} s"
                                 + (f", {human_bytes(copied)} copied)" if copied else ")"))
        result = StepResult(system.id, step, ok, seconds, message, detail)
        if self.on_step is not None:
            self.on_step(result)
        return result

    def _do(self, system: System, step: str) -> tuple[bool, str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        if step == "precheck":
            self.gate(system)
        if self.flows is not None and (step == "precheck" or step in GRANTS):
            self.flows.open(system.id, [(p["target"], p["source"]) for p in self.pairs(system)])
        if step in ("verify-test", "verify"):
            return self._check(system, step)
        extravars = self.extravars(system)
        if step in CARRIES:
            found = self.discover(system)
            self.carry(extravars["jiyue_pairs"], found)
        if step == "precheck":
            self.accounts_gate(system, extravars["jiyue_pairs"])
        if self.stopping.is_set():
            return False, "interrupted before its playbook started", {}
        r = self.runner.run(PLAYBOOK[step], extravars, label=f"{system.id}-{step}",
                            inventory=self.inventory_for(system))
        detail: dict[str, Any] = {"changed": r.changed, "artifacts": str(r.artifacts)}
        if step == "precheck":
            detail["discovered"] = found
        if r.bytes_copied:
            detail["bytes_copied"] = r.bytes_copied
        if r.facts:
            detail["reported"] = r.facts
        return r.ok, r.summary(), detail

    # ---- what a system runs on: discovered on the sources, carried to the targets
    def discover(self, system: System) -> dict[str, dict[str, Any]]:
        """Per source host: the accounts owning the system's data or running its jobs, its cron
        entries and their scripts, what listens as whom, its TLS files, its units."""
        hosts = {h.name: (list(h.data_paths), [s.value for s in h.services]) for h in system.legacy_hosts}
        return verify.discover(system.id, hosts, self.inventory_for(system))

    @staticmethod
    def carry(pairs: list[dict[str, Any]], found: dict[str, dict[str, Any]]) -> None:
        """Give each pair what its source runs on: the accounts and groups its target creates with
        the same names and ids (before any file lands there), its scheduled jobs, the TLS files its
        sites use."""
        for p in pairs:
            d = found.get(p["source"]) or {}
            p["accounts"] = d.get("accounts", [])
            p["groups"] = [{"name": n, "gid": g} for n, g in sorted((d.get("groups") or {}).items())]
            p["cron"] = d.get("cron") or {"files": {}, "crontabs": {}, "scripts": {}}
            p["tls"] = [{"path": path, **{k: v for k, v in x.items() if k != "sha256"}}
                        for path, x in sorted((d.get("tls") or {}).items())]

    def accounts_gate(self, system: System, pairs: list[dict[str, Any]]) -> None:
        """Refuse, before anything is copied, accounts a target cannot take with the same name and id,
        and two different cron entries of one name that two sources would bring onto one target."""
        problems = []
        for target in dict.fromkeys(p["target"] for p in pairs if p.get("target")):
            mine = [p for p in pairs if p.get("target") == target]
            users = list({(u["name"], u["uid"]): {"name": u["name"], "uid": u["uid"]}
                          for p in mine for u in p["accounts"]}.values())
            groups = list({(g["name"], g["gid"]): g for p in mine for g in p["groups"]}.values())
            problems += [f"{target}: {c}" for c in verify.account_clashes(target, users, groups,
                                                                          self.inventory_for(system))]
            jobs: dict[str, tuple[str, str]] = {}
            for p in mine:
                for path, text in p["cron"]["files"].items():
                    if path in jobs and jobs[path][1] != text:
                        problems.append(f"{target}: {path} differs between {jobs[path][0]} and {p['source']}; "
                                        "one target can schedule only one of them")
                    jobs.setdefault(path, (p["source"], text))
        if problems:
            raise PrecheckFailed("the targets cannot take what the sources run on: " + "; ".join(problems))

    def gate(self, system: System) -> None:
        """What the playbooks cannot judge: the filing gate, and whether the targets can hold
        every source's data (trees several sources hold, compared before anything is copied)."""
        precheck_gate(system, self.filing)
        names = [t["name"] for t in self.targets(system)]
        wanted = consolidate.shared(system, names)
        if wanted:
            manifests = verify.measure_trees(wanted, self.inventory_for(system))
            problems = consolidate.problems(system, names, manifests)
            if problems:
                raise PrecheckFailed("the targets cannot hold every source's data: " + "; ".join(problems))
        clashes = consolidate.database_clashes(system, names)
        if clashes:
            raise PrecheckFailed("; ".join(clashes))

    def verify(self, system_id: str) -> StepResult:
        """Run the system's verification suite again (T4.3: every target against its sources, as
        they are now); records the step, changes no state."""
        return self._step(self.model.systems[system_id], "verify")

    def _check(self, system: System, step: str) -> tuple[bool, str, dict[str, Any]]:
        pairs = [verify.Pair(p["source"], p["target"], p["services"], p["data_paths"], p["databases"])
                 for p in self.pairs(system)]
        directory = self.run_dir / "verify" / f"{system.id}-{step}"
        inventory = self.inventory_for(system)
        measured = verify.measure_sources(pairs, inventory)
        exp = verify.expectations(system, pairs, measured, inventory, self.discover(system))
        exp["step"] = step
        if step == "verify-test":
            # The sources still serve: what they wrote after the test cutover's sync is not on the
            # targets yet, and the cutover's final sync of the frozen sources carries it (where
            # "verify" compares everything).
            exp["written_since_sync"] = verify.written_since(exp, self._last_started(system.id, "test-cutover"))
        else:
            # The target serves, and its jobs run, from the cutover on: a file it wrote since then
            # (an mtime after the cutover began; the final sync keeps the sources' older ones) is
            # its own, not the source's, and is listed instead of compared.
            exp["target_writes_since"] = self._last_started(system.id, "cutover")
        verify.write_suite(directory, system.id, exp)
        result = verify.run_suite(directory, system.id, run_id=self.run_id, on_process=self.process_seen)
        detail = {"passed": result.passed, "failed": result.failed, "failures": result.failures,
                  "suite": str(directory),
                  "compared": {t: {"files": sum(len(m or {}) for m in e["files"].values()),
                                   "tables": sum(len(d) for d in e["databases"].values()),
                                   "web": len(e["http_requests"]) if e["http_answers"] else 0,
                                   "sources": e["sources"]} for t, e in exp["targets"].items()}}
        (directory / "result.json").write_text(json.dumps(detail, ensure_ascii=False, indent=1), encoding="utf-8")
        msg = f"{result.passed} checks passed" if result.ok else \
            f"{result.failed} of {result.passed + result.failed} checks failed: " + "; ".join(result.failures[:3])
        return result.ok, msg, detail

    def _last_started(self, system_id: str, step: str) -> float | None:
        done = [s for s in self._st(self.store.steps, system_id) if s["step"] == step and s["outcome"] == "ok"]
        return dt.datetime.fromisoformat(done[-1]["started_at"]).timestamp() if done else None

    # ---- a dry run
    def dry_run(self, system_id: str, until: State) -> list[StepResult]:
        """What driving the system up to ``until`` would do, changing nothing on any host and
        recording nothing: the next step runs in Ansible's check mode with diffs (the precheck,
        read-only, runs for real; a verification runs its read-only suite); the steps after it
        need it done first and are reported as such, not simulated."""
        system = self.model.systems[system_id]
        known = self._st(self.store.get, system_id)
        cur = known.state if known is not None and known.state not in (State.registered, State.assessed) \
            else State.planned
        todo = steps_between(cur, until)
        if not todo:
            return []
        first, later = todo[0], todo[1:]
        self.progress(system_id, f"{first} (check)")
        t0 = time.monotonic()
        detail: dict[str, Any] = {}
        try:
            if first == "precheck":
                self.gate(system)
            if first in ("verify-test", "verify"):
                ok, message, detail = self._check(system, first)
            else:
                r = self.runner.run(PLAYBOOK[first], self.extravars(system), label=f"{system_id}-{first}-check",
                                    inventory=self.inventory_for(system), check=True)
                ok, detail = r.ok, {"changes": r.changes, "artifacts": str(r.artifacts)}
                would = [c for c in r.changes if "not_simulated" not in c]
                message = (f"would change {len(would)} thing(s), {len(r.changes) - len(would)} task(s) run only "
                           "for real" if r.ok else r.summary())
        except PrecheckFailed as exc:
            ok, message = False, str(exc)
        results = [StepResult(system_id, first, ok, time.monotonic() - t0, message, detail)]
        results += [StepResult(system_id, step, True, 0.0, f"needs {first} done first: not simulated",
                               {"not_simulated": True}) for step in later]
        return results

    # ---- out of the forward path
    def rollback(self, system_id: str, reason: str = "requested") -> StepResult:
        system = self.model.systems[system_id]
        cur = self._st(self.store.get, system_id).state
        if cur not in (State.replicated, State.test_cutover, State.verified_test, State.cutover, State.verified):
            return StepResult(system_id, "rollback", False, 0.0, f"nothing to roll back from {cur.value}")
        res = self._step(system, "rollback")
        if res.ok:
            self._st(self.store.transition, system_id, State.rolled_back, run_id=self.run_id,
                     detail={"reason": reason})
            self._close_flows(system_id)
        else:
            self._st(self.store.fail, system_id, f"rollback: {res.message}")
        return res

    def finalize(self, system_id: str) -> StepResult:
        system = self.model.systems[system_id]
        cur = self._st(self.store.get, system_id).state
        if cur is not State.verified:
            return StepResult(system_id, "finalize", False, 0.0, f"only a verified system is finalized (it is {cur})")
        res = self._step(system, "finalize")
        if res.ok:
            self._st(self.store.transition, system_id, State.finalized, run_id=self.run_id)
            self._close_flows(system_id)
        return res

    def _close_flows(self, system_id: str) -> None:
        """The system's migration is over (finalized, rolled back): its targets reach its sources no more."""
        if self.flows is not None:
            self.flows.close(system_id)

    def decommission(self, system_id: str) -> StepResult:
        system = self.model.systems[system_id]
        cur = self._st(self.store.get, system_id).state
        if cur is State.decommissioned:
            return StepResult(system_id, "decommission", True, 0.0, "already decommissioned")
        res = self._step(system, "decommission")
        if res.ok:
            self._st(self.store.transition, system_id, State.decommissioned, run_id=self.run_id, force=True)
        return res

    # ---- many systems
    def drive_systems(self, systems_by_department: dict[str, list[str]], until: State,
                      max_parallel: int = 4) -> list[SystemOutcome]:
        """Every listed system up to ``until``, ``max_parallel`` at once, of any department: a system
        starts once every system it depends on (among those listed) has finished, so nothing moves
        before what it calls. Outcomes come in the listed order."""
        max_parallel = max(1, max_parallel)
        order = [sid for sids in systems_by_department.values() for sid in sids]
        listed = set(order)
        waits = {sid: {d for d in self.model.systems[sid].depends_on if d in listed and d != sid} for sid in order}
        outcomes: dict[str, SystemOutcome] = {}
        pending = list(order)
        with ThreadPoolExecutor(max_workers=max_parallel) as pool:
            running: dict[Future[SystemOutcome], str] = {}
            try:
                while pending or running:
                    ready = [sid for sid in pending if not waits[sid] - outcomes.keys()]
                    if not ready and not running:  # a dependency cycle (validate refuses one) would wait forever
                        ready = pending[:1]
                    for sid in ready[:max_parallel - len(running)]:
                        pending.remove(sid)
                        running[pool.submit(self.drive, sid, until)] = sid
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        outcomes[running.pop(fut)] = fut.result()
            except BaseException:
                # interrupted: no system starts another step, the playbooks in flight end now
                # (their steps fail and revoke their grants), and the pool is waited for
                self.stop()
                raise
        return [outcomes[sid] for sid in order]

    def stop(self) -> None:
        """End the run's steps in flight (their playbooks and verifications) and start no other."""
        self.stopping.set()
        self.runner.cancel.set()  # ansible-runner ends the playbooks in flight
        processes.terminate(processes.Group(p["pid"], p["start"])  # the verifications (and playbooks, sooner)
                            for p in self._st(self.store.processes, self.run_id, running=True)
                            if not p["label"].endswith("-revoke"))


def precheck_gate(system: System, filing: FilingContext | None = None) -> None:
    """What the playbooks cannot know: the filing gate (G6) and whether there is anything to move."""
    if in_scope(system):
        gaps = filing_gaps(system, filing)
        if gaps:
            raise PrecheckFailed("the filing gate (G6) is closed: " + "; ".join(g.message for g in gaps)
                                 + " (file them in the registry, then run again)")
    if not system.legacy_hosts:
        raise PrecheckFailed("the registry lists no legacy host to migrate")


def service_name(model: CityModel, system: System) -> str:
    return f"{system.id}.svc.{model.city.id}.gov.internal"


def steps_between(state: State, until: State) -> list[str]:
    """The forward steps a system in ``state`` still runs to reach ``until`` (none if it is there,
    past it, or off the forward path)."""
    out = []
    while state in FORWARD and RANK.get(state, 99) < RANK[until]:
        step, state = FORWARD[state]
        out.append(step)
    return out


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _known_hosts(path: Path) -> dict[str, str]:
    keys: dict[str, str] = {}
    if not path.exists():
        return keys
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.startswith("#"):
            for name in parts[0].split(","):
                keys[name] = f"{parts[1]} {parts[2]}"
    return keys
