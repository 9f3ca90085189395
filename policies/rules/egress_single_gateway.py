"""jiyue-egress-single-gateway: only the extranet foundation's egress router has an external
gateway, one per site; no department has a gateway of its own."""

from __future__ import annotations

from collections.abc import Iterator

from ..citations import mlps
from ..core import Context, Resource, RuleMeta
from .intranet_no_external_gateway import has_gateway

META = RuleMeta(
    name="jiyue-egress-single-gateway",
    description="Only the extranet foundation holds a router with an external gateway (one per site): "
                "every department reaches the Internet through the city's controlled egress.",
    severity="critical",
    enforcement="mandatory",
    citation=mlps("8.1.3.1 a)", "应保证跨越边界的访问和数据流通过边界设备提供的受控接口进行通信"),
    requirements=("T3.5", "G8"),
    remediation="Remove the gateway from the department's router and attach the department's extranet "
                "segment to the extranet zone router with a router interface; Internet traffic leaves "
                "through the egress router of the extranet foundation.",
    kind="stack",
)
ROUTER = "openstack:networking/router:Router"


def check_stack(resources: list[Resource], ctx: Context) -> Iterator[tuple[str, str | None]]:
    gateways = [r for r in resources if r.type == ROUTER and has_gateway(r)]
    if not gateways:
        return
    st = ctx.stack
    if st.zone == "intranet":
        return  # jiyue-intranet-no-external-gateway says it
    if not (st.zone == "extranet" and st.foundation):
        who = f"department {st.department}" if st.department else f"stack {st.name or '(unknown)'}"
        for r in gateways:
            yield f"router {r.name} of {who} has its own external gateway", r.urn
        return
    for r in gateways[1:]:
        yield (f"router {r.name} is a second external gateway in {st.name} (the egress is "
               f"{gateways[0].name}): one controlled egress per site"), r.urn
