"""Each component alone under mocks, and the thin ``infra/__main__.py`` with its Pulumi config."""

from __future__ import annotations

import runpy
from pathlib import Path

import pulumi
import pulumi_openstack as openstack

from infra.foundation import EgressPlan, ZoneFoundation, ZoneFoundationArgs
from infra.labels import Labels
from infra.mocks import PreviewMocks
from infra.plan import DrMode, EgressRule, IngressRule, QuotaPlan
from infra.preview import run_mocked
from infra.system import Host, Standby, StandbyArgs, SystemArgs, SystemDeployment
from infra.tenant import DepartmentSegment, SegmentArgs, Tenant, TenantArgs
from jiyue.flows import Address
from jiyue.registry.schema import Classification, Site, Zone

REPO = Path(__file__).resolve().parents[2]
LAB = Labels("finance", "finance-budget", Classification.internal)


def run(fn, stack="extranet-primary-finance"):
    return run_mocked(stack, fn, PreviewMocks(stack))


def types(p):
    return [r["type"].rsplit(":", 1)[-1] for r in p.resources]


def _foundation(ip, zone, egress):
    return ZoneFoundation("f", ZoneFoundationArgs(
        zone=zone, site=Site.primary, shared=ip.shared(zone, Site.primary),
        management=ip.management(zone, Site.primary), dns_zone_name=f"{zone.value}.example.", dns_email="h@example",
        labels=Labels("datacenter", "foundation", Classification.internal), egress=egress))


def test_intranet_foundation_has_no_edge(ip):
    p = run(lambda: _foundation(ip, Zone.intranet, None), "intranet-primary-foundation")
    (router,) = [r for r in p.resources if r["type"].endswith("router:Router")]
    assert "externalNetworkId" not in router["inputs"]
    assert types(p).count("Subnet") == 2 and types(p).count("RouterInterface") == 2
    assert "GroupV2" not in types(p) and "Zone" in types(p)


def test_extranet_foundation_edge_active_and_standby(ip):
    for active in (True, False):
        egress = EgressPlan("internet", "198.51.100.0/24", (80, 443), ("10.128.0.0/16",), active)
        p = run(lambda egress=egress: _foundation(ip, Zone.extranet, egress), "extranet-primary-foundation")
        (router,) = [r for r in p.resources if r["type"].endswith("router:Router")]
        assert router["inputs"]["externalNetworkId"] and router["inputs"]["enableSnat"] is True
        rules = [r["inputs"] for r in p.resources if r["type"].endswith("RuleV2")]
        assert len(rules) == 4 and {r["enabled"] for r in rules} == {active}
        (group,) = [r["inputs"] for r in p.resources if r["type"].endswith("GroupV2")]
        assert group["ports"] and group["ingressFirewallPolicyId"] and group["egressFirewallPolicyId"]


def test_tenant_quotas_and_roles():
    q = QuotaPlan(vcpus=8, ram_mb=16384, instances=2, gigabytes=300, volumes=4, ports=6, security_groups=3,
                  security_group_rules=20, server_groups=1, floating_ips=0)
    p = run(lambda: Tenant("t", TenantArgs("finance-extranet-primary", "Finance", q, "finance-ops",
                                           "platform-engineers", "member", LAB.wide())))
    by = {r["type"].rsplit(":", 1)[-1]: r["inputs"] for r in p.resources}
    assert by["QuotaSetV2"]["cores"] == 8 and by["QuotaSetV2"]["ram"] == 16384 and by["QuotaSetV2"]["instances"] == 2
    assert by["QuotaV2"]["router"] == 0 and by["QuotaV2"]["floatingip"] == 0
    assert by["QuoteSetV3"]["gigabytes"] == 300
    assert "department=finance" in by["Project"]["tags"]
    assert types(p).count("RoleAssignment") == 2


def test_segment_attaches_to_the_given_router(ip):
    seg = ip.segment("finance", Zone.extranet, Site.primary)
    p = run(lambda: DepartmentSegment("s", SegmentArgs(seg, "project-1", "router-1", LAB.wide())))
    by = {r["type"].rsplit(":", 1)[-1]: r["inputs"] for r in p.resources}
    assert by["Subnet"]["cidr"] == seg.cidr and by["Subnet"]["tenantId"] == "project-1"
    assert by["RouterInterface"]["routerId"] == "router-1"


def _system_args(**over):
    args = dict(
        labels=LAB, hosts=[Host("finance-budget-1", "10.128.20.10"), Host("finance-budget-2", "10.128.20.11")],
        security_group="finance-budget", rules=[IngressRule(22, "10.0.1.0/24", "ssh"), IngressRule(5432, None, "db")],
        egress=[EgressRule("udp", 53, Address("extranet-primary-shared", "10.128.0.0/24"), "DNS"),
                EgressRule("tcp", 22, Address("finance-budget-app1", "100.64.0.10/32"), "migration", temporary=True)],
        flavor="s1-small", image_id="image-1", boot_gb=40, volume_gb=100, volume_class="replicated", ha=True,
        network_id="net-1", subnet_id="sub-1", key_pair="kp", dns_zone_id="zone-1", dns_zone_name="x.example.",
        dns_provider=None)
    args.update(over)
    return args


def test_system_deployment_servers_ports_volumes_and_anti_affinity():
    def program():
        dns = openstack.Provider("dns", cloud="x")
        SystemDeployment("sys", SystemArgs(**_system_args(dns_provider=dns, floating_ip_pool="internet")))
    p = run(program)
    t = types(p)
    assert t.count("Instance") == t.count("Port") == t.count("Volume") == t.count("VolumeAttach") == 2
    assert t.count("FloatingIp") == 2 and t.count("ServerGroup") == 1 and t.count("SecGroupRule") == 4
    (group,) = [r["inputs"] for r in p.resources if r["type"].endswith("SecGroup")]
    assert group["deleteDefaultRules"] is True
    egress = {r["name"].rsplit("/", 1)[-1]: r["inputs"] for r in p.resources
              if r["type"].endswith("SecGroupRule") and r["inputs"]["direction"] == "egress"}
    assert set(egress) == {"egress-udp-53-extranet-primary-shared", "egress-tcp-22-finance-budget-app1"}
    dns = egress["egress-udp-53-extranet-primary-shared"]
    assert (dns["ethertype"], dns["protocol"], dns["portRangeMin"], dns["portRangeMax"], dns["remoteIpPrefix"]) == (
        "IPv4", "udp", 53, 53, "10.128.0.0/24")
    assert egress["egress-tcp-22-finance-budget-app1"]["description"].startswith("temporary")
    servers = [r["inputs"] for r in p.resources if r["type"].endswith("Instance")]
    assert all(s["schedulerHints"][0]["group"] for s in servers)
    assert all(s["blockDevices"][0]["destinationType"] == "volume" for s in servers)
    assert {s["powerState"] for s in servers} == {"active"}
    ports = [r["inputs"]["fixedIps"][0]["ipAddress"] for r in p.resources if r["type"].endswith("Port")]
    assert ports == ["10.128.20.10", "10.128.20.11"]
    self_rule = [r["inputs"] for r in p.resources if r["type"].endswith("SecGroupRule")
                 and "remoteIpPrefix" not in r["inputs"]]
    assert self_rule and self_rule[0]["remoteGroupId"] == self_rule[0]["securityGroupId"]


def test_standby_modes():
    def program(mode):
        def go():
            dns = openstack.Provider("dns", cloud="x")
            dep = SystemArgs(**_system_args(dns_provider=dns, running=mode is not DrMode.cold))
            Standby("sb", StandbyArgs(LAB, mode, 15, 60, {"intervalMinutes": 15, "retentionDays": 30},
                                      None if mode is DrMode.cold else dep))
        return go
    for mode, power in ((DrMode.hot, {"active"}), (DrMode.warm, {"active"}), (DrMode.cold, set())):
        p = run(program(mode), "extranet-dr-finance")
        assert "Standby" in types(p)
        assert {r["inputs"]["powerState"] for r in p.resources if r["type"].endswith("Instance")} == power


def test_main_reads_the_stack_name_and_config(city):
    pulumi.runtime.set_all_config({"jiyue:city": str(REPO / "inventories" / "dalian")})
    try:
        stack = "intranet-primary-secrecy"
        p = run(lambda: runpy.run_path(str(REPO / "infra" / "__main__.py"), run_name="__main__"), stack)
    finally:
        pulumi.runtime.set_all_config({})
    assert p.outputs["department"] == "secrecy" and p.outputs["zone"] == "intranet"
    (provider, *_) = [r for r in p.resources if r["type"] == "pulumi:providers:openstack"]
    assert provider["inputs"]["cloud"] == "intranet-primary"
