"""Each department's integration list (整合共享清单, T2.1): retire, merge, migrate as is.

Systems the score retires are retired. The rest are grouped into the department's one "big
system" (T2.2) where they overlap: one covers another's function (``replaceable_by`` inside the
department), they hold the same catalog data (the same resource key), or one calls the other; a
group of two or more is merged into its most used member. A district or street department's
systems are flagged: districts may not build systems of their own (T2.2), so each is to be
merged into the city system that covers it, or justified.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from jiyue.registry import CityModel

from .score import Score


@dataclass
class MergeGroup:
    into: str
    members: list[str]
    why: list[str]


@dataclass
class IntegrationList:
    department: str
    name: str
    tier: str
    retire: list[str] = field(default_factory=list)
    merge: list[MergeGroup] = field(default_factory=list)
    migrate: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    district_flags: list[str] = field(default_factory=list)


def integration_lists(model: CityModel, scores: dict[str, Score], departments: list[str] | None = None
                      ) -> list[IntegrationList]:
    out = []
    for dep_id in departments or sorted(model.departments):
        dep = model.departments[dep_id]
        lst = IntegrationList(dep.id, dep.names.zh, dep.tier.value)
        alive = []
        for s in dep.systems:
            verdict = scores[s.id].verdict if s.id in scores else "review"
            if verdict == "retire":
                lst.retire.append(s.id)
            else:
                alive.append(s)
                if verdict == "review":
                    lst.review.append(s.id)
        ids = {s.id for s in alive}
        edges: dict[str, set[str]] = defaultdict(set)
        why: dict[frozenset[str], str] = {}

        def link(a: str, b: str, reason: str, edges: dict[str, set[str]] = edges,
                 why: dict[frozenset[str], str] = why) -> None:
            edges[a].add(b)
            edges[b].add(a)
            why.setdefault(frozenset((a, b)), reason)

        holders: dict[str, list[str]] = defaultdict(list)
        for s in alive:
            if s.replaceable_by in ids:
                link(s.id, s.replaceable_by, f"{s.replaceable_by} covers the function of {s.id}")
            for d in s.depends_on:
                if d in ids:
                    link(s.id, d, f"{s.id} calls {d}")
            for r in s.data_resources or []:
                holders[r.id].append(s.id)
        for key, hs in holders.items():
            for other in hs[1:]:
                link(hs[0], other, f"{hs[0]} and {other} both hold {key}")
        seen: set[str] = set()
        for s in alive:
            if s.id in seen:
                continue
            comp, todo = [], [s.id]
            while todo:
                x = todo.pop()
                if x in seen:
                    continue
                seen.add(x)
                comp.append(x)
                todo.extend(edges[x] - seen)
            if len(comp) > 1:
                members = sorted(comp, key=lambda x: (-model.systems[x].users, x))
                reasons = sorted({r for pair, r in why.items() if pair <= set(comp)})
                lst.merge.append(MergeGroup(into=members[0], members=members, why=reasons))
            else:
                lst.migrate.append(s.id)
        if dep.tier.value != "city":
            for s in dep.systems:
                target = f"; merge into the city's {s.replaceable_by}" if s.replaceable_by else "; justify it"
                lst.district_flags.append(f"{s.id}: a {dep.tier.value} system (T2.2){target}")
        out.append(lst)
    return out
