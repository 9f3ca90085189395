"""Migration teams and platform engineers: the systems' copies at the same-city DR site (T3.1)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from jiyue.dr import DrMode
from jiyue.registry import CityModel
from jiyue.reports import render_html
from jiyue.status import ExitStatus
from migration.dr import DrError, DrSystem, Protector, dr_system, dr_systems, exercise_report
from migration.run import RunError, open_run, select
from migration.state import Store

from .common import (
    CityOption,
    TableJson,
    YesOption,
    confirm_or_exit,
    err,
    exit_with,
    load,
    out,
    output_option,
    print_json,
    write_output,
)
from .where import DEFAULT_STATE, ConnOption, LabOption, OutputsOption, StateOption, open_store, sources, state_errors

PANEL = "Migration teams: rehearsal lab and migration"

dr_app = typer.Typer(no_args_is_help=True, help=(
    "The same-city DR site (T3.1): protect verified systems (a copy kept by services on the hosts: "
    "PostgreSQL streaming replication, a file sync, a heartbeat), and show how far behind each copy is. "
    "What a system gets follows its RPO and RTO (`jiyue.dr`): hot (standby services running) or warm "
    "(replicated, services stopped). Fail a system over to its copy when its primary site is lost, "
    "measuring the data lost (RPO) and the time to serve again (RTO), and back when it returns."))


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
    the lag. Hot standbys run the application's services, warm ones keep them stopped. A cold
    system's backup host pulls a snapshot of its files (hard-linked to the previous one) and a
    dump of its databases every RPO minutes, the first at once. Idempotent; interrupted, the same
    command finishes it. Exit 1 if a system could not be protected, 2 if one asked for cannot be
    (no DR need, not verified)."""
    model = load(city)
    chosen = _chosen(model, wave, department, system, state)
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
        for col in ("system", "mode", "RPO", "RTO", "protection", "lag", "within RPO", "last backup", "problems"):
            t.add_column(col)
        for r in rows:
            t.add_row(r["id"], r["mode"], f"{r['rpo_minutes']} min", f"{r['rto_minutes']} min", r["protection"],
                      "" if r["lag_seconds"] is None else f"{r['lag_seconds']:.1f} s",
                      "[green]yes[/]" if r["within_rpo"] else "[red]no[/]", r["last_backup"] or "",
                      "; ".join(r["problems"]))
        out().print(t)
    if any(not r["within_rpo"] for r in rows):
        exit_with(ExitStatus.FINDINGS)


def _in_state(store: Store, chosen: list[DrSystem], states: set[str], why: str, none: str) -> list[DrSystem]:
    """Of a department's DR systems, those whose protection is in ``states`` (each other one is
    named as left out, ``why``); none at all: exit 2 with ``none``."""
    prot = store.protection()
    kept = [d for d in chosen if (prot.get(d.id) or {}).get("state") in states]
    for d in chosen:
        if d not in kept:
            err().print(f"{d.id}: {why}; left out", style="yellow", markup=False)
    if not kept:
        _bad(none)
    return kept


def _finish(fmt: TableJson, key: str, results: list[dict[str, Any]]) -> None:
    """The outcomes as JSON (``{key: [...]}``) when asked; exit 1 if one failed."""
    if fmt is TableJson.json:
        print_json({key: results})
    if any(not r["ok"] for r in results):
        exit_with(ExitStatus.FINDINGS)


def _achieved(res: dict[str, Any]) -> str:
    rpo = "unmeasured" if res.get("rpo_seconds") is None else f"{res['rpo_seconds']:.1f} s"
    return (f"RPO achieved {rpo} (declared {res['rpo_minutes_declared']} min), RTO achieved "
            f"{res['rto_seconds']:.1f} s (declared {res['rto_minutes_declared']} min)")


@dr_app.command("failover")
def dr_failover(
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[TableJson, typer.Option("--format")] = TableJson.table,
    department: Annotated[str | None, typer.Option(help="Fail over this department's protected systems.")] = None,
    system: Annotated[str | None, typer.Option(help="Fail over one system.")] = None,
    force: Annotated[bool, typer.Option(help="Fail over even if the copy is outside its RPO, or the primaries "
                                             "cannot be measured to verify it against.")] = False,
    primary_lost: Annotated[bool, typer.Option(help="Declare the primary site lost and fenced (needed where the "
                                                    "driver cannot cut it off itself: real stacks).")] = False,
    yes: YesOption = False,
    state: StateOption = DEFAULT_STATE,
    lab: LabOption = None,
    outputs: OutputsOption = None,
    connection: ConnOption = None,
) -> None:
    """Serve systems from their DR copies, their primary site declared lost. In a lab their primary
    hosts are cut off from every network (their data stays). Each DR host stops its file sync,
    reports the newest primary heartbeat it holds, is promoted and serves; the service name moves
    to the DR site; the verification suite compares the DR hosts with the primaries as measured
    just before the loss. Prints the achieved RPO (data lost, from the heartbeat) and RTO (loss to
    verified) against the declared ones. Refused (exit 2) for a copy outside its RPO unless
    --force. Interrupted, the same command finishes it. Exit 1 if a system failed."""
    model = load(city, fmt)
    if (department is None) == (system is None):
        _bad("give --system or --department")
    chosen = _chosen(model, None, department, system, state)
    if department is not None:  # a cold system fails over by a rebuild and a restore (check_failover says so)
        chosen = [d for d in chosen if d.plan.mode is not DrMode.cold]
    if not chosen:
        _bad("none of the systems asked for has a hot or warm copy to fail over to")
    where = sources(lab, outputs, connection)
    with open_store(state, write=True) as store:
        if department is not None:
            chosen = _in_state(store, chosen, {"protected", "failing-over"}, "not protected",
                               f"no system of {department} is protected (`jiyue dr protect --department {department}`)")
        deps = sorted({model.department_of[d.id] for d in chosen})
        with open_run(model, where, store, state, deps) as run:
            protector = Protector(run, model, where.fence)
            try:
                for d in chosen:
                    protector.check_failover(d, force=force, primary_lost=primary_lost)
            except DrError as exc:
                _bad(str(exc))
            confirm_or_exit(f"fail over {', '.join(d.id for d in chosen)}: the DR site serves them, their "
                            "primaries " + ("are cut off" if where.fence else "are declared lost"), yes)
            results = []
            for d in chosen:
                err().print(f"{d.id}: failing over to the DR site ({d.plan.mode.value})")
                try:
                    res = protector.failover(d, force=force)
                except DrError as exc:
                    _bad(str(exc))
                results.append(res)
                err().print(f"{d.id}: " + (f"failed over: {_achieved(res)}; {res['message']}" if res["ok"]
                                           else f"FAILED: {res['message']}"),
                            style=None if res["ok"] else "red", markup=False)
    _finish(fmt, "failovers", results)


@dr_app.command("failback")
def dr_failback(
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[TableJson, typer.Option("--format")] = TableJson.table,
    department: Annotated[str | None, typer.Option(help="Fail back this department's failed-over systems.")] = None,
    system: Annotated[str | None, typer.Option(help="Fail back one system.")] = None,
    yes: YesOption = False,
    state: StateOption = DEFAULT_STATE,
    lab: LabOption = None,
    outputs: OutputsOption = None,
    connection: ConnOption = None,
) -> None:
    """Serve systems from their primary site again, with every write made at the DR site
    meanwhile. In a lab their primary hosts get their networks back. Both sides stop their writes;
    the DR site is measured; its data paths, sites and databases are carried onto the primaries
    (what a primary held that differs is kept aside on it, under /var/lib/jiyue-dr/diverged); the
    primaries serve, the service name moves back, the verification suite compares them with that
    measure; then the DR site becomes their copy again (as `dr protect`). Interrupted, the same
    command finishes it. Exit 1 if a system failed."""
    model = load(city, fmt)
    if (department is None) == (system is None):
        _bad("give --system or --department")
    chosen = _chosen(model, None, department, system, state)
    where = sources(lab, outputs, connection)
    with open_store(state, write=True) as store:
        if department is not None:
            chosen = _in_state(store, chosen, {"failed-over", "failing-back"}, "not failed over",
                               f"no system of {department} has failed over")
        deps = sorted({model.department_of[d.id] for d in chosen})
        with open_run(model, where, store, state, deps) as run:
            protector = Protector(run, model, where.fence)
            try:
                for d in chosen:
                    protector.check_failback(d)
            except DrError as exc:
                _bad(str(exc))
            confirm_or_exit(f"fail back {', '.join(d.id for d in chosen)}: the DR site stops serving them and its "
                            "data replaces their primaries' (what differs there is kept aside)", yes)
            results = []
            for d in chosen:
                err().print(f"{d.id}: failing back to the primary site")
                res = protector.failback(d)
                results.append(res)
                err().print(f"{d.id}: " + (f"failed back and protected in {res['seconds']:.1f} s; {res['message']}"
                                           if res["ok"] else f"FAILED: {res['message']}"),
                            style=None if res["ok"] else "red", markup=False)
    _finish(fmt, "failbacks", results)


@dr_app.command("drill")
def dr_drill(
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[TableJson, typer.Option("--format")] = TableJson.table,
    department: Annotated[str | None, typer.Option(help="Drill this department's protected systems.")] = None,
    system: Annotated[str | None, typer.Option(help="Drill one system.")] = None,
    state: StateOption = DEFAULT_STATE,
    lab: LabOption = None,
    outputs: OutputsOption = None,
    connection: ConnOption = None,
) -> None:
    """Prove a system can come back at the DR site, without touching its primary or its
    replication: on each DR host its copy comes up in a sandbox of its own (an isolated network
    with loopback only, a clone of the standby's database started as a primary, copies of the
    files, the application's services; a cold system's backup host restores its latest backup
    there instead: files and sites copied out of it, databases from its dumps), the verification
    suite checks it there against the primaries as measured at the start, and the sandbox is
    discarded. Prints the achieved RTO (start to verified) against the declared one, and the
    copy's lag. Exit 1 if a drill failed."""
    model = load(city, fmt)
    if (department is None) == (system is None):
        _bad("give --system or --department")
    chosen = _chosen(model, None, department, system, state)
    where = sources(lab, outputs, connection)
    with open_store(state, write=True) as store:
        if department is not None:
            chosen = _in_state(store, chosen, {"protected"}, "not protected",
                               f"no system of {department} is protected (`jiyue dr protect --department {department}`)")
        deps = sorted({model.department_of[d.id] for d in chosen})
        with open_run(model, where, store, state, deps) as run:
            protector = Protector(run, model, where.fence)
            ready = []
            for d in chosen:
                try:
                    protector.check_drill(d)
                    ready.append(d)
                except DrError as exc:
                    if system is not None:
                        _bad(str(exc))
                    err().print(f"{exc}; left out", style="yellow", markup=False)  # of a department: the others go on
            if not ready:
                _bad("none of the systems asked for can be drilled")
            chosen = ready
            results = []
            for d in chosen:
                err().print(f"{d.id}: drilling its copy at the DR site ({d.plan.mode.value})")
                try:
                    res = protector.drill(d)
                except DrError as exc:
                    _bad(str(exc))
                results.append(res)
                rto = "" if res["rto_seconds"] is None else f"{res['rto_seconds']:.1f} s"
                err().print(f"{d.id}: " + (f"drilled: RTO achieved {rto} (declared {d.rto_minutes} min), lag "
                                           f"{res['lag_seconds']} s; {res['message']}" if res["ok"]
                                           else f"FAILED: {res['message']}"),
                            style=None if res["ok"] else "red", markup=False)
    if fmt is TableJson.json:
        print_json({"drills": [{"system": r["system"], "rto_seconds": r["rto_seconds"],
                                "rto_minutes_declared": r["rto_minutes_declared"], "verified": r["verified"],
                                "lag_seconds": r["lag_seconds"], "checks": r["checks"], "failures": r["failures"],
                                "discarded": r["discarded"]} for r in results]})
    if any(not r["ok"] for r in results):
        exit_with(ExitStatus.FINDINGS)


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    html = "html"


@dr_app.command("report")
def dr_report(
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.text,
    output: Annotated[Path | None, typer.Option(help="Write the report to this file.")] = None,
    state: StateOption = DEFAULT_STATE,
) -> None:
    """The drills, failovers and failbacks recorded in the state: per exercise the declared RTO and
    RPO against the achieved ones, verified or not, pass or fail. Read-only. Exit 1 if one failed."""
    model = load(city)
    output_option(output)
    with open_store(state, write=False) as store:
        r = exercise_report(store, model)
    if fmt is ReportFormat.json:
        write_output(json.dumps(r, ensure_ascii=False, indent=1) + "\n", output)
    elif fmt is ReportFormat.html:
        write_output(render_html("dr.html.j2", r=r), output)
    else:
        lines = [f"DR drills and failovers ({state}): {r['passed']} passed, {r['failed']} failed"]
        for e in r["exercises"]:
            rto = f"RTO {e['rto_seconds']} s of {e['rto_minutes_declared']} min" if e["rto_seconds"] is not None \
                else (f"back in {e['seconds']} s" if e["kind"] == "failback" else "RTO not reached")
            rpo = f"RPO {e['rpo_seconds']} s of {e['rpo_minutes_declared']} min" if e["rpo_seconds"] is not None \
                else (f"lag {e['lag_seconds']} s" if e["lag_seconds"] is not None else "")
            lines.append(f"  {e['system']:<24} {e['kind']:<9} {e['mode'] or '':<5} {rto:<28} {rpo:<26} "
                         f"{e['checks'] or 0} checks  {'pass' if e['passed'] else 'FAIL'}")
        write_output("\n".join(lines) + "\n", output)
    if r["failed"]:
        exit_with(ExitStatus.FINDINGS)
