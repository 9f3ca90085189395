"""jiyue-subnet-no-overlap: no two subnets of a stack overlap (netaddr)."""

from __future__ import annotations

from collections.abc import Iterator

from netaddr import AddrFormatError, IPNetwork

from ..citations import mlps
from ..core import Context, Resource, RuleMeta

META = RuleMeta(
    name="jiyue-subnet-no-overlap",
    description="No two subnets of a stack overlap.",
    severity="high",
    enforcement="mandatory",
    citation=mlps("8.1.2.1 c)", "应划分不同的网络区域，并按照方便管理和控制的原则为各网络区域分配地址"),
    requirements=("T3.3", "T3.4"),
    remediation="Take every subnet's CIDR from the IP plan (`jiyue ipam`); never hand-write one.",
    kind="stack",
)
SUBNET = "openstack:networking/subnet:Subnet"


def check_stack(resources: list[Resource], ctx: Context) -> Iterator[tuple[str, str | None]]:
    nets: list[tuple[int, int, str, Resource]] = []
    for r in resources:
        if r.type != SUBNET or not r.get("cidr"):
            continue
        try:
            n = IPNetwork(str(r.get("cidr")))
        except (AddrFormatError, ValueError):
            yield f"subnet {r.name} has an unreadable cidr {r.get('cidr')!r}", r.urn
            continue
        nets.append((n.version * 2**128 + n.first, n.version * 2**128 + n.last, str(n.cidr), r))
    nets.sort(key=lambda x: (x[0], -x[1]))
    # sweep: keep the subnet reaching furthest; anything starting before it ends overlaps it
    reach: tuple[int, int, str, Resource] | None = None
    for item in nets:
        if reach is not None and item[0] <= reach[1]:
            yield f"subnet {item[3].name} ({item[2]}) overlaps subnet {reach[3].name} ({reach[2]})", item[3].urn
        if reach is None or item[1] > reach[1]:
            reach = item
