"""Migration teams: the wave plan, running waves, status, verification, rollback, reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from jiyue.registry import CityModel
from jiyue.reports import render_html
from jiyue.status import ExitStatus
from migration.engine import StepResult, human_bytes
from migration.report import discovered, downtime, wave_report
from migration.run import (
    RunError,
    Selection,
    Sources,
    drive,
    dry_run,
    failed,
    open_run,
    retire_set,
    retired,
    select,
)
from migration.state import State, Store
from migration.waves import plan_waves

from .common import (
    CityOption,
    TableJson,
    TextJson,
    YesOption,
    confirm_or_exit,
    departments_option,
    err,
    exit_with,
    load,
    out,
    output_option,
    print_json,
    write_output,
)
from .progress import WaveProgress, step_lines
from .where import (
    DEFAULT_STATE,
    ConnOption,
    LabOption,
    OutputsOption,
    StateOption,
    open_store,
    sources,
    sources_if_any,
    state_errors,
)

PANEL = "Migration teams: rehearsal lab and migration"

migrate_app = typer.Typer(no_args_is_help=True, help=(
    "Move systems into the data center in waves (T4): precheck, replicate, test cutover, cutover, "
    "verify (T4.3), rollback, finalize. Resumable: every step is recorded in the state database."))

def register(app: typer.Typer) -> None:
    app.add_typer(migrate_app, name="migrate", rich_help_panel=PANEL)


def _select(model: CityModel, wave: int | None, department: str | None, system: str | None, capacity: int,
            state: Path) -> Selection:
    try:
        with state_errors():
            return select(model, wave=wave, department=department, system=system, capacity=capacity, state=state)
    except RunError as exc:
        err().print(str(exc), style="red", markup=False)
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
    model = load(city, fmt)
    pilots = departments_option(model, pilot, "--pilot")
    with state_errors():
        retire = retire_set(model, state)
    wp = plan_waves(model, pilot=pilots, capacity=capacity, retire=retire)
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
    max_parallel: Annotated[int, typer.Option(
        min=1, max=16, help="Systems migrated at once, of any department; a system waits for those it depends on."
    )] = 4,
    capacity: Annotated[int, typer.Option(min=1, help="Systems per wave (as in `migrate plan`).")] = 40,
    state: StateOption = DEFAULT_STATE,
    lab: LabOption = None,
    outputs: OutputsOption = None,
    connection: ConnOption = None,
    check: Annotated[bool, typer.Option("--check", help=(
        "Dry run: each system's next step in Ansible's check mode with diffs against the hosts as they are "
        "(the precheck runs for real: it is read-only); the steps after it are listed, not simulated. Changes "
        "nothing on any host and records nothing as done."))] = False,
) -> None:
    """Migrate systems: precheck and replicate (the default), then with --test-cutover the target
    serves on its own address and is verified, with --cutover the source is frozen, synced a last
    time, the service name moved, and the target verified; a failed verification rolls back.
    Interrupted anywhere, the same command resumes; a finished step is never redone. Progress
    goes to stderr (bars on a terminal, a line per step otherwise), the wave's report to stdout
    and to report.html in the run's directory; exit 1 if a system failed or rolled back."""
    if test_cutover and cutover:
        err().print("--test-cutover and --cutover: choose one (--cutover includes the test cutover)", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    model = load(city)
    selection = _select(model, wave, department, system, capacity, state)
    where = sources(lab, outputs, connection)
    until = State.verified if cutover else State.verified_test if test_cutover else State.replicated
    if check:
        _dry_run(model, selection, where, state, until)
        return
    progress = WaveProgress()
    with open_store(state, write=True) as store:
        with open_run(model, where, store, state, list(selection.by_department), progress=progress.step_started,
                      on_step=progress.step_finished) as run:

            def planned(todo: dict[str, int]) -> None:
                progress.expect(todo)
                err().print(f"run {run.id}: {len(selection.systems)} system(s) of {len(selection.by_department)} "
                            f"department(s) up to {until.value}, {sum(todo.values())} step(s) to run; "
                            f"artifacts in {run.dir}")

            try:
                with progress:
                    outcomes = drive(run, model, selection, until, retry=retry, max_parallel=max_parallel,
                                     on_planned=planned)
            except KeyboardInterrupt:
                run.outcome = "interrupted"
                err().print("interrupted: run the same command again to resume", style="yellow")
                exit_with(ExitStatus.INTERRUPTED)
        if progress.copied:
            err().print(f"copied {human_bytes(progress.copied)} of file data")
        _print_outcomes(store, selection.systems, f"run {run.id}", run.dir)
    if failed(outcomes):
        exit_with(ExitStatus.FINDINGS)


def _dry_run(model: CityModel, selection: Selection, where: Sources, state: Path, until: State) -> None:
    with open_store(state, write=True) as store, open_run(model, where, store, state,
                                                          list(selection.by_department), progress=step_lines) as run:
        run.outcome = "check"
        results = dry_run(run, selection, until)
    o = out()
    for sid, steps in results.items():
        if not steps:
            o.print(f"{sid}: at {until.value} already, nothing to do")
        for r in steps:
            mark = "[green]ok[/]" if r.ok else "[red]would fail[/]"
            o.print(f"{sid}: {r.step} (check): {mark}: {r.message}", markup=True)
            for c in r.detail.get("changes", []):
                what = c.get("not_simulated") or "would change"
                o.print(f"    {c['host']}: {c['task']}" + (f" [{c['item']}]" if c.get("item") else "") + f": {what}",
                        markup=False)
                if c.get("diff"):
                    for line in str(c["diff"]).splitlines()[:20]:
                        o.print(f"        {line}", markup=False)
    o.print("dry run: nothing was changed on any host, nothing recorded as done")
    if any(not r.ok for steps in results.values() for r in steps):
        exit_with(ExitStatus.FINDINGS)


def _print_outcomes(store: Store, systems: list[str], title: str, run_dir: Path | None) -> None:
    rep = wave_report(store, systems, title)
    t = Table(title=title)
    for col in ("system", "department", "state", "verification", "compared", "seconds", "copied", "downtime"):
        t.add_column(col)
    for s in rep["systems"]:
        v = s["verification"]
        ver = "" if v is None else f"{v['step']}: {v['passed']} passed, {v['failed']} failed"
        cmp_ = "" if v is None else "; ".join(f"{c['files']} files, {c['tables']} tables, {c['web']} web"
                                              for c in v["compared"].values())
        state = s["state"] + (f"\n[red]{s['error']}[/]" if s["error"] else "")
        down = "" if s["downtime_seconds"] is None else f"{s['downtime_seconds']:.1f} s"
        t.add_row(s["system"], s["department"], state, ver, cmp_,
                  " ".join(f"{k} {v}" for k, v in s["seconds"].items()),
                  human_bytes(s["bytes_copied"]) if s["bytes_copied"] else "", down)
    out().print(t)
    out().print("  ".join(f"{k}: {v}" for k, v in rep["states"].items()))
    if rep["downtime"]:
        d = rep["downtime"]
        out().print(f"downtime at cutover (frozen to verified): median {d['median_seconds']:.1f} s, "
                    f"max {d['max_seconds']:.1f} s over {d['systems']} system(s)")
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
    system: Annotated[str | None, typer.Option("--system", help=(
        "Only this system, with what its precheck discovered it runs on (accounts, cron entries, "
        "listening ports, TLS files, units)."))] = None,
) -> None:
    """Every system the state knows: wave, state, source and target hosts, last error, downtime at
    cutover."""
    model = load(city, fmt)
    where = sources_if_any(lab, outputs, connection)
    targets = where.primary_targets() if where is not None else {}
    with open_store(state, write=False) as store:
        rows = [r for r in store.all() if system is None or r.id == system]
        downs = {r.id: downtime(store.steps(r.id)) for r in rows}
        found = {r.id: discovered(store.steps(r.id)) for r in rows}
    systems = [{"id": r.id, "department": r.department, "wave": r.wave, "state": r.state.value,
                "source_hosts": [h.name for h in model.systems[r.id].legacy_hosts] if r.id in model.systems else [],
                "target_hosts": targets.get(r.id, []), "error": r.error, "running_step": r.running_step,
                **(downs[r.id] or {"downtime_seconds": None, "serving_after_seconds": None}),
                **({"discovered": found[r.id]} if system else {})}
               for r in rows]
    if system is not None and not systems:
        err().print(f"--system: {system} is not in {state} (`jiyue migrate status` lists what is)", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    if fmt is TableJson.json:
        print_json({"systems": systems})
        return
    t = Table(title=f"migration state ({state})")
    for col in ("system", "department", "wave", "state", "sources → targets", "downtime"):
        t.add_column(col)
    for s in systems:
        t.add_row(s["id"], s["department"], str(s["wave"]), s["state"] + (f" [red]({s['error']})[/]" if s["error"]
                                                                          else ""),
                  f"{', '.join(s['source_hosts'])} → {', '.join(s['target_hosts'])}",
                  "" if s["downtime_seconds"] is None else f"{s['downtime_seconds']:.1f} s")
    out().print(t)
    for s in systems:
        if "discovered" in s:
            _print_discovered(s["id"], s["discovered"])


def _print_discovered(system: str, found: dict[str, Any] | None) -> None:
    o = out()
    if not found:
        o.print(f"{system}: nothing discovered yet (the precheck records it)")
        return
    for host, d in found.items():
        o.print(f"[bold]{host}[/] runs {system} on:")
        for a in d.get("accounts", []):
            o.print(f"  account {a['name']} uid {a['uid']} group {a['group']} ({a['gid']})"
                    + (f" groups {', '.join(a['groups'])}" if a["groups"] else "") + f" home {a['home']} {a['shell']}",
                    markup=False)
        for path in (d.get("cron") or {}).get("files", {}):
            o.print(f"  cron entry {path}", markup=False)
        for user in (d.get("cron") or {}).get("crontabs", {}):
            o.print(f"  crontab of {user}", markup=False)
        for path in (d.get("cron") or {}).get("scripts", {}):
            o.print(f"  script {path}", markup=False)
        for x in d.get("listening", []):
            o.print(f"  listens on {x['port']}: {x['process']} as {x['user']}", markup=False)
        for path in d.get("tls", {}):
            o.print(f"  TLS file {path}", markup=False)
        for path in d.get("units", {}):
            o.print(f"  unit {path}", markup=False)


DESTRUCTIVE = {"finalize": "archives its sources' data and stops them for good",
               "decommission": "archives its hosts' data, stops their services and takes them out of every inventory"}


def confirm(action: str, system: str, yes: bool) -> None:
    """Ask on a terminal before a step that cannot be undone; elsewhere ``--yes`` must say it."""
    confirm_or_exit(f"{action} {system}: {DESTRUCTIVE[action]}", yes)


def _one_system_cmd(system: str, state: Path, city: Path | None, lab: str | None, outputs: Path | None,
                    connection: Path | None, action: str, yes: bool = False) -> None:
    model = load(city)
    if system not in model.systems:
        err().print(f"--system: no system {system!r}", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    if action in DESTRUCTIVE:
        confirm(action, system, yes)
    where = sources(lab, outputs, connection)
    with open_store(state, write=True) as store:
        if store.get(system) is None:
            err().print(f"--system: {system} has not been migrated (`jiyue migrate status`)", style="red")
            exit_with(ExitStatus.BAD_INPUT)
        with open_run(model, where, store, state, [model.department_of[system]], progress=step_lines) as run:
            act = {"rollback": run.engine.rollback, "finalize": run.engine.finalize,
                   "decommission": run.engine.decommission, "verify": run.engine.verify}[action]
            res: StepResult = act(system)
        _print_outcomes(store, [system], f"{action} {system}", run.dir)
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
    yes: YesOption = False,
) -> None:
    """Archive the source (with a SHA-256 manifest) and stop it. Only after verification. Asks
    first on a terminal; elsewhere needs --yes."""
    _one_system_cmd(system, state, city, lab, outputs, connection, "finalize", yes)


@migrate_app.command("decommission")
def migrate_decommission(
    system: Annotated[str, typer.Option(help="The retired system (T1.2) to decommission.")],
    city: CityOption = None,  # type: ignore[assignment]
    state: StateOption = DEFAULT_STATE,
    lab: LabOption = None,
    outputs: OutputsOption = None,
    connection: ConnOption = None,
    yes: YesOption = False,
) -> None:
    """A zombie the audit retired (or whose retirement the registry records): archive its data with
    a checksum manifest on its host, stop its services, and take it out of the inventory. Refused
    for a system neither retired. Asks first on a terminal; elsewhere needs --yes."""
    model = load(city)
    if system not in model.systems:
        err().print(f"--system: no system {system!r}", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    with state_errors():
        retirable = retired(model, state)
    if system not in retirable:
        err().print(f"--system: the audit has not retired {system} (`jiyue audit score`); nothing was changed",
                    style="red")
        exit_with(ExitStatus.BAD_INPUT)
    confirm("decommission", system, yes)  # before anything is recorded
    with open_store(state, write=True) as store:
        store.register(system, model.department_of[system])
    _one_system_cmd(system, state, city, lab, outputs, connection, "decommission", yes=True)


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
    output_option(output)
    with open_store(state, write=False) as store:
        systems = [r.id for r in store.all() if wave is None or r.wave == wave]
        rep = wave_report(store, systems, f"wave {wave}" if wave is not None else "all waves")
        if fmt is TextJson.json:
            print_json(rep)
        else:
            _print_outcomes(store, systems, rep["title"], None)
    if output:
        write_output(render_html("wave.html.j2", r=rep), output)

