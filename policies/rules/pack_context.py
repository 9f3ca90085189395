"""jiyue-pack-context: the pack knows where it judges (zone and site) and can read the city's facts.

Every other rule needs one or both; without them the pack cannot vouch for a stack, so this rule
fails the stack instead of letting the others pass by default.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..citations import plan
from ..city import CityFacts
from ..core import Context, Resource, RuleMeta, city_or_error

META = RuleMeta(
    name="jiyue-pack-context",
    description="The stack is one of the city's stacks (<zone>-<site>-foundation or "
                "<zone>-<site>-<department>) and the city's facts are readable (pack config facts or JIYUE_FACTS).",
    severity="high",
    enforcement="mandatory",
    citation=plan("G8", "every security rule judges a stack by its zone and the city's facts: a stack the "
                        "pack cannot place, or facts it cannot read, fail closed instead of passing unjudged"),
    requirements=("G8",),
    remediation="Name the stack after its zone and site (`jiyue infra stacks` lists them); write the city's "
                "facts with `jiyue policy facts --out FILE` and give FILE as the pack config facts or in JIYUE_FACTS.",
    kind="stack",
)


def check_stack(resources: list[Resource], ctx: Context) -> Iterator[tuple[str, str | None]]:
    got = city_or_error(ctx.config)
    if not isinstance(got, CityFacts):
        yield f"cannot read the city's facts: {got}", None
    elif not ctx.stack.known:
        yield (f"stack {ctx.stack.name or '(unnamed)'} is not a stack of the city {got.city} "
               f"(<zone>-<site>-foundation or <zone>-<site>-<department>): the pack cannot tell its zone"), None
