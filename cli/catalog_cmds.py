"""Programme office: the information-resource catalog (T5, T7, T8) and the filing gate (G6)."""

from __future__ import annotations

import json
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from jiyue.catalog import Catalog, FilingContext, build_catalog, catalog_codes, filing_status
from jiyue.catalog.codes import LOCK_FILE, CodePlan, parts, write_lock
from jiyue.catalog.dcat import published, to_dcat
from jiyue.catalog.diff import compare, diff_text
from jiyue.catalog.layout import row, to_csv, to_json, to_xlsx
from jiyue.registry import DEFAULT_CITY, CityModel
from jiyue.reports import render_html
from jiyue.status import ExitStatus

from .common import (
    CityOption,
    TextJson,
    err,
    exit_with,
    load,
    load_base,
    out,
    output_option,
    print_diagnostics,
    print_json,
    write_output,
)

PANEL = "Programme office: catalog, filing, audit"

catalog_app = typer.Typer(no_args_is_help=True, help="The city's information-resource catalog (T5, T7, T8).")
filing_app = typer.Typer(no_args_is_help=True, help="The filing gate (备案, G6): no filing, no money.")


class ExportFormat(StrEnum):
    text = "text"
    json = "json"
    csv = "csv"
    html = "html"
    xlsx = "xlsx"
    dcat = "dcat"


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog", rich_help_panel=PANEL)
    app.add_typer(filing_app, name="filing", rich_help_panel=PANEL)


@catalog_app.command("export")
def catalog_export(
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[ExportFormat, typer.Option(
        "--format", help="text summary; json, csv, html or xlsx in the national layout; dcat: the open "
                         "catalog as DCAT in JSON-LD.")] = ExportFormat.text,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout "
                                                "(xlsx needs it).")] = None,
) -> None:
    """The city catalog in the national format, its open part as DCAT.

    The layout of the 《政务信息资源目录编制指南》 and GB/T 21063.3: every resource once, with its code,
    provider and provider code, abstract, format, typed items, sharing and open attributes,
    update cycle, publication date, related codes and secrecy; the sharing matrix (provider x
    consumer); the cross-checks (a need nobody provides, "not shared" data another department
    needs, data held by several departments, a need across the zones, a classified entry marked
    open). --format dcat: the open resources as a DCAT catalog, for the open-data site and the
    portals that harvest it (city.yaml's open_data names the site).
    """
    output_option(output)
    if fmt is ExportFormat.xlsx and output is None:
        err().print("--output: an xlsx workbook is a binary file: name the file to write it to", style="red",
                    markup=False)
        exit_with(ExitStatus.BAD_INPUT)
    model = load(city, fmt if fmt in (ExportFormat.json, ExportFormat.dcat) else None)
    codes = _codes(model)
    cat = build_catalog(model, codes)
    text: str | bytes
    if fmt is ExportFormat.json:
        text = json.dumps(to_json(cat), ensure_ascii=False, indent=2) + "\n"
    elif fmt is ExportFormat.csv:
        text = to_csv(cat)
    elif fmt is ExportFormat.xlsx:
        text = to_xlsx(cat)
    elif fmt is ExportFormat.dcat:
        site = model.city.open_data
        if site is None:
            err().print(f"{model.root / 'city.yaml'}: open_data: the city names no open-data site; add open_data: "
                        "{site: https://..., licence: https://...} to publish the open catalog", style="red",
                        markup=False)
            exit_with(ExitStatus.BAD_INPUT)
        if not codes.locked:
            err().print(f"{model.root / LOCK_FILE}: no such file: the open catalog publishes pinned codes only (a "
                        "harvester keeps them as identifiers); run `jiyue catalog codes --update-lock` first",
                        style="red", markup=False)
            exit_with(ExitStatus.BAD_INPUT)
        text = json.dumps(to_dcat(cat, site), ensure_ascii=False, indent=2) + "\n"
        uncoded = [r.key for r in cat.resources if r.open != "not-open" and not r.classified and r.code is None]
        err().print(f"{len(published(cat))} open data set(s) in the DCAT catalog"
                    + (f"; {len(uncoded)} open resource(s) left out until their codes are pinned "
                       f"(jiyue catalog codes --update-lock): {', '.join(uncoded[:5])}" if uncoded else ""),
                    markup=False)
    elif fmt is ExportFormat.html:
        text = render_html("catalog.html.j2", c=cat, rows=[row(cat, r) for r in cat.resources])
    else:
        _print_summary(cat)
        return
    write_output(text, output)


def _codes(model: CityModel) -> CodePlan:
    """The catalog's codes, or exit 2 with the lock file's errors (nothing is published from a
    broken lock)."""
    plan = catalog_codes(model)
    if plan.errors:
        print_diagnostics(plan.errors)
        err().print(f"{len(plan.errors)} error(s) in {model.root / LOCK_FILE}; nothing was written.", style="bold red",
                    markup=False)
        exit_with(ExitStatus.BAD_INPUT)
    return plan


def _print_summary(cat: Catalog) -> None:
    o = out()
    deps = {r.provider.department for r in cat.resources}
    uncoded = sum(1 for r in cat.resources if r.code is None)
    o.print(f"[bold]Catalog of {cat.city}[/]: {len(cat.resources)} resources from {len(deps)} departments"
            + (f" ({uncoded} without a pinned code)" if uncoded else "")
            + f", {len(cat.needs)} needs, {len(cat.open_data)} open data sets (T7), "
            f"{len(cat.sharing_matrix)} provider→consumer links (T8)")
    t = Table(title="Resources by library (T5)")
    t.add_column("library")
    t.add_column("resources", justify="right")
    t.add_column("keys")
    for lib, keys in cat.by_library.items():
        t.add_row(lib, str(len(keys)), ", ".join(keys[:8]) + (" …" if len(keys) > 8 else ""))
    o.print(t)
    t = Table(title=f"Cross-checks: {len(cat.findings)} finding(s)")
    for col in ("check", "resource", "finding"):
        t.add_column(col)
    for f in cat.findings:
        t.add_row(f.check, f.key, f.message)
    o.print(t)


@catalog_app.command("codes")
def catalog_codes_cmd(
    city: CityOption = None,  # type: ignore[assignment]
    update_lock: Annotated[bool, typer.Option(
        "--update-lock", help=f"Pin the new codes (and renumber reclassified resources) in {LOCK_FILE}.")] = False,
    fmt: Annotated[TextJson, typer.Option("--format", help="text, or json for tools.")] = TextJson.text,
) -> None:
    """Every resource's code (信息资源代码), and which are new or renumbered.

    A code is 类 项 目 细目, then a 4-digit sequence (docs/catalog.md). Codes are pinned in
    catalog.lock.yaml beside the registry: adding, removing, reordering or editing a resource
    never renumbers another; only a change of its classification gives it a new code (the old
    one is withdrawn, never given again).
    """
    model = load(city, fmt)
    plan = _codes(model)
    if update_lock:
        path = write_lock(model.root, plan)
        err().print(f"pinned {len(plan.new)} new code(s) and renumbered {len(plan.renumbered)} in {path}"
                    + (f"; {len(plan.new_departments)} new department number(s)" if plan.new_departments else ""),
                    markup=False)
    if fmt is TextJson.json:
        print_json({"codes": plan.codes, "new": plan.new,
                    "renumbered": {k: {"from": a, "to": b} for k, (a, b) in plan.renumbered.items()},
                    "withdrawn": plan.withdrawn_after, "departments": plan.departments})
        return
    t = Table(title=f"Resource codes ({len(plan.codes)}; {len(plan.new)} new, {len(plan.renumbered)} renumbered"
                    f", {len(plan.withdrawn_after)} withdrawn)")
    for col in ("code", "类", "项", "目", "细目", "顺序码", "resource", ""):
        t.add_column(col)
    for key, code in sorted(plan.codes.items(), key=lambda kv: kv[1]):
        note = ("new" if key in plan.new else f"was {plan.renumbered[key][0]}" if key in plan.renumbered else "")
        if update_lock and note == "new":
            note = "pinned"
        t.add_row(code, *parts(code).values(), key, note)
    out().print(t)


@catalog_app.command("diff")
def catalog_diff(
    base: Annotated[str, typer.Option("--base", help="The registry before: a directory, or a git revision "
                                      "(e.g. origin/main) of the repository holding --city.")],
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[TextJson, typer.Option("--format", help="text, or json for tools.")] = TextJson.text,
) -> None:
    """The catalog's maintenance record between two registry versions.

    The resources added, changed (which core metadata, from what to what) and withdrawn. JSON:
    {"added", "changed", "withdrawn", "reused", "lost"}. Exits 0 for a changed catalog; 1 when a
    code of the base's lock names another resource now, or is in the new lock nowhere (neither
    pinned nor withdrawn); 2 for bad input.
    """
    city_dir = city or DEFAULT_CITY
    new = load(city_dir, fmt)
    with tempfile.TemporaryDirectory(prefix="jiyue-catalog-diff-") as tmp:
        old = load_base(base, city_dir, Path(tmp))
        old_codes, new_codes = _codes(old), _codes(new)
        pins = None, None  # a registry that has not begun pinning has no codes to keep
        if old_codes.locked:
            pins = ({**old_codes.withdrawn_after, **{c: k for k, c in old_codes.pinned.items()}},
                    {*new_codes.pinned.values(), *new_codes.withdrawn_after}  # what the new lock file holds
                    if new_codes.locked else None)
        result = compare(build_catalog(old, old_codes), build_catalog(new, new_codes), *pins)
    if fmt is TextJson.json:
        print_json(result.model_dump())
    else:
        out().print(diff_text(result), markup=False)
    if result.reused or result.lost:
        exit_with(ExitStatus.FINDINGS)


@filing_app.command("check")
def filing_check(
    city: CityOption = None,  # type: ignore[assignment]
    department: Annotated[str | None, typer.Option(help="Only this department.")] = None,
    fmt: Annotated[TextJson, typer.Option("--format", help="text, or json for tools.")] = TextJson.text,
) -> None:
    """Per system: is its filing complete (filing record, resource catalog, requirement list,
    sharing list), or what is missing. Exits 1 if any system in scope (asking for construction or
    O&M money) is incomplete."""
    model = load(city, fmt)
    if department and department not in model.departments:
        err().print(f"--department: no department {department!r} in {model.root} "
                    f"(one of: {', '.join(sorted(model.departments)[:6])} …)", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    statuses = filing_status(model, department, FilingContext.of(model, _codes(model)))
    bad = [s for s in statuses if s.in_scope and not s.complete]
    if fmt is TextJson.json:
        print_json({"complete": not bad, "systems": [s.model_dump() for s in statuses]})
    else:
        o = out()
        if bad:
            t = Table(title=f"Filing gaps (G6): {len(bad)} of {len(statuses)} systems cannot get money yet")
            for col in ("department", "system", "what is missing"):
                t.add_column(col)
            for s in bad:
                t.add_row(s.department, s.system, "\n".join(g.message for g in s.gaps))
            o.print(t)
        complete = sum(s.complete for s in statuses)
        o.print(f"{complete} of {len(statuses)} systems have complete filings; {len(bad)} in scope are incomplete"
                + ("" if bad else " [green](gate passed)[/]"))
    if bad:
        exit_with(ExitStatus.FINDINGS)
