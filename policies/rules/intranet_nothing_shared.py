"""jiyue-intranet-nothing-shared: no intranet network, subnet or router is shared beyond the intranet,
and no resource labelled for the extranet lives in an intranet stack."""

from __future__ import annotations

from collections.abc import Iterator

from ..citations import mlps
from ..core import Context, Resource, RuleMeta, truthy

META = RuleMeta(
    name="jiyue-intranet-nothing-shared",
    description="Nothing on the intranet is shared with every project (and so with the extranet), "
                "and no extranet-labelled resource sits in an intranet stack.",
    severity="high",
    enforcement="mandatory",
    citation=mlps("8.2.2.1 b)", "应实现不同云服务客户虚拟网络之间的隔离"),
    requirements=("T3.3", "G8"),
    remediation="Set shared: false; share an intranet network with a named intranet project through an "
                "RBAC policy (never target_tenant '*'); move extranet resources to the extranet stack.",
)
RBAC = "openstack:networking/rbacPolicyV2:RbacPolicyV2"


def check(r: Resource, ctx: Context) -> Iterator[str]:
    if ctx.stack.zone != "intranet" and ctx.zone_of(r) != "intranet":
        return
    if not r.type.startswith("openstack:"):
        return
    if truthy(r.get("shared")):
        yield f"{r.short_type} {r.name} is shared with every project, extranet ones included"
    if r.type == RBAC and r.get("targetTenant") == "*":
        yield f"RBAC policy {r.name} shares {r.get('objectType') or 'an object'} with every project ('*')"
    if ctx.stack.zone == "intranet" and r.labels.get("zone") == "extranet":
        yield f"{r.short_type} {r.name} is labelled zone=extranet but sits in the intranet stack {ctx.stack.name}"
