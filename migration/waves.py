"""The wave plan (T4.1, T4.2): the pilot first, then waves of whole departments.

- Wave 0 is the pilot: the registry's ``pilot_departments`` (or ``--pilot``).
- A department is the unit of a wave (one migration team, one department's users told once);
  every later wave holds departments whose dependencies are in an earlier wave or the same one,
  so a system never moves before what it calls: departments are taken in dependency order
  (the departments they depend on first), and a wave closes when the next department would push
  it past its capacity (systems per wave).
- Within a wave, systems are ordered so that dependencies come first.
- Systems to retire (zombies, T1.2) are not migrated: they are listed apart and decommissioned.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from jiyue.registry import CityModel
from jiyue.registry.schema import System


@dataclass
class Wave:
    index: int
    departments: list[str]
    systems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "pilot" if self.index == 0 else f"wave {self.index}"


@dataclass
class WavePlan:
    waves: list[Wave]
    retire: list[str]
    capacity: int

    def wave_of(self, system: str) -> int | None:
        for w in self.waves:
            if system in w.systems:
                return w.index
        return None

    def as_dict(self) -> dict:
        return {"capacity": self.capacity, "retire": self.retire,
                "waves": [{"wave": w.index, "name": w.name, "departments": w.departments, "systems": w.systems}
                          for w in self.waves]}


def registry_retire_candidates(model: CityModel) -> set[str]:
    """Until the audit has scored a system (T1.2), the registry's own signs of a zombie:
    operations stopped, used rarely, and another system covers its function."""
    return {s.id for s in model.systems.values()
            if s.om.status.value == "stopped" and s.replaceable_by and s.frequency_of_use.value in ("rarely", "yearly")}


def recorded_retirements(model: CityModel) -> set[str]:
    """The systems whose retirement is recorded in the registry: decided, never migrated."""
    return {s.id for s in model.systems.values() if s.retirement is not None}


def _migrates(s: System, retire: set[str]) -> bool:
    return s.id not in retire and bool(s.legacy_hosts)


def plan_waves(model: CityModel, *, pilot: list[str] | None = None, capacity: int = 40,
               retire: set[str] | None = None) -> WavePlan:
    if capacity < 1:
        raise ValueError("capacity must be at least 1")
    retire = (registry_retire_candidates(model) if retire is None else set(retire)) | recorded_retirements(model)
    pilot = list(pilot if pilot is not None else model.city.pilot_departments)
    dep_of = model.department_of
    # department dependency graph (A -> B: a system of A depends on one of B)
    needs: dict[str, set[str]] = defaultdict(set)
    for s in model.systems.values():
        for d in s.depends_on:
            if d in dep_of and dep_of[d] != dep_of[s.id] and d not in retire:
                needs[dep_of[s.id]].add(dep_of[d])
    level: dict[str, int] = {}

    def depth(dep: str, seen: frozenset[str] = frozenset()) -> int:
        if dep in level:
            return level[dep]
        if dep in seen:  # a cycle between departments: break it here
            return 0
        level[dep] = value = 1 + max((depth(n, seen | {dep}) for n in needs[dep]), default=-1)
        return value

    for d in model.departments:
        depth(d)
    moving = {d: [s for s in model.departments[d].systems if _migrates(s, retire)] for d in model.departments}
    waves = [Wave(0, [d for d in pilot if d in model.departments])]
    rest = sorted((d for d in model.departments if d not in waves[0].departments and moving[d]),
                  key=lambda d: (level[d], d))
    current = Wave(1, [])
    for d in rest:
        size = sum(len(moving[x]) for x in current.departments)
        if current.departments and size + len(moving[d]) > capacity:
            waves.append(current)
            current = Wave(current.index + 1, [])
        current.departments.append(d)
    if current.departments:
        waves.append(current)
    for w in waves:
        w.systems = _dependency_order([s for d in w.departments for s in moving[d]])
    return WavePlan(waves=waves, retire=sorted(retire & set(model.systems)), capacity=capacity)


def _dependency_order(systems: list[System]) -> list[str]:
    ids = {s.id for s in systems}
    by_id = {s.id: s for s in systems}
    out: list[str] = []
    done: set[str] = set()

    def visit(sid: str, stack: frozenset[str] = frozenset()) -> None:
        if sid in done or sid in stack:
            return
        for d in by_id[sid].depends_on:
            if d in ids:
                visit(d, stack | {sid})
        done.add(sid)
        out.append(sid)

    for s in systems:
        visit(s.id)
    return out
