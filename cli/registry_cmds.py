"""Commands about the registry itself: validate, ipam, city summary/generate/schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from jiyue.catalog import catalog_codes
from jiyue.ipam import plan, write_lock
from jiyue.registry.diagnostics import Diagnostic, Severity
from jiyue.registry.generate import generate
from jiyue.registry.schemas import export
from jiyue.registry.summary import summarize
from jiyue.status import ExitStatus

from .common import (
    CityOption,
    TableJson,
    TextJson,
    err,
    exit_with,
    folder_option,
    load,
    out,
    print_diagnostics,
    print_json,
)

PANEL = "Everyone: the city registry"

city_app = typer.Typer(no_args_is_help=True, help="Look at the city registry, or write a synthetic one.")


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=PANEL)(validate)
    app.command(rich_help_panel=PANEL)(ipam)
    app.add_typer(city_app, name="city", rich_help_panel=PANEL)


def validate(
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[TextJson, typer.Option("--format", help="text, or json for tools.")] = TextJson.text,
    strict: Annotated[bool, typer.Option(help="Treat warnings as errors.")] = False,
    show_warnings: Annotated[bool, typer.Option("--show-warnings", help="List every warning, not a digest.")] = False,
) -> None:
    """Check the registry: the schema of every file and the rules across files, the IP plan and
    the catalog's codes.

    Reports every problem at once as file:line: field: what is wrong (what to do), and exits 2 if
    there is any error (1 with --strict and only warnings). Changes nothing.
    """
    model = load(city, fmt)
    ip = plan(model)
    diags = model.warnings + ip.diagnostics + catalog_codes(model).diagnostics
    errors = [d for d in diags if d.severity is Severity.error]
    warnings = [d for d in diags if d.severity is Severity.warning]
    if fmt is TextJson.json:
        print_json({"valid": not errors, "departments": len(model.departments), "systems": len(model.systems),
                    "errors": [d.as_dict() for d in errors], "warnings": [d.as_dict() for d in warnings]})
    else:
        print_diagnostics(errors + (warnings if show_warnings else _digest(warnings)))
        if not errors:
            out().print(f"[green]valid[/]: {model.root}: {len(model.departments)} departments, "
                        f"{len(model.systems)} systems, {len(warnings)} warning(s)")
    if errors:
        exit_with(ExitStatus.BAD_INPUT)
    if strict and warnings:
        exit_with(ExitStatus.FINDINGS)


def _digest(warnings: list[Diagnostic], keep: int = 2) -> list[Diagnostic]:
    """The first few warnings of each kind, then one line saying how many more there are."""
    by_code: dict[str, list[Diagnostic]] = {}
    for w in warnings:
        by_code.setdefault(w.code, []).append(w)
    shown: list[Diagnostic] = []
    for code, items in by_code.items():
        shown.extend(items[:keep])
        if len(items) > keep:
            shown.append(Diagnostic("...", 0, "", f"and {len(items) - keep} more {code} warning(s)",
                                    "--show-warnings lists them", Severity.warning, code))
    return shown


def ipam(
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[TableJson, typer.Option("--format", help="table, or json for tools.")] = TableJson.table,
    update_lock: Annotated[
        bool, typer.Option("--update-lock", help="Pin new departments' and systems' slots in ipam.lock.yaml.")
    ] = False,
    prune: Annotated[
        bool, typer.Option(help="With --update-lock: free the slots of departments and systems that are gone.")
    ] = False,
) -> None:
    """The IP plan: every department's segment per zone and site, and what overlaps what.

    Slots are pinned in ipam.lock.yaml beside the registry, so adding or removing a department
    never moves another's addresses, and adding, removing, reordering or retiring a system never
    moves another system's (docs/adr/0001-ip-plan.md).
    """
    model = load(city, fmt)
    ip = plan(model, prune=prune)
    if ip.errors:
        print_diagnostics(ip.errors)
        exit_with(ExitStatus.BAD_INPUT)
    if update_lock:
        path = write_lock(model.root, ip.slots, ip.system_slots)
        new_systems = sum(len(v) for v in ip.new_system_slots.values())
        stale_systems = sum(len(v) for v in ip.stale_system_slots.values())
        err().print(f"pinned {len(ip.new_slots)} new slot(s) and {new_systems} new system slot(s) in {path}"
                    + (f", freed {len(ip.stale_slots)} slot(s) and {stale_systems} system slot(s)"
                       if prune and (ip.stale_slots or stale_systems) else ""))
    used = {(d, z): True for d in model.departments for z in model.zones_of(d)}
    if fmt is TableJson.json:
        print_json({
            "segments": [
                {"name": s.name, "kind": s.kind, "department": s.department, "zone": s.zone.value,
                 "site": s.site.value, "cidr": s.cidr, "gateway": s.gateway, "slot": s.slot,
                 "in_use": s.department is None or (s.department, s.zone) in used}
                for s in ip.segments
            ],
            "new_slots": ip.new_slots, "stale_slots": ip.stale_slots,
            "system_slots": ip.system_slots, "new_system_slots": ip.new_system_slots,
            "stale_system_slots": ip.stale_system_slots,
            "warnings": [d.as_dict() for d in ip.diagnostics if d.severity is Severity.warning],
        })
        return
    table = Table(title=f"IP plan of {model.city.names.zh} ({model.city.id})", show_lines=False)
    for col in ("department", "slot", "intranet primary", "intranet dr", "extranet primary", "extranet dr"):
        table.add_column(col)
    rows: dict[str, dict[tuple[str, str], str]] = {}
    for s in ip.segments:
        key = s.department or f"({s.kind})"
        cell = s.cidr
        if s.department and (s.department, s.zone) not in used:
            cell = f"[dim]{s.cidr}[/]"
        rows.setdefault(key, {})[(s.zone.value, s.site.value)] = cell
    for key, cells in rows.items():
        slot = str(ip.slots.get(key, "")) + (" new" if key in ip.new_slots else "")
        table.add_row(key, slot, *(cells.get((z, si), "") for z in ("intranet", "extranet")
                                   for si in ("primary", "dr")))
    out().print(table)
    out().print("[dim]dimmed: reserved for the department, no system of it in that zone yet[/]")
    warnings = [d for d in ip.diagnostics if d.severity is Severity.warning]
    if warnings:
        out().print(f"{len(warnings)} warning(s); `jiyue validate` lists them")


@city_app.command("summary")
def city_summary(
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[TextJson, typer.Option("--format", help="text, or json for tools.")] = TextJson.text,
) -> None:
    """A readable account of the city: departments, systems by zone and classification, the IP
    plan, and which private networks (专网) and leased Internet lines get cancelled (T3.5, T3.6)."""
    model = load(city, fmt)
    s = summarize(model)
    ip = plan(model)
    if fmt is TextJson.json:
        s["ip_plan"] = {
            "supernets": {z.value: n.model_dump() for z, n in model.city.addressing.supernets.items()},
            "management": model.city.addressing.management.model_dump(),
            "department_segments": sum(1 for x in ip.segments if x.department),
        }
        print_json(s)
        return
    o = out()
    o.print(f"[bold]{s['name']} ({s['city']})[/]: {s['departments']} departments "
            f"({', '.join(f'{v} {k}' for k, v in s['departments_by_tier'].items())}), {s['systems']} systems, "
            f"{s['legacy_hosts']} legacy hosts")
    t = Table(title="Systems by zone and classification")
    t.add_column("zone")
    for c in ("classified", "internal", "public", "total"):
        t.add_column(c, justify="right")
    for zone, row in s["systems_by_zone_and_classification"].items():
        t.add_row(zone, *(str(v) for v in row.values()), str(sum(row.values())))
    o.print(t)
    o.print(f"public-facing: {s['public_facing']}   with a DR need: {s['with_dr']}   "
            f"shared platforms: {', '.join(s['shared_platforms']) or 'none'}")
    o.print(f"pilot departments (T4.2): {', '.join(s['pilot_departments']) or 'none chosen'}")
    a = model.city.addressing
    t = Table(title="IP plan (jiyue ipam shows every segment)")
    for col in ("zone", "primary", "dr"):
        t.add_column(col)
    for z, n in a.supernets.items():
        t.add_row(z.value, n.primary, n.dr)
    t.add_row("management", a.management.primary, a.management.dr)
    o.print(t)
    o.print(f"{sum(1 for x in ip.segments if x.department)} department segments of /{a.segment_prefix}, "
            f"{len(ip.new_slots)} not pinned yet")
    t = Table(title=f"Self-leased Internet lines cancelled (T3.5): {len(s['leased_lines_cancelled'])}, "
                    f"saving {s['leased_lines_annual_saving_wan']} 万元/year")
    for col in ("department", "lines (Mbps, provider)", "万元/year"):
        t.add_column(col)
    per_dep: dict[str, list[dict]] = {}
    for x in s["leased_lines_cancelled"]:
        per_dep.setdefault(x["department"], []).append(x)
    for dep, lines in per_dep.items():
        t.add_row(dep, "; ".join(f"{x['id']} ({x['bandwidth_mbps']}, {x['provider']})" for x in lines),
                  f"{sum(x['annual_cost_wan'] for x in lines):.1f}")
    o.print(t)
    t = Table(title=f"Private networks (专网, T3.6): {s['private_networks_merged']} merged, "
                    f"saving {s['private_networks_annual_saving_wan']} 万元/year")
    for col in ("department", "network", "cidr", "carrier", "becomes"):
        t.add_column(col)
    for x in s["private_networks"]:
        t.add_row(x["department"], f"{x['id']} {x['name']}", x["cidr"], x["carrier"],
                  {"merge-intranet": "→ intranet", "merge-extranet": "→ extranet",
                   "national": "kept (national plan)"}[x["disposition"]])
    o.print(t)
    if s["warnings"]:
        o.print(f"{s['warnings']} warning(s); `jiyue validate` lists them")


@city_app.command("generate")
def city_generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write (created if missing).")],
    departments: Annotated[int, typer.Option(min=1, max=4000, help="Number of departments.")] = 50,
    systems_per_department: Annotated[int, typer.Option(min=1, max=99, help="Systems per department.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same city.")] = 0,
) -> None:
    """Write a valid synthetic city of any size, for benchmarks and scale tests."""
    folder_option(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "city.yaml").exists():
        err().print(f"{out_dir}: exists and is not a registry; refusing to write into it "
                    "(choose an empty or new directory)", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    try:
        generate(out_dir, departments, systems_per_department, seed)
    except OSError as exc:
        err().print(f"--out: {out_dir}: cannot be written: {exc.strerror} ({exc.filename})", style="red", markup=False)
        exit_with(ExitStatus.BAD_INPUT)
    out().print(f"wrote {departments} departments x {systems_per_department} systems to {out_dir}")


@city_app.command("schema")
def city_schema(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the JSON Schema files.")] = Path("schemas"),
) -> None:
    """Export the registry's JSON Schemas (what the yaml-language-server modelines point at)."""
    try:
        written = export(folder_option(out_dir))
    except OSError as exc:
        err().print(f"--out: {out_dir}: cannot be written: {exc.strerror} ({exc.filename})", style="red", markup=False)
        exit_with(ExitStatus.BAD_INPUT)
    for path in written:
        out().print(f"wrote {path}")

