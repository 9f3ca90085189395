"""Migration teams: the rehearsal lab (real hosts in network namespaces mirroring the city)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from infra.outputs import city_targets
from jiyue.ipam import plan as ip_plan
from jiyue.registry import CityModel
from jiyue.status import ExitStatus
from lab import Lab, LabError, bringup
from lab.migrations import close_migration, open_flows, open_migration
from lab.probe import expected_matrix, probe
from lab.topology import LabPlan, MigrationFlow

from .common import CityOption, TextJson, departments_option, err, exit_with, load, out, print_json

PANEL = "Migration teams: rehearsal lab and migration"
DEFAULT_LAB = "jiyue"

lab_app = typer.Typer(no_args_is_help=True, help=(
    "The rehearsal lab: real hosts (network namespaces, overlay roots, sshd) laid out like the city's "
    "data center and the departments' machine rooms. Needs root."))

NameOption = Annotated[str, typer.Option("--name", help="The lab's name; labs of different names coexist.")]


def register(app: typer.Typer) -> None:
    app.add_typer(lab_app, name="lab", rich_help_panel=PANEL)


def _dim(message: str) -> None:
    err().print(f"[dim]{message}[/]")


def _lab(name: str) -> Lab:
    try:
        return Lab(name, progress=_dim)
    except LabError as exc:
        err().print(f"--name: {exc}", style="red")
        exit_with(ExitStatus.BAD_INPUT)


def _need_root() -> None:
    if os.geteuid() != 0:
        err().print("the lab needs root: it creates network namespaces, veth links, overlay mounts and "
                    "routes (run as root, e.g. sudo .venv/bin/jiyue lab ...)", style="red")
        exit_with(ExitStatus.ENVIRONMENT)


def choose_departments(model: CityModel, departments: str | None, scale: int | None) -> list[str]:
    """The departments to bring up: named ones, else the pilot, grown until ``scale`` hosts."""
    chosen = (departments_option(model, departments)
              or list(model.city.pilot_departments) or sorted(model.departments)[:3])
    if scale:
        def hosts(d: str) -> int:
            dep = model.departments[d]
            return sum(len(s.legacy_hosts) + s.capacity.instances for s in dep.systems)

        total = sum(hosts(d) for d in chosen)
        for d in sorted(model.departments):
            if total >= scale:
                break
            if d not in chosen:
                chosen.append(d)
                total += hosts(d)
    return chosen


@lab_app.command("up")
def lab_up(
    city: CityOption = None,  # type: ignore[assignment]
    departments: Annotated[str | None, typer.Option(help="Comma-separated department ids.",
                                                    show_default="the pilot departments")] = None,
    scale: Annotated[int | None, typer.Option(min=1, help="Add departments until the lab has N hosts.")] = None,
    name: NameOption = DEFAULT_LAB,
    seed: Annotated[bool, typer.Option(help="Give legacy hosts their services, data and activity.")] = True,
    data_scale: Annotated[float, typer.Option(min=0.01, help="Multiply the seeded data size.")] = 1.0,
) -> None:
    """Bring up the lab for some departments: zone routers and segments, bastions, target hosts
    where the stack outputs put them, legacy hosts behind their department's edge, the extranet's
    egress and an internet stub. Writes outputs.json in the stack-output shape."""
    model = load(city)
    chosen = choose_departments(model, departments, scale)
    _need_root()
    lab = _lab(name)
    if lab.status().hosts:
        err().print(f"lab {name!r} is already up ({len(lab.status().hosts)} hosts); "
                    f"`jiyue lab down --name {name}` first, or choose another --name", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    ip = ip_plan(model)

    def planned(plan: LabPlan) -> None:
        err().print(f"lab {name}: {len(plan.hosts)} hosts for {', '.join(chosen)}")

    def failed(_: BaseException) -> None:
        err().print(f"lab {name}: failed; removing what was created (`jiyue lab down --name {name}` "
                    "does the same after a crash)", style="red")

    with bringup.lab_up(lab, model, ip, chosen, city_targets(model, ip), seed=seed, data_scale=data_scale,
                        keep=True, fresh=False, progress=_dim, on_plan=planned, on_failure=failed) as up:
        out().print(f"lab {name} up: {len(up.plan.hosts)} hosts in {up.seconds:.1f} s; "
                    f"outputs in {lab.dir / 'outputs.json'}; `jiyue lab status --name {name}` lists them")


@lab_app.command("down")
def lab_down(name: NameOption = DEFAULT_LAB) -> None:
    """Remove exactly what the lab created (processes by PID, mounts, namespaces, links, routes).
    Idempotent; works after a crash."""
    _need_root()
    lab = _lab(name)
    lab.down()
    out().print(f"lab {name} down")


def _hosts(lab: Lab) -> list[dict[str, Any]]:
    plan_path = lab.dir / "plan.json"
    planned = {}
    if plan_path.exists():
        planned = {h["name"]: h for h in json.loads(plan_path.read_text())["hosts"]}
    rows = []
    for h in lab.status().hosts:
        p = planned.get(h.name, {})
        rows.append({"name": h.name, "role": h.labels.get("role"), "zone": h.labels.get("zone"),
                     "site": h.labels.get("site"), "department": h.labels.get("department"),
                     "system": h.labels.get("system"),
                     "address": p.get("cidr", "").split("/")[0] or h.address, "ssh_address": h.address,
                     "netns": h.netns, "running": h.running})
    return rows


@lab_app.command("status")
def lab_status(
    name: NameOption = DEFAULT_LAB,
    fmt: Annotated[TextJson, typer.Option("--format", help="text, or json for tools.")] = TextJson.text,
) -> None:
    """Every host of the lab: role, zone, site, department, address, namespace, running or not."""
    lab = _lab(name)
    rows = _hosts(lab)
    opened = {s: [asdict(f) for f in flows] for s, flows in open_flows(lab).items()}
    if fmt is TextJson.json:
        print_json({"lab": name, "hosts": rows, "migrations_open": opened})
        return
    if not rows:
        out().print(f"lab {name} is down")
        return
    t = Table(title=f"lab {name}: {len(rows)} hosts, {sum(r['running'] for r in rows)} running")
    for col in ("name", "role", "zone", "site", "department", "address", "via ssh at"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["name"], r["role"] or "", r["zone"] or "", r["site"] or "", r["department"] or "",
                  r["address"] or "", r["ssh_address"] or "")
    out().print(t)
    out().print(f"migration flows open: {', '.join(sorted(opened)) or 'none'} (`jiyue lab flows --name {name}`)")


def _flow_text(f: MigrationFlow) -> str:
    return f"{f.target} ({f.target_address}) -> {f.source} ({f.source_address}) tcp/{f.port}"


@lab_app.command("flows")
def lab_flows(
    name: NameOption = DEFAULT_LAB,
    open_system: Annotated[str | None, typer.Option("--open", help="Open SYSTEM's migration flows.")] = None,
    close_system: Annotated[str | None, typer.Option("--close", help="Close SYSTEM's migration flows.")] = None,
    fmt: Annotated[TextJson, typer.Option("--format", help="text, or json for tools.")] = TextJson.text,
) -> None:
    """The migration's flows of the lab (a system's targets to its own legacy sources, tcp/22),
    each open or closed; --open / --close a system's (the migration does so at its precheck, and
    at finalize or rollback)."""
    if open_system and close_system:
        err().print("--open and --close: one at a time", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    lab = _lab(name)
    plan_path = lab.dir / "plan.json"
    if not plan_path.exists():
        err().print(f"lab {name!r} is not up (`jiyue lab up --name {name}`)", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    if open_system or close_system:
        _need_root()
        try:
            if open_system:
                open_migration(lab, open_system)
            else:
                close_migration(lab, str(close_system))
        except LabError as exc:
            err().print(str(exc), style="red")
            exit_with(ExitStatus.BAD_INPUT)
    plan = LabPlan.load(plan_path)
    opened = open_flows(lab)
    if fmt is TextJson.json:
        print_json({"lab": name, "systems": {s: [dict(asdict(f), open=f in opened.get(s, [])) for f in flows]
                                             for s, flows in plan.migrations.items()}})
        return
    t = Table(title=f"lab {name}: migration flows ({sum(map(len, opened.values()))} open)")
    for col in ("system", "flow", "state"):
        t.add_column(col)
    for s, flows in plan.migrations.items():
        for f in flows:
            t.add_row(s, _flow_text(f), "open" if f in opened.get(s, []) else "closed")
    out().print(t)


@lab_app.command("ssh", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def lab_ssh(
    ctx: typer.Context,
    host: Annotated[str, typer.Argument(help="A host of the lab (see `jiyue lab status`).")],
    name: NameOption = DEFAULT_LAB,
) -> None:
    """Open a shell on HOST over real ssh (through its bastion), or run `-- CMD`."""
    lab = _lab(name)
    if host not in {r["name"] for r in _hosts(lab)}:
        err().print(f"lab {name!r} has no host {host!r} (`jiyue lab status --name {name}` lists them)", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    argv = lab.ssh_argv(host, list(ctx.args) or None)
    raise typer.Exit(subprocess.call(argv))


@lab_app.command("probe")
def lab_probe(
    city: CityOption = None,  # type: ignore[assignment]
    name: NameOption = DEFAULT_LAB,
    fmt: Annotated[TextJson, typer.Option("--format", help="text, or json for tools.")] = TextJson.text,
) -> None:
    """Send real packets along the lab's probe paths: between the zones' and sites' bastions, from
    and to the internet stub, to the egress host (ssh and a UDP port), and from data-center
    targets to legacy hosts (another department's, their own system's); print what got through
    next to what the flow table allows (the migration's flows as open as `jiyue lab flows` says).
    Exit 1 on any difference."""
    _need_root()
    model = load(city)
    lab = _lab(name)
    plan_path = lab.dir / "plan.json"
    if not plan_path.exists():
        err().print(f"lab {name!r} is not up (`jiyue lab up --name {name}`)", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    plan = LabPlan.load(plan_path)
    observed = probe(lab, plan)
    expected = expected_matrix(model, plan, open_flows(lab))
    diffs = [(s, d) for s in expected for d in expected[s] if observed[s][d] != expected[s][d]]
    if fmt is TextJson.json:
        print_json({"observed": observed, "expected": expected, "differences": [list(x) for x in diffs]})
    else:
        t = Table(title="reachability: observed (expected), from the column's source to the row's point")
        t.add_column("to \\ from")
        for src in expected:
            t.add_column(src)
        for d in plan.probe_points:
            cells = []
            for src in expected:
                if d not in expected[src]:
                    cells.append("·")
                    continue
                o, e = observed[src][d], expected[src][d]
                mark = "open" if o else "closed"
                cells.append(mark if o == e else f"[bold red]{mark} (expected {'open' if e else 'closed'})[/]")
            t.add_row(d, *cells)
        out().print(t)
        out().print("matches the flow table" if not diffs else f"[bold red]{len(diffs)} difference(s)[/]")
    if diffs:
        exit_with(ExitStatus.FINDINGS)
