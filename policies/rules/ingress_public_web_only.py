"""jiyue-ingress-public-web-only: ingress from anywhere only to 80/443 of public-facing extranet systems."""

from __future__ import annotations

from collections.abc import Iterator

from ..citations import mlps
from ..core import Context, Resource, RuleMeta
from ._net import SECGROUP_RULE, ingress

META = RuleMeta(
    name="jiyue-ingress-public-web-only",
    description="Ingress from anywhere (0.0.0.0/0, ::/0 or no remote) is allowed only as TCP 80/443 "
                "to a public-facing system on the extranet.",
    severity="critical",
    enforcement="mandatory",
    citation=mlps("8.1.3.2 c)", "应对源地址、目的地址、源端口、目的端口和协议等进行检查，以允许/拒绝数据包进出"),
    requirements=("G8", "T3.5"),
    remediation="Narrow remote_ip_prefix to the sources that need the service, or, for a public web "
                "system, open only TCP 80/443 and mark the system public_facing in the registry.",
)
TYPES = frozenset({SECGROUP_RULE})


def check(r: Resource, ctx: Context) -> Iterator[str]:
    rule = ingress(r)
    if rule is None or not rule.from_anywhere:
        return
    zone = ctx.zone_of(r)
    if zone == "intranet":
        yield f"{rule.describe()} on the intranet"
        return
    allowed = ctx.city.allowed_ports if ctx.city else frozenset({80, 443})
    if rule.protocol != "tcp" or rule.hi - rule.lo > 64 or not all(
            p in allowed for p in range(rule.lo, rule.hi + 1)):
        yield f"{rule.describe()}: only TCP {'/'.join(map(str, sorted(allowed)))} may be open to anywhere"
        return
    if ctx.stack.foundation and ctx.stack.zone == "extranet":
        return  # the egress's own web front (the city's controlled interface)
    sid = ctx.system_of(r)
    if ctx.city is None:
        return  # jiyue-pack-context reports the missing registry
    if sid is None:
        yield f"{rule.describe()}: the rule belongs to no known system, so none is public-facing"
    elif sid not in ctx.city.systems:
        yield f"{rule.describe()}: system {sid} is not in the registry"
    elif not ctx.city.systems[sid].public_facing:
        yield f"{rule.describe()}: system {sid} is not public-facing in the registry"
