"""The ``jiyue`` command: one entry point, sub-commands grouped by the role that runs them."""

from __future__ import annotations

import typer

from jiyue import __version__

from . import audit_cmds, catalog_cmds, infra_cmds, lab_cmds, migrate_cmds, policy_cmds, registry_cmds

app = typer.Typer(
    name="jiyue",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    help=(
        "集约 jiyue: consolidate a city government's IT into one shared data center.\n\n"
        "Everything reads one city registry (default: the sample city in inventories/dalian). "
        "Exit statuses: 0 ok, 1 findings (policy violations, failed checks), 2 bad input or usage "
        "(nothing changed), 3 the machine lacks something the command needs."
    ),
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"jiyue {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """集约 jiyue."""


registry_cmds.register(app)
catalog_cmds.register(app)
audit_cmds.register(app)
lab_cmds.register(app)
migrate_cmds.register(app)
policy_cmds.register(app)
infra_cmds.register(app)
