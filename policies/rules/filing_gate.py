"""jiyue-filing-gate: no system is deployed before its filing (备案) is complete (G6).

The registry holds the filing (issue 8): per system ``filing`` (project id, funding kind, amount,
approval number, date), the resource catalog ``data_resources`` (each with its sharing type: the
sharing list) and the requirement list ``data_needs``. ``gaps()`` mirrors
``jiyue.catalog.filing_gaps`` on the raw registry data (the pack runs without ``jiyue``; a test
keeps the two in step), and ``in_scope()`` mirrors ``jiyue.catalog.in_scope``. While the
registry carries no filing data at all, the gate passes: there is nothing to judge yet.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..core import Context, Resource, RuleMeta

META = RuleMeta(
    name="jiyue-filing-gate",
    description="A system that gets construction or O&M money is deployed only with a complete filing "
                "(备案): filing record, resource catalog with its sharing list, requirement list (G6).",
    severity="high",
    enforcement="mandatory",
    control="8.1.10.1 d)",
    control_title="定级和备案: 将备案材料报主管部门和相应公安机关备案",
    requirements=("G6",),
    remediation="Complete the system's filing in the registry (`jiyue filing check` lists what is "
                "missing) and have it approved before deploying.",
    kind="stack",
)
FILING_FIELDS = ("project_id", "funding_kind", "amount_wan", "approval_number", "date")


def in_scope(system: Mapping[str, Any]) -> bool:
    """G6 applies to a system that asks for money: O&M money every year, or construction money (a
    filing of the construction kind), and is not retired; mirrors ``jiyue.catalog.in_scope``."""
    if system.get("retirement") is not None:
        return False
    funds = system.get("funds") or {}
    filing = system.get("filing")
    construction = isinstance(filing, Mapping) and filing.get("funding_kind") == "construction"
    return (funds.get("om_wan_per_year") or 0) > 0 or construction


def gaps(system: Mapping[str, Any]) -> list[str]:
    """What the system's filing lacks (field paths, as ``jiyue filing check`` names them)."""
    out: list[str] = []
    filing = system.get("filing")
    if not isinstance(filing, Mapping):
        out.append("filing")
    else:
        out += [f"filing.{f}" for f in FILING_FIELDS if filing.get(f) in (None, "")]
    resources = system.get("data_resources")
    if resources is None:
        out.append("data_resources")
    else:
        for i, r in enumerate(resources):
            sharing = r.get("sharing")
            if sharing is None:
                out.append(f"data_resources[{i}].sharing")
            elif sharing == "conditional" and not r.get("conditions"):
                out.append(f"data_resources[{i}].conditions")
            elif sharing == "not-shared" and not r.get("legal_basis"):
                out.append(f"data_resources[{i}].legal_basis")
    if system.get("data_needs") is None:
        out.append("data_needs")
    return out


def check_stack(resources: list[Resource], ctx: Context) -> Iterator[tuple[str, str | None]]:
    city = ctx.city
    if city is None or not city.filing_enabled:
        return
    first_urn: dict[str, str] = {}
    for r in resources:
        sid = ctx.system_of(r)
        if sid and sid in city.systems and r.type.startswith("openstack:"):
            first_urn.setdefault(sid, r.urn)
    for sid, urn in sorted(first_urn.items()):
        raw = city.systems[sid].raw
        missing = gaps(raw) if in_scope(raw) else []
        if missing:
            yield f"system {sid} has no complete filing (备案): missing {', '.join(missing)}", urn
