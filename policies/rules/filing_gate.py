"""jiyue-filing-gate: no system is deployed before its filing (备案) is complete (G6).

The registry holds the filing: per system ``filing`` (project id, funding kind, amount, approval
number, date), the resource catalog ``data_resources`` (each with its sharing type: the sharing
list) and the requirement list ``data_needs``. What a system still lacks is computed once, by
``jiyue.catalog`` (``filing_gaps`` of a system ``in_scope``), and reaches the pack in the city's
facts; this rule reports it for every system the stack deploys. While no system of the registry
files anything at all, the gate passes: there is nothing to judge yet.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..citations import plan
from ..core import Context, Resource, RuleMeta

META = RuleMeta(
    name="jiyue-filing-gate",
    description="A system that gets construction or O&M money is deployed only with a complete filing "
                "(备案): filing record, resource catalog with its sharing list, requirement list (G6).",
    severity="high",
    enforcement="mandatory",
    citation=plan("G6", "备案: a project asking for construction or O&M money files its resource catalog, "
                        "requirement list and sharing list, else it is not approved and gets no money"),
    requirements=("G6",),
    remediation="Complete the system's filing in the registry (`jiyue filing check` lists what is "
                "missing) and have it approved before deploying.",
    kind="stack",
)


def check_stack(resources: list[Resource], ctx: Context) -> Iterator[tuple[str, str | None]]:
    city = ctx.city
    if city is None or not city.filing_recorded:
        return
    first_urn: dict[str, str] = {}
    for r in resources:
        sid = ctx.system_of(r)
        if sid and sid in city.systems and r.type.startswith("openstack:"):
            first_urn.setdefault(sid, r.urn)
    for sid, urn in sorted(first_urn.items()):
        missing = city.systems[sid].filing_gaps
        if missing:
            yield f"system {sid} has no complete filing (备案): missing {', '.join(missing)}", urn
