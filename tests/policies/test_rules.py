"""Per rule: a compliant case, a violating case, and a case with the property missing.

Each case calls the rule directly (``check`` / ``check_stack``) on resources as the engine gives
them (type token, logical name, camelCase inputs) in a named stack, with the sample city's facts.
"""

from __future__ import annotations

from typing import Any

import pytest

from policies.rules import ALL, BY_NAME

from .conftest import labels, res

IN_P = "intranet-primary-finance"
EX_P = "extranet-primary-finance"
EX_F = "extranet-primary-foundation"
MGMT = "10.0.0.0/20"
FIN = labels("finance", "finance-budget", "internal")
PUB = labels("finance", "finance-procurement", "public")


def rule_in(stack: str, name: str, **inputs: Any):
    base = {"direction": "ingress", "ethertype": "IPv4", "securityGroupId": "sg"}
    return res(stack, "networking/secGroupRule:SecGroupRule", name, {**base, **inputs})


def tcp(port: int, **kw: Any) -> dict[str, Any]:
    return {"protocol": "tcp", "portRangeMin": port, "portRangeMax": port, **kw}


IN_DR = "intranet-dr-finance"
ROUTER_IN = "6bda6d19-6b37-5724-baa1-251caac9cbf1"
ROUTER_EX = "0c6b6a52-1ad6-5a43-9a0c-3a5e4f3f1b11"


def reference(stack: str, foundation: str, router: str) -> Any:
    return res(stack, "pulumi:pulumi:StackReference", f"finance/*/{foundation}",
               {"name": f"organization/jiyue/{foundation}", "outputs": {"routerId": router}})


REF_IN = reference(IN_P, "intranet-primary-foundation", ROUTER_IN)
REF_EX = reference(IN_P, "extranet-primary-foundation", ROUTER_EX)


def iface(stack: str, name: str, origin: Any, router: str) -> Any:
    r = res(stack, "networking/routerInterface:RouterInterface", f"finance/*/{name}-interface",
            {"routerId": router, "subnetId": "sub"})
    if origin is not None:
        r.dependencies = {"routerId": (origin.urn,)}
    return r


def standby(stack: str, system: str, n: int, *, flavor: str = "s1-medium", gb: int = 50,
            power: str | None = None, mode: str | None = None) -> list:
    """``n`` standby servers of ``system`` with their data volumes, as the program declares them."""
    lab = labels("finance", system, "internal")
    hot = system == "finance-treasury"
    out = []
    for i in range(n):
        out.append(res(stack, "compute/instance:Instance", f"finance/{system}/{system}-dr-{i + 1}-server",
                       {**lab, "flavorName": flavor, "powerState": power or "active"}))
        out.append(res(stack, "blockstorage/volume:Volume", f"finance/{system}/{system}-dr-{i + 1}-data",
                       {**lab, "size": gb, "metadata": {**lab["metadata"],
                                                        "drMode": mode or ("hot" if hot else "warm")}}))
    return out


# rule -> {case: (stack, [resources], violates?)}; stack rules get the list, resource rules the one resource
CASES: dict[str, dict[str, tuple[str, list, bool]]] = {
    "jiyue-intranet-no-external-gateway": {
        "compliant": (IN_P, [res(IN_P, "networking/router:Router", "r", {"name": "r", **FIN})], False),
        "violating": (IN_P, [res(IN_P, "networking/router:Router", "r", {"externalNetworkId": "internet-id"})], True),
        "missing": (IN_P, [res(IN_P, "networking/router:Router", "r", {})], False),
    },
    "jiyue-intranet-no-floating-ip": {
        "compliant": (EX_P, [res(EX_P, "networking/floatingIp:FloatingIp", "fip", {"pool": "internet"})], False),
        "violating": (IN_P, [res(IN_P, "networking/floatingIp:FloatingIp", "fip", {"pool": "internet"})], True),
        "missing": (IN_P, [res(IN_P, "networking/floatingIp:FloatingIp", "fip", {})], True),  # existing is enough
    },
    "jiyue-intranet-no-external-network": {
        "compliant": (IN_P, [res(IN_P, "networking/port:Port", "p", {"networkId": "finance-intranet-net"})], False),
        "violating": (IN_P, [res(IN_P, "networking/port:Port", "p", {"networkId": "internet"}),
                             res(IN_P, "networking/network:Network", "n", {"external": True})], True),
        "missing": (IN_P, [res(IN_P, "networking/port:Port", "p", {})], False),
    },
    "jiyue-intranet-nothing-shared": {
        "compliant": (IN_P, [res(IN_P, "networking/network:Network", "n", {"shared": False})], False),
        "violating": (IN_P, [res(IN_P, "networking/network:Network", "n", {"shared": True})], True),
        "missing": (IN_P, [res(IN_P, "networking/rbacPolicyV2:RbacPolicyV2", "rbac",
                               {"objectType": "network"})], False),
    },
    "jiyue-egress-single-gateway": {
        "compliant": (EX_F, [res(EX_F, "networking/router:Router", "egress", {"externalNetworkId": "internet-id"})],
                      False),
        "violating": (EX_P, [res(EX_P, "networking/router:Router", "finance-r", {"externalNetworkId": "x"})], True),
        "missing": (EX_P, [res(EX_P, "networking/router:Router", "finance-r", {})], False),
    },
    "jiyue-ingress-public-web-only": {
        "compliant": (EX_P, [rule_in(EX_P, "finance/finance-procurement/public/ingress-tcp-443",
                                     **tcp(443, remoteIpPrefix="0.0.0.0/0"))], False),
        "violating": (EX_P, [rule_in(EX_P, "finance/finance-nontax/internal/ingress-tcp-443",
                                     **tcp(443, remoteIpPrefix="0.0.0.0/0"))], True),  # not public-facing
        "missing": (EX_P, [rule_in(EX_P, "finance/finance-procurement/public/ingress-any",
                                   protocol="tcp")], True),  # no remote, no ports: open to anywhere
    },
    "jiyue-ingress-admin-from-management": {
        "compliant": (IN_P, [rule_in(IN_P, "ssh", **tcp(22, remoteIpPrefix=MGMT))], False),
        "violating": (IN_P, [rule_in(IN_P, "ssh", **tcp(22, remoteIpPrefix="10.64.20.0/24")),
                             rule_in(IN_P, "pg", **tcp(5432, remoteIpPrefix="0.0.0.0/0"))], True),
        "missing": (IN_P, [rule_in(IN_P, "ssh", **tcp(22))], True),  # no remote: from anywhere
    },
    "jiyue-ingress-no-allow-all": {
        "compliant": (IN_P, [rule_in(IN_P, "app", **tcp(8080, remoteIpPrefix=MGMT)),
                             rule_in(IN_P, "self", remoteGroupId="sg")], False),
        "violating": (IN_P, [rule_in(IN_P, "all", protocol="tcp", portRangeMin=1, portRangeMax=65535,
                                     remoteIpPrefix="10.64.0.0/16")], True),
        "missing": (IN_P, [rule_in(IN_P, "any", remoteIpPrefix=MGMT)], True),  # no protocol = every protocol
    },
    "jiyue-egress-deny-by-default": {
        "compliant": (IN_P, [res(IN_P, "networking/secGroup:SecGroup", "finance/finance-budget/internal/security-group",
                                 {"name": "finance-budget", "deleteDefaultRules": True}),
                             rule_in(IN_P, "finance/finance-budget/internal/egress-udp-53-intranet-primary-shared",
                                     direction="egress", protocol="udp", portRangeMin=53, portRangeMax=53,
                                     remoteIpPrefix="10.64.0.0/24")], False),
        "violating": (IN_P, [rule_in(IN_P, "finance/finance-budget/internal/egress-tcp-443-internet",
                                     direction="egress", **tcp(443, remoteIpPrefix="0.0.0.0/0"))],
                      True),  # the intranet has no Internet
        "missing": (IN_P, [res(IN_P, "networking/secGroup:SecGroup", "finance/finance-budget/internal/security-group",
                               {"name": "finance-budget"})], True),  # OpenStack's default egress is kept
    },
    "jiyue-classified-intranet-only": {
        "compliant": (IN_P, [res(IN_P, "compute/instance:Instance", "vm",
                                 labels("civil-defense", "civil-defense-command", "classified"))], False),
        "violating": (EX_P, [res(EX_P, "compute/instance:Instance", "vm",
                                 labels("civil-defense", "civil-defense-command", "classified"))], True),
        "missing": (EX_P, [res(EX_P, "compute/instance:Instance", "vm", {})], False),
    },
    "jiyue-classified-volume-encrypted": {
        "compliant": (IN_P, [res(IN_P, "blockstorage/volume:Volume", "v", {
            "volumeType": "encrypted", **labels("gov-office", "gov-office-jiyao", "classified")})], False),
        "violating": (IN_P, [res(IN_P, "blockstorage/volume:Volume", "v", {
            "volumeType": "standard", **labels("gov-office", "gov-office-jiyao", "classified")})], True),
        "missing": (IN_P, [res(IN_P, "blockstorage/volume:Volume", "v",
                               labels("gov-office", "gov-office-jiyao", "classified"))], True),
    },
    "jiyue-dr-counterpart": {
        "compliant": ("intranet-dr-finance", [
            res("intranet-dr-finance", "compute/instance:Instance", "finance/finance-budget/internal/vm",
                labels("finance", "finance-budget", "internal")),
            res("intranet-dr-finance", "compute/instance:Instance", "finance/finance-treasury/internal/vm",
                labels("finance", "finance-treasury", "internal"))], False),
        "violating": ("intranet-dr-finance", [
            res("intranet-dr-finance", "jiyue:dr:Standby", "finance/finance-budget/internal/standby")], True),
        "missing": ("intranet-dr-finance", [], True),  # an empty DR stack holds no counterpart
    },
    "jiyue-subnet-no-overlap": {
        "compliant": (IN_P, [res(IN_P, "networking/subnet:Subnet", "a", {"cidr": "10.64.20.0/24"}),
                             res(IN_P, "networking/subnet:Subnet", "b", {"cidr": "10.64.21.0/24"})], False),
        "violating": (IN_P, [res(IN_P, "networking/subnet:Subnet", "a", {"cidr": "10.64.20.0/24"}),
                             res(IN_P, "networking/subnet:Subnet", "b", {"cidr": "10.64.20.128/25"})], True),
        "missing": (IN_P, [res(IN_P, "networking/subnet:Subnet", "a", {}),
                           res(IN_P, "networking/subnet:Subnet", "b", {"subnetpoolId": "pool"})], False),
    },
    "jiyue-subnet-city-plan": {
        "compliant": (IN_P, [res(IN_P, "networking/subnet:Subnet", "a", {"cidr": "10.64.32.0/24"})], False),
        # health's intranet segment: each stack alone passes jiyue-subnet-no-overlap
        "violating": (IN_P, [res(IN_P, "networking/subnet:Subnet", "a", {"cidr": "10.64.39.0/25"})], True),
        "missing": (IN_P, [res(IN_P, "networking/subnet:Subnet", "a", {"subnetpoolId": "pool"})], False),
    },
    "jiyue-router-own-zone": {
        "compliant": (IN_P, [REF_IN, iface(IN_P, "10.64.32.1", REF_IN, ROUTER_IN)], False),
        "violating": (IN_P, [REF_EX, iface(IN_P, "x", REF_EX, ROUTER_EX)], True),  # the extranet's router
        "missing": (IN_P, [iface(IN_P, "x", None, "9f0c1e7a-0000-4000-8000-000000000000")], True),  # a literal
    },
    "jiyue-dr-matches-primary": {
        "compliant": (IN_DR, [*standby(IN_DR, "finance-treasury", 2), *standby(IN_DR, "finance-budget", 1)], False),
        "violating": (IN_DR, standby(IN_DR, "finance-treasury", 1), True),  # hot, the primary has 2
        "missing": (IN_DR, [res(IN_DR, "compute/instance:Instance", "finance/finance-treasury/vm",
                                labels("finance", "finance-treasury", "internal"))], True),  # 1 of 2
    },
    "jiyue-subnet-in-plan": {
        "compliant": (IN_P, [res(IN_P, "networking/subnet:Subnet", "a", {"cidr": "10.64.20.0/24"})], False),
        "violating": (IN_P, [res(IN_P, "networking/subnet:Subnet", "a", {"cidr": "10.128.20.0/24"})], True),
        "missing": (IN_P, [res(IN_P, "networking/subnet:Subnet", "a", {"subnetpoolId": "pool"})], False),
    },
    "jiyue-tags-required": {
        "compliant": (IN_P, [res(IN_P, "compute/instance:Instance", "vm", FIN),
                             res(IN_P, "networking/secGroupRule:SecGroupRule", "finance/finance-budget/internal/ssh",
                                 {"direction": "ingress"})], False),
        "violating": (IN_P, [res(IN_P, "compute/instance:Instance", "vm",
                                 labels("health", "health-his", "internal"))], True),  # another department's
        "missing": (IN_P, [res(IN_P, "blockstorage/volume:Volume", "v", {"metadata": {"department": "finance"}})],
                    True),
    },
    "jiyue-quota-within-allowance": {
        "compliant": (IN_P, [res(IN_P, "compute/quotaSetV2:QuotaSetV2", "q", {"cores": 32, "ram": 64 * 1024}),
                             res(IN_P, "compute/instance:Instance", "vm", {"flavorName": "s1-large"})], False),
        "violating": (IN_P, [res(IN_P, "compute/quotaSetV2:QuotaSetV2", "q", {"cores": 64}),
                             *[res(IN_P, "compute/instance:Instance", f"vm{i}", {"flavorName": "s1-xlarge"})
                               for i in range(3)]], True),
        "missing": (IN_P, [res(IN_P, "compute/quotaSetV2:QuotaSetV2", "q", {}),
                           res(IN_P, "compute/instance:Instance", "vm", {})], False),
    },
    "jiyue-platform-built-once": {
        "compliant": ("extranet-primary-bigdata", [res("extranet-primary-bigdata", "compute/instance:Instance",
                                                       "vm", labels("bigdata", "bigdata-exchange", "internal"))],
                      False),
        "violating": (EX_P, [res(EX_P, "compute/instance:Instance", "vm",
                                 {**FIN, "metadata": {**FIN["metadata"], "platform": "collab-office"}})], True),
        "missing": (EX_P, [res(EX_P, "compute/instance:Instance", "vm", {})], False),
    },
    "jiyue-filing-gate": {
        # finance-budget's filing is complete in the sample; cac-yuqing lacks its amount
        "compliant": (IN_P, [res(IN_P, "compute/instance:Instance", "vm", FIN)], False),
        "violating": ("extranet-primary-cac", [res("extranet-primary-cac", "compute/instance:Instance", "vm",
                                                   labels("cac", "cac-yuqing", "internal"))], True),
        "missing": (IN_P, [res(IN_P, "compute/instance:Instance", "vm", {})], False),  # no system: nothing to gate
    },
    "jiyue-pack-context": {
        "compliant": (IN_P, [res(IN_P, "compute/instance:Instance", "vm", FIN)], False),
        "violating": ("dev", [res("dev", "compute/instance:Instance", "vm", FIN)], True),
        "missing": ("intranet-primary-nosuchdept", [], True),
    },
}


def violations(rule: str, stack: str, resources: list, ctx) -> list[str]:
    mod = BY_NAME[rule]
    c = ctx(stack)
    if mod.META.kind == "stack":
        return [m for m, _ in mod.check_stack(resources, c)]
    return [m for r in resources for m in mod.check(r, c)]


def test_every_rule_has_three_cases():
    assert set(CASES) == set(BY_NAME)
    assert all(set(c) == {"compliant", "violating", "missing"} for c in CASES.values())


@pytest.mark.parametrize("rule,case", [(r, c) for r in CASES for c in ("compliant", "violating", "missing")])
def test_rule_case(rule, case, ctx):
    stack, resources, violates = CASES[rule][case]
    found = violations(rule, stack, resources, ctx)
    assert bool(found) is violates, found


def test_a_warm_system_needs_a_standby_server_at_the_dr_site(ctx):
    """finance-budget is warm by the city's DR table: its Standby alone is not its counterpart."""
    found = violations("jiyue-dr-counterpart", "intranet-dr-finance", [
        res("intranet-dr-finance", "jiyue:dr:Standby", "finance/finance-budget/internal/standby",
            labels("finance", "finance-budget", "internal")),
        res("intranet-dr-finance", "compute/instance:Instance", "finance/finance-treasury/internal/vm",
            labels("finance", "finance-treasury", "internal"))], ctx)
    assert found == ["system finance-budget runs warm at the DR site (RPO 15 min, RTO 60 min: warm) but "
                     "intranet-dr-finance holds no standby server for it"]


def test_rule_metadata_is_complete():
    for mod in ALL:
        m = mod.META
        assert m.name.startswith("jiyue-") and m.name.count("-") >= 2
        assert m.severity in ("low", "medium", "high", "critical")
        assert m.enforcement in ("mandatory", "advisory")
        assert m.citation and m.requirements and m.remediation
        assert (m.kind == "stack") == hasattr(mod, "check_stack")


def test_zone_comes_from_labels_when_the_stack_name_does_not_tell(ctx):
    r = res("dev", "networking/floatingIp:FloatingIp", "fip", {"tags": ["zone=intranet"]})
    from policies.core import context_for

    c = context_for(r.urn, {}, r)
    assert c.zone == "intranet"
    assert list(BY_NAME["jiyue-intranet-no-floating-ip"].check(r, c))


@pytest.mark.parametrize("resources,says", [
    (standby(IN_DR, "finance-treasury", 2, flavor="s1-small"), "is s1-small, the primary runs s1-medium"),
    (standby(IN_DR, "finance-treasury", 2, gb=20), "hold 20 GB, the primary's hold 50 GB"),
    (standby(IN_DR, "finance-treasury", 2, power="shutoff"), "a hot standby is active"),
    (standby(IN_DR, "finance-budget", 1, power="shutoff"), "a warm standby is active"),
    (standby(IN_DR, "finance-treasury", 2, mode="cold"), "declared cold, but the city's DR table says"),
])
def test_a_standby_unlike_its_primary_is_refused(resources, says, ctx):
    """Each way a standby can fall short of its primary, judged against the facts' capacity and DR row."""
    found = violations("jiyue-dr-matches-primary", IN_DR, resources, ctx)
    assert any(says in m for m in found), found


def test_a_department_subnet_on_its_own_router_is_refused(ctx):
    router = res(IN_P, "networking/router:Router", "finance/*/router", {"name": "finance"})
    found = violations("jiyue-router-own-zone", IN_P, [router, iface(IN_P, "own", router, "r")], ctx)
    assert any("a router of its own" in m for m in found), found


def test_the_router_id_must_be_the_one_the_foundation_gave(ctx):
    """The interface depends on the right reference but names another router than its output."""
    found = violations("jiyue-router-own-zone", IN_P, [REF_IN, iface(IN_P, "x", REF_IN, ROUTER_EX)], ctx)
    assert any("not intranet-primary-foundation's routerId" in m for m in found), found


def test_a_systems_own_dr_hosts_may_replicate_from_it_and_nothing_else(ctx):
    """At the primary site ssh and PostgreSQL from the system's own DR hosts pass (its replication
    flows); from another system's DR host, from its DR hosts on another port, or at the DR site they
    do not."""
    treasury_dr, budget_dr = "10.65.32.19/32", "10.65.32.10/32"

    def rule(stack: str, system: str, port: int, prefix: str):  # named as the program names it
        return rule_in(stack, f"finance/{system}/ingress-tcp-{port}-{prefix.replace('/', '_')}",
                       **tcp(port, remoteIpPrefix=prefix))

    ok = [rule(IN_P, "finance-treasury", 22, treasury_dr), rule(IN_P, "finance-treasury", 5432, treasury_dr)]
    assert violations("jiyue-ingress-admin-from-management", IN_P, ok, ctx) == []
    for bad in (rule(IN_P, "finance-treasury", 22, budget_dr), rule(IN_P, "finance-budget", 5432, treasury_dr),
                rule(IN_P, "finance-treasury", 3389, treasury_dr), rule(IN_DR, "finance-treasury", 22, treasury_dr)):
        assert violations("jiyue-ingress-admin-from-management", bad.urn.split("::")[2], [bad], ctx), bad.name


def _backup_host(name: str, gb: int) -> list:
    stack, lab = "intranet-dr-secrecy", labels("secrecy", "secrecy-inspect", "classified")
    return [res(stack, "compute/instance:Instance", f"secrecy/secrecy-inspect/{name}-server",
                {**lab, "name": name, "flavorName": "s1-small", "powerState": "active"}),
            res(stack, "blockstorage/volume:Volume", f"secrecy/secrecy-inspect/{name}-data",
                {**lab, "size": gb, "metadata": {**lab["metadata"], "drMode": "cold", "backupIntervalMinutes": "60"}})]


@pytest.mark.parametrize("resources,says", [
    (_backup_host("secrecy-inspect-backup", 400), None),
    (_backup_host("secrecy-inspect-backup", 200), "holds 200 GB; its backups need 400 GB"),
    (_backup_host("secrecy-inspect-dr-1", 400), "is a standby server"),
    (_backup_host("secrecy-inspect-dr-1", 400), "has no backup host (secrecy-inspect-backup)"),
    (_backup_host("secrecy-inspect-backup", 400)[:1], "its backup host has no backup volume"),
])
def test_a_cold_system_has_its_backup_host_and_a_volume_for_its_data(resources, says, ctx):
    """secrecy-inspect is cold (RPO 60 min, RTO 480 min): at the DR site one server, its backup host,
    with a volume of twice its data (200 GB on one instance)."""
    found = violations("jiyue-dr-matches-primary", "intranet-dr-secrecy", resources, ctx)
    assert (found == []) if says is None else any(says in m for m in found), found
