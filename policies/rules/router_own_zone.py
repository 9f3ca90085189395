"""jiyue-router-own-zone: a stack attaches its subnets only to its own zone's router.

A router interface joins a subnet to a router: one on the other zone's router joins the intranet
and the extranet, the path T3.3 forbids. The engine gives a stack policy each property's
dependencies (the resources its value came from) and a StackReference's outputs (what was read),
so the rule sees where each interface's ``routerId`` came from:

- in a foundation, from a router of the same stack (the zone's own);
- in a department stack, from the StackReference to its own zone and site's foundation
  (``<zone>-<site>-foundation``), and equal to that foundation's ``routerId`` output when it was read.

A StackReference to another zone's foundation is itself a violation: a department stack has no
business with the other zone. A ``routerId`` whose origin is not recorded at all (a literal) is
reported too: nobody can tell which router it names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ..citations import mlps
from ..core import Context, Resource, RuleMeta, name_of_urn

META = RuleMeta(
    name="jiyue-router-own-zone",
    description="Router interfaces attach a stack's subnets only to its own zone's router (from its own "
                "zone and site's foundation).",
    severity="critical",
    enforcement="mandatory",
    citation=mlps("8.1.3.1 a)", "应保证跨越边界的访问和数据流通过边界设备提供的受控接口进行通信"),
    requirements=("T3.3",),
    remediation="Take routerId from the StackReference to this stack's own <zone>-<site>-foundation "
                "(its routerId output); never from the other zone's foundation or as a literal.",
    kind="stack",
)
INTERFACE = "openstack:networking/routerInterface:RouterInterface"
ROUTER = "openstack:networking/router:Router"
REFERENCE = "pulumi:pulumi:StackReference"
ROUTER_OUTPUT = "routerId"  # the foundation's output (infra/outputs.py)


def _referenced_stack(r: Resource) -> str:
    """``organization/project/intranet-primary-foundation`` -> ``intranet-primary-foundation``."""
    return str(r.get("name") or "").rsplit("/", 1)[-1]


def check_stack(resources: list[Resource], ctx: Context) -> Iterator[tuple[str, str | None]]:
    st, city = ctx.stack, ctx.city
    if city is None or not st.known:
        return
    own_foundation = f"{st.zone}-{st.site}-foundation"
    by_urn = {r.urn: r for r in resources}
    for r in resources:
        if r.type != REFERENCE:
            continue
        target = city.stacks.get(_referenced_stack(r))
        if target is not None and target.zone != st.zone:
            yield (f"{r.name} reads {_referenced_stack(r)}, a stack of the {target.zone}: a {st.zone} stack "
                   "has no business with the other zone"), r.urn
    for r in resources:
        if r.type != INTERFACE:
            continue
        router_id = r.get("routerId")
        origins = [by_urn.get(u) for u in r.dependencies.get("routerId", ())]
        if not r.dependencies.get("routerId"):
            if router_id and not _came_from_own_foundation(router_id, resources, own_foundation):
                yield (f"{r.name} attaches to router {router_id!r}, which comes from no router of {st.name} "
                       f"and no output of {own_foundation}"), r.urn
            continue
        for u, origin in zip(r.dependencies["routerId"], origins, strict=True):
            if origin is None:
                yield f"{r.name} takes its routerId from {name_of_urn(u)}, which is not a resource of {st.name}", r.urn
            elif origin.type == ROUTER:
                if not st.foundation:
                    yield (f"{r.name} attaches to {origin.name}, a router of its own: a department's subnets "
                           f"go on the zone's router (from {own_foundation})"), r.urn
            elif origin.type == REFERENCE:
                read = _referenced_stack(origin)
                if read != own_foundation:
                    yield (f"{r.name} attaches to the router of {read}; {st.name} belongs on the router "
                           f"of {own_foundation}"), r.urn
                else:
                    outputs = origin.get("outputs")
                    want = outputs.get(ROUTER_OUTPUT) if isinstance(outputs, Mapping) else None
                    if want is not None and router_id is not None and router_id != want:
                        yield (f"{r.name} attaches to router {router_id!r}, not {own_foundation}'s "
                               f"routerId {want!r}"), r.urn
            else:
                yield f"{r.name} takes its routerId from {origin.name} ({origin.short_type}), not from a router", r.urn


def _came_from_own_foundation(router_id: object, resources: list[Resource], own_foundation: str) -> bool:
    """Without recorded dependencies: the value equals the own foundation's routerId output."""
    for r in resources:
        if r.type == REFERENCE and _referenced_stack(r) == own_foundation:
            outputs = r.get("outputs")
            if isinstance(outputs, Mapping) and outputs.get(ROUTER_OUTPUT) == router_id:
                return True
    return False
