"""jiyue-dr-counterpart: every system with an RPO/RTO has its counterpart at the DR site.

How the pack knows (stack rule): the city's facts say which systems of a department
need DR (``dr: {rpo_minutes, rto_minutes}``) and in which zone they live. In the department's DR
stack ``<zone>-dr-<department>`` each of them must own at least one resource (standby server,
volume, port or network, labelled ``system=<id>`` or named after the system): that is its
counterpart. Its mode is the city's DR table's (``dr.mode`` of the facts, from jiyue/dr.py: by the
RTO, and never cold when the RPO is below the shortest backup interval): a hot or warm system also
needs a standby server there, a cold one its backup schedule alone.
``jiyue policy check --all`` also reports a department whose DR stack is missing altogether (the
engine judges one stack at a time and cannot see that).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..citations import mlps
from ..core import Context, Resource, RuleMeta

META = RuleMeta(
    name="jiyue-dr-counterpart",
    description="Every system with an RPO/RTO has resources in its department's DR-site stack.",
    severity="high",
    enforcement="mandatory",
    citation=mlps("8.1.4.9 b)", "应提供异地实时备份功能，利用通信网络将重要数据实时备份至备份场地"),
    requirements=("T3.1",),
    remediation="Declare the system's standby in the department's <zone>-dr-<department> stack (a "
                "replicated volume type, standby networks and capacity by its RTO), labelled system=<id>.",
    kind="stack",
)

SERVER = "openstack:compute/instance:Instance"
STANDBY_MODES = ("hot", "warm")  # a standby server at the DR site; cold has none


def needing_dr(ctx: Context, department: str, zone: str) -> list[str]:
    if ctx.city is None:
        return []
    return [sid for sid in ctx.city.systems_of_department.get(department, ())
            if ctx.city.systems[sid].needs_dr and ctx.city.systems[sid].zone == zone]


def check_stack(resources: list[Resource], ctx: Context) -> Iterator[tuple[str, str | None]]:
    st = ctx.stack
    if ctx.city is None or st.site != "dr" or not st.department:
        return
    present = {ctx.system_of(r) for r in resources}
    servers = {ctx.system_of(r) for r in resources if r.type == SERVER}
    for sid in needing_dr(ctx, st.department, st.zone or ""):
        s = ctx.city.systems[sid]
        need = f"RPO {s.rpo_minutes} min, RTO {s.rto_minutes} min" + (f": {s.dr_mode}" if s.dr_mode else "")
        if sid not in present:
            yield f"system {sid} needs DR ({need}) but has no counterpart in {st.name}", None
        elif s.dr_mode in STANDBY_MODES and sid not in servers:
            yield (f"system {sid} runs {s.dr_mode} at the DR site ({need}) but {st.name} holds no standby "
                   "server for it"), None
