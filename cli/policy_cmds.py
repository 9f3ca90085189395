"""Commands for security staff: judge the planned infrastructure with the policy pack, check hosts."""

from __future__ import annotations

import json
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from infra.preview import preview, stacks
from jiyue.facts import city_facts, write_facts
from jiyue.ipam import plan as ip_plan
from jiyue.registry import CityModel
from jiyue.status import ExitStatus
from lab.lab import DEFAULT_BASE_DIR
from lab.topology import LabPlan
from migration.inventory import Connection, build_inventory, read_outputs, write_inventory
from policies.analyzer import PackError
from policies.check import check_graphs
from policies.findings import apply_waivers
from policies.hosts.inventory import InventoryError, load_inventory
from policies.hosts.rules import HOST_RULES
from policies.hosts.runner import run
from policies.report import render
from policies.rules import ALL, BY_NAME
from policies.waivers import WaiverError, load_waivers

from .common import (
    CityOption,
    TextJson,
    err,
    exit_with,
    lab_name,
    load,
    out,
    output_option,
    print_json,
    write_output,
)

PANEL = "Security staff"
REPO = Path(__file__).resolve().parents[1]

policy_app = typer.Typer(no_args_is_help=True, help="Judge planned stacks with the policy pack; check hosts.")


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"
    html = "html"


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy", rich_help_panel=PANEL)


#: a resource of a saved preview: each field, whether it must be there, and the types it may have
RESOURCE_FIELDS: dict[str, tuple[bool, tuple[type, ...]]] = {
    "urn": (True, (str,)), "type": (True, (str,)), "name": (False, (str, type(None))),
    "parent": (False, (str, type(None))), "inputs": (False, (dict, type(None))),
}


def _graphs_from_file(path: Path) -> list[tuple[str, list[dict[str, Any]]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        err().print(f"--graph: {path}: cannot read the graph: {getattr(exc, 'strerror', None) or exc}",
                    style="red", markup=False)
        exit_with(ExitStatus.BAD_INPUT)
    items = data.get("stacks") if isinstance(data, dict) else data
    problem = _graph_problem(items)
    if problem:
        err().print(f"--graph: {path}: {problem} (expected what `jiyue infra preview --format json` prints: a "
                    "list of {\"stack\", \"resources\": [{\"urn\", \"type\", \"name\", \"parent\", "
                    "\"inputs\"}]})", style="red", markup=False)
        exit_with(ExitStatus.BAD_INPUT)
    return [(s["stack"], s["resources"]) for s in items]


def _graph_problem(items: Any) -> str | None:
    """What is wrong with a saved preview's list of stacks, naming the first bad field; None if nothing."""
    if not isinstance(items, list):
        return "not a list of stacks"
    for i, s in enumerate(items):
        if not isinstance(s, dict) or not isinstance(s.get("stack"), str):
            return f"[{i}].stack: missing or not text"
        if not isinstance(s.get("resources"), list):
            return f"[{i}].resources: missing or not a list"
        for k, r in enumerate(s["resources"]):
            if not isinstance(r, dict):
                return f"[{i}].resources[{k}]: not an object"
            for name, (required, types) in RESOURCE_FIELDS.items():
                if (required and name not in r) or not isinstance(r.get(name), types):
                    return f"[{i}].resources[{k}].{name}: {'missing' if name not in r else 'of the wrong type'}"
    return None


def _graphs_from_preview(model: CityModel, wanted: list[str] | None) -> list[tuple[str, list[dict[str, Any]]]]:
    names = stacks(model)
    if wanted:
        unknown = [s for s in wanted if s not in names]
        if unknown:
            err().print(f"no stack {', '.join(unknown)} in this city; `jiyue infra stacks` lists them "
                        f"(e.g. {', '.join(names[:3])})", style="red")
            exit_with(ExitStatus.BAD_INPUT)
        names = wanted
    graphs = []
    for name in names:
        try:
            graphs.append((name, preview(model, name).resources))
        except ValueError as exc:
            err().print(f"cannot preview {name}: {exc}", style="red")
            exit_with(ExitStatus.BAD_INPUT)
    return graphs


@policy_app.command("check")
def check(
    stack: Annotated[list[str] | None, typer.Option("--stack", "-s", help="A stack to judge (repeatable).")] = None,
    all_stacks: Annotated[bool, typer.Option("--all", help="Judge every stack of the city (the default).")] = False,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="text, json, sarif (2.1.0) or html.")] = (
        ReportFormat.text),
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here.")] = None,
    city: CityOption = None,  # type: ignore[assignment]
    waivers: Annotated[Path | None, typer.Option("--waivers", help="Reviewed waiver file (YAML).")] = None,
    graph: Annotated[Path | None, typer.Option(
        "--graph", help="Judge a saved preview (JSON of `jiyue infra preview --format json`) instead of "
                        "previewing now.")] = None,
    direct: Annotated[bool, typer.Option(
        "--direct", help="Call the rules in-process instead of through the analyzer gRPC interface.")] = False,
    workers: Annotated[int | None, typer.Option(min=1, max=32, help="Policy pack processes (default: CPUs).")] = None,
) -> None:
    """Judge stacks with the policy pack exactly as `pulumi preview --policy-pack policies/` would.

    Each stack's graph (the Pulumi program run under mocks) goes to the pack through the analyzer gRPC
    interface the engine uses (GetAnalyzerInfo, ConfigureStack, Analyze per resource, AnalyzeStack),
    with the city's facts written for the run (what `jiyue policy facts` writes).
    Exits 0 with no mandatory violation, 1 with some (waived ones excepted), 2 on bad input.
    """
    if stack and all_stacks:
        err().print("give --stack or --all, not both", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    output_option(output)
    model = load(city, TextJson.json if fmt is ReportFormat.json else None)
    try:
        waived = load_waivers(waivers, set(BY_NAME)) if waivers else []
    except WaiverError as exc:
        err().print(str(exc), style="red", markup=False)
        exit_with(ExitStatus.BAD_INPUT)
    if graph is not None:
        graphs = _graphs_from_file(graph)
        if stack:
            known = {g[0] for g in graphs}
            unknown = [s for s in stack if s not in known]
            if unknown:
                err().print(f"{graph} holds no stack {', '.join(unknown)}", style="red")
                exit_with(ExitStatus.BAD_INPUT)
            graphs = [g for g in graphs if g[0] in stack]
    else:
        graphs = _graphs_from_preview(model, stack)
    try:
        with tempfile.TemporaryDirectory(prefix="jiyue-policy-") as run_dir:
            facts_file = write_facts(model, Path(run_dir) / "facts.json")
            report = check_graphs(graphs, facts=facts_file, waivers=waived, mode="direct" if direct else "grpc",
                                  workers=workers, whole_city=not stack and graph is None)
    except PackError as exc:
        err().print(str(exc), style="red", markup=False)
        exit_with(ExitStatus.ENVIRONMENT)
    write_output(render(report, fmt.value, REPO), output)
    if output is not None or fmt is not ReportFormat.text:
        s = report.as_dict()["summary"]
        err().print(f"{len(report.stacks)} stack(s), {report.resources} resources: {s['blocking']} blocking, "
                    f"{s['advisory']} advisory, {s['waived']} waived: {'PASS' if not report.blocking else 'FAIL'}")
    if report.blocking:
        exit_with(ExitStatus.FINDINGS)


@policy_app.command("rules")
def rules(
    fmt: Annotated[TextJson, typer.Option("--format", help="text, or json for tools.")] = TextJson.text,
) -> None:
    """List the pack's rules and host checks: severity, enforcement, citation, requirements."""
    metas = [m.META for m in ALL] + list(HOST_RULES.values())
    if fmt is TextJson.json:
        print_json([m.as_dict() for m in metas])
        return
    t = Table(title="Policy pack rules and host checks, with what each cites")
    for col in ("rule", "kind", "severity", "enforcement", "cites", "requirements"):
        t.add_column(col)
    for m in metas:
        kind = "host" if m.name.startswith("jiyue-host-") else m.kind
        t.add_row(m.name, kind, m.severity, m.enforcement, m.citation.text, ", ".join(m.requirements))
    out().print(t)


@policy_app.command("facts")
def facts(
    city: CityOption = None,  # type: ignore[assignment]
    output: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the facts here (JSON) instead of standard output.")] = None,
    pack_config: Annotated[Path | None, typer.Option(
        "--pack-config", help="With --out: also write a `pulumi preview --policy-pack-config` file giving "
                              "every rule that facts file.")] = None,
) -> None:
    """Write the city's facts the policy pack judges by (systems, quotas, IP plan, filing gaps, stacks).

    `pulumi preview --policy-pack policies/` finds them through the pack config `facts` of its rules
    (--pack-config writes that file) or $JIYUE_FACTS. Write them again after every registry change:
    the pack refuses facts older than the registry they were built from.
    """
    output_option(output, "--out")
    output_option(pack_config, "--pack-config")
    model = load(city)
    if output is None:
        if pack_config is not None:
            err().print("--pack-config names the facts file: give --out FILE too", style="red")
            exit_with(ExitStatus.BAD_INPUT)
        print_json(city_facts(model))
        return
    written = write_facts(model, output)
    err().print(f"wrote {written}")
    if pack_config is not None:
        target = str(written.resolve())
        write_output(json.dumps({name: {"facts": target} for name in BY_NAME}, indent=2) + "\n", pack_config,
                     "--pack-config")


class HostRole(StrEnum):
    legacy = "legacy"
    target = "target"
    bastion = "bastion"


def lab_inventory(model: CityModel, lab_dir: Path, dest: Path, department: str | None = None) -> Path:
    """The migration's inventory of the rehearsal lab at ``lab_dir`` (its departments' legacy hosts,
    running targets and bastions, as `jiyue migrate run --lab` sees them), written to ``dest``.
    InventoryError when the lab is not there or not of this city, or holds no ``department``."""
    name = lab_dir.name
    if not lab_dir.is_dir():
        raise InventoryError(f"no lab {name!r} (no {lab_dir}); `jiyue lab up --name {name}` builds it")
    plan_path, outputs = lab_dir / "plan.json", lab_dir / "outputs.json"
    for path in (plan_path, outputs):
        if not path.is_file():
            raise InventoryError(f"lab {name!r} has no {path.name} ({path}): it was never built completely; "
                                 f"`jiyue lab down --name {name}` then `jiyue lab up --name {name}`")
    try:
        plan = LabPlan.load(plan_path)
        conn = Connection.from_lab(lab_dir)
        targets = read_outputs(outputs)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InventoryError(f"lab {name!r}: its plan.json or outputs.json cannot be read: {exc}") from exc
    if not conn.private_key.is_file():
        raise InventoryError(f"lab {name!r} has no ssh key ({conn.private_key}): bring it up again")
    if plan.city != model.city.id:
        raise InventoryError(f"lab {name!r} was built from city {plan.city!r}, not {model.city.id!r}: "
                             "give the same --city as to `jiyue lab up`")
    if department is not None and department not in plan.departments:
        where = "the lab" if department in model.departments else "the city"
        raise InventoryError(f"no department {department!r} in {where}; lab {name!r} holds "
                             f"{', '.join(plan.departments)}")
    return write_inventory(build_inventory(model, ip_plan(model), targets, conn, departments=plan.departments), dest)


@policy_app.command("hosts")
def hosts(
    inventory: Annotated[Path | None, typer.Option(
        "--inventory", "-i", help="An Ansible inventory, e.g. the migration's (host variables: "
                                  "docs/security-staff.md).")] = None,
    lab: Annotated[str | None, typer.Option(
        "--lab", help="Check the hosts of this rehearsal lab, through the migration's inventory of it "
                      "(the registry's services, the lab's bastions and key) instead of an inventory file.")] = None,
    role: Annotated[HostRole | None, typer.Option("--role", help="With --lab: only legacy, target or bastion "
                                                                 "hosts (jiyue_role).")] = None,
    department: Annotated[str | None, typer.Option("--department", "-d", help="With --lab: only this "
                                                                              "department's hosts.")] = None,
    city: CityOption = None,  # type: ignore[assignment]
    fmt: Annotated[ReportFormat, typer.Option("--format", help="text, json, sarif or html.")] = ReportFormat.text,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here.")] = None,
    waivers: Annotated[Path | None, typer.Option("--waivers", help="Reviewed waiver file (YAML).")] = None,
) -> None:
    """Check migrated hosts with testinfra: sshd (CIS), logging, audit, time sync, listening ports,
    host firewall default-deny. Hosts come from an Ansible inventory (--inventory FILE) or from a
    rehearsal lab (--lab NAME: the migration's inventory of it, reached over ssh through its bastions).
    Exits 1 if any host fails a check, 2 on bad input."""
    if (inventory is None) == (lab is None):
        err().print("give --inventory FILE or --lab NAME (one of them)", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    if lab is None and (role or department):
        err().print("--role and --department choose hosts of a lab: use them with --lab", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    lab_name(lab)
    output_option(output)
    try:
        if inventory is not None:
            inv = load_inventory(inventory)
        else:
            model = load(city, TextJson.json if fmt is ReportFormat.json else None)
            with tempfile.TemporaryDirectory(prefix="jiyue-hosts-") as tmp:
                written = lab_inventory(model, DEFAULT_BASE_DIR / lab, Path(tmp) / "inventory.yml", department)
                inv = load_inventory(written, f"lab {lab}").narrowed(role.value if role else None, department)
        waived = load_waivers(waivers, set(HOST_RULES)) if waivers else []
    except (InventoryError, WaiverError) as exc:
        err().print(str(exc), style="red", markup=False)
        exit_with(ExitStatus.BAD_INPUT)
    report, results = run(inv)
    apply_waivers(report.findings, waived)
    write_output(render(report, fmt.value, REPO), output)
    skipped = [r for r in results if r["outcome"] == "skipped" and r["host"] is not None]
    na: dict[tuple[str, str], list[str]] = {}
    for r in skipped:
        na.setdefault((r["rule"], r["message"]), []).append(r["host"].name)
    for (rule, why), names in na.items():
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        err().print(f"n/a: {rule} on {len(names)} host(s) ({shown}): {why}", markup=False)
    if output is not None or fmt is not ReportFormat.text:
        s = report.as_dict()["summary"]
        err().print(f"{len(inv.hosts)} host(s) of {inv.source}: {s['blocking']} blocking, {s['waived']} waived, "
                    f"{len(skipped)} not applicable: {'PASS' if not report.blocking else 'FAIL'}")
    if report.blocking:
        exit_with(ExitStatus.FINDINGS)
