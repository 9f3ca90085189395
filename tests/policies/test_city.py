"""The sample city passes; deliberately broken variants each fail with the right rule; the facts
the pack judges by are the registry's, as jiyue computes them.

The whole city is the real program's preview of every stack; the broken variants change a copy of
the recorded graph (``data/``). The sample registry holds some incomplete filings on purpose, so
the filing gate fails exactly the deployed systems ``jiyue.catalog.filing_gaps`` calls incomplete,
and nothing else fails.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.preview import preview_all
from jiyue.catalog import filing_gaps, in_scope
from jiyue.facts import city_facts, write_facts
from jiyue.registry import load_city
from jiyue.registry.generate import DEPARTMENT_MODELINE
from policies.check import check_graphs
from policies.city import CityError, load_facts
from policies.core import Context
from policies.rules import filing_gate

from .conftest import SAMPLE_CITY, labels, res


def facts_of(city: Path, where: Path) -> Path:
    return write_facts(load_city(city), where / "facts.json")


def rules_of(report) -> set[str]:
    return {f.rule for f in report.findings}


@pytest.fixture
def judge(facts_file):
    def run(graphs, **kw):
        return check_graphs(graphs, facts=facts_file, mode="direct", **kw)

    return run


@pytest.fixture(scope="module")
def city_graph() -> list[tuple[str, list[dict[str, Any]]]]:
    """Every stack of the sample city, as the program previews it now."""
    return [(p.stack, p.resources) for p in preview_all(load_city(SAMPLE_CITY))]


def test_sample_city_passes_every_rule_but_the_filing_gaps(city_graph, judge):
    report = judge(city_graph, whole_city=True)
    assert rules_of(report) <= {"jiyue-filing-gate"}
    model = load_city(SAMPLE_CITY)
    incomplete = {s.id for s in model.systems.values() if in_scope(s) and filing_gaps(s)}
    flagged = {f.message.split()[1] for f in report.findings}
    assert flagged == incomplete


def test_the_whole_city_check_finds_a_missing_dr_stack(city_graph, judge):
    report = judge([g for g in city_graph if g[0] != "intranet-dr-finance"], whole_city=True)
    dr = [f for f in report.findings if f.rule == "jiyue-dr-counterpart"]
    assert [(f.stack, f.department, f.zone, f.site) for f in dr] == [
        ("intranet-dr-finance", "finance", "intranet", "dr")]
    assert "finance-budget" in dr[0].message and "finance-treasury" in dr[0].message


def _find(graphs, stack: str) -> list[dict[str, Any]]:
    return next(r for s, r in graphs if s == stack)


def _variant(recorded_graph, stack: str, change) -> list:
    graphs = copy.deepcopy(recorded_graph)
    change(_find(graphs, stack), stack)
    return graphs


def _add(resources, stack, typ, name, inputs):
    resources.append({"urn": f"urn:pulumi:{stack}::jiyue::{typ}::{name}", "type": typ, "name": name,
                      "parent": None, "inputs": inputs})


def public_ssh(rs, stack):
    rule = next(r for r in rs if r["type"].endswith("SecGroupRule") and r["inputs"].get("portRangeMin") == 22)
    rule["inputs"]["remoteIpPrefix"] = "0.0.0.0/0"


def intranet_floating_ip(rs, stack):
    _add(rs, stack, "openstack:networking/floatingIp:FloatingIp", "finance/finance-budget/internal/vm-fip",
         {"pool": "internet", **labels("finance", "finance-budget", "internal")})


def department_gateway(rs, stack):
    _add(rs, stack, "openstack:networking/router:Router", "finance/*/public/own-router",
         {"externalNetworkId": "internet-id", **labels("finance", "*", "public")})


def unencrypted_classified_volume(rs, stack):
    vol = next(r for r in rs if r["type"].endswith("volume:Volume")
               and r["inputs"]["metadata"]["classification"] == "classified")
    vol["inputs"]["volumeType"] = "standard"


def overlapping_subnet(rs, stack):
    sub = next(r for r in rs if r["type"].endswith("subnet:Subnet"))
    _add(rs, stack, "openstack:networking/subnet:Subnet", "finance/*/internal/extra-subnet",
         {"cidr": sub["inputs"]["cidr"], **labels("finance", "*", "internal")})


def router_of_the_other_zone(rs, stack):
    """The department's segment reads the extranet's foundation, whose router joins it to the extranet."""
    ref = next(r for r in rs if r["type"] == "pulumi:pulumi:StackReference")
    ref["inputs"]["name"] = ref["inputs"]["name"].replace("intranet-", "extranet-")


def subnet_of_another_stack(rs, stack):
    """finance's subnet takes health's intranet segment: each stack alone has no overlap."""
    sub = next(r for r in rs if r["type"].endswith("subnet:Subnet"))
    sub["inputs"]["cidr"] = "10.64.39.0/24"


def standby_smaller_than_primary(rs, stack):
    """finance-treasury is hot with two instances at the primary site; its DR copy keeps one."""
    server = next(r for r in rs if r["type"].endswith("instance:Instance") and "finance-treasury-dr-2" in r["name"])
    rs.remove(server)


VARIANTS = [
    ("public-ssh", "extranet-primary-finance", public_ssh,
     {"jiyue-ingress-public-web-only", "jiyue-ingress-admin-from-management"}),
    ("intranet-floating-ip", "intranet-primary-finance", intranet_floating_ip, {"jiyue-intranet-no-floating-ip"}),
    ("department-gateway", "extranet-primary-finance", department_gateway, {"jiyue-egress-single-gateway"}),
    ("unencrypted-classified-volume", "intranet-primary-secrecy", unencrypted_classified_volume,
     {"jiyue-classified-volume-encrypted"}),
    ("overlapping-subnet", "intranet-primary-finance", overlapping_subnet, {"jiyue-subnet-no-overlap"}),
    ("router-of-the-other-zone", "intranet-primary-finance", router_of_the_other_zone, {"jiyue-router-own-zone"}),
    ("subnet-of-another-stack", "intranet-primary-finance", subnet_of_another_stack, {"jiyue-subnet-city-plan"}),
    ("standby-smaller-than-primary", "intranet-dr-finance", standby_smaller_than_primary,
     {"jiyue-dr-matches-primary"}),
]


@pytest.mark.parametrize("case,stack,change,expected", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_broken_variant_fails_with_the_right_rule(recorded_graph, judge, case, stack, change, expected):
    graphs = _variant(recorded_graph, stack, change)
    one = [(s, r) for s, r in graphs if s == stack]
    base = rules_of(judge([(s, r) for s, r in recorded_graph if s == stack]))
    found = rules_of(judge(one)) - base
    assert found == expected
    assert judge(one).blocking


def _edit_system(city: Path, department: str, system: str, change) -> None:
    path = city / "departments" / f"{department}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(next(s for s in data["systems"] if s["id"] == system))
    path.write_text(DEPARTMENT_MODELINE + yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_missing_filing_fails_with_the_filing_gate(recorded_graph, judge, tmp_path):
    """A registry whose finance-budget loses its filing record blocks finance's intranet stack."""
    city = tmp_path / "city"
    shutil.copytree(SAMPLE_CITY, city)
    _edit_system(city, "finance", "finance-budget", lambda s: s.pop("filing", None))
    stack = "intranet-primary-finance"
    one = [(s, r) for s, r in recorded_graph if s == stack]
    assert not rules_of(judge(one))
    broken = check_graphs(one, facts=facts_of(city, tmp_path), mode="direct")
    assert rules_of(broken) == {"jiyue-filing-gate"}
    assert "finance-budget" in broken.findings[0].message and "filing" in broken.findings[0].message


def test_the_facts_filing_gaps_are_the_catalogs(facts):
    """What the pack reads as a system's filing gaps is what jiyue.catalog computes (none out of G6's scope)."""
    model = load_city(SAMPLE_CITY)
    assert set(facts.systems) == set(model.systems)
    for sid, s in model.systems.items():
        expected = tuple(g.field for g in filing_gaps(s)) if in_scope(s) else ()
        assert facts.systems[sid].filing_gaps == expected, sid
    assert any(f.filing_gaps for f in facts.systems.values())


def test_filing_gate_passes_a_registry_without_filing_data_and_blocks_incomplete_filings(mini_city, tmp_path):
    for path in sorted((mini_city / "departments").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for s in data["systems"]:
            for key in ("filing", "data_resources", "data_needs"):
                s.pop(key, None)
        path.write_text(DEPARTMENT_MODELINE + yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
    model = load_city(mini_city)
    system = next(s for s in model.departments["d001"].systems if in_scope(s))
    stack = f"{system.zone.value}-primary-d001"
    r = res(stack, "compute/instance:Instance", f"d001/{system.id}/internal/vm")

    def found() -> list[str]:
        facts = load_facts(facts_of(mini_city, tmp_path))
        return [m for m, _ in filing_gate.check_stack([r], Context(facts.stack(stack), facts))]

    assert found() == []  # no filing data anywhere in the registry: nothing to judge yet
    resource = {"id": "x-records", "name": "x", "abstract": "x 的记录", "fields": [{"name": "编号", "type": "string"}],
                "library": "department", "update_frequency": "daily", "format": "database", "sharing": "conditional",
                "sharing_method": "exchange", "published": "2025-01-01"}
    _edit_system(mini_city, "d001", system.id, lambda s: s.update(
        filing={"project_id": "P-1", "funding_kind": "om"}, data_resources=[resource], data_needs=[]))
    msgs = found()
    assert msgs and all(k in msgs[0] for k in ("filing.amount_wan", "filing.approval_number", "filing.date",
                                                 "data_resources[0].conditions"))
    _edit_system(mini_city, "d001", system.id, lambda s: s.update(
        filing={"project_id": "P-1", "funding_kind": "om", "amount_wan": 3, "approval_number": "N-1",
                "date": "2025-01-01"}, data_resources=[{**resource, "sharing": "unconditional"}]))
    assert found() == []


def test_facts_of_another_version_or_older_than_the_registry_are_refused(tmp_path):
    """The pack reads only facts of the version it knows, and never facts the registry has moved past."""
    city = tmp_path / "city"
    shutil.copytree(SAMPLE_CITY, city)
    path = facts_of(city, tmp_path)
    assert load_facts(path).city == "dalian"
    doc = city_facts(load_city(city))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**doc, "version": doc["version"] + 1}), encoding="utf-8")
    with pytest.raises(CityError, match="version"):
        load_facts(other)
    other.write_text(json.dumps({"systems": {}}), encoding="utf-8")
    with pytest.raises(CityError, match="not a city facts file"):
        load_facts(other)
    with pytest.raises(CityError, match="cannot read the city facts"):
        load_facts(tmp_path / "missing.json")
    _edit_system(city, "finance", "finance-budget", lambda s: s.update(public_facing=True))
    with pytest.raises(CityError, match=r"older than the registry .*departments/finance\.yaml changed"):
        load_facts(path)


def test_a_retired_system_is_out_of_the_filing_gate(tmp_path, retire_in_copy):
    """A retired zombie is funded no more (T1.2): out of G6's scope for jiyue.catalog, so for the pack too."""
    model = load_city(SAMPLE_CITY)
    needed = {d for s in model.systems.values() for d in s.depends_on}
    victim = next(s for s in model.systems.values()
                  if in_scope(s) and filing_gaps(s) and s.id not in needed and s.platform is None)
    city = retire_in_copy(SAMPLE_CITY, tmp_path / "city", victim.id)
    retired = load_city(city).systems[victim.id]
    facts = load_facts(facts_of(city, tmp_path))
    assert not in_scope(retired)
    assert facts.systems[victim.id].retired and facts.systems[victim.id].filing_gaps == ()
