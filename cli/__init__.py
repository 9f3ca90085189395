"""The ``jiyue`` command: one entry point, sub-commands grouped by the role that runs them."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from jiyue import __version__

from . import audit_cmds, catalog_cmds, dr_cmds, infra_cmds, lab_cmds, migrate_cmds, policy_cmds, registry_cmds
from .common import internal_error
from .where import DEFAULT_STATE

app = typer.Typer(
    name="jiyue",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    help=(
        "集约 jiyue: consolidate a city government's IT into one shared data center.\n\n"
        "Everything reads one city registry (default: the sample city in inventories/dalian). "
        "Exit statuses: 0 ok, 1 findings (policy violations, failed checks), 2 bad input or usage "
        "(nothing changed), 3 the machine lacks something the command needs, 4 an internal error "
        "(one line names it; the traceback is in jiyue-error.log beside the state database), "
        "130 interrupted."
    ),
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"jiyue {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """集约 jiyue."""


registry_cmds.register(app)
catalog_cmds.register(app)
audit_cmds.register(app)
lab_cmds.register(app)
migrate_cmds.register(app)
dr_cmds.register(app)
policy_cmds.register(app)
infra_cmds.register(app)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``jiyue`` command (the console script and ``python -m cli``): the app, with an exception
    that no command turned into an exit status reported as an internal error (exit 4)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="jiyue")
    except Exception as exc:  # the one place every unexpected error ends up
        return internal_error(exc, args, DEFAULT_STATE)
    return 0
