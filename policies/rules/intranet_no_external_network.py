"""jiyue-intranet-no-external-network: no intranet network is external or a provider network, and
no intranet port, subnet or server sits on the external network."""

from __future__ import annotations

from collections.abc import Iterator

from ..citations import mlps
from ..core import Context, Resource, RuleMeta, truthy

META = RuleMeta(
    name="jiyue-intranet-no-external-network",
    description="No intranet network is external or provider-mapped; no intranet port sits on an external network.",
    severity="critical",
    enforcement="mandatory",
    citation=mlps("8.1.2.1 d)", "应避免将重要网络区域部署在边界处，"
                  "重要网络区域与其他网络区域之间应采取可靠的技术隔离手段"),
    requirements=("T3.3", "G8"),
    remediation="Use tenant (VXLAN) networks on the intranet; set external: false, drop provider segments "
                "and value_specs provider:*/router:external, and attach ports only to intranet networks.",
)
NETWORK = "openstack:networking/network:Network"
ON_NETWORK = frozenset({"openstack:networking/port:Port", "openstack:networking/subnet:Subnet"})
INSTANCE = "openstack:compute/instance:Instance"
TYPES = frozenset({NETWORK, INSTANCE, *ON_NETWORK})
PROVIDER_SPECS = ("provider:network_type", "provider:physical_network", "provider:segmentation_id",
                  "router:external")


def external_names(ctx: Context) -> set[str]:
    names = {str(n) for n in ctx.config.get("externalNetworks", [])}
    if ctx.city and ctx.city.egress_network:
        names.add(ctx.city.egress_network)
    return names


def check(r: Resource, ctx: Context) -> Iterator[str]:
    if ctx.zone_of(r) != "intranet":
        return
    if r.type == NETWORK:
        if truthy(r.get("external")):
            yield f"network {r.name} is external"
        if r.get("segments"):
            yield f"network {r.name} is a provider network (segments)"
        specs = r.get("valueSpecs") or {}
        bad = [k for k in PROVIDER_SPECS if k in specs]
        if bad:
            yield f"network {r.name} sets {', '.join(bad)}"
        return
    externals = external_names(ctx)
    if r.type in ON_NETWORK:
        net = r.get("networkId")
        if isinstance(net, str) and net in externals:
            yield f"{r.short_type} {r.name} is on the external network {net}"
        return
    for i, n in enumerate(r.get("networks") or []):
        for key in ("name", "uuid"):
            v = n.get(key)
            if isinstance(v, str) and v in externals:
                yield f"server {r.name} networks[{i}] is the external network {v}"
