"""Errors and warnings about a registry, each pointing at a file, a line and a field."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path


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
    """Paths as a person typed them: relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to((root or Path.cwd()).resolve()))
    except ValueError:
        return str(path)


class RegistryError(Exception):
    """Raised when a registry has errors; carries all of them, not only the first."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity is Severity.error]
        super().__init__(f"{len(errors)} error(s) in the registry")
