"""A stack preview as text, laid out like ``pulumi preview``: the resource tree, then counts per type."""

from __future__ import annotations

from collections import Counter, defaultdict

from .mocks import STACK_REFERENCE
from .preview import StackPreview


def tree(p: StackPreview) -> str:
    children: dict[str | None, list[dict]] = defaultdict(list)
    urns = {r["urn"] for r in p.resources}
    for r in p.resources:
        parent = r["parent"] if r["parent"] in urns else None
        children[parent].append(r)
    rows: list[tuple[str, str, str, str]] = []

    def walk(parent: str | None, prefix: str) -> None:
        kids = children.get(parent, [])
        for i, r in enumerate(kids):
            last = i == len(kids) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            op = "read" if r["type"] == STACK_REFERENCE else "create"
            rows.append(("=" if op == "read" else "+", prefix + branch + r["type"], r["name"], op))
            walk(r["urn"], prefix + ("" if parent is None else ("   " if last else "│  ")))

    walk(None, "")
    width = max((len(t) for _, t, _, _ in rows), default=4) + 2
    nwidth = max((len(n) for _, _, n, _ in rows), default=4) + 2
    lines = [f"Previewing update ({p.stack}):", "",
             f"     {'Type':<{width}}{'Name':<{nwidth}}Plan"]
    lines += [f" {mark}   {t:<{width}}{n:<{nwidth}}{op}" for mark, t, n, op in rows]
    lines += ["", "Outputs:"]
    lines += [f"    {k}: {_short(v)}" for k, v in p.outputs.items()]
    lines += ["", "Resources:"]
    creates = sum(1 for r in p.resources if r["type"] != STACK_REFERENCE)
    lines.append(f"    + {creates} to create")
    reads = len(p.resources) - creates
    if reads:
        lines.append(f"    = {reads} to read")
    lines += ["", "Resources per type:"]
    lines += counts(Counter(r["type"] for r in p.resources))
    return "\n".join(lines)


def counts(by_type: Counter[str]) -> list[str]:
    return [f"    {n:>5}  {t}" for t, n in sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))]


def _short(value: object, limit: int = 100) -> str:
    if isinstance(value, dict):
        text = "{" + ", ".join(sorted(str(k) for k in value)) + "}" if len(str(value)) > limit else str(value)
        return text if len(text) <= limit else f"{{{len(value)} entries}}"
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summary(previews: list[StackPreview]) -> str:
    """One line per stack (resource count), then the city's counts per type."""
    width = max((len(p.stack) for p in previews), default=5) + 2
    lines = [f"{'Stack':<{width}}{'Resources':>9}"]
    lines += [f"{p.stack:<{width}}{len(p.resources):>9}" for p in previews]
    total = sum(len(p.resources) for p in previews)
    biggest = max(previews, key=lambda p: len(p.resources), default=None)
    lines += ["", f"{len(previews)} stacks, {total} resources"
              + (f"; the largest: {biggest.stack} ({len(biggest.resources)})" if biggest else "")]
    lines += ["", "Resources per type:"]
    lines += counts(Counter(r["type"] for p in previews for r in p.resources))
    return "\n".join(lines)
