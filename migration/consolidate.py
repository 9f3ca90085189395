"""Several legacy hosts onto fewer targets, losing nothing (T2.2, T4.3).

:func:`copy_plan` decides, from the registry alone, which source's tree lands where on each
target; :func:`problems` judges that plan against what the sources hold (their manifests, as
:mod:`migration.probes` measures them) and says what would be lost; :func:`expected` composes
what each target must hold from every source it is built from. The precheck refuses a plan with
problems before anything is copied; the verification compares each target with what
:func:`expected` composes from the sources as they are at verification time.

A manifest is ``{relative path: [digest, mode, uid, gid, mtime, acl, user, group]}``. Two hosts
hold "the same file" when digest, mode, owner and ACL agree: an mtime alone is no difference of
data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from jiyue.registry.schema import Consolidation, ConsolidationMode, System

Manifest = dict[str, list]
#: the manifest fields that make two copies of a file the same data (digest, mode, owner, acl)
SAME = (0, 1, 2, 3, 5, 6, 7)


@dataclass(frozen=True)
class Copy:
    """One tree copied: ``source``'s ``path`` to ``dest`` on the target. ``delete`` makes ``dest``
    an exact copy; a union's later sources add to what the first one laid down."""

    source: str
    path: str
    dest: str
    delete: bool = True

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "path": self.path, "dest": self.dest, "delete": self.delete}


@dataclass(frozen=True)
class Tree:
    """What one target holds under ``dest`` and which sources' ``path`` it is built from."""

    dest: str
    holders: tuple[str, ...]
    path: str
    rule: Consolidation | None

    @property
    def mode(self) -> str:
        return self.rule.mode.value if self.rule else ("identical" if len(self.holders) > 1 else "single")

    def copies(self) -> list[Copy]:
        if self.rule is None:
            return [Copy(self.holders[0], self.path, self.dest)]
        if self.rule.mode is ConsolidationMode.authoritative:
            return [Copy(self.rule.source or self.holders[0], self.path, self.dest)]
        if self.rule.mode is ConsolidationMode.union:
            return [Copy(h, self.path, self.dest, delete=i == 0) for i, h in enumerate(self.holders)]
        return [Copy(self.holders[0], self.path, self.dest)]  # distinct: one tree per host


def assign(system: System, targets: Sequence[str]) -> dict[str, str]:
    """Each legacy host's target: the hosts in order over the targets in order."""
    return {h.name: targets[j % len(targets)] for j, h in enumerate(system.legacy_hosts)}


def trees(system: System, targets: Sequence[str]) -> dict[str, list[Tree]]:
    """Per target, every tree it will hold."""
    where = assign(system, targets)
    out: dict[str, list[Tree]] = {t: [] for t in dict.fromkeys(targets)}
    for target in out:
        sources = [h for h in system.legacy_hosts if where[h.name] == target]
        paths = list(dict.fromkeys(p for h in sources for p in h.data_paths))
        for path in paths:
            holders = tuple(h.name for h in sources if path in h.data_paths)
            rule = system.consolidation.get(path) if len(holders) > 1 else None
            if rule is not None and rule.mode is ConsolidationMode.distinct:
                out[target] += [Tree(rule.targets[h], (h,), path, None) for h in holders]
            else:
                out[target].append(Tree(path, holders, path, rule))
    return out


def copy_plan(system: System, targets: Sequence[str]) -> dict[str, list[Copy]]:
    """Per target, the copies that build it, in the order they run."""
    return {t: [c for tree in ts for c in tree.copies()] for t, ts in trees(system, targets).items()}


def _same(a: list, b: list) -> bool:
    return all(a[i] == b[i] for i in SAME)


def compose(tree: Tree, manifests: Mapping[tuple[str, str], Manifest | None]) -> tuple[Manifest | None, list[str]]:
    """What ``tree`` must hold, from its sources' manifests (keyed by (host, path)), and the
    problems that stop it from holding all of them (each a sentence a person can act on)."""
    got = {h: manifests.get((h, tree.path)) for h in tree.holders}
    missing = [h for h, m in got.items() if m is None]
    if missing:
        return None, [f"{tree.path} is missing on {', '.join(missing)}"]
    first = tree.holders[0]
    if tree.rule is None:
        base = got[first]
        problems = []
        for other in tree.holders[1:]:
            diff = _differences(base, got[other])
            if diff:
                problems.append(
                    f"{tree.path}: {first} and {other} hold different trees ({len(diff)} file(s) differ, "
                    f"e.g. {', '.join(diff[:3])}); one target can hold only one of them. Say in the registry "
                    f"how they combine (consolidation: {{{tree.path}: {{mode: union | authoritative | distinct}}}})")
        return base, problems
    if tree.rule.mode is ConsolidationMode.authoritative:
        source = tree.rule.source or first
        base = got[source]
        problems = []
        for other in tree.holders:
            lost = sorted(set(got[other]) - set(base))
            if other != source and lost:
                problems.append(f"{tree.path}: {len(lost)} file(s) of {other} are not in {source}'s tree and would "
                                f"be lost (e.g. {', '.join(lost[:3])}); copy them to {source} first, or choose "
                                "mode union or distinct")
        return base, problems
    union: Manifest = {}
    owner: dict[str, str] = {}
    conflicts: list[str] = []
    for h in tree.holders:
        for rel, entry in got[h].items():
            if rel in union and not _same(union[rel], entry):
                conflicts.append(f"{rel} ({owner[rel]} vs {h})")
                continue
            union.setdefault(rel, entry)
            owner.setdefault(rel, h)
    if conflicts:
        return union, [f"{tree.path}: mode union, but {len(conflicts)} file(s) differ between hosts "
                       f"(e.g. {', '.join(conflicts[:3])}); make them agree, or choose mode authoritative"]
    return union, []


def _differences(a: Manifest, b: Manifest) -> list[str]:
    return sorted(k for k in set(a) | set(b) if k not in a or k not in b or not _same(a[k], b[k]))


def problems(system: System, targets: Sequence[str],
             manifests: Mapping[tuple[str, str], Manifest | None]) -> list[str]:
    """Everything that stops the targets from holding every source's data."""
    return [p for ts in trees(system, targets).values() for t in ts if len(t.holders) > 1
            for p in compose(t, manifests)[1]]


def shared(system: System, targets: Sequence[str]) -> list[tuple[str, str]]:
    """The (host, path) trees the precheck must measure: those that share a target with another."""
    return [(h, t.path) for ts in trees(system, targets).values() for t in ts if len(t.holders) > 1
            for h in t.holders]


def database_clashes(system: System, targets: Sequence[str]) -> list[str]:
    """Databases of one name that two sources would bring onto one target (one would be lost)."""
    where = assign(system, targets)
    seen: dict[tuple[str, str], str] = {}
    out = []
    for h in system.legacy_hosts:
        for db in h.databases:
            key = (where[h.name], db)
            if key in seen:
                out.append(f"database {db} of {seen[key]} and of {h.name} would land on one target, {key[0]}; "
                           "give the system one instance per database host (capacity.instances) or rename one")
            seen.setdefault(key, h.name)
    return out
