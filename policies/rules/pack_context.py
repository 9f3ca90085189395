"""jiyue-pack-context: the pack knows where it judges (zone and site) and can read the registry.

Every other rule needs one or both; without them the pack cannot vouch for a stack, so this rule
fails the stack instead of letting the others pass by default.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..city import CityFacts
from ..core import Context, Resource, RuleMeta, city_or_error, city_path

META = RuleMeta(
    name="jiyue-pack-context",
    description="The stack is named <zone>-<site>-foundation or <zone>-<site>-<department> and the city "
                "registry is readable (config jiyue:city).",
    severity="high",
    enforcement="mandatory",
    control="8.1.5.4 a)",
    control_title="集中管控: 划分出特定的管理区域，对分布在网络中的安全设备或安全组件进行管控",
    requirements=("G8",),
    remediation="Name the stack after its zone and site (infra/preview.py stacks()); set the stack config "
                "jiyue:city (or JIYUE_CITY) to the registry directory.",
    kind="stack",
)


def check_stack(resources: list[Resource], ctx: Context) -> Iterator[tuple[str, str | None]]:
    if not ctx.stack.known:
        yield (f"stack {ctx.stack.name or '(unnamed)'} is not named <zone>-<site>-foundation or "
               f"<zone>-<site>-<department>: the pack cannot tell its zone"), None
    got = city_or_error(ctx.config)
    if not isinstance(got, CityFacts):
        yield f"cannot read the city registry at {city_path(ctx.config)}: {got}", None
    elif ctx.stack.department and ctx.stack.department not in got.quotas:
        yield f"department {ctx.stack.department} of stack {ctx.stack.name} is not in the registry", None
