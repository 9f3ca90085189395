"""Bringing up a lab of some departments of the city: plan it, build it, seed its legacy hosts,
and take it down again: the one way the command line, the test fixtures and the benchmarks do it.

:func:`lab_up` is a context manager. It always takes the lab down when something fails (while
planning, building, seeding or inside the ``with`` block, an interrupt included); on a normal exit
it takes it down too unless ``keep`` is set (``jiyue lab up`` keeps it for the migration teams).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jiyue.ipam import IpPlan
from jiyue.registry import CityModel
from jiyue.registry.schema import LegacyHost, System
from lab.image import Progress, quiet
from lab.lab import Lab
from lab.seed import SeedReport, seed_hosts
from lab.state import locked
from lab.topology import LabPlan, Targets, build, free_controller_slot, plan_lab

#: machine-wide, beside the labs' own locks: held while a lab picks its controller slot and builds
CONTROLLER_LOCK = Path("/run/lock/jiyue-lab-controller.lock")


@dataclass(frozen=True)
class RunningLab:
    """A lab that is up: its plan, the seeding reports (none when not seeded), and how long
    planning, building and seeding took."""

    lab: Lab
    plan: LabPlan
    seeded: list[SeedReport]
    seconds: float


def seed_items(model: CityModel, plan: LabPlan) -> list[tuple[str, System, LegacyHost]]:
    """What :func:`lab.seed.seed_hosts` needs for the plan's legacy hosts: (host, system, legacy host)."""
    items = []
    for h in plan.hosts:
        if h.role == "legacy" and h.system is not None:
            system = model.systems[h.system]
            items.append((h.name, system, next(x for x in system.legacy_hosts if x.name == h.legacy_name)))
    return items


@contextmanager
def lab_up(
    lab: Lab,
    model: CityModel,
    ip: IpPlan,
    departments: Sequence[str],
    targets: Targets,
    *,
    seed: bool = True,
    data_scale: float = 1.0,
    keep: bool = False,
    fresh: bool = True,
    progress: Progress = quiet,
    on_plan: Callable[[LabPlan], None] | None = None,
    on_failure: Callable[[BaseException], None] | None = None,
) -> Iterator[RunningLab]:
    """``departments`` of the city up in ``lab``, seeded unless ``seed`` is False.

    ``targets`` is the stack-output contract's per-system data (``infra.outputs.city_targets``);
    ``data_scale`` multiplies the seeded data size; ``fresh`` first removes whatever an interrupted
    earlier run of the same lab left. ``progress`` hears each step, ``on_plan`` gets the plan before
    anything is built, ``on_failure`` the error before the lab is taken down.
    """
    if fresh:
        lab.down()
    started = time.monotonic()
    try:
        # the controller's links live in the machine's own namespace, shared by every lab: a slot
        # is free until a lab's build takes it, so one lab at a time picks a slot and builds
        with locked(CONTROLLER_LOCK):
            plan = plan_lab(model, ip, departments, targets, controller_slot=free_controller_slot(model))
            if on_plan is not None:
                on_plan(plan)
            build(lab, plan, progress=progress)
        reports: list[SeedReport] = []
        if seed:
            items = seed_items(model, plan)
            t0 = time.monotonic()
            reports = seed_hosts(lab, items, scale=data_scale)
            progress(f"seeded {len(items)} legacy hosts in {time.monotonic() - t0:.1f} s")
        yield RunningLab(lab, plan, reports, time.monotonic() - started)
    except BaseException as exc:
        if on_failure is not None:
            on_failure(exc)
        lab.down()
        raise
    if not keep:
        lab.down()
