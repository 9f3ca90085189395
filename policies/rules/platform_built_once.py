"""jiyue-platform-built-once: no department builds a platform the city provides once (T4.5)."""

from __future__ import annotations

from collections.abc import Iterator

from ..citations import plan
from ..core import Context, Resource, RuleMeta

META = RuleMeta(
    name="jiyue-platform-built-once",
    description="Shared platforms (sharing/exchange, portal, open data, government service, collaborative "
                "office, government website) are built only by the city's platform department.",
    severity="medium",
    enforcement="mandatory",
    citation=plan("T4.5", "common needs are built once, centrally: no department rebuilds a platform the "
                          "city already provides"),
    requirements=("T4.5", "T3.2", "G5"),
    remediation="Remove the department's own platform and use the city's (run by the platform "
                "department); ask the programme office if the city's platform lacks something.",
)


def check(r: Resource, ctx: Context) -> Iterator[str]:
    dep, city = ctx.department_of(r), ctx.city
    if not dep or city is None or dep == city.platform_department or not r.type.startswith("openstack:"):
        return
    kind = r.labels.get("platform")
    if not kind:
        sid = ctx.system_of(r)
        if sid and sid in city.systems:
            kind = city.systems[sid].platform
    if kind:
        yield (f"{r.short_type} {r.name}: department {dep} builds the {kind} platform, which the city "
               f"provides once through {city.platform_department}")
