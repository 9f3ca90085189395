"""jiyue-egress-deny-by-default on recorded stacks: the program's groups pass; a group that keeps
OpenStack's default egress fails, and so does an egress rule the city's flow table does not hold.

Each case changes a copy of the recorded preview graph (``data/``) and judges the stack with the
sample city's facts, which carry the flow table (jiyue/flows.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policies.check import check_graphs

RULE = "jiyue-egress-deny-by-default"
STACK = "intranet-primary-finance"


def _judge(facts_file, graphs):
    return check_graphs(graphs, facts=facts_file, mode="direct")


def _stack(recorded_graph, stack: str = STACK) -> list[tuple[str, list[dict[str, Any]]]]:
    return copy.deepcopy([(s, r) for s, r in recorded_graph if s == stack])


def _findings(report) -> list:
    return [f for f in report.findings if f.rule == RULE]


def _egress(resources) -> list[dict[str, Any]]:
    return [r for r in resources if r["type"].endswith("SecGroupRule") and r["inputs"]["direction"] == "egress"]


@pytest.mark.parametrize("stack", ["intranet-primary-finance", "extranet-primary-finance", "intranet-dr-finance",
                                   "intranet-primary-secrecy", "extranet-primary-secrecy"])
def test_the_programs_groups_pass(recorded_graph, facts_file, stack):
    graphs = _stack(recorded_graph, stack)
    assert _egress(graphs[0][1]), "the recorded stack has egress rules to judge"
    assert _findings(_judge(facts_file, graphs)) == []


def test_a_group_that_keeps_the_default_egress_fails(recorded_graph, facts_file):
    graphs = _stack(recorded_graph)
    group = next(r for r in graphs[0][1] if r["type"].endswith("secGroup:SecGroup"))
    del group["inputs"]["deleteDefaultRules"]
    (found,) = _findings(_judge(facts_file, graphs))
    assert "default egress" in found.message and found.enforcement == "mandatory"


def _stray(rule: dict[str, Any], **inputs: Any) -> dict[str, Any]:
    stray = copy.deepcopy(rule)
    stray["name"] = stray["name"].rsplit("/", 1)[0] + "/egress-stray"
    stray["urn"] = stray["urn"].rsplit("::", 1)[0] + "::" + stray["name"]
    stray["inputs"].update(inputs)
    return stray


@pytest.mark.parametrize("inputs,says", [
    ({"protocol": "tcp", "portRangeMin": 443, "portRangeMax": 443, "remoteIpPrefix": "0.0.0.0/0"}, "no flow"),
    ({"protocol": "tcp", "portRangeMin": 5432, "portRangeMax": 5432, "remoteIpPrefix": "10.64.17.0/24"}, "no flow"),
    ({"protocol": "udp", "portRangeMin": 53, "portRangeMax": 53, "remoteIpPrefix": "10.64.0.0/16"}, "no flow"),
    ({"protocol": None, "portRangeMin": None, "portRangeMax": None}, "every protocol"),
    ({"ethertype": "IPv6", "remoteIpPrefix": "::/0"}, "IPv6"),
], ids=["internet-from-the-intranet", "another-departments-database", "wider-than-the-dns-segment",
        "all-protocols", "ipv6"])
def test_a_stray_egress_rule_fails(recorded_graph, facts_file, inputs, says):
    graphs = _stack(recorded_graph)
    resources = graphs[0][1]
    resources.append(_stray(_egress(resources)[0], **inputs))
    (found,) = _findings(_judge(facts_file, graphs))
    assert says in found.message and "egress-stray" in (found.urn or "")


def test_the_migrations_pull_is_a_flow_of_the_table(recorded_graph, facts_file, facts):
    """A system's targets may pull from its own legacy hosts (temporary); from another's they may not."""
    (system, site), allowed = next(((k, v) for k, v in facts.egress.items()
                                    if k[0].startswith("finance-") and any(f.temporary for f in v)))
    mine = next(f for f in allowed if f.temporary).to[0]
    theirs = next(f.to[0] for (s, _), fs in facts.egress.items() if not s.startswith("finance-")
                  for f in fs if f.temporary)
    graphs = _stack(recorded_graph)
    resources = graphs[0][1]
    template = next(r for r in _egress(resources) if f"/{system}/" in r["name"])
    ssh = {"protocol": "tcp", "portRangeMin": 22, "portRangeMax": 22}
    resources.append(_stray(template, **ssh, remoteIpPrefix=str(mine)))
    assert _findings(_judge(facts_file, graphs)) == []
    resources[-1] = _stray(template, **ssh, remoteIpPrefix=str(theirs))
    assert len(_findings(_judge(facts_file, graphs))) == 1
