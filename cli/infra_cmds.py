"""Commands for platform engineers: the Pulumi program's stacks, and its preview offline.

``jiyue infra preview`` runs the real program (infra/) in-process under ``pulumi.runtime.Mocks``:
no Pulumi CLI, no OpenStack provider plugin, no cloud. With the CLI and a cloud, run
``pulumi preview`` on the same program (docs/platform-engineers.md).
"""

from __future__ import annotations

from typing import Annotated

import typer

from infra.plan import PlanError
from infra.preview import preview_all
from infra.preview import stacks as city_stacks
from infra.render import summary as render_summary
from infra.render import tree
from jiyue.stacks import stack_names
from jiyue.status import ExitStatus

from .common import CityOption, TextJson, err, exit_with, load, out, print_json

PANEL = "Platform engineers"

infra_app = typer.Typer(no_args_is_help=True,
                        help="The data center's Pulumi program (infra/): its stacks, and an offline preview.")


def register(app: typer.Typer) -> None:
    app.add_typer(infra_app, name="infra", rich_help_panel=PANEL)


@infra_app.command()
def stacks(
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[TextJson, typer.Option("--format", help="text, or json for tools.")] = TextJson.text,
) -> None:
    """List the stacks: <zone>-<site>-foundation, then <zone>-<site>-<department> for each department."""
    model = load(city, fmt)
    names = stack_names(model)
    if fmt is TextJson.json:
        print_json([{"stack": str(n), "zone": n.zone.value, "site": n.site.value, "department": n.department}
                    for n in names])
        return
    for n in names:
        out().print(str(n), markup=False)


@infra_app.command()
def preview(
    stack: Annotated[list[str] | None, typer.Option("--stack", "-s", help="A stack to preview (repeatable).")] = None,
    all_stacks: Annotated[bool, typer.Option("--all", help="Preview every stack of the city.")] = False,
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[TextJson, typer.Option("--format", help="text, or json for tools.")] = TextJson.text,
    summary: Annotated[bool, typer.Option(
        "--summary", help="Text: only the resource count of each stack and the counts per type.")] = False,
) -> None:
    """Run the Pulumi program under mocks and print what it would create, like `pulumi preview`.

    Text: the resource tree of each stack and its counts per type. JSON: a list with one object per
    stack, {"stack", "resources": [{"urn", "type", "name", "parent", "inputs"}]}, inputs as the engine
    receives them (camelCase). Exits 2 for an unknown stack or a registry the program cannot build.
    """
    if bool(stack) == all_stacks:
        err().print("give --stack S (one or more) or --all", style="bold red")
        exit_with(ExitStatus.BAD_INPUT)
    model = load(city, fmt)
    names = city_stacks(model) if all_stacks else list(stack or [])
    try:
        previews = preview_all(model, names)
    except (ValueError, PlanError) as exc:
        err().print(str(exc), style="bold red", markup=False)
        exit_with(ExitStatus.BAD_INPUT)
    if fmt is TextJson.json:
        print_json([p.as_dict() for p in previews])
        return
    console = out()
    if summary:
        console.print(render_summary(previews), markup=False)
        return
    for p in previews:
        console.print(tree(p), markup=False)
        console.print()
    if len(previews) > 1:
        console.print(render_summary(previews), markup=False)
