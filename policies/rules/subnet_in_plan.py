"""jiyue-subnet-in-plan: every subnet lies in its zone and site's supernet or the management range."""

from __future__ import annotations

from collections.abc import Iterator

from netaddr import AddrFormatError, IPNetwork

from ..citations import mlps
from ..core import Context, Resource, RuleMeta

META = RuleMeta(
    name="jiyue-subnet-in-plan",
    description="Every subnet lies inside its zone and site's supernet, the site's management range or "
                "(extranet foundation only) the egress network.",
    severity="medium",
    enforcement="mandatory",
    citation=mlps("8.1.2.1 c)", "应划分不同的网络区域，并按照方便管理和控制的原则为各网络区域分配地址"),
    requirements=("T3.3", "T3.4"),
    remediation="Take the subnet's CIDR from the IP plan (`jiyue ipam`) of its zone and site.",
)
SUBNET = "openstack:networking/subnet:Subnet"
TYPES = frozenset({SUBNET})


def check(r: Resource, ctx: Context) -> Iterator[str]:
    st, city = ctx.stack, ctx.city
    cidr = r.get("cidr")
    if not cidr or city is None or not st.known or st.site is None:
        return
    try:
        net = IPNetwork(str(cidr))
    except (AddrFormatError, ValueError):
        yield f"subnet {r.name} has an unreadable cidr {cidr!r}"
        return
    allowed = [n for n in (city.supernets.get((st.zone, st.site)), city.management.get(st.site)) if n is not None]
    if st.zone == "extranet" and st.foundation and city.egress_cidr is not None:
        allowed.append(city.egress_cidr)
    if not any(net in a for a in allowed):
        yield (f"subnet {r.name} ({net.cidr}) is outside the {st.zone} {st.site} plan "
               f"({', '.join(str(a) for a in allowed)})")
