"""Judge stack graphs (the preview's ``[{"stack", "resources": [{urn, type, name, parent, inputs}]}]``)
and turn what the pack says into a :class:`Report`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .analyzer import judge_stacks
from .city import CityFacts, load_city_facts
from .core import RUNTIME
from .findings import Finding, Report, apply_waivers, make_finding
from .pack import PACK_NAME, judge_direct
from .rules import ALL
from .waivers import Waiver

Graph = tuple[str, Sequence[Mapping[str, Any]]]
PACK_DIR = Path(__file__).resolve().parent


def pack_info() -> dict[str, str]:
    try:
        data = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
        return {"name": str(data.get("name", PACK_NAME)), "version": str(data.get("version", ""))}
    except (OSError, yaml.YAMLError):
        return {"name": PACK_NAME, "version": ""}


def missing_dr_stacks(city: CityFacts, judged: Sequence[str]) -> list[Finding]:
    """Departments with DR needs in a zone but no ``<zone>-dr-<department>`` stack at all.

    Only a check of the whole city can see this (the engine judges one stack at a time).
    """
    have = set(judged)
    out = []
    for dep, sids in sorted(city.systems_of_department.items()):
        zones = sorted({city.systems[s].zone for s in sids if city.systems[s].needs_dr})
        for zone in zones:
            stack = f"{zone}-dr-{dep}"
            if stack not in have:
                needing = [s for s in sids if city.systems[s].needs_dr and city.systems[s].zone == zone]
                out.append(make_finding("jiyue-dr-counterpart",
                                        f"no DR stack {stack}: {', '.join(needing)} need DR and have no "
                                        "counterpart at the DR site", stack, "", {}))
    return out


def check_graphs(graphs: Sequence[Graph], *, city: Path, waivers: Sequence[Waiver] = (), mode: str = "grpc",
                 workers: int | None = None, whole_city: bool = False) -> Report:
    """Judge every graph through the pack (``mode="grpc"``, as the engine does) or by calling the
    rules directly (``mode="direct"``); apply the waivers."""
    t0 = time.perf_counter()
    types = {r["urn"]: r["type"] for _, res in graphs for r in res}
    findings: list[Finding] = []
    config = {"jiyue:city": str(city)}
    if mode == "grpc":
        results, policies = judge_stacks(graphs, workers=workers, config=config)
        for res in results:
            findings += [make_finding(d.policy, d.message, res.stack, d.urn, types, d.enforcement, d.severity)
                         for d in res.diagnostics]
        how = "analyzer gRPC interface"
    else:
        policies = [m.META.as_dict() for m in ALL]
        for stack, res in graphs:
            RUNTIME.configure_stack(stack, config)
            findings += [make_finding(v.rule, v.message, stack, v.urn, types) for v in judge_direct(stack, res)]
        how = "rules called directly"
    if whole_city:
        findings += missing_dr_stacks(load_city_facts(city), [g[0] for g in graphs])
    apply_waivers(findings, list(waivers))
    return Report(stacks=[g[0] for g in graphs], resources=sum(len(g[1]) for g in graphs), findings=findings,
                  mode=how, pack=pack_info(), policies=policies, city=str(city),
                  seconds=time.perf_counter() - t0)
