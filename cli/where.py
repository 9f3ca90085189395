"""Where a command's hosts are and where it records what it did: the options every command that
reaches hosts takes (--lab, or --outputs and --connection for real stacks; --state), resolved."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from jiyue.status import ExitStatus
from lab.gate import LabFence, LabFlows
from lab.lab import DEFAULT_BASE_DIR, Lab
from migration.run import RunError, Sources
from migration.state import StateError, StateFull, Store

from .common import err, exit_with

StateOption = Annotated[Path, typer.Option("--state", resolve_path=True,
                                           help="The state database (SQLite); runs go beside it.")]
LabOption = Annotated[str | None, typer.Option("--lab", help="Use this rehearsal lab's outputs and bastions.",
                                               show_default="jiyue, unless --outputs is given")]
OutputsOption = Annotated[Path | None, typer.Option("--outputs", help="Stack outputs (JSON) of the real stacks.")]
ConnOption = Annotated[Path | None, typer.Option("--connection", help="Bastions, key and known_hosts (YAML).")]
DEFAULT_STATE = Path(".jiyue/state.db")
DEFAULT_LAB = "jiyue"


def sources(lab: str | None, outputs: Path | None, connection: Path | None) -> Sources:
    """The hosts' whereabouts: real stacks' outputs and connection profile, or a rehearsal lab's."""
    try:
        if outputs is not None or connection is not None:
            if outputs is None or connection is None:
                raise RunError("--outputs and --connection go together (or use --lab)")
            return Sources.from_files(outputs, connection)
        name = lab or DEFAULT_LAB
        found = Sources.from_lab(DEFAULT_BASE_DIR / name, name)  # the name checked first
        lab_ = Lab(name)
        # the lab's edges open a system's migration flows while it migrates; a DR failover
        # stages the primary site's loss by cutting its hosts off
        return found.with_flows(LabFlows(lab_)).with_fence(LabFence(lab_))
    except RunError as exc:
        err().print(str(exc), style="red", markup=False)
        exit_with(ExitStatus.BAD_INPUT)


def sources_if_any(lab: str | None, outputs: Path | None, connection: Path | None) -> Sources | None:
    """For a command that shows the hosts when it can: None when none were named and the default
    lab is not up; what was named must be there (else exit 2), as for :func:`sources`."""
    named = lab is not None or outputs is not None or connection is not None
    if not named and not (DEFAULT_BASE_DIR / DEFAULT_LAB / "outputs.json").exists():
        return None
    return sources(lab, outputs, connection)


@contextmanager
def state_errors() -> Iterator[None]:
    """A state that cannot be used ends the command: exit 2 with the reason (nothing was changed),
    or exit 3 when the disk holding it is full."""
    try:
        yield
    except StateFull as exc:
        err().print(str(exc), style="red", markup=False)
        exit_with(ExitStatus.ENVIRONMENT)
    except StateError as exc:
        err().print(str(exc), style="red", markup=False)
        exit_with(ExitStatus.BAD_INPUT)
    except OSError as exc:  # the runs beside the state, on the same disk
        if exc.errno != errno.ENOSPC:
            raise
        err().print(f"the disk holding {exc.filename or 'the runs'} is full ({exc.strerror}); free space there "
                    "and run the same command again", style="red", markup=False)
        exit_with(ExitStatus.ENVIRONMENT)


@contextmanager
def open_store(path: Path, *, write: bool) -> Iterator[Store]:
    """The state database: for a driver (``write``) created if new, locked and private; for a
    reader read-only, never created nor changed (a state not written yet reads as empty, said on
    stderr). Exit 2 if it is not a jiyue state or is busy, 3 if its disk is full."""
    with state_errors(), Store.open(path, write=write) as store:
        if not store.exists:
            err().print(f"{path}: no migration state yet, nothing recorded (`jiyue migrate run` or "
                        "`jiyue audit collect` creates it)", style="yellow", markup=False)
        yield store
