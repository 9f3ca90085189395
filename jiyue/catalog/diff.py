"""What changed in the catalog between two registry versions: the maintenance record the
programme office publishes (T5: the catalog is updated, cross-checked and published).

Resources are matched by key. A resource is *added*, *withdrawn* (its system retired or the entry
removed), or *changed*: which core metadata changed, from what to what, in the national layout's
terms (a new code, 信息资源代码, is a renumbering).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from . import Catalog, Resource
from .layout import NATIONAL, row

#: the columns compared, in the layout's order: the core metadata and who holds copies
COMPARED = (*NATIONAL, "副本")


class Change(BaseModel):
    field: str
    before: Any
    after: Any


class Entry(BaseModel):
    key: str
    code: str | None
    name: str
    provider: str


class Changed(Entry):
    changes: list[Change]


class Reuse(BaseModel):
    """A code that names another resource than in the base (``after``), or that the new lock lost
    (``after`` empty): a published identifier at risk of being given twice."""

    code: str
    before: str
    after: str


class CatalogDiff(BaseModel):
    added: list[Entry]
    withdrawn: list[Entry]
    changed: list[Changed]
    reused: list[Reuse]
    lost: list[Reuse]  # codes of the base's lock that the new lock holds nowhere

    @property
    def empty(self) -> bool:
        return not (self.added or self.withdrawn or self.changed)


def _entry(r: Resource) -> dict[str, Any]:
    return {"key": r.key, "code": r.code, "name": r.name, "provider": r.provider.department}


def compare(base: Catalog, new: Catalog, base_pins: dict[str, str] | None = None,
            new_pins: set[str] | None = None) -> CatalogDiff:
    """The catalog ``new`` against ``base``. With both registries' pins (code -> key of every code
    the base's lock holds, pinned or withdrawn; the codes the new lock holds), a code that names
    another key now, or that the new lock lost, is reported: a published code is given once."""
    owner = base_pins or {}
    old_by_key = {r.key: r for r in base.resources}
    new_by_key = {r.key: r for r in new.resources}
    changed = []
    for key, r in new_by_key.items():
        before = old_by_key.get(key)
        if before is None:
            continue
        a, b = row(base, before), row(new, r)
        changes = [Change(field=c, before=a[c], after=b[c]) for c in COMPARED if a[c] != b[c]]
        if changes:
            changed.append(Changed(**_entry(r), changes=changes))
    return CatalogDiff(
        added=[Entry(**_entry(r)) for k, r in new_by_key.items() if k not in old_by_key],
        withdrawn=[Entry(**_entry(r)) for k, r in old_by_key.items() if k not in new_by_key],
        changed=changed,
        reused=[Reuse(code=r.code, before=owner[r.code], after=r.key) for r in new.resources
                if r.code and owner.get(r.code, r.key) != r.key],
        lost=[Reuse(code=c, before=k, after="") for c, k in sorted(owner.items())
              if new_pins is not None and c not in new_pins],
    )


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "、".join(f"{v['部门']}/{v['系统']}" if isinstance(v, dict) else str(v) for v in value) or "(none)"
    return str(value) if value not in ("", None) else "(none)"


def diff_text(d: CatalogDiff) -> str:
    """The maintenance record as text: one line per resource added or withdrawn, and per changed
    resource a line per field (lists of items as what was added and removed)."""
    lines = [f"code {u.code} named {u.before} in the base and names {u.after} now: a code is given once, ever "
             "(restore the base's lock entries)" for u in d.reused]
    lines += [f"code {u.code} ({u.before}) is in the base's lock and nowhere in this one: a published code stays "
              "pinned or withdrawn (restore its line)" for u in d.lost]
    if d.empty:
        return "\n".join([*lines, "the catalog is unchanged"])
    lines.append(f"{len(d.added)} added, {len(d.changed)} changed, {len(d.withdrawn)} withdrawn")
    for e in d.added:
        lines.append(f"+ {e.code or '(no code yet)'}  {e.key}  {e.name}  ({e.provider})")
    for e in d.withdrawn:
        lines.append(f"- {e.code or '(no code)'}  {e.key}  {e.name}  ({e.provider})")
    for c in d.changed:
        lines.append(f"~ {c.code or '(no code yet)'}  {c.key}  {c.name}  ({c.provider})")
        for ch in c.changes:
            if isinstance(ch.before, list) and isinstance(ch.after, list) and ch.field != "数据类型":
                gone = [v for v in ch.before if v not in ch.after]
                came = [v for v in ch.after if v not in ch.before]
                parts = ([f"+{_show(came)}"] if came else []) + ([f"-{_show(gone)}"] if gone else [])
                lines.append(f"    {ch.field}: {' '.join(parts) or 'reordered'}")
            else:
                lines.append(f"    {ch.field}: {_show(ch.before)} -> {_show(ch.after)}")
    return "\n".join(lines)
