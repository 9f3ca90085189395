"""Programme office: the audit (T1): evidence, zombie score, T1.1 tables and T2.1 lists."""

from __future__ import annotations

import random
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from jiyue.audit.integration import integration_lists
from jiyue.audit.score import Score, Thresholds, score_city
from jiyue.registry import CityModel
from jiyue.reports import render_html
from jiyue.status import ExitStatus
from migration.audit import latest_evidence
from migration.run import collect_evidence

from .common import (
    CityOption,
    TableJson,
    departments_option,
    err,
    exit_with,
    load,
    out,
    output_option,
    print_json,
    write_output,
)
from .where import DEFAULT_STATE, ConnOption, LabOption, OutputsOption, StateOption, open_store, sources

PANEL = "Programme office: catalog, filing, audit"

audit_app = typer.Typer(no_args_is_help=True, help=(
    "Audit every system (T1.1), score the zombies against the five criteria of T1.2 with evidence from "
    "the live hosts, and write each department's integration list (T2.1)."))


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    html = "html"


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit", rich_help_panel=PANEL)


def _thresholds(retire_at: int, keep_below: int) -> Thresholds:
    if keep_below > retire_at:
        err().print("--keep-below must not exceed --retire-at", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    return Thresholds(retire=retire_at, keep=keep_below)


RetireAt = Annotated[int, typer.Option(min=1, max=100, help="Score at or above which a system is retired.")]
KeepBelow = Annotated[int, typer.Option(min=0, max=100, help="Score below which a system is kept.")]


@audit_app.command("collect")
def audit_collect(
    city: CityOption = None,  # type: ignore[assignment]
    departments: Annotated[str | None, typer.Option(help="Comma-separated departments.",
                                                    show_default="every department with reachable hosts")] = None,
    days: Annotated[float, typer.Option(min=1, help="The audit window: activity in the last N days.")] = 30,
    window: Annotated[float, typer.Option(min=0.5, max=60, help="Seconds of CPU sampling per host.")] = 3,
    state: StateOption = DEFAULT_STATE,
    lab: LabOption = None,
    outputs: OutputsOption = None,
    connection: ConnOption = None,
) -> None:
    """Gather evidence over SSH through the bastions: logins, web requests, database writes, data
    freshness, scheduled jobs, package staleness, services and client connections, CPU. Read-only
    on the hosts; a host that is down is recorded as down."""
    model = load(city)
    chosen = departments_option(model, departments)
    where = sources(lab, outputs, connection)
    present = {o.get("department") for o in where.outputs.values()}
    deps = chosen or sorted(d for d in present if d)
    hosts = {h.name: s.id for d in deps for s in model.departments[d].systems for h in s.legacy_hosts}
    with open_store(state, write=True) as store:
        evidence = collect_evidence(model, where, store, state, hosts, days=days, window=window)
    t = Table(title=f"audit evidence: {len(evidence)} hosts of {len(deps)} departments")
    for col in ("host", "system", "status", "logins", "web requests", "db writes", "new files", "CPU s", "clients"):
        t.add_column(col)
    for h, e in sorted(evidence.items()):
        if e is None:
            t.add_row(h, hosts[h], "[red]down[/]", *[""] * 6)
            continue
        writes = sum(e["database"].get("writes", {}).values()) if e["database"].get("available") else "-"
        t.add_row(h, hosts[h], "collected", str(e["logins"].get("recent", "-")), str(e["web"].get("recent", "-")),
                  str(writes), str(e["data"].get("recent", "-")), f"{e['cpu_seconds']:.2f}",
                  str(e["sockets"]["established_clients"]))
    out().print(t)


def _scores(model: CityModel, state: Path, th: Thresholds, systems: list[str] | None = None) -> list[Score]:
    with open_store(state, write=False) as store:
        evidence = latest_evidence(store)
    return score_city(model, evidence, th, systems)


@audit_app.command("score")
def audit_score(
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[TableJson, typer.Option("--format")] = TableJson.table,
    retire_at: RetireAt = 70,
    keep_below: KeepBelow = 40,
    state: StateOption = DEFAULT_STATE,
) -> None:
    """Score every system 0–100 against the five criteria of T1.2 with the evidence behind each,
    and give a verdict: retire, review or keep. Missing evidence gives review, never retire."""
    model = load(city, fmt)
    scores = _scores(model, state, _thresholds(retire_at, keep_below))
    if fmt is TableJson.json:
        print_json({"systems": [s.as_dict() for s in scores]})
        return
    t = Table(title=f"zombie score (T1.2): retire ≥ {retire_at}, keep < {keep_below}")
    for col in ("system", "department", "score", "verdict", "why"):
        t.add_column(col)
    for s in sorted(scores, key=lambda s: (-s.score, s.system)):
        style = {"retire": "red", "review": "yellow", "keep": "green"}[s.verdict]
        t.add_row(s.system, s.department, str(s.score), f"[{style}]{s.verdict}[/]", s.reason)
    out().print(t)


@audit_app.command("report")
def audit_report(
    city: CityOption = None,  # type: ignore[assignment]
    departments: Annotated[str | None, typer.Option(help="Departments of the T1.1 tables and T2.1 lists.",
                                                    show_default="all")] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.text,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here.")] = None,
    spot_check: Annotated[int, typer.Option(min=0, help="T1.3: re-collect and re-check N sampled retired "
                                                        "systems.")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed of the spot-check sample.")] = 0,
    retire_at: RetireAt = 70,
    keep_below: KeepBelow = 40,
    state: StateOption = DEFAULT_STATE,
    lab: LabOption = None,
    outputs: OutputsOption = None,
    connection: ConnOption = None,
) -> None:
    """The T1.1 table per department (the ten audit fields), the zombie list with its evidence,
    each department's T2.1 integration list (retire, merge into its one big system, migrate as
    is; district systems flagged, T2.2), and with --spot-check a T1.3 re-check of retired systems."""
    output_option(output)
    model = load(city, fmt if fmt is ReportFormat.json else None)
    chosen = departments_option(model, departments) or sorted(model.departments)
    th = _thresholds(retire_at, keep_below)
    scores = {s.system: s for s in _scores(model, state, th)}
    lists = integration_lists(model, scores, chosen)
    zombies = [s for s in scores.values() if s.verdict == "retire"]
    spot: list[dict[str, Any]] = []
    if spot_check and zombies:
        sample = random.Random(seed).sample(sorted(z.system for z in zombies), min(spot_check, len(zombies)))
        where = sources(lab, outputs, connection)
        hosts = {h.name: sid for sid in sample for h in model.systems[sid].legacy_hosts}
        with open_store(state, write=True) as store:
            evidence = collect_evidence(model, where, store, state, hosts)
        again = {s.system: s for s in score_city(model, evidence, th, sample)}
        spot = [{"system": sid, "before": scores[sid].score, "now": again[sid].score,
                 "verdict": again[sid].verdict, "confirmed": again[sid].verdict == "retire"} for sid in sample]
    t11 = []
    for d in chosen:
        dep = model.departments[d]
        t11.append({"department": d, "name": dep.names.zh, "count": len(dep.systems), "systems": [
            {"id": s.id, "name": s.names.zh, "function": s.function, "scope": s.scope_of_use.value,
             "frequency": s.frequency_of_use.value, "approved_by": s.approval.department,
             "approved_on": str(s.approval.date), "construction_wan": s.funds.construction_wan,
             "om_wan": s.funds.om_wan_per_year, "source": s.funds.source.value} for s in dep.systems]})
    zombie_rows = [z.as_dict() | {"recorded": model.systems[z.system].retirement is not None}
                   for z in sorted(zombies, key=lambda z: -z.score)]
    report = {"t1_1": t11, "zombies": zombie_rows,
              "integration": [vars(x) | {"merge": [vars(g) for g in x.merge]} for x in lists], "spot_check": spot,
              "thresholds": {"retire": retire_at, "keep": keep_below}}
    if fmt is ReportFormat.json:
        print_json(report)
    elif fmt is ReportFormat.html:
        write_output(render_html("audit.html.j2", r=report), output)
    else:
        _print_report(report)
    if spot and not all(x["confirmed"] for x in spot):
        exit_with(ExitStatus.FINDINGS)


def _print_report(r: dict[str, Any]) -> None:
    o = out()
    t = Table(title=f"Zombie list (T1.2): {len(r['zombies'])} systems to retire")
    for col in ("system", "department", "score", "evidence"):
        t.add_column(col)
    for z in r["zombies"]:
        t.add_row(z["id"], z["department"], str(z["score"]), "\n".join(z["evidence"][:6]))
    o.print(t)
    pending = [z for z in r["zombies"] if not z["recorded"]]
    if pending:
        o.print(f"{len(pending)} of these are not retired in the registry yet. Once the evidence is reviewed "
                "(and spot-checked, T1.3), record each decision in its system's entry, e.g.:\n"
                f"  # departments/{pending[0]['department']}.yaml, system {pending[0]['id']}\n"
                "  retirement:\n    decided: <date>\n    approved_by: <who approved it>\n"
                f"    evidence: \"jiyue audit score: {pending[0]['score']} points\"\n"
                "Then no stack builds it, no wave migrates it, and `jiyue migrate decommission` archives it.")
    for lst in r["integration"]:
        t = Table(title=f"Integration list (T2.1) of {lst['name']} ({lst['department']}, {lst['tier']})")
        t.add_column("action")
        t.add_column("systems")
        if lst["retire"]:
            t.add_row("retire", ", ".join(lst["retire"]))
        for g in lst["merge"]:
            t.add_row(f"merge into {g['into']}", ", ".join(m for m in g["members"] if m != g["into"])
                      + "\n" + "; ".join(g["why"]))
        if lst["migrate"]:
            t.add_row("migrate as is", ", ".join(lst["migrate"]))
        if lst["review"]:
            t.add_row("review (evidence incomplete or mixed)", ", ".join(lst["review"]))
        for f in lst["district_flags"]:
            t.add_row("[yellow]district (T2.2)[/]", f)
        o.print(t)
    if r["spot_check"]:
        t = Table(title="Spot check (T1.3) of retired systems")
        for col in ("system", "score before", "score now", "confirmed"):
            t.add_column(col)
        for x in r["spot_check"]:
            t.add_row(x["system"], str(x["before"]), str(x["now"]), "yes" if x["confirmed"] else "[red]no[/]")
        o.print(t)
