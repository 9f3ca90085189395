"""jiyue-ingress-admin-from-management: SSH, RDP and database ports only from the management range."""

from __future__ import annotations

from collections.abc import Iterator

from ..citations import mlps
from ..core import Context, Resource, RuleMeta
from ._net import ADMIN_PORTS, DB_PORTS, SECGROUP_RULE, ingress

META = RuleMeta(
    name="jiyue-ingress-admin-from-management",
    description="SSH (22) and RDP (3389) are reachable only from the bastion/management range; database "
                "ports only from that range or from a named security group (the system's own app tier); "
                "at the primary site also from the system's own DR hosts, on what they replicate "
                "(the city's replication flows: ssh for the file sync, PostgreSQL for the standby).",
    severity="high",
    enforcement="mandatory",
    citation=mlps("8.1.4.4 c)", "应通过设定终端接入方式或网络地址范围对通过网络进行管理的管理终端进行限制"),
    requirements=("G8",),
    remediation="Set remote_ip_prefix to the site's management range (addressing.management in "
                "city.yaml) for SSH/RDP; for database ports use the management range or "
                "remote_group_id of the application's security group.",
)
TYPES = frozenset({SECGROUP_RULE})


def check(r: Resource, ctx: Context) -> Iterator[str]:
    rule = ingress(r)
    if rule is None or ctx.city is None:
        return
    if rule.remote_kind == "cidr" and ctx.city.in_management(rule.remote):  # type: ignore[arg-type]
        return
    ports = {**ADMIN_PORTS, **DB_PORTS}
    extra = ctx.config.get("dbPorts") or []
    ports.update({int(p): "database" for p in extra})
    hit = [(p, what) for p, what in sorted(ports.items()) if rule.covers(p)]
    if not hit:
        return
    if rule.remote_kind == "group":
        hit = [(p, what) for p, what in hit if p in ADMIN_PORTS]
        if not hit:
            return
    if rule.remote_kind == "cidr":  # the system's DR hosts replicating from it
        sid = ctx.system_of(r)
        allowed = ctx.city.replication.get((sid, ctx.stack.site or ""), []) if sid else []
        hit = [(p, what) for p, what in hit
               if not any(a.admits(rule.protocol, p, rule.remote) for a in allowed)]  # type: ignore[arg-type]
        if not hit:
            return
    names = ", ".join(f"{what} {p}" for p, what in hit[:4]) + (" ..." if len(hit) > 4 else "")
    yield f"{rule.describe()} opens {names} from outside the management range"
