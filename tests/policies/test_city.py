"""The sample city passes; deliberately broken variants each fail with the right rule.

The graph is ``policies.synthetic.city_graph`` (the shapes ``infra.preview`` produces). The sample
registry holds some incomplete filings on purpose (issue 8), so the filing gate fails exactly the
deployed systems ``jiyue.catalog.filing_gaps`` calls incomplete, and nothing else fails.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from jiyue.catalog import filing_gaps, in_scope
from jiyue.registry import load_city
from policies.check import check_graphs
from policies.rules import filing_gate

from .conftest import SAMPLE_CITY, labels


def judge(graphs, **kw):
    return check_graphs(graphs, city=SAMPLE_CITY, mode="direct", **kw)


def rules_of(report) -> set[str]:
    return {f.rule for f in report.findings}


def test_sample_city_passes_every_rule_but_the_filing_gaps(sample_graph):
    report = judge(sample_graph, whole_city=True)
    assert rules_of(report) <= {"jiyue-filing-gate"}
    model = load_city(SAMPLE_CITY)
    incomplete = {s.id for s in model.systems.values() if in_scope(s) and filing_gaps(s)}
    flagged = {f.message.split()[1] for f in report.findings}
    assert flagged == incomplete


def _find(graphs, stack: str) -> list[dict[str, Any]]:
    return next(r for s, r in graphs if s == stack)


def _variant(sample_graph, stack: str, change) -> list:
    graphs = copy.deepcopy(sample_graph)
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


VARIANTS = [
    ("public-ssh", "extranet-primary-finance", public_ssh,
     {"jiyue-ingress-public-web-only", "jiyue-ingress-admin-from-management"}),
    ("intranet-floating-ip", "intranet-primary-finance", intranet_floating_ip, {"jiyue-intranet-no-floating-ip"}),
    ("department-gateway", "extranet-primary-finance", department_gateway, {"jiyue-egress-single-gateway"}),
    ("unencrypted-classified-volume", "intranet-primary-civil-defense", unencrypted_classified_volume,
     {"jiyue-classified-volume-encrypted"}),
    ("overlapping-subnet", "intranet-primary-finance", overlapping_subnet, {"jiyue-subnet-no-overlap"}),
]


@pytest.mark.parametrize("case,stack,change,expected", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_broken_variant_fails_with_the_right_rule(sample_graph, case, stack, change, expected):
    graphs = _variant(sample_graph, stack, change)
    one = [(s, r) for s, r in graphs if s == stack]
    base = rules_of(judge([(s, r) for s, r in sample_graph if s == stack]))
    found = rules_of(judge(one)) - base
    assert found == expected
    assert judge(one).blocking


def test_missing_filing_fails_with_the_filing_gate(sample_graph, tmp_path):
    """A registry whose finance-budget loses its filing record blocks finance's intranet stack."""
    import shutil

    import yaml

    city = tmp_path / "city"
    shutil.copytree(SAMPLE_CITY, city)
    path = city / "departments" / "finance.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    budget = next(s for s in data["systems"] if s["id"] == "finance-budget")
    budget.pop("filing", None)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    stack = "intranet-primary-finance"
    one = [(s, r) for s, r in sample_graph if s == stack]
    assert not rules_of(judge(one))
    broken = check_graphs(one, city=city, mode="direct")
    assert rules_of(broken) == {"jiyue-filing-gate"}
    assert "finance-budget" in broken.findings[0].message and "filing" in broken.findings[0].message


def test_filing_gate_agrees_with_the_catalog(facts):
    """The pack's gaps() (raw registry data) says what jiyue.catalog.filing_gaps says."""
    model = load_city(SAMPLE_CITY)
    for sid, s in model.systems.items():
        assert filing_gate.gaps(facts.systems[sid].raw) == [g.field for g in filing_gaps(s)], sid
        assert filing_gate.in_scope(facts.systems[sid].raw) == in_scope(s), sid


def test_filing_gate_passes_a_registry_without_filing_data_and_blocks_incomplete_filings(facts):
    from policies.city import CityFacts
    from policies.core import Context, Resource, parse_stack

    def city(system_extra: dict[str, Any]) -> CityFacts:
        sysdict = {"id": "d1-s1", "zone": "intranet", "classification": "internal",
                   "funds": {"construction_wan": 10, "om_wan_per_year": 1.5}, **system_extra}
        return CityFacts.from_dicts({"platform_department": "d0", "addressing": {}},
                                    [{"id": "d1", "quotas": {}, "systems": [sysdict]}])

    stack = "intranet-primary-d1"
    r = Resource("openstack:compute/instance:Instance", "d1/d1-s1/internal/vm",
                 f"urn:pulumi:{stack}::jiyue::openstack:compute/instance:Instance::d1/d1-s1/internal/vm", {})

    def found(c: CityFacts) -> list[str]:
        return [m for m, _ in filing_gate.check_stack([r], Context(parse_stack(stack), c))]

    assert found(city({})) == []  # no filing data anywhere in the registry: nothing to judge yet
    incomplete = city({"filing": {"project_id": "P-1", "funding_kind": "om"}, "data_resources": [
        {"id": "x", "sharing": "conditional"}], "data_needs": []})
    msgs = found(incomplete)
    assert msgs and all(k in msgs[0] for k in ("filing.amount_wan", "filing.approval_number", "filing.date",
                                                 "data_resources[0].conditions"))
    complete = city({"filing": {"project_id": "P-1", "funding_kind": "om", "amount_wan": 3,
                                "approval_number": "N-1", "date": "2025-01-01"},
                     "data_resources": [{"id": "x", "sharing": "unconditional"}], "data_needs": []})
    assert found(complete) == []


def test_the_packs_registry_cache_is_the_registry(tmp_path, monkeypatch):
    """The pack keeps the parsed registry (policies.city): a cached read equals a fresh parse,
    a changed registry is read afresh, and a corrupt cache entry is ignored."""
    import shutil

    from policies.city import CACHE_ENTRIES, load_city_facts

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    city = tmp_path / "city"
    shutil.copytree(SAMPLE_CITY, city)
    first = load_city_facts(city)
    entries = list((tmp_path / "cache" / "jiyue" / "policy-pack").glob("*.json"))
    assert len(entries) == 1
    cached = load_city_facts(city)  # read from the cache entry
    monkeypatch.setenv("JIYUE_PACK_CACHE", "0")
    assert cached == load_city_facts(city) == first  # what parsing gives
    monkeypatch.delenv("JIYUE_PACK_CACHE")

    dep = city / "departments" / "finance.yaml"
    dep.write_text(dep.read_text(encoding="utf-8").replace("id: finance-budget", "id: finance-budget2"),
                   encoding="utf-8")
    changed = load_city_facts(city)
    assert "finance-budget2" in changed.systems and "finance-budget" not in changed.systems

    for entry in (tmp_path / "cache" / "jiyue" / "policy-pack").glob("*.json"):
        entry.write_text("{not json", encoding="utf-8")
    assert load_city_facts(city) == changed

    for n in range(CACHE_ENTRIES + 3):  # every edit makes an entry; only the newest are kept
        dep.write_text(dep.read_text(encoding="utf-8") + f"# edit {n}\n", encoding="utf-8")
        load_city_facts(city)
    assert len(list((tmp_path / "cache" / "jiyue" / "policy-pack").glob("*.json"))) == CACHE_ENTRIES


def test_a_retired_system_is_out_of_the_filing_gate_in_both_places(tmp_path, retire_in_copy):
    """A retired zombie is funded no more (T1.2): out of G6's scope for jiyue.catalog and the pack."""
    from policies.city import load_city_facts

    model = load_city(SAMPLE_CITY)
    needed = {d for s in model.systems.values() for d in s.depends_on}
    victim = next(s for s in model.systems.values()
                  if in_scope(s) and filing_gaps(s) and s.id not in needed and s.platform is None)
    city = retire_in_copy(SAMPLE_CITY, tmp_path / "city", victim.id)
    retired, facts = load_city(city).systems[victim.id], load_city_facts(city).systems[victim.id]
    assert not in_scope(retired)
    assert not filing_gate.in_scope(facts.raw)
