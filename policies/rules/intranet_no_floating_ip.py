"""jiyue-intranet-no-floating-ip: nothing on the intranet gets a floating IP or a port forward."""

from __future__ import annotations

from collections.abc import Iterator

from ..citations import mlps
from ..core import Context, Resource, RuleMeta

META = RuleMeta(
    name="jiyue-intranet-no-floating-ip",
    description="No floating IP, floating IP association or port forwarding on the intranet.",
    severity="critical",
    enforcement="mandatory",
    citation=mlps("8.1.3.1 c)", "应能够对内部用户非授权联到外部网络的行为进行检查或限制"),
    requirements=("T3.3", "G8"),
    remediation="Delete the floating IP; an intranet system is reached only from the intranet (and its "
                "administrators only through the intranet bastion).",
)
TYPES = frozenset({
    "openstack:networking/floatingIp:FloatingIp",
    "openstack:networking/floatingIpAssociate:FloatingIpAssociate",
    "openstack:networking/portForwardingV2:PortForwardingV2",
    "openstack:compute/floatingIpAssociate:FloatingIpAssociate",
})


def check(r: Resource, ctx: Context) -> Iterator[str]:
    if ctx.zone_of(r) == "intranet":
        pool = r.get("pool") or r.get("floatingIp") or r.get("floatingipId")
        yield f"{r.short_type} {r.name} on the intranet" + (f" (from {pool})" if isinstance(pool, str) else "")
