"""Commands for platform engineers: the Pulumi program's stacks, and its preview offline.

``jiyue infra preview`` runs the real program (infra/) in-process under ``pulumi.runtime.Mocks``:
no Pulumi CLI, no OpenStack provider plugin, no cloud; ``jiyue infra diff`` runs it for two
registries and compares them, as ``pulumi preview --diff`` would. With the CLI and a cloud, run
``pulumi preview`` on the same program (docs/platform-engineers.md).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from infra.diff import compare
from infra.diff import text as diff_text
from infra.plan import PlanError
from infra.preview import preview_all
from infra.preview import stacks as city_stacks
from infra.render import summary as render_summary
from infra.render import tree
from jiyue.registry import DEFAULT_CITY
from jiyue.stacks import stack_names, stacks_to_destroy
from jiyue.status import ExitStatus

from .common import CityOption, TextJson, err, exit_with, load, load_base, out, print_json

PANEL = "Platform engineers"

infra_app = typer.Typer(no_args_is_help=True,
                        help="The data center's Pulumi program (infra/): its stacks, an offline preview, "
                             "and what a registry edit changes.")


def register(app: typer.Typer) -> None:
    app.add_typer(infra_app, name="infra", rich_help_panel=PANEL)


@infra_app.command()
def stacks(
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[TextJson, typer.Option("--format", help="text, or json for tools.")] = TextJson.text,
) -> None:
    """List the stacks: <zone>-<site>-foundation, then <zone>-<site>-<department> for each department.

    A department stack whose every system is retired is not built: it is listed last, marked
    "to destroy" (JSON: "destroy": true).
    """
    model = load(city, fmt)
    names = stack_names(model)
    gone = stacks_to_destroy(model)
    if fmt is TextJson.json:
        print_json([{"stack": str(n), "zone": n.zone.value, "site": n.site.value, "department": n.department,
                     "destroy": n in gone} for n in names + gone])
        return
    for n in names:
        out().print(str(n), markup=False)
    for n in gone:
        out().print(f"{n}  (to destroy: every system there is retired)", markup=False)


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


@infra_app.command()
def diff(
    base: Annotated[str, typer.Option("--base", help="The registry before the edit: a directory, or a git "
                                      "revision (e.g. origin/main) of the repository holding --city.")],
    city: CityOption = None,  # type: ignore[assignment]
    stack: Annotated[list[str] | None, typer.Option("--stack", "-s", help="Only this stack (repeatable).")] = None,
    fmt: Annotated[TextJson, typer.Option("--format", help="text, or json for tools.")] = TextJson.text,
    allow: Annotated[list[str] | None, typer.Option(
        "--allow", help="A stateful resource (logical name or URN) that may be replaced or deleted (repeatable).")]
        = None,
) -> None:
    """What the registry edit does to the stacks, like `pulumi preview --diff`, before `pulumi up`.

    Runs the program under mocks for the base registry and for --city, and compares them per stack:
    stacks to create or destroy; resources to create, update (the inputs that change), replace (an
    input the provider cannot change in place) and delete; a renamed resource is a delete and a
    create unless it declares an alias of its old name. JSON: {"stacks": [{"stack", "action",
    "resources": [{"type", "name", "op", "stateful", "inputs"}]}]}. Exits 1 when a stateful
    resource (volume, server, project, DNS zone, or protected) would be replaced or deleted and
    neither the registry (the system's retirement) nor --allow says so; 2 for bad input.
    """
    city_dir = city or DEFAULT_CITY
    new = load(city_dir, fmt)
    with tempfile.TemporaryDirectory(prefix="jiyue-diff-") as tmp:
        old = load_base(base, city_dir, Path(tmp))
        try:
            result = compare(old, new, list(stack) if stack else None)
        except (ValueError, PlanError) as exc:
            err().print(f"--stack: {exc}" if stack and not isinstance(exc, PlanError) else str(exc),
                        style="bold red", markup=False)
            exit_with(ExitStatus.BAD_INPUT)
    if fmt is TextJson.json:
        print_json(result.as_dict())
    else:
        out().print(diff_text(result, allow or ()), markup=False)
    if result.blocking(allow or ()):
        exit_with(ExitStatus.FINDINGS)
