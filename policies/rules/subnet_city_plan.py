"""jiyue-subnet-city-plan: every subnet lies in a segment the city's IP plan gives its own stack.

``jiyue-subnet-no-overlap`` compares the subnets of one stack; the engine shows the pack one stack
at a time, so two stacks whose subnets overlap each pass it. The facts hold the whole plan (every
segment with the stack that builds it, :mod:`jiyue.ipam`, whose segments never overlap), so a
subnet inside one of its own stack's segments overlaps no other stack's subnet. The extranet
foundation also holds the egress network's subnet.
"""

from __future__ import annotations

from collections.abc import Iterator

from netaddr import AddrFormatError, IPNetwork

from ..citations import mlps
from ..core import Context, Resource, RuleMeta

META = RuleMeta(
    name="jiyue-subnet-city-plan",
    description="Every subnet lies in a segment the city's IP plan gives its own stack, so no two stacks' "
                "subnets overlap anywhere in the city.",
    severity="high",
    enforcement="mandatory",
    citation=mlps("8.1.2.1 c)", "应划分不同的网络区域，并按照方便管理和控制的原则为各网络区域分配地址"),
    requirements=("T3.3", "T3.4"),
    remediation="Take the subnet's CIDR from the segment `jiyue ipam` lists for this stack; a new segment "
                "comes from the plan (ipam.lock.yaml), never by hand.",
)
SUBNET = "openstack:networking/subnet:Subnet"
TYPES = frozenset({SUBNET})


def check(r: Resource, ctx: Context) -> Iterator[str]:
    st, city = ctx.stack, ctx.city
    cidr = r.get("cidr")
    if not cidr or city is None or not st.known or not city.segments:
        return
    try:
        net = IPNetwork(str(cidr))
    except (AddrFormatError, ValueError):
        return  # jiyue-subnet-in-plan reports an unreadable cidr
    own = st.name.rsplit("/", 1)[-1]
    if any(net in g.net for g in city.segments if g.stack == own):
        return
    if st.foundation and st.zone == "extranet" and city.egress_cidr is not None and net in city.egress_cidr:
        return
    others = [g for g in city.segments if g.stack != own and (net.first <= g.net.last and g.net.first <= net.last)]
    if others:
        shown = ", ".join(f"{g.name} ({g.net.cidr}) of {g.stack}" for g in others[:3])
        more = f" and {len(others) - 3} more" if len(others) > 3 else ""
        yield f"subnet {r.name} ({net.cidr}) overlaps {shown}{more}: two stacks would route the same addresses"
    else:
        yield f"subnet {r.name} ({net.cidr}) lies in no segment the city's IP plan gives {own}"
