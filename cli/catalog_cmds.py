"""Programme office: the information-resource catalog (T5, T7, T8) and the filing gate (G6)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from jiyue.catalog import build_catalog, filing_status, to_csv
from jiyue.reports import render_html
from jiyue.status import ExitStatus

from .common import CityOption, TextJson, err, exit_with, load, out, output_option, print_json, write_output

PANEL = "Programme office: catalog, filing, audit"

catalog_app = typer.Typer(no_args_is_help=True, help="The city's information-resource catalog (T5, T7, T8).")
filing_app = typer.Typer(no_args_is_help=True, help="The filing gate (备案, G6): no filing, no money.")


class ExportFormat(StrEnum):
    text = "text"
    json = "json"
    csv = "csv"
    html = "html"


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog", rich_help_panel=PANEL)
    app.add_typer(filing_app, name="filing", rich_help_panel=PANEL)


@catalog_app.command("export")
def catalog_export(
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[ExportFormat, typer.Option("--format", help="text summary, json, csv or html.")] = ExportFormat.text,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """The city catalog by library, the sharing matrix (who provides what to whom), the open-data
    list, and the cross-checks: needs nobody provides, "not shared" data another department needs,
    the same data held by several departments (a candidate for a base library)."""
    output_option(output)
    model = load(city, fmt if fmt is ExportFormat.json else None)
    cat = build_catalog(model)
    if fmt is ExportFormat.json:
        text = json.dumps(cat.model_dump(), ensure_ascii=False, indent=2) + "\n"
    elif fmt is ExportFormat.csv:
        text = to_csv(cat)
    elif fmt is ExportFormat.html:
        text = render_html("catalog.html.j2", c=cat)
    else:
        _print_summary(cat)
        return
    write_output(text, output)


def _print_summary(cat) -> None:  # noqa: ANN001
    o = out()
    deps = {e.department for e in cat.entries}
    o.print(f"[bold]Catalog of {cat.city}[/]: {len(cat.entries)} resources from {len(deps)} departments, "
            f"{len(cat.needs)} needs, {len(cat.open_data)} open data sets (T7), "
            f"{sum(len(c) for c in cat.sharing_matrix.values())} provider→consumer links (T8)")
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
    statuses = filing_status(model, department)
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
