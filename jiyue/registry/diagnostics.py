"""Errors and warnings about a registry, each pointing at a file, a line and a field."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from .yamlio import line_of


class Severity(StrEnum):
    error = "error"
    warning = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    file: str
    line: int
    field: str
    message: str
    hint: str
    severity: Severity = Severity.error
    code: str = ""

    def render(self) -> str:
        """``file:line: field: what is wrong (what to do)``."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" {self.field}:" if self.field else ""
        prefix = "warning: " if self.severity is Severity.warning else ""
        return f"{where}:{field} {prefix}{self.message} ({self.hint})"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def relpath(path: Path, root: Path | None = None) -> str:
    """Paths as a person typed them: relative to the working directory when possible. Symbolic
    links are not followed: a linked department file is named by its link, the path the person
    sees in the registry (and a link that loops still has a name)."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(os.path.abspath(root or Path.cwd())))
    except ValueError:
        return str(path)


class RegistryError(Exception):
    """Raised when a registry has errors; carries all of them, not only the first."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity is Severity.error]
        super().__init__(f"{len(errors)} error(s) in the registry")


def dotted(loc: tuple[Any, ...]) -> str:
    """A field's location as the registry's files spell it: ``systems[0].legacy_hosts[1].address``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class Source:
    """Where a department or the city context came from: its file and the data read, with lines."""

    path: Path
    data: Any

    @property
    def name(self) -> str:
        return relpath(self.path)

    def line(self, *loc: Any) -> int:
        return line_of(self.data, loc)

    def diagnostic(self, loc: tuple[Any, ...], message: str, hint: str, code: str,
                   severity: Severity = Severity.error) -> Diagnostic:
        """A diagnostic pointing at ``loc`` in this file: its line and its dotted field."""
        return Diagnostic(self.name, self.line(*loc), dotted(loc), message, hint, severity, code)
