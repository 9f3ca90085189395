"""jiyue-intranet-no-external-gateway: no intranet router has a gateway to an external network."""

from __future__ import annotations

from collections.abc import Iterator

from ..citations import mlps
from ..core import Context, Resource, RuleMeta

META = RuleMeta(
    name="jiyue-intranet-no-external-gateway",
    description="An intranet router has no external gateway: the intranet never reaches the Internet.",
    severity="critical",
    enforcement="mandatory",
    citation=mlps("8.1.2.1 d)", "应避免将重要网络区域部署在边界处，"
                  "重要网络区域与其他网络区域之间应采取可靠的技术隔离手段"),
    requirements=("T3.3", "G8"),
    remediation="Remove externalNetworkId/externalFixedIps/externalSubnetIds from the router; intranet "
                "segments attach to the intranet zone router with router interfaces only.",
)
TYPES = frozenset({"openstack:networking/router:Router"})
GATEWAY_INPUTS = ("externalNetworkId", "externalFixedIps", "externalSubnetIds")


def has_gateway(r: Resource) -> bool:
    return any(r.get(k) for k in GATEWAY_INPUTS)


def check(r: Resource, ctx: Context) -> Iterator[str]:
    if ctx.zone_of(r) == "intranet" and has_gateway(r):
        yield f"router {r.name} has an external gateway ({', '.join(k for k in GATEWAY_INPUTS if r.get(k))})"
