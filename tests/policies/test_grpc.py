"""The pack driven over gRPC, as the Pulumi engine drives it (one pack process per module)."""

from __future__ import annotations

import copy
import re

import pytest

from policies import sdk
from policies.analyzer import PackProcess
from policies.pack import judge_direct
from policies.rules import ALL

from .conftest import REPO

STACK = "intranet-primary-finance"


def test_analyzer_info_carries_every_rule_with_its_metadata(pack):
    info = {p["name"]: p for p in pack.policies()}
    assert set(info) == {m.META.name for m in ALL}
    p = info["jiyue-intranet-no-floating-ip"]
    assert p["enforcement"] == "mandatory" and p["severity"] == "critical" and p["type"] == "resource"
    assert p["framework"]["name"].startswith("MLPS 2.0") and p["framework"]["reference"] == "8.1.3.1 c)"
    assert p["framework"]["specification"].startswith("边界防护: ")
    filing = info["jiyue-filing-gate"]["framework"]  # the city's plan, not an MLPS clause
    assert filing["name"].startswith("the city's plan") and filing["reference"] == "G6"
    assert filing["specification"].startswith("not an MLPS control")
    assert "T3.3" in p["tags"] and p["remediation"]
    assert info["jiyue-dr-counterpart"]["type"] == "stack"
    assert pack.info.name == "jiyue-city-dc" and pack.info.supportsConfig


def test_grpc_finds_what_the_rules_find_directly(pack, recorded_graph, facts_file):
    resources = copy.deepcopy(next(r for s, r in recorded_graph if s == STACK))
    resources.append({"urn": f"urn:pulumi:{STACK}::jiyue::openstack:networking/floatingIp:FloatingIp::fip",
                      "type": "openstack:networking/floatingIp:FloatingIp", "name": "finance/finance-budget/"
                      "internal/fip", "parent": None, "inputs": {"pool": "internet"}})
    rule = next(r for r in resources if r["type"].endswith("SecGroupRule"))
    rule["inputs"]["remoteIpPrefix"] = "0.0.0.0/0"
    result = pack.judge(STACK, resources)
    over_grpc = sorted((d.policy, d.urn, d.message) for d in result.diagnostics)
    direct = sorted((v.rule, v.urn, v.message) for v in judge_direct(STACK, resources, {"facts": str(facts_file)}))
    assert over_grpc == direct
    assert {"jiyue-intranet-no-floating-ip", "jiyue-ingress-public-web-only"} <= {d[0] for d in over_grpc}
    assert all(d.enforcement == "mandatory" for d in result.diagnostics)


def test_a_stack_rule_sees_where_an_input_came_from_over_grpc(pack, recorded_graph):
    """The engine gives AnalyzeStack each property's dependencies and a reference's outputs; the pack
    reads them through pulumi-policy: the finance segment's router taken from the extranet's foundation."""
    resources = copy.deepcopy(next(r for s, r in recorded_graph if s == STACK))
    assert not [d for d in pack.judge(STACK, resources).diagnostics if d.policy == "jiyue-router-own-zone"]
    ref = next(r for r in resources if r["type"] == "pulumi:pulumi:StackReference")
    ref["inputs"]["name"] = ref["inputs"]["name"].replace("intranet-", "extranet-")
    found = [d.message for d in pack.judge(STACK, resources).diagnostics if d.policy == "jiyue-router-own-zone"]
    assert any("attaches to the router of extranet-primary-foundation" in m for m in found), found
    ref["inputs"]["name"] = ref["inputs"]["name"].replace("extranet-", "intranet-")
    ref["outputs"]["outputs"]["routerId"] = "another-router"  # read from the right stack, another value
    found = [d.message for d in pack.judge(STACK, resources).diagnostics if d.policy == "jiyue-router-own-zone"]
    assert any("not intranet-primary-foundation's routerId" in m for m in found), found


def test_stack_rules_run_in_analyze_stack_with_the_configured_stack(pack):
    stack = "intranet-dr-finance"  # finance-budget and finance-treasury need DR; give none a counterpart
    pack.configure_stack(stack)
    diags = pack.analyze_stack([{"urn": f"urn:pulumi:{stack}::jiyue::openstack:networking/network:Network::n",
                                 "type": "openstack:networking/network:Network", "name": "n", "inputs": {}}])
    dr = [d for d in diags if d.policy == "jiyue-dr-counterpart"]
    assert {m.split()[1] for m in (d.message for d in dr)} == {"finance-budget", "finance-treasury"}


def test_the_packs_shortcuts_change_no_answer(recorded_graph, facts_file, monkeypatch):
    """The pack's shortcuts in pulumi-policy's servicer (policies.sdk) give the
    same diagnostics and not-applicable counts as the SDK unchanged, on findings of every kind."""
    from policies.analyzer import judge_stacks

    stacks = [(s, copy.deepcopy(r)) for s, r in recorded_graph if s.endswith(("-finance", "-foundation", "-secrecy"))]
    resources = next(r for s, r in stacks if s == STACK)
    resources.append({"urn": f"urn:pulumi:{STACK}::jiyue::openstack:networking/floatingIp:FloatingIp::fip",
                      "type": "openstack:networking/floatingIp:FloatingIp", "name": "fip", "inputs": {}})
    for r in resources:
        if r["type"].endswith("SecGroupRule"):
            r["inputs"]["remoteIpPrefix"] = "0.0.0.0/0"
        if r["type"].endswith("volume:Volume"):
            r["inputs"].pop("volumeType", None)
        if r["type"].endswith("instance:Instance"):
            r["inputs"]["metadata"] = {}

    def judged(shortcuts: str) -> tuple[list[tuple[str, str, str, str]], int]:
        monkeypatch.setenv("JIYUE_PACK_SHORTCUTS", shortcuts)
        results, _ = judge_stacks(stacks, workers=1, policy_config={"all": {"facts": str(facts_file)}})
        return (sorted((d.stack, d.policy, d.urn, d.message) for r in results for d in r.diagnostics),
                sum(r.not_applicable for r in results))

    fast, plain = judged("1"), judged("0")
    assert fast == plain
    assert len({d[1] for d in fast[0]}) >= 4, "the broken stack should fail several different rules"


def test_the_sdk_changes_are_for_the_pinned_pulumi_policy(pack):
    """requirements.txt pins the pulumi-policy sdk.py was written for; the pack runs with it, patched."""
    pins = re.findall(r"^pulumi-policy==(\S+)$", (REPO / "policies" / "requirements.txt").read_text(), re.M)
    assert pins == [sdk.WRITTEN_FOR] == [sdk.installed_version()]
    assert "SdkVersionWarning" not in pack.stderr()


def test_another_pulumi_policy_runs_unchanged_with_a_warning(monkeypatch):
    monkeypatch.setattr(sdk, "installed_version", lambda: "1.99.0")
    servicer = sdk.sdk_policy._PolicyAnalyzerServicer
    before = (servicer.Analyze, servicer.AnalyzeStack, servicer.ConfigureStack, servicer._configure_runtime_settings,
              sdk.sdk_policy.deserialize_properties, sdk.sdk_policy.json_format)
    with pytest.warns(sdk.SdkVersionWarning, match=r"pulumi-policy 1\.99\.0 is installed.*running the SDK unchanged"):
        assert sdk.patch() is False
    assert (servicer.Analyze, servicer.AnalyzeStack, servicer.ConfigureStack, servicer._configure_runtime_settings,
            sdk.sdk_policy.deserialize_properties, sdk.sdk_policy.json_format) == before


def test_the_pack_finds_the_facts_in_the_environment_or_fails_closed(recorded_graph, facts_file, monkeypatch):
    """Without the pack config `facts` (a real `pulumi preview` without --policy-pack-config) the pack
    reads $JIYUE_FACTS; with neither, every stack fails jiyue-pack-context and nothing else passes it by."""
    resources = next(r for s, r in recorded_graph if s == STACK)
    monkeypatch.setenv("JIYUE_FACTS", str(facts_file))
    with PackProcess() as p:
        assert p.judge(STACK, resources).diagnostics == []
    monkeypatch.delenv("JIYUE_FACTS")
    with PackProcess() as p:
        diags = p.judge(STACK, resources).diagnostics
    assert {d.policy for d in diags} == {"jiyue-pack-context"}
    assert "no city facts" in diags[0].message and "jiyue policy facts" in diags[0].message
