"""jiyue-egress-deny-by-default: every security group denies egress by default, and opens only the
city's allowed flows (jiyue/flows.py, in the facts)."""

from __future__ import annotations

from collections.abc import Iterator

from netaddr import AddrFormatError, IPNetwork

from ..citations import mlps
from ..core import Context, Resource, RuleMeta, as_int, truthy
from ._net import ALL_PROTOCOLS, SECGROUP_RULE

META = RuleMeta(
    name="jiyue-egress-deny-by-default",
    description="Every security group is created without OpenStack's default egress rules (all protocols to "
                "anywhere, IPv4 and IPv6), and each egress rule is a flow of the city's table: the system's "
                "dependencies, its zone's shared services, the Internet egress where the registry allows it, "
                "its migration's pulls.",
    severity="high",
    enforcement="mandatory",
    citation=mlps("8.1.3.2 a)", "应在网络边界或区域之间根据访问控制策略设置访问控制规则，"
                  "默认情况下除允许通信外受控接口拒绝所有通信"),
    requirements=("G8", "T3.3"),
    remediation="Create the group with delete_default_rules=True and write its egress rules from the flow "
                "table (jiyue.flows, FlowTable.egress_rules): a system that needs another flow declares it in "
                "the registry (depends_on), not in the program.",
)
SECGROUP = "openstack:networking/secGroup:SecGroup"
TYPES = frozenset({SECGROUP, SECGROUP_RULE})


def check(r: Resource, ctx: Context) -> Iterator[str]:
    if r.type == SECGROUP:
        if not truthy(r.get("deleteDefaultRules")):
            yield (f"security group {r.get('name') or r.name} keeps OpenStack's default egress rules "
                   "(all protocols to anywhere): set delete_default_rules")
        return
    direction = r.get("direction")
    if not (isinstance(direction, str) and direction.lower() == "egress") or ctx.city is None:
        return
    yield from _egress(r, ctx)


def _egress(r: Resource, ctx: Context) -> Iterator[str]:
    proto = r.get("protocol")
    proto = str(proto).lower() if proto is not None else None
    lo, hi = as_int(r.get("portRangeMin")), as_int(r.get("portRangeMax"))
    prefix, group = r.get("remoteIpPrefix"), r.get("remoteGroupId") or r.get("remoteAddressGroupId")
    to = str(prefix) if prefix else (f"security group {group}" if group else "anywhere")
    what = f"egress {proto or 'all protocols'} {lo if lo == hi else f'{lo}-{hi}'} to {to}"
    if str(r.get("ethertype") or "IPv4") != "IPv4":
        yield f"{what}: IPv6 egress; the plan is IPv4 only and the table has no IPv6 flow"
        return
    if proto in ALL_PROTOCOLS or lo in (None, 0) or hi in (None, 0):
        yield f"{what}: every protocol or every port; the table's flows name one protocol and their ports"
        return
    remote: IPNetwork | None = None
    if prefix:
        try:
            remote = IPNetwork(str(prefix))
        except (AddrFormatError, ValueError):
            yield f"{what}: the remote prefix is not an IPv4 network"
            return
    elif not group:
        yield f"{what}: no remote means anywhere"
        return
    system, site = ctx.system_of(r), ctx.stack.site
    allowed = ctx.city.egress.get((system or "", site or ""), []) if ctx.city else []
    if not any(f.admits(proto, lo, hi, remote) for f in allowed):
        who = f"{system} at the {site} site" if system and site else "a system the city's facts do not place"
        yield f"{what}: no flow of the city's table allows it for {who}"
