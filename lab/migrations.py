"""The migration's flows in a running lab: opened while a system migrates, closed after.

The flow table's ``migration`` flows (a system's targets at the primary site to its own legacy
sources, tcp/22: the targets pull over ssh) are temporary. The lab's plan lists them per system
(:attr:`lab.topology.LabPlan.migrations`); each department edge holds them in its named set
``migrating``, empty at bring-up. :func:`open_migration` adds a system's elements and
:func:`close_migration` removes them (``nft add element`` / ``delete element`` in the edge's
namespace); the lab's state records what is open (``jiyue lab status``, ``jiyue lab flows``), and
the probe expects exactly that.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from lab.errors import LabError
from lab.firewall import EDGE_TABLE, MIGRATING_SET
from lab.lab import Lab
from lab.topology import LabPlan, MigrationFlow

NOTE = "migrations"


def _plan(lab: Lab) -> LabPlan:
    path = lab.dir / "plan.json"
    if not path.exists():
        raise LabError(f"lab {lab.name!r} is not up (`jiyue lab up --name {lab.name}`)")
    return LabPlan.load(path)


def _elements(node_flows: dict[str, list[MigrationFlow]], verbs: tuple[str, ...]) -> dict[str, str]:
    """Per edge, an ``nft -f`` batch applying ``verbs`` (add, delete) to each flow's element."""
    return {node: "".join(f"{verb} element ip {EDGE_TABLE} {MIGRATING_SET} {{ {f.element} }}\n"
                          for f in flows for verb in verbs)
            for node, flows in node_flows.items()}


def _by_node(flows: Iterable[MigrationFlow]) -> dict[str, list[MigrationFlow]]:
    out: dict[str, list[MigrationFlow]] = {}
    for f in flows:
        out.setdefault(f.node, []).append(f)
    return out


def open_flows(lab: Lab) -> dict[str, list[MigrationFlow]]:
    """Per system, its migration flows open in ``lab`` now (systems with none are left out)."""
    return {system: [MigrationFlow(**f) for f in flows] for system, flows in (lab.note(NOTE) or {}).items()}


def open_migration(lab: Lab, system: str, pairs: Iterable[tuple[str, str]] | None = None) -> list[MigrationFlow]:
    """Let ``system``'s targets pull from its own legacy sources in ``lab`` (tcp/22 through the
    department edge), until :func:`close_migration`.

    The migration calls it at a system's precheck, before anything connects from a target to a
    source. ``pairs`` are (target host, legacy host) by the names the lab's plan and the
    migration's inventory give them (``finance-nontax-1``, ``finance-nontax-app1``); None opens
    every migration flow the flow table lists for the system (each primary target to each legacy
    host). Idempotent: opening what is open changes nothing, and pairs add to what is open.

    Raises :class:`lab.LabError` when the lab is not up, when ``system`` has no migration flow in
    the lab (its department is not up, or it has no legacy host), and for a pair that is not one of
    its flows (another system's source, a DR target, a host the lab does not have): nothing is
    opened then. Returns every flow of the system open after the call. The lab's state records
    the flows before the edge's set gets them, so a crash in between leaves nothing open that
    :func:`close_migration` does not know of.
    """
    allowed = _plan(lab).migrations.get(system)
    if not allowed:
        raise LabError(f"lab {lab.name!r} has no migration flow of {system!r}: its department is not up, "
                       "or it has no legacy host")
    if pairs is None:
        chosen = list(allowed)
    else:
        wanted = list(dict.fromkeys(tuple(p) for p in pairs))
        known = {(f.target, f.source) for f in allowed}
        wrong = [p for p in wanted if p not in known]
        if wrong:
            raise LabError(f"not migration flows of {system!r}: {', '.join(f'{t} -> {s}' for t, s in wrong)} "
                           f"(its flows: {', '.join(f'{t} -> {s}' for t, s in sorted(known))})")
        chosen = [f for f in allowed if (f.target, f.source) in set(wanted)]

    def add(note: dict[str, Any] | None) -> dict[str, Any]:
        note = dict(note or {})
        have = [MigrationFlow(**f) for f in note.get(system, [])]
        note[system] = [asdict(f) for f in allowed if f in have or f in chosen]
        return note

    lab.update_note(NOTE, add)
    for node, batch in _elements(_by_node(chosen), ("add",)).items():
        lab.nft(node, batch)
    return open_flows(lab)[system]


def close_migration(lab: Lab, system: str) -> list[MigrationFlow]:
    """Close every migration flow of ``system`` open in ``lab``: its targets no longer reach its
    legacy sources. The migration calls it when the system is finalized and when it is rolled
    back. Idempotent: closing a system with nothing open changes nothing and returns []. Returns
    the flows it closed. The edge's set loses the elements before the lab's state forgets them."""
    flows = open_flows(lab).get(system, [])
    for node, batch in _elements(_by_node(flows), ("add", "delete")).items():
        lab.nft(node, batch)  # add then delete, in one transaction: gone whether or not it was there

    def drop(note: dict[str, Any] | None) -> dict[str, Any] | None:
        note = {k: v for k, v in (note or {}).items() if k != system}
        return note or None

    lab.update_note(NOTE, drop)
    return flows
