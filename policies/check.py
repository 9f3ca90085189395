"""Judge stack graphs (the preview's ``[{"stack", "resources": [{urn, type, name, parent, inputs}]}]``)
and turn what the pack says into a :class:`Report`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .analyzer import judge_stacks
from .city import CityError, CityFacts, load_facts
from .core import RUNTIME, stack_info
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
    """The city's DR stacks (``<zone>-dr-<department>``) not judged at all while a system of them needs DR.

    Only a check of the whole city can see this (the engine judges one stack at a time).
    """
    have = set(judged)
    out = []
    for st in sorted(city.stacks.values(), key=lambda st: (st.department or "", st.zone or "")):
        if st.site != "dr" or st.department is None or st.name in have:
            continue
        needing = [s for s in city.systems_of_department.get(st.department, ())
                   if city.systems[s].needs_dr and city.systems[s].zone == st.zone]
        if needing:
            out.append(make_finding("jiyue-dr-counterpart",
                                    f"no DR stack {st.name}: {', '.join(needing)} need DR and have no "
                                    "counterpart at the DR site", st, "", {}))
    return out


def check_graphs(graphs: Sequence[Graph], *, facts: Path, waivers: Sequence[Waiver] = (), mode: str = "grpc",
                 workers: int | None = None, whole_city: bool = False) -> Report:
    """Judge every graph through the pack (``mode="grpc"``, as the engine does) or by calling the
    rules directly (``mode="direct"``), with the city's facts at ``facts`` (jiyue/facts.py); apply
    the waivers. Facts that cannot be read fail every stack (``jiyue-pack-context``)."""
    t0 = time.perf_counter()
    try:
        city: CityFacts | None = load_facts(facts)
    except CityError:
        city = None  # the pack says so, with the rule that needs them
    types = {r["urn"]: r["type"] for _, res in graphs for r in res}
    findings: list[Finding] = []
    policy_config = {"facts": str(facts)}
    if mode == "grpc":
        results, policies = judge_stacks(graphs, workers=workers, policy_config={"all": policy_config})
        for res in results:
            st = stack_info(res.stack, city)
            findings += [make_finding(d.policy, d.message, st, d.urn, types, d.enforcement, d.severity)
                         for d in res.diagnostics]
        how = "analyzer gRPC interface"
    else:
        policies = [m.META.as_dict() for m in ALL]
        for stack, res in graphs:
            RUNTIME.configure_stack(stack)
            st = stack_info(stack, city)
            findings += [make_finding(v.rule, v.message, st, v.urn, types)
                         for v in judge_direct(stack, res, policy_config)]
        how = "rules called directly"
    if whole_city and city is not None:
        findings += missing_dr_stacks(city, [g[0] for g in graphs])
    apply_waivers(findings, list(waivers))
    return Report(stacks=[g[0] for g in graphs], resources=sum(len(g[1]) for g in graphs), findings=findings,
                  mode=how, pack=pack_info(), policies=policies, city=str(city.root or "") if city else "",
                  seconds=time.perf_counter() - t0)
