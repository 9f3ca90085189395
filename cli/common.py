"""What every sub-command shares: options, output, and turning problems into exit statuses."""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from jiyue.registry import DEFAULT_CITY, CityModel, Diagnostic, RegistryError, Severity, load_city
from jiyue.status import ExitStatus


class TextJson(StrEnum):
    text = "text"
    json = "json"


class TableJson(StrEnum):
    table = "table"
    json = "json"


CityOption = Annotated[
    Path,
    typer.Option("--city", help="The city registry directory (city.yaml + departments/).",
                 show_default="the sample city, inventories/dalian"),
]


def _width(stream: Any) -> int | None:
    """A terminal's own width; 120 columns (or $COLUMNS) when writing to a pipe or a file."""
    if getattr(stream, "isatty", lambda: False)():
        return None
    return int(os.environ.get("COLUMNS", "120"))


def out() -> Console:
    """Standard output; made per call so that tests capturing sys.stdout see it."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=True, width=_width(sys.stdout))


def err() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True, width=_width(sys.stderr))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def print_diagnostics(diags: list[Diagnostic], *, stream: Console | None = None) -> None:
    console = stream or err()
    for d in diags:
        style = "red" if d.severity is Severity.error else "yellow"
        console.print(d.render(), style=style, markup=False)


def exit_with(status: ExitStatus) -> NoReturn:
    raise typer.Exit(int(status))


def load(city: Path | None, fmt: StrEnum | None = None) -> CityModel:
    """Load the city or exit 2 with every error (as JSON when the command prints JSON)."""
    try:
        return load_city(city or DEFAULT_CITY)
    except RegistryError as exc:
        errors = [d for d in exc.diagnostics if d.severity is Severity.error]
        if fmt is not None and fmt.value == "json":
            print_json({"valid": False, "errors": [d.as_dict() for d in errors],
                        "warnings": [d.as_dict() for d in exc.diagnostics if d not in errors]})
        else:
            print_diagnostics(errors)
            err().print(f"{len(errors)} error(s); nothing was changed.", style="bold red")
        exit_with(ExitStatus.BAD_INPUT)
