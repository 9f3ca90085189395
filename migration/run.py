"""A driver run: the one set-up that ``jiyue migrate``, the audit's collection, the tests and the
benchmarks share, and the orchestration of a wave.

A run has an id, a directory beside the state database (``runs/<id>/``: the inventory, Ansible's
artifacts, the verification suites, the report), the inventory of the departments it touches,
one :class:`~migration.runner.Runner`, one :class:`~migration.engine.Engine` and a temporary
migration key that is gone when the run ends, however it ends. Where the hosts are comes in as
data (:class:`Sources`): the stack outputs and a connection profile, from real stacks' files or
from a rehearsal lab's directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jiyue.audit.score import score_city
from jiyue.ipam import IpPlan
from jiyue.ipam import plan as ip_plan
from jiyue.paths import LAB_NAME
from jiyue.registry import CityModel

from . import processes
from .audit import collect, latest_evidence, store_evidence
from .engine import Engine, Fence, FlowGate, Hook, StepResult, SystemOutcome, run_id, steps_between
from .inventory import Connection, build_inventory, read_outputs, write_inventory
from .runner import Runner, RunnerSettings
from .state import State, Store
from .waves import plan_waves, recorded_retirements, registry_retire_candidates


class RunError(ValueError):
    """A run asked for something that cannot be: the message says what and what to do. Nothing
    was changed."""


@dataclass(frozen=True)
class Sources:
    """Where the hosts are (the stack outputs: ``{stack: outputs}``), how the controller
    reaches them (bastions, key, known_hosts) and, where the network can be told, the gate of
    the migration's temporary flows (:class:`~migration.engine.FlowGate`: a target reaches its
    own system's sources only while that system migrates)."""

    outputs: dict[str, dict[str, Any]]
    conn: Connection
    flows: FlowGate | None = None
    #: where a site's loss can be staged (the lab): a DR failover cuts the lost primaries off
    fence: Fence | None = None

    def with_flows(self, flows: FlowGate) -> Sources:
        return dataclasses.replace(self, flows=flows)

    def with_fence(self, fence: Fence) -> Sources:
        return dataclasses.replace(self, fence=fence)

    @classmethod
    def from_files(cls, outputs: Path, connection: Path) -> Sources:
        """Real stacks: ``pulumi stack output --json`` per stack, and a reviewed connection profile."""
        for p, what in ((outputs, "--outputs"), (connection, "--connection")):
            if not p.is_file():
                raise RunError(f"{what}: {p} does not exist" if not p.exists() else f"{what}: {p} is not a file")
        try:
            conn = Connection.from_file(connection)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
            raise RunError(f"--connection: {connection}: not a connection profile ({type(exc).__name__}: {exc}); "
                           "it holds bastions (zone: address), private_key and known_hosts") from exc
        return cls(_outputs(outputs, "--outputs"), conn)

    @classmethod
    def from_lab(cls, lab_dir: Path, name: str) -> Sources:
        """A rehearsal lab: its ``outputs.json`` (the stack-output shape) and its ssh material."""
        if not LAB_NAME.fullmatch(name):
            raise RunError(f"--lab: {name!r} is no lab name: lower-case letters, digits and '-'")
        if not (lab_dir / "outputs.json").exists():
            raise RunError(f"lab {name!r} is not up: `jiyue lab up --name {name}` first, or pass "
                           "--outputs and --connection for real stacks")
        try:
            conn = Connection.from_lab(lab_dir)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RunError(f"lab {name!r}: its plan.json cannot be read ({type(exc).__name__}: {exc}); "
                           f"`jiyue lab down --name {name}` then `jiyue lab up --name {name}`") from exc
        return cls(_outputs(lab_dir / "outputs.json", f"lab {name!r}"), conn)

    def primary_targets(self) -> dict[str, list[str]]:
        """Each system's target hosts at the primary site."""
        out: dict[str, list[str]] = {}
        for data in self.outputs.values():
            for sid, d in (data.get("systems") or {}).items():
                if d.get("site") == "primary":
                    out[sid] = [h["name"] for h in d["hosts"]]
        return out


def _outputs(path: Path, what: str) -> dict[str, dict[str, Any]]:
    """Stack outputs read from ``path``, or :class:`RunError` saying what the file should hold."""
    try:
        data = read_outputs(path)
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise RunError(f"{what}: {path}: not JSON of stack outputs ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise RunError(f"{what}: {path}: expected {{stack: outputs}}, each stack's outputs as "
                       "`pulumi stack output --json` prints them")
    return data


# ---- what the audit says (T1.2) and what has been decommissioned

def retire_set(model: CityModel, state: Path | None) -> set[str] | None:
    """The audit's retire verdicts (T1.2) when it has collected evidence into this state, else None
    (the wave plan then falls back on the registry's own signs of a zombie)."""
    if state is None or not state.exists():
        return None
    with Store.open(state, write=False) as store:  # a damaged state is refused, never taken for none
        evidence = latest_evidence(store)
    if not evidence:
        return None
    return {s.system for s in score_city(model, evidence) if s.verdict == "retire"}


def retired(model: CityModel, state: Path | None) -> set[str]:
    """Every system that may be decommissioned: the audit's verdicts (or, with no evidence yet,
    the registry's signs of a zombie) and the retirements the registry records."""
    audit = retire_set(model, state)
    return (audit if audit is not None else registry_retire_candidates(model)) | recorded_retirements(model)


def decommissioned_hosts(model: CityModel, store: Store) -> set[str]:
    """Hosts of decommissioned systems: out of every inventory from then on."""
    return {h.name for st in store.all() if st.state is State.decommissioned and st.id in model.systems
            for h in model.systems[st.id].legacy_hosts}


# ---- which systems a run moves

@dataclass(frozen=True)
class Selection:
    """The systems of a run by department (in the order they run), and every system's wave."""

    by_department: dict[str, list[str]]
    waves: dict[str, int] = field(default_factory=dict)

    @property
    def systems(self) -> list[str]:
        return [s for v in self.by_department.values() for s in v]


def select(model: CityModel, *, wave: int | None = None, department: str | None = None,
           system: str | None = None, capacity: int = 40, state: Path | None = None) -> Selection:
    """Exactly one of a wave of the plan, a department's planned systems, or one system."""
    wp = plan_waves(model, capacity=capacity, retire=retire_set(model, state))
    waves = {s: w.index for w in wp.waves for s in w.systems}
    if sum(x is not None for x in (wave, department, system)) != 1:
        raise RunError("say which systems: exactly one of --wave, --department, --system")
    if wave is not None:
        if not 0 <= wave < len(wp.waves):
            raise RunError(f"--wave: no wave {wave}; the plan has waves 0 (pilot) to {len(wp.waves) - 1} "
                           "(`jiyue migrate plan`)")
        chosen = wp.waves[wave].systems
    elif department is not None:
        if department not in model.departments:
            raise RunError(f"--department: no department {department!r} (`jiyue city summary`)")
        chosen = [s for s in waves if model.department_of[s] == department]
    else:
        if system not in model.systems:
            raise RunError(f"--system: no system {system!r}")
        chosen = [system]
    by_dep: dict[str, list[str]] = {}
    for sid in chosen:
        by_dep.setdefault(model.department_of[sid], []).append(sid)
    return Selection(by_dep, waves)


# ---- the run itself

@dataclass
class Run:
    """One driver run over a state database: its id and directory, its engine and runner."""

    id: str
    dir: Path
    store: Store
    engine: Engine
    runner: Runner
    inventory: Path
    outcome: str = "done"


def close_interrupted(store: Store, state: Path, conn: Connection) -> list[str]:
    """Runs that never finished were killed (the caller holds the lock). Before this run touches
    a host, whatever they left running ends (their recorded process groups, their ssh
    connections, every process carrying their id; waited for), and their temporary migration
    keys go (the hosts' side is revoked before each of their systems' next step)."""
    old = store.interrupted_runs()
    for rid in old:
        run_dir = state.parent / "runs" / rid
        recorded = [processes.Group(p["pid"], p["start"]) for p in store.processes(rid, running=True)]
        written = [g for f in run_dir.glob(f"ansible/*/{processes.PROCESS_FILE}")
                   if (g := processes.Group.read(f)) is not None]
        try:
            processes.end_run(rid, [*recorded, *written], sockets=Path(conn.control_path_dir(rid)))
        except ProcessLookupError as exc:
            raise RunError(f"the killed run {rid} left processes that do not end ({exc}): end them, then run "
                           "again (nothing was changed)") from exc
        for g in recorded:
            store.process_ended(rid, g.pid, g.start)
        for key in run_dir.glob("migration_key*"):
            key.unlink(missing_ok=True)
        store.run_finished(rid, "killed")
    return old


@contextmanager
def open_run(model: CityModel, sources: Sources, store: Store, state: Path, departments: Sequence[str], *,
             argv: Sequence[str] | None = None, ip: IpPlan | None = None, settings: RunnerSettings | None = None,
             on_event: Callable[[dict[str, Any]], None] | None = None, hook: Hook | None = None,
             progress: Callable[[str, str], None] | None = None,
             on_step: Callable[[StepResult], None] | None = None) -> Iterator[Run]:
    """Set up one run on an open ``store`` (at ``state``) for ``departments``: its id, directory,
    inventory (decommissioned hosts left out), runner and engine. On exit the run's migration key
    is deleted and the run recorded as finished with ``run.outcome``."""
    ip = ip or ip_plan(model)
    try:
        processes.require()
    except FileNotFoundError as exc:
        raise RunError(str(exc)) from exc
    close_interrupted(store, state, sources.conn)
    rid = run_id()
    run_dir = state.parent / "runs" / rid
    store.run_started(rid, list(argv if argv is not None else sys.argv))
    sockets = Path(sources.conn.control_path_dir(rid))
    try:
        inventory = write_inventory(build_inventory(model, ip, sources.outputs, sources.conn,
                                                    departments=sorted(set(departments)),
                                                    exclude=decommissioned_hosts(model, store), run_id=rid),
                                    run_dir / "inventory.yml")
        runner = Runner(run_dir / "ansible", inventory, settings=settings, on_event=on_event, run_id=rid,
                        sockets=sockets)
        engine = Engine(model, ip, sources.outputs, sources.conn, store, runner, inventory, run_dir, rid,
                        hook=hook, progress=progress, on_step=on_step, flows=sources.flows)
        runner.on_process = engine.process_seen
        run = Run(rid, run_dir, store, engine, runner, inventory)
    except BaseException:
        store.run_finished(rid, "failed")
        raise
    try:
        yield run
    except BaseException:
        run.outcome = "interrupted"
        raise
    finally:
        engine.discard_key()
        # the run's ssh connections close with it, and nothing it started outlives it (what
        # outlives even SIGKILL is ended by the next run's close_interrupted, or refuses it)
        with contextlib.suppress(ProcessLookupError):
            processes.end_run(rid, sockets=sockets, grace=5)
        store.run_finished(rid, run.outcome)


def plan_systems(store: Store, model: CityModel, selection: Selection, rid: str, *, retry: bool = False) -> None:
    """Register the selected systems and put the new ones (and, with ``retry``, the rolled-back
    ones) on the forward path."""
    for sid in selection.systems:
        store.register(sid, model.department_of[sid])
        if sid in selection.waves:
            store.set_wave(sid, selection.waves[sid])
        st = store.get(sid).state
        if st in (State.registered, State.assessed):
            store.transition(sid, State.planned, run_id=rid)
        elif st is State.rolled_back and retry:
            store.transition(sid, State.planned, run_id=rid, detail={"retry": True})


def steps_to_run(store: Store, selection: Selection, until: State) -> dict[str, int]:
    """How many forward steps each selected system still runs to reach ``until``."""
    return {sid: len(steps_between(store.get(sid).state, until)) for sid in selection.systems}


def drive(run: Run, model: CityModel, selection: Selection, until: State, *, retry: bool = False,
          max_parallel: int = 4, on_planned: Callable[[dict[str, int]], None] | None = None
          ) -> list[SystemOutcome]:
    """Plan the selected systems in the run's store and drive them up to ``until``: ``max_parallel``
    at once, each after the systems it depends on; a failed verification rolls back.
    ``on_planned`` hears, before the first step, how many steps each system has to run."""
    plan_systems(run.store, model, selection, run.id, retry=retry)
    if on_planned is not None:
        on_planned(steps_to_run(run.store, selection, until))
    return run.engine.drive_systems(selection.by_department, until, max_parallel=max_parallel)


def dry_run(run: Run, selection: Selection, until: State) -> dict[str, list[StepResult]]:
    """Each selected system's dry run up to ``until`` (:meth:`Engine.dry_run`): nothing changes on
    any host, nothing is recorded as done."""
    return {sid: run.engine.dry_run(sid, until) for sid in selection.systems}


def failed(outcomes: list[SystemOutcome]) -> list[SystemOutcome]:
    return [o for o in outcomes if o.error or o.state is State.rolled_back]


# ---- the audit's evidence (T1.1, T1.3)

def collect_evidence(model: CityModel, sources: Sources, store: Store, state: Path, hosts: dict[str, str], *,
                     days: float = 30, window: float = 3, argv: Sequence[str] | None = None
                     ) -> dict[str, dict[str, Any] | None]:
    """Gather the audit's evidence from ``hosts`` (legacy host -> system) in a run of its own and
    record it in the store. Decommissioned hosts are left out; read-only on the hosts."""
    gone = decommissioned_hosts(model, store)
    hosts = {h: s for h, s in hosts.items() if h not in gone}
    deps = sorted({model.department_of[s] for s in hosts.values()})
    with open_run(model, sources, store, state, deps, argv=argv) as run:
        evidence = collect(model, run.runner, hosts, days=days, window=window)
        store_evidence(store, hosts, evidence)
    return evidence


@contextmanager
def run_systems(model: CityModel, sources: Sources, state: Path, systems: Sequence[str], *,
                argv: Sequence[str], ip: IpPlan | None = None, settings: RunnerSettings | None = None,
                on_event: Callable[[dict[str, Any]], None] | None = None, hook: Hook | None = None,
                progress: Callable[[str, str], None] | None = None) -> Iterator[Run]:
    """A run over the state database at ``state`` for ``systems`` (registered and planned if new),
    without a wave plan: what the fault tests and the benchmarks drive step by step. A second
    run on the same state resumes from it."""
    by_dep: dict[str, list[str]] = {}
    for sid in systems:
        by_dep.setdefault(model.department_of[sid], []).append(sid)
    with Store.open(state, write=True) as store, open_run(model, sources, store, state, list(by_dep), argv=argv,
                                                          ip=ip, settings=settings, on_event=on_event, hook=hook,
                                                          progress=progress) as run:
        plan_systems(store, model, Selection(by_dep), run.id)
        yield run
