"""Migration teams and platform engineers: the systems' copies at the same-city DR site (T3.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from jiyue.dr import DrMode
from jiyue.registry import CityModel
from jiyue.status import ExitStatus
from migration.dr import DrError, DrSystem, Protector, cold_note, dr_system, dr_systems
from migration.run import RunError, open_run, select

from .common import CityOption, TableJson, err, exit_with, load, out, print_json
from .where import DEFAULT_STATE, ConnOption, LabOption, OutputsOption, StateOption, open_store, sources, state_errors

PANEL = "Migration teams: rehearsal lab and migration"

dr_app = typer.Typer(no_args_is_help=True, help=(
    "The same-city DR site (T3.1): protect verified systems (a copy kept by services on the hosts: "
    "PostgreSQL streaming replication, a file sync, a heartbeat), and show how far behind each copy is. "
    "What a system gets follows its RPO and RTO (`jiyue.dr`): hot (standby services running) or warm "
    "(replicated, services stopped)."))


def register(app: typer.Typer) -> None:
    app.add_typer(dr_app, name="dr", rich_help_panel=PANEL)


def _bad(message: str) -> None:
    err().print(message, style="red", markup=False)
    exit_with(ExitStatus.BAD_INPUT)


def _chosen(model: CityModel, wave: int | None, department: str | None, system: str | None,
            state: Path) -> list[DrSystem]:
    """The DR systems asked for: one system (which must have a DR need), or those of a wave or a
    department that have one."""
    try:
        if system is not None and wave is None and department is None:
            return [dr_system(model, system)]
        with state_errors():
            chosen = select(model, wave=wave, department=department, system=system, state=state)
        found = dr_systems(model, chosen.systems)
    except (DrError, RunError) as exc:
        _bad(str(exc))
    if not found:
        _bad("none of the systems asked for has a DR need (`dr:` in the registry)")
    return found


@dr_app.command("protect")
def dr_protect(
    city: CityOption = None,  # type: ignore[assignment]
    wave: Annotated[int | None, typer.Option(help="Protect this wave's systems that have a DR need.")] = None,
    department: Annotated[str | None, typer.Option(help="Protect this department's systems that have one.")] = None,
    system: Annotated[str | None, typer.Option(help="Protect one system.")] = None,
    max_parallel: Annotated[int, typer.Option(min=1, max=16, help="Systems protected at once.")] = 4,
    state: StateOption = DEFAULT_STATE,
    lab: LabOption = None,
    outputs: OutputsOption = None,
    connection: ConnOption = None,
) -> None:
    """Give each verified system its copy at the DR site and leave it kept there by services on the
    hosts: the primary's databases stream to a standby (synchronous when the RPO is 0), a sync
    service pulls its files every tenth of the RPO (2 to 60 s), a heartbeat on the primary shows
    the lag. Hot standbys run the application's services, warm ones keep them stopped. Idempotent;
    interrupted, the same command finishes it. Exit 1 if a system could not be protected, 2 if one
    asked for cannot be (no DR need, not verified, cold)."""
    model = load(city)
    chosen = _chosen(model, wave, department, system, state)
    if system is None:  # of a wave or a department: the cold ones are left for their backups
        for d in chosen:
            if d.plan.mode is DrMode.cold:
                err().print(cold_note(d) + "; left out", style="yellow", markup=False)
        chosen = [d for d in chosen if d.plan.mode is not DrMode.cold]
        if not chosen:
            _bad("every system asked for is cold; `dr protect` makes hot and warm copies only")
    where = sources(lab, outputs, connection)
    with open_store(state, write=True) as store:
        deps = sorted({model.department_of[d.id] for d in chosen})
        with open_run(model, where, store, state, deps) as run:
            protector = Protector(run, model)
            try:
                for d in chosen:
                    protector.check_protectable(d)
            except DrError as exc:
                _bad(str(exc))
            try:
                for d in chosen:
                    protector.pairs(d, accounts=False)  # what the stacks hold: refused before any host is touched
            except DrError as exc:
                _bad(str(exc))
            for d in chosen:
                err().print(f"{d.id}: protecting ({d.plan.mode.value}, RPO {d.rpo_minutes} min, "
                            f"RTO {d.rto_minutes} min)")

            def done(d: DrSystem, res: dict[str, Any]) -> None:
                err().print(f"{d.id}: {'protected' if res['ok'] else 'FAILED: ' + res['message']} "
                            f"({res['seconds']:.1f} s)", style=None if res["ok"] else "red", markup=False)

            failed = any(not res["ok"] for res in protector.protect_all(chosen, max_parallel=max_parallel,
                                                                         on_done=done))
    if failed:
        exit_with(ExitStatus.FINDINGS)


@dr_app.command("status")
def dr_status(
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[TableJson, typer.Option("--format")] = TableJson.table,
    wave: Annotated[int | None, typer.Option(help="Only this wave's DR systems.")] = None,
    department: Annotated[str | None, typer.Option(help="Only this department's DR systems.")] = None,
    system: Annotated[str | None, typer.Option(help="Only this system.")] = None,
    state: StateOption = DEFAULT_STATE,
    lab: LabOption = None,
    outputs: OutputsOption = None,
    connection: ConnOption = None,
) -> None:
    """Per DR system: its mode, declared RPO and RTO, protection state, and the lag measured on the
    DR hosts (the age of the newest heartbeat of the primary present there, from the replicated
    database and from the synced files); within its RPO or not. Read-only. Without a selection,
    every system the state has protected or tried to. Exit 1 if a system is outside its RPO."""
    model = load(city, fmt)
    where = sources(lab, outputs, connection)
    with open_store(state, write=True) as store:
        if wave is None and department is None and system is None:
            known = [s for s in store.protection() if s in model.systems]
            if not known:
                _bad(f"{state}: no system has been protected (`jiyue dr protect`)")
            chosen = dr_systems(model, known)
        else:
            chosen = _chosen(model, wave, department, system, state)
        deps = sorted({model.department_of[d.id] for d in chosen})
        with open_run(model, where, store, state, deps) as run:
            rows = Protector(run, model).status(chosen)
    if fmt is TableJson.json:
        print_json({"systems": rows})
    else:
        t = Table(title=f"DR protection ({state})")
        for col in ("system", "mode", "RPO", "RTO", "protection", "lag", "within RPO", "problems"):
            t.add_column(col)
        for r in rows:
            t.add_row(r["id"], r["mode"], f"{r['rpo_minutes']} min", f"{r['rto_minutes']} min", r["protection"],
                      "" if r["lag_seconds"] is None else f"{r['lag_seconds']:.1f} s",
                      "[green]yes[/]" if r["within_rpo"] else "[red]no[/]", "; ".join(r["problems"]))
        out().print(t)
    if any(not r["within_rpo"] for r in rows):
        exit_with(ExitStatus.FINDINGS)
