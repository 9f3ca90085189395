"""Migration teams: the wave plan, running waves, status, verification, rollback, reports."""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from jiyue.ipam import plan as ip_plan
from jiyue.registry import CityModel
from jiyue.reports import render_html
from jiyue.status import ExitStatus

from .common import CityOption, TableJson, TextJson, err, exit_with, load, out, print_json

PANEL = "Migration teams: rehearsal lab and migration"

migrate_app = typer.Typer(no_args_is_help=True, help=(
    "Move systems into the data center in waves (T4): precheck, replicate, test cutover, cutover, "
    "verify (T4.3), rollback, finalize. Resumable: every step is recorded in the state database."))

StateOption = Annotated[Path, typer.Option("--state", resolve_path=True,
                                           help="The state database (SQLite); runs go beside it.")]
LabOption = Annotated[str | None, typer.Option("--lab", help="Use this rehearsal lab's outputs and bastions.",
                                               show_default="jiyue, unless --outputs is given")]
OutputsOption = Annotated[Path | None, typer.Option("--outputs", help="Stack outputs (JSON) of the real stacks.")]
ConnOption = Annotated[Path | None, typer.Option("--connection", help="Bastions, key and known_hosts (YAML).")]
DEFAULT_STATE = Path(".jiyue/state.db")


class Until(StrEnum):
    replicated = "replicated"
    verified_test = "verified-test"
    verified = "verified"


def register(app: typer.Typer) -> None:
    app.add_typer(migrate_app, name="migrate", rich_help_panel=PANEL)


@dataclass
class Ctx:
    model: CityModel
    ip: Any
    outputs: dict[str, Any]
    conn: Any


def _sources(model: CityModel, lab: str | None, outputs: Path | None, connection: Path | None) -> tuple[dict, Any]:
    from migration.inventory import Connection, read_outputs

    if outputs is not None or connection is not None:
        if outputs is None or connection is None:
            err().print("--outputs and --connection go together (or use --lab)", style="red")
            exit_with(ExitStatus.BAD_INPUT)
        for p, what in ((outputs, "--outputs"), (connection, "--connection")):
            if not p.is_file():
                err().print(f"{what}: {p} does not exist", style="red")
                exit_with(ExitStatus.BAD_INPUT)
        return read_outputs(outputs), Connection.from_file(connection)
    from lab import Lab

    the_lab = Lab(lab or "jiyue", progress=lambda _: None)
    if not (the_lab.dir / "outputs.json").exists():
        err().print(f"lab {the_lab.name!r} is not up: `jiyue lab up --name {the_lab.name}` first, or pass "
                    "--outputs and --connection for real stacks", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    return read_outputs(the_lab.dir / "outputs.json"), Connection.from_lab(the_lab.dir)


def decommissioned_hosts(model: CityModel, store: Any) -> set[str]:
    """Hosts of decommissioned systems: out of every inventory from then on."""
    from migration.state import State

    return {h.name for st in store.all() if st.state is State.decommissioned and st.id in model.systems
            for h in model.systems[st.id].legacy_hosts}


@contextmanager
def _store(path: Path):  # noqa: ANN202
    from migration.state import StateError, Store

    try:
        with Store.open(path) as store:
            yield store
    except StateError as exc:
        err().print(str(exc), style="red")
        exit_with(ExitStatus.BAD_INPUT)


@migrate_app.command("plan")
def migrate_plan(
    city: CityOption = None,  # type: ignore[assignment]
    pilot: Annotated[str | None, typer.Option(help="Pilot departments (comma-separated).",
                                              show_default="the registry's pilot_departments")] = None,
    capacity: Annotated[int, typer.Option(min=1, help="Systems per wave at most.")] = 40,
    fmt: Annotated[TableJson, typer.Option("--format")] = TableJson.table,
    state: StateOption = DEFAULT_STATE,
) -> None:
    """The wave plan: the pilot (T4.2) first, then waves of whole departments, dependencies first;
    zombies to retire (the audit's verdicts when it has collected evidence into --state, else the
    registry's signs) are listed apart and decommissioned, not migrated."""
    from migration.waves import plan_waves

    model = load(city, fmt)
    pilots = [p.strip() for p in pilot.split(",")] if pilot else None
    if pilots:
        bad = [p for p in pilots if p not in model.departments]
        if bad:
            err().print(f"--pilot: no department {', '.join(map(repr, bad))}", style="red")
            exit_with(ExitStatus.BAD_INPUT)
    wp = plan_waves(model, pilot=pilots, capacity=capacity, retire=retire_set(model, state))
    if fmt is TableJson.json:
        print_json(wp.as_dict())
        return
    t = Table(title=f"Wave plan of {model.city.names.zh}: {len(wp.waves)} waves, at most {capacity} systems each")
    for col in ("wave", "departments", "systems"):
        t.add_column(col)
    for w in wp.waves:
        t.add_row(w.name, ", ".join(w.departments), str(len(w.systems)))
    out().print(t)
    out().print(f"to retire (T1.2), not migrated: {len(wp.retire)}: {', '.join(wp.retire)}")


def retire_set(model: CityModel, state: Path | None) -> set[str] | None:
    """The audit's retire verdicts (T1.2) when it has collected evidence into this state, else None
    (the wave plan then falls back on the registry's own signs of a zombie)."""
    from migration.state import StateError, Store

    if state is None or not state.exists():
        return None
    from jiyue.audit.collect import latest_evidence
    from jiyue.audit.score import score_city

    try:
        with Store.open(state, lock=False) as store:
            evidence = latest_evidence(store)
    except StateError:
        return None
    if not evidence:
        return None
    return {s.system for s in score_city(model, evidence) if s.verdict == "retire"}


def _select(model: CityModel, wave: int | None, department: str | None, system: str | None,
            capacity: int, state: Path | None = None) -> tuple[dict[str, list[str]], dict[str, int]]:
    from migration.waves import plan_waves

    wp = plan_waves(model, capacity=capacity, retire=retire_set(model, state))
    waves = {s: w.index for w in wp.waves for s in w.systems}
    if sum(x is not None for x in (wave, department, system)) != 1:
        err().print("say which systems: exactly one of --wave, --department, --system", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    if wave is not None:
        if not 0 <= wave < len(wp.waves):
            err().print(f"--wave: no wave {wave}; the plan has waves 0 (pilot) to {len(wp.waves) - 1} "
                        "(`jiyue migrate plan`)", style="red")
            exit_with(ExitStatus.BAD_INPUT)
        chosen = wp.waves[wave].systems
    elif department is not None:
        if department not in model.departments:
            err().print(f"--department: no department {department!r} (`jiyue city summary`)", style="red")
            exit_with(ExitStatus.BAD_INPUT)
        chosen = [s for s in waves if model.department_of[s] == department]
    else:
        if system not in model.systems:
            err().print(f"--system: no system {system!r}", style="red")
            exit_with(ExitStatus.BAD_INPUT)
        chosen = [system]
    by_dep: dict[str, list[str]] = {}
    for sid in chosen:
        by_dep.setdefault(model.department_of[sid], []).append(sid)
    return by_dep, waves


@migrate_app.command("run")
def migrate_run(
    city: CityOption = None,  # type: ignore[assignment]
    wave: Annotated[int | None, typer.Option(help="Run this wave (0 is the pilot).")] = None,
    department: Annotated[str | None, typer.Option(help="Run this department's systems.")] = None,
    system: Annotated[str | None, typer.Option(help="Run one system.")] = None,
    test_cutover: Annotated[bool, typer.Option("--test-cutover", help="Go on to the test cutover and verify it.")]
    = False,
    cutover: Annotated[bool, typer.Option("--cutover", help="Go on to the cutover and verify it (T4.3).")] = False,
    retry: Annotated[bool, typer.Option(help="Plan rolled-back systems again and retry them.")] = False,
    max_parallel: Annotated[int, typer.Option(min=1, max=16, help="Departments migrated at once.")] = 3,
    capacity: Annotated[int, typer.Option(min=1, help="Systems per wave (as in `migrate plan`).")] = 40,
    state: StateOption = DEFAULT_STATE,
    lab: LabOption = None,
    outputs: OutputsOption = None,
    connection: ConnOption = None,
) -> None:
    """Migrate systems: precheck and replicate (the default), then with --test-cutover the target
    serves on its own address and is verified, with --cutover the source is frozen, synced a last
    time, the service name moved, and the target verified; a failed verification rolls back.
    Interrupted anywhere, the same command resumes; a finished step is never redone. Progress
    goes to stderr (bars on a terminal, a line per step otherwise), the wave's report to stdout
    and to report.html in the run's directory; exit 1 if a system failed or rolled back."""
    from migration.engine import Engine, human_bytes, run_id, steps_between
    from migration.inventory import build_inventory, write_inventory
    from migration.runner import Runner
    from migration.state import State

    if test_cutover and cutover:
        err().print("--test-cutover and --cutover: choose one (--cutover includes the test cutover)", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    model = load(city)
    by_dep, waves = _select(model, wave, department, system, capacity, state)
    out_data, conn = _sources(model, lab, outputs, connection)
    ip = ip_plan(model)
    until = State.verified if cutover else State.verified_test if test_cutover else State.replicated
    with _store(state) as store:
        # Runs that never finished were killed (this one holds the lock): their temporary
        # migration keys go now (the hosts' side is revoked by the next replicate).
        for old in store.interrupted_runs():
            for key in (state.parent / "runs" / old).glob("migration_key*"):
                key.unlink(missing_ok=True)
            store.run_finished(old, "killed")
        rid = run_id()
        run_dir = state.parent / "runs" / rid
        store.run_started(rid, sys.argv)
        for dep, systems in by_dep.items():
            for sid in systems:
                store.register(sid, dep)
                store.set_wave(sid, waves.get(sid))
                st = store.get(sid).state
                if st in (State.registered, State.assessed):
                    store.transition(sid, State.planned, run_id=rid)
                elif st is State.rolled_back and retry:
                    store.transition(sid, State.planned, run_id=rid, detail={"retry": True})
        inventory = write_inventory(build_inventory(model, ip, out_data, conn, departments=list(by_dep),
                                                    exclude=decommissioned_hosts(model, store)),
                                    run_dir / "inventory.yml")
        todo = {sid: len(steps_between(store.get(sid).state, until)) for v in by_dep.values() for sid in v}
        progress = WaveProgress(todo)
        engine = Engine(model, ip, out_data, conn, store, Runner(run_dir / "ansible", inventory), inventory,
                        run_dir, rid, progress=progress.step_started, on_step=progress.step_finished)
        total = sum(len(v) for v in by_dep.values())
        err().print(f"run {rid}: {total} system(s) of {len(by_dep)} department(s) up to {until.value}, "
                    f"{sum(todo.values())} step(s) to run; artifacts in {run_dir}")
        outcome = "interrupted"
        try:
            with progress:
                results = engine.drive_departments(by_dep, until, max_parallel=max_parallel)
            outcome = "done"
        except KeyboardInterrupt:
            store.run_finished(rid, outcome)
            err().print("interrupted: run the same command again to resume", style="yellow")
            exit_with(ExitStatus.INTERRUPTED)
        finally:
            engine.discard_key()
        store.run_finished(rid, outcome)
        if progress.copied:
            err().print(f"copied {human_bytes(progress.copied)} of file data")
        _print_outcomes(store, [s for v in by_dep.values() for s in v], f"run {rid}", run_dir)
    failed = [r for r in results if r.error or r.state is State.rolled_back]
    if failed:
        exit_with(ExitStatus.FINDINGS)


def _progress():  # noqa: ANN202
    def show(system: str, msg: str) -> None:
        err().print(f"[dim]{system}[/]: {msg}")

    return show


class WaveProgress:
    """Progress of a wave on stderr. On a terminal: one bar for the wave (steps done of the steps
    to run, file data copied) and one per system at work (its step, its bytes), gone when the
    system is done. Elsewhere (CI, a log file): a line per step started and finished."""

    def __init__(self, todo: dict[str, int]) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from migration.engine import human_bytes

        self.size = human_bytes
        self.todo = todo
        self.copied = 0
        self._lock = threading.Lock()
        self._rows: dict[str, Any] = {}
        self._done: dict[str, int] = {}
        self._bytes: dict[str, int] = {}
        self.live = err().is_terminal
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[step]}"), TextColumn("{task.fields[copied]}"),
                             TimeElapsedColumn(), console=err(), disable=not self.live)
        self._wave = self.bars.add_task("wave", total=max(1, sum(todo.values())), step="", copied="")

    def __enter__(self) -> WaveProgress:
        self.bars.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.__exit__(None, None, None)

    def step_started(self, system: str, msg: str) -> None:
        if " " in msg:  # the engine's line for a finished step: step_finished shows it
            return
        with self._lock:
            if not self.live:
                err().print(f"[dim]{system}[/]: {msg}")
                return
            if system not in self._rows:
                self._rows[system] = self.bars.add_task(f"  {system}", total=max(1, self.todo.get(system, 1)),
                                                        step="", copied="")
            self.bars.update(self._rows[system], step=msg)

    def step_finished(self, result: Any) -> None:
        n = int(result.detail.get("bytes_copied", 0) or 0)
        with self._lock:
            self.copied += n
            self._bytes[result.system] = self._bytes.get(result.system, 0) + n
            self._done[result.system] = self._done.get(result.system, 0) + 1
            if not self.live:
                err().print(f"[dim]{result.system}[/]: {result.step} {'ok' if result.ok else '[red]FAILED[/]'} "
                            f"({result.seconds:.1f} s" + (f", {self.size(n)} copied)" if n else ")"))
                return
            self.bars.update(self._wave, advance=1, copied=self.size(self.copied) if self.copied else "")
            row = self._rows.get(result.system)
            if row is None:
                return
            mine = self._bytes[result.system]
            self.bars.update(row, advance=1, step=f"{result.step} {'ok' if result.ok else 'FAILED'}",
                             copied=self.size(mine) if mine else "")
            if not result.ok or self._done[result.system] >= self.todo.get(result.system, 0):
                self.bars.remove_task(row)
                del self._rows[result.system]


def _print_outcomes(store: Any, systems: list[str], title: str, run_dir: Path | None) -> None:
    from migration.engine import human_bytes
    from migration.report import wave_report

    rep = wave_report(store, systems, title)
    t = Table(title=title)
    for col in ("system", "department", "state", "verification", "compared", "seconds", "copied"):
        t.add_column(col)
    for s in rep["systems"]:
        v = s["verification"]
        ver = "" if v is None else f"{v['step']}: {v['passed']} passed, {v['failed']} failed"
        cmp_ = "" if v is None else "; ".join(f"{c['files']} files, {c['tables']} tables, {c['web']} web"
                                              for c in v["compared"].values())
        state = s["state"] + (f"\n[red]{s['error']}[/]" if s["error"] else "")
        t.add_row(s["system"], s["department"], state, ver, cmp_,
                  " ".join(f"{k} {v}" for k, v in s["seconds"].items()),
                  human_bytes(s["bytes_copied"]) if s["bytes_copied"] else "")
    out().print(t)
    out().print("  ".join(f"{k}: {v}" for k, v in rep["states"].items()))
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        html = run_dir / "report.html"
        html.write_text(render_html("wave.html.j2", r=rep), encoding="utf-8")
        out().print(f"report: {html}")


@migrate_app.command("status")
def migrate_status(
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[TableJson, typer.Option("--format")] = TableJson.table,
    state: StateOption = DEFAULT_STATE,
    lab: LabOption = None,
    outputs: OutputsOption = None,
    connection: ConnOption = None,
) -> None:
    """Every system the state knows: wave, state, source and target hosts, last error."""
    from migration.state import StateError, Store

    model = load(city, fmt)
    if not state.exists():
        err().print(f"--state: {state} does not exist yet (`jiyue migrate run` creates it)", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    try:
        with Store.open(state, lock=False) as store:
            rows = store.all()
    except StateError as exc:
        err().print(str(exc), style="red")
        exit_with(ExitStatus.BAD_INPUT)
    targets: dict[str, list[str]] = {}
    try:
        out_data, _ = _sources(model, lab, outputs, connection)
        for data in out_data.values():
            for sid, d in (data.get("systems") or {}).items():
                if d.get("site") == "primary":
                    targets[sid] = [h["name"] for h in d["hosts"]]
    except typer.Exit:
        pass
    systems = [{"id": r.id, "department": r.department, "wave": r.wave, "state": r.state.value,
                "source_hosts": [h.name for h in model.systems[r.id].legacy_hosts] if r.id in model.systems else [],
                "target_hosts": targets.get(r.id, []), "error": r.error, "running_step": r.running_step}
               for r in rows]
    if fmt is TableJson.json:
        print_json({"systems": systems})
        return
    t = Table(title=f"migration state ({state})")
    for col in ("system", "department", "wave", "state", "sources → targets"):
        t.add_column(col)
    for s in systems:
        t.add_row(s["id"], s["department"], str(s["wave"]), s["state"] + (f" [red]({s['error']})[/]" if s["error"]
                                                                          else ""),
                  f"{', '.join(s['source_hosts'])} → {', '.join(s['target_hosts'])}")
    out().print(t)


def _one_system_cmd(system: str, state: Path, city: Path | None, lab: str | None, outputs: Path | None,
                    connection: Path | None, action: str) -> None:
    from migration.engine import Engine, run_id
    from migration.inventory import build_inventory, write_inventory
    from migration.runner import Runner

    model = load(city)
    if system not in model.systems:
        err().print(f"--system: no system {system!r}", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    out_data, conn = _sources(model, lab, outputs, connection)
    ip = ip_plan(model)
    with _store(state) as store:
        if store.get(system) is None:
            err().print(f"--system: {system} has not been migrated (`jiyue migrate status`)", style="red")
            exit_with(ExitStatus.BAD_INPUT)
        rid = run_id()
        run_dir = state.parent / "runs" / rid
        store.run_started(rid, sys.argv)
        dep = model.department_of[system]
        inventory = write_inventory(build_inventory(model, ip, out_data, conn, departments=[dep]),
                                    run_dir / "inventory.yml")
        engine = Engine(model, ip, out_data, conn, store, Runner(run_dir / "ansible", inventory), inventory,
                        run_dir, rid, progress=_progress())
        try:
            if action == "rollback":
                res = engine.rollback(system)
            elif action == "finalize":
                res = engine.finalize(system)
            elif action == "decommission":
                res = engine.decommission(system)
            else:
                s = model.systems[system]
                ok, message, _ = engine._verify(s, "verify")
                res = type("R", (), {"ok": ok, "message": message})()
        finally:
            engine.discard_key()
        store.run_finished(rid, "done")
        _print_outcomes(store, [system], f"{action} {system}", run_dir)
    if not res.ok:
        err().print(f"{action} {system}: {res.message}", style="red")
        exit_with(ExitStatus.FINDINGS)


@migrate_app.command("rollback")
def migrate_rollback(
    system: Annotated[str, typer.Option(help="The system to roll back.")],
    city: CityOption = None,  # type: ignore[assignment]
    state: StateOption = DEFAULT_STATE,
    lab: LabOption = None,
    outputs: OutputsOption = None,
    connection: ConnOption = None,
) -> None:
    """The source serves again (its freeze lifted, clients' name pointed back), the target stops;
    nothing is lost. Possible from every step after replicated."""
    _one_system_cmd(system, state, city, lab, outputs, connection, "rollback")


@migrate_app.command("finalize")
def migrate_finalize(
    system: Annotated[str, typer.Option(help="The verified system to finalize.")],
    city: CityOption = None,  # type: ignore[assignment]
    state: StateOption = DEFAULT_STATE,
    lab: LabOption = None,
    outputs: OutputsOption = None,
    connection: ConnOption = None,
) -> None:
    """Archive the source (with a SHA-256 manifest) and stop it. Only after verification."""
    _one_system_cmd(system, state, city, lab, outputs, connection, "finalize")


@migrate_app.command("decommission")
def migrate_decommission(
    system: Annotated[str, typer.Option(help="The retired system (T1.2) to decommission.")],
    city: CityOption = None,  # type: ignore[assignment]
    state: StateOption = DEFAULT_STATE,
    lab: LabOption = None,
    outputs: OutputsOption = None,
    connection: ConnOption = None,
) -> None:
    """A zombie the audit retired (or whose retirement the registry records): archive its data with
    a checksum manifest on its host, stop its services, and take it out of the inventory. Refused
    for a system neither retired."""
    from migration.waves import recorded_retirements, registry_retire_candidates

    model = load(city)
    if system not in model.systems:
        err().print(f"--system: no system {system!r}", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    retired = retire_set(model, state)
    retired = (retired if retired is not None else registry_retire_candidates(model)) | recorded_retirements(model)
    if system not in retired:
        err().print(f"--system: the audit has not retired {system} (`jiyue audit score`); nothing was changed",
                    style="red")
        exit_with(ExitStatus.BAD_INPUT)
    with _store(state) as store:
        store.register(system, model.department_of[system])
    _one_system_cmd(system, state, city, lab, outputs, connection, "decommission")


@migrate_app.command("verify")
def migrate_verify(
    system: Annotated[str, typer.Option(help="The system to verify again.")],
    city: CityOption = None,  # type: ignore[assignment]
    state: StateOption = DEFAULT_STATE,
    lab: LabOption = None,
    outputs: OutputsOption = None,
    connection: ConnOption = None,
) -> None:
    """Run the system's T4.3 verification suite again (target against its source); exit 1 if any
    check fails. Changes no state."""
    _one_system_cmd(system, state, city, lab, outputs, connection, "verify")


@migrate_app.command("report")
def migrate_report(
    wave: Annotated[int | None, typer.Option(help="Only this wave.")] = None,
    fmt: Annotated[TextJson, typer.Option("--format", help="text or json; the HTML goes to --output.")]
    = TextJson.text,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the HTML report here.")] = None,
    state: StateOption = DEFAULT_STATE,
) -> None:
    """The report of a wave: each system's state, verification, integrity manifests compared, time
    per step."""
    from migration.report import wave_report
    from migration.state import StateError, Store

    if not state.exists():
        err().print(f"--state: {state} does not exist yet", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    try:
        with Store.open(state, lock=False) as store:
            systems = [r.id for r in store.all() if wave is None or r.wave == wave]
            rep = wave_report(store, systems, f"wave {wave}" if wave is not None else "all waves")
            if fmt is TextJson.json:
                print_json(rep)
            else:
                _print_outcomes(store, systems, rep["title"], None)
    except StateError as exc:
        err().print(str(exc), style="red")
        exit_with(ExitStatus.BAD_INPUT)
    if output:
        output.write_text(render_html("wave.html.j2", r=rep), encoding="utf-8")
        err().print(f"wrote {output}")

