"""Where a command's hosts are and where it records what it did: the options every command that
reaches hosts takes (--lab, or --outputs and --connection for real stacks; --state), resolved."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from jiyue.status import ExitStatus
from lab.lab import DEFAULT_BASE_DIR
from migration.run import RunError, Sources
from migration.state import StateError, Store

from .common import err, exit_with

StateOption = Annotated[Path, typer.Option("--state", resolve_path=True,
                                           help="The state database (SQLite); runs go beside it.")]
LabOption = Annotated[str | None, typer.Option("--lab", help="Use this rehearsal lab's outputs and bastions.",
                                               show_default="jiyue, unless --outputs is given")]
OutputsOption = Annotated[Path | None, typer.Option("--outputs", help="Stack outputs (JSON) of the real stacks.")]
ConnOption = Annotated[Path | None, typer.Option("--connection", help="Bastions, key and known_hosts (YAML).")]
DEFAULT_STATE = Path(".jiyue/state.db")


def sources(lab: str | None, outputs: Path | None, connection: Path | None) -> Sources:
    """The hosts' whereabouts: real stacks' outputs and connection profile, or a rehearsal lab's."""
    try:
        if outputs is not None or connection is not None:
            if outputs is None or connection is None:
                raise RunError("--outputs and --connection go together (or use --lab)")
            return Sources.from_files(outputs, connection)
        name = lab or "jiyue"
        return Sources.from_lab(DEFAULT_BASE_DIR / name, name)
    except RunError as exc:
        err().print(str(exc), style="red", markup=False)
        exit_with(ExitStatus.BAD_INPUT)


@contextmanager
def open_store(path: Path) -> Iterator[Store]:
    """The state database, locked for this driver; exit 2 with the reason if it cannot be."""
    try:
        with Store.open(path) as store:
            yield store
    except StateError as exc:
        err().print(str(exc), style="red")
        exit_with(ExitStatus.BAD_INPUT)
