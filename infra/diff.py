"""What a registry edit does to the running stacks: the program under mocks for two registries, compared.

API::

    compare(base, new, only=None) -> CityDiff(stacks=[StackDiff(stack, action, resources=[Change])])
    CityDiff.blocking(allow) -> the stateful resources replaced or deleted with no recorded reason

Per stack, what ``pulumi preview --diff`` would say if the stack were up with the base's program:

- a stack built only for the new registry is ``create``, only for the base ``destroy`` (its
  resources deleted); a department stack whose every system is retired is not built (it holds no
  system the program could place), whatever the stack list says;
- a resource is matched by its URN, or by an ``aliases`` entry of the new resource naming the old
  URN; a URN that matches nothing is a delete plus a create;
- a matched resource whose inputs differ (but for its ``ignore_changes``) is updated, or replaced
  when one of the changed inputs forces a new resource in the installed SDK
  (:mod:`infra.replacements`) or is in its ``replace_on_changes``. Ids are the mocks'
  (a UUID of the stack, type and logical name); an aliased resource keeps its id, so the inputs of
  its dependents are compared with the old id put back.

Stateful: volumes, servers, projects and DNS zones (what holds data or a tenant's identity), and
anything ``protect``-ed. Replacing or deleting one is *decided* when the registry records why:
the ``retirement`` of the system the resource carries in its name (and, for a department-wide
resource, of every system its stack held), or when the operator allows it by name.

Both registries run in one process each, in parallel where the machine has more than one CPU
(the base in a forked child); a registry's previews are kept by the digest of its files, so the
same base compared again is not run again.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jiyue.placement import stack_systems
from jiyue.registry import CityModel, load_city
from jiyue.stacks import StackName
from jiyue.stacks import stacks as listed_stacks

from .labels import parse_name
from .mocks import STACK, STACK_REFERENCE, mock_id
from .plan import DEPARTMENT_WIDE
from .preview import StackPreview, preview
from .replacements import forces_replacement

STATEFUL_TYPES = frozenset({
    "openstack:blockstorage/volume:Volume",
    "openstack:compute/instance:Instance",
    "openstack:identity/project:Project",
    "openstack:dns/zone:Zone",
})
DESTRUCTIVE = ("replace", "delete")


@dataclass(frozen=True)
class Change:
    type: str
    name: str
    urn: str
    op: str  # create | update | replace | delete
    stateful: bool
    inputs: tuple[str, ...] = ()  # the inputs that change (update, replace)
    forcing: tuple[str, ...] = ()  # those of them that force the replacement
    decided: str | None = None  # why the registry lets it go: the retirement of <system>

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "op": self.op, "stateful": self.stateful,
                "inputs": list(self.inputs)}


@dataclass(frozen=True)
class StackDiff:
    stack: str
    action: str  # create | update | destroy | same
    resources: list[Change] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "action": self.action, "resources": [c.as_dict() for c in self.resources]}


@dataclass(frozen=True)
class CityDiff:
    stacks: list[StackDiff]

    def as_dict(self) -> dict[str, Any]:
        return {"stacks": [s.as_dict() for s in self.stacks]}

    def blocking(self, allow: Iterable[str] = ()) -> list[tuple[str, Change]]:
        """(stack, change) of every stateful resource replaced or deleted that neither the registry
        (a retirement) nor ``allow`` (logical names or URNs) lets go."""
        allowed = set(allow)
        return [(s.stack, c) for s in self.stacks for c in s.resources
                if c.stateful and c.op in DESTRUCTIVE and c.decided is None
                and c.name not in allowed and c.urn not in allowed]

    def counts(self) -> dict[str, int]:
        ops = {"create": 0, "update": 0, "replace": 0, "delete": 0}
        for s in self.stacks:
            for c in s.resources:
                ops[c.op] += 1
        return ops


# --------------------------------------------------------------------------- running the program


def digest(root: Path) -> str:
    """A digest of every file of a registry directory (names and bytes)."""
    h = hashlib.sha256()
    for p in sorted(x for x in Path(root).rglob("*") if x.is_file()):
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


class _Kept:
    """The previews of the registries run last, by the digest of their files."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self.items: dict[str, dict[str, StackPreview]] = {}

    def of(self, key: str) -> dict[str, StackPreview]:
        """The previews kept for ``key``, now the last used; the least recently used go first."""
        kept = self.items.pop(key, None)
        if kept is None and len(self.items) >= self.size:
            self.items.pop(next(iter(self.items)))
        self.items[key] = kept = {} if kept is None else kept
        return kept


_KEPT = _Kept()


def _run(model: CityModel, names: list[str]) -> dict[str, StackPreview]:
    return {s: preview(model, s) for s in names}


def _run_from(root: str, names: list[str]) -> dict[str, StackPreview]:
    """In a forked child: load the registry at ``root`` and run its stacks."""
    return _run(load_city(Path(root)), names)


def previews(models: list[tuple[CityModel, list[str]]]) -> list[dict[str, StackPreview]]:
    """Each model's previews of the stacks named beside it; models run in parallel where it helps."""
    keys = [digest(m.root) for m, _ in models]
    kept = [_KEPT.of(k) for k in keys]
    wanted: dict[str, tuple[int, CityModel, list[str]]] = {}  # by digest: a registry met twice runs once
    for i, (m, names) in enumerate(models):
        _, _, missing = wanted.setdefault(keys[i], (i, m, []))
        missing.extend(s for s in names if s not in kept[i] and s not in missing)
    todo = [t for t in wanted.values() if t[2]]
    parallel = len(todo) > 1 and (os.cpu_count() or 1) > 1
    if parallel:
        with ProcessPoolExecutor(max_workers=len(todo) - 1, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [(i, pool.submit(_run_from, str(m.root), names)) for i, m, names in todo[1:]]
            i, m, names = todo[0]
            kept[i].update(_run(m, names))
            for i, f in futures:
                kept[i].update(f.result())
    else:
        for i, m, names in todo:
            kept[i].update(_run(m, names))
    return [{s: kept[i][s] for s in names} for i, (_, names) in enumerate(models)]


# --------------------------------------------------------------------------- comparing


def compare(base: CityModel, new: CityModel, only: list[str] | None = None) -> CityDiff:
    """The diff of every stack of either registry (or of the stacks ``only`` names); ValueError for a
    name that is no stack of either."""
    base_names, new_names = listed_stacks(base), listed_stacks(new)
    order = list(dict.fromkeys(new_names + base_names))
    if only is not None:
        unknown = [s for s in only if str(StackName.parse(s)) not in order]
        if unknown:
            raise ValueError(f"no stack {unknown[0]!r} in either registry; `jiyue infra stacks` lists the stacks")
        order = [s for s in order if s in {str(StackName.parse(x)) for x in only}]
    wanted = set(order)
    olds, news = previews([(base, [s for s in base_names if s in wanted]),
                           (new, [s for s in new_names if s in wanted])])
    ids = _kept_ids(olds, news)
    result = []
    for s in order:
        if s not in olds and s not in news:
            continue
        result.append(_stack(s, olds.get(s), news.get(s), ids, base, new))
    return CityDiff(result)


def _records(p: StackPreview | None) -> list[dict[str, Any]]:
    return [] if p is None else [r for r in p.resources if r["type"] != STACK]


def _aliases(p: StackPreview, urn: str) -> list[str]:
    return list(p.options.get(urn, {}).get("aliases", ()))


def _match(old: StackPreview | None, new: StackPreview | None) -> dict[str, str]:
    """new URN -> old URN of the resources that are the same (by URN, or an alias of the new one),
    the aliases of a parent carrying over to its children as the engine's do."""
    old_urns = {r["urn"] for r in _records(old)}
    pairs: dict[str, str] = {}
    known: dict[str, list[str]] = {}  # new URN -> every URN it was known by
    for r in _records(new):
        names = [r["urn"], *_aliases(new, r["urn"])] if new else [r["urn"]]
        for parent_was in known.get(r["parent"] or "", []):
            names.append(_urn_under(parent_was, r["urn"]))
        known[r["urn"]] = list(dict.fromkeys(names))
        hit = next((u for u in known[r["urn"]] if u in old_urns and u not in pairs.values()), None)
        if hit is not None:
            pairs[r["urn"]] = hit
    return pairs


def _urn_under(parent: str, urn: str) -> str:
    """``urn`` as it would be under the parent URN ``parent`` (same type and name)."""
    head, _, name = urn.rpartition("::")
    typ = head.split("::")[2].split("$")[-1]
    p_head = parent.split("::")
    return "::".join([*p_head[:2], p_head[2] + "$" + typ, name])


def _id(stack: str, rec: dict[str, Any]) -> str:
    return rec["inputs"].get("name", rec["name"]) if rec["type"] == STACK_REFERENCE else mock_id(
        stack, rec["type"], rec["name"])


def _kept_ids(olds: dict[str, StackPreview], news: dict[str, StackPreview]) -> dict[str, str]:
    """The new mock id -> the old one of every aliased resource: the engine keeps its id."""
    ids = {}
    for s, new in news.items():
        old = olds.get(s)
        if old is None:
            continue
        by_urn = {r["urn"]: r for r in _records(old)}
        pairs = _match(old, new)
        for r in _records(new):
            o = by_urn.get(pairs.get(r["urn"], ""))
            if o is not None and o["urn"] != r["urn"]:
                ids[_id(s, r)] = _id(s, o)
    return ids


def _put_back(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, dict):
        return {k: _put_back(v, ids) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_put_back(v, ids) for v in value]
    return value


def _changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def _stack(s: str, old: StackPreview | None, new: StackPreview | None, ids: dict[str, str],
           base: CityModel, model: CityModel) -> StackDiff:
    name = StackName.parse(s)
    pairs = _match(old, new)
    by_urn = {r["urn"]: r for r in _records(old)}
    changes: list[Change] = []

    def stateful(p: StackPreview | None, r: dict[str, Any]) -> bool:
        return r["type"] in STATEFUL_TYPES or bool(p and p.options.get(r["urn"], {}).get("protect"))

    for r in _records(new):
        o = by_urn.get(pairs.get(r["urn"], ""))
        if o is None:
            changes.append(Change(r["type"], r["name"], r["urn"], "create", stateful(new, r)))
            continue
        opts = new.options.get(r["urn"], {}) if new else {}
        inputs = [k for k in _changed(o["inputs"], _put_back(r["inputs"], ids) if ids else r["inputs"])
                  if k not in opts.get("ignore_changes", ())]
        if not inputs:
            continue
        forcing = tuple(dict.fromkeys([*forces_replacement(r["type"], inputs),
                                       *(k for k in inputs if k in opts.get("replace_on_changes", ()))]))
        op = "replace" if forcing else "update"
        c = Change(r["type"], r["name"], r["urn"], op, stateful(new, r) or stateful(old, o), tuple(inputs), forcing)
        changes.append(_decide(c, o["name"], name, base, model, new is None))
    matched = set(pairs.values())
    for o in _records(old):
        if o["urn"] not in matched:
            c = Change(o["type"], o["name"], o["urn"], "delete", stateful(old, o))
            changes.append(_decide(c, o["name"], name, base, model, new is None))
    action = "create" if old is None else "destroy" if new is None else "update" if changes else "same"
    return StackDiff(s, action, changes)


def _decide(c: Change, old_name: str, stack: StackName, base: CityModel, model: CityModel, destroyed: bool) -> Change:
    """``c`` with the retirement that decides it, if the registry records one."""
    if not c.stateful or c.op not in DESTRUCTIVE:
        return c
    labels = parse_name(old_name)
    if labels is None or labels["department"] not in model.departments:
        return c
    systems = {s.id: s for s in model.departments[labels["department"]].systems}
    if labels["system"] == DEPARTMENT_WIDE:
        if not destroyed or stack.department != labels["department"]:
            return c
        held = [s.id for _, s in stack_systems(base, stack.department, stack.zone, stack.site)]
        if held and all(systems.get(x) is not None and systems[x].retirement is not None for x in held):
            return _with(c, "the retirement of " + ", ".join(held))
        return c
    system = systems.get(labels["system"])
    if system is not None and system.retirement is not None:
        return _with(c, f"the retirement of {system.id}")
    return c


def _with(c: Change, why: str) -> Change:
    return Change(c.type, c.name, c.urn, c.op, c.stateful, c.inputs, c.forcing, why)


# --------------------------------------------------------------------------- as text

_MARK = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}
_HEAD = {"create": "create", "update": "update", "destroy": "destroy"}


def text(d: CityDiff, allow: Iterable[str] = ()) -> str:
    """The diff laid out like ``pulumi preview --diff``: the stacks that change, each resource that
    does (stateful ones marked), then the counts and what blocks."""
    blocked = {(s, c.urn) for s, c in d.blocking(allow)}
    allowed = set(allow)
    lines: list[str] = []
    for s in d.stacks:
        if s.action == "same":
            continue
        lines.append(f"Previewing {_HEAD[s.action]} ({s.stack}):")
        width = max(len(c.type) for c in s.resources) + 2
        for c in s.resources:
            inputs = f" [{', '.join(x + ('*' if x in c.forcing else '') for x in c.inputs)}]" if c.inputs else ""
            note = ""
            if c.stateful:
                why = ("; BLOCKED" if (s.stack, c.urn) in blocked
                       else f"; {c.decided}" if c.decided
                       else "; allowed" if c.op in DESTRUCTIVE else "")
                note = f"  (stateful{why})"
            lines.append(f"  {_MARK[c.op]:>2} {c.op:<8} {c.type:<{width}}{c.name}{inputs}{note}")
        lines.append("")
    actions = {a: sum(1 for s in d.stacks if s.action == a) for a in ("create", "update", "destroy", "same")}
    n = d.counts()
    lines.append(f"Stacks: {actions['create']} to create, {actions['update']} to update, "
                 f"{actions['destroy']} to destroy, {actions['same']} unchanged")
    lines.append(f"Resources: + {n['create']} to create, ~ {n['update']} to update, +- {n['replace']} to replace, "
                 f"- {n['delete']} to delete ('*': the input forces the replacement)")
    gone = [(s.stack, c) for s in d.stacks for c in s.resources if c.stateful and c.op in DESTRUCTIVE]
    if gone:
        decided = sum(1 for _, c in gone if c.decided)
        by_allow = sum(1 for _, c in gone if not c.decided and (c.name in allowed or c.urn in allowed))
        lines.append(f"Stateful resources replaced or deleted: {len(gone)} ({decided} by a retirement the registry "
                     f"records, {by_allow} allowed, {len(blocked)} blocked)")
    for stack, c in d.blocking(allow):
        lines.append(f"blocked: {stack}: {c.name}: {c.type} would be {'replaced' if c.op == 'replace' else 'deleted'} "
                     "(record the system's retirement in the registry if it is meant, or give --allow NAME)")
    return "\n".join(lines)
