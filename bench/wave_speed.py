"""Benchmark: a wave of lab hosts through precheck and replicate.

    sudo .venv/bin/python bench/wave_speed.py                   # 20 hosts: project settings vs Ansible's defaults
    sudo .venv/bin/python bench/wave_speed.py --hosts 200 --fast-only
    sudo .venv/bin/python bench/wave_speed.py --until verified-test   # with the test cutover too

The wave is a synthetic city (``jiyue.registry.generate``, 4 systems per department, one legacy
host each) of ``--hosts`` legacy hosts, all in one lab, seeded. The engine drives it exactly as
``jiyue migrate run`` does (``--max-parallel`` systems at once, each after those it depends on),
once with the project's Ansible settings (``RunnerSettings()``: pipelining, ControlPersist, 25 forks)
and once with Ansible's defaults
(``RunnerSettings(fast=False)``: no pipelining, no ControlPersist, 5 forks) on the same
playbooks, each on a freshly brought-up lab (so both copy everything). Prints wall time, time
per host and the ratio defaults / project (goal: at least 2x); ``--hosts 200`` shows whether time
per host stays flat (goal: within 1.5x of the 20-host figure).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _miglab import engine, miglab  # noqa: E402

from jiyue.registry import load_city  # noqa: E402
from jiyue.registry.generate import generate  # noqa: E402
from migration.runner import RunnerSettings  # noqa: E402
from migration.state import State  # noqa: E402

SYSTEMS_PER_DEPARTMENT = 4


def run(city: Path, hosts: int, settings: RunnerSettings, until: State, max_parallel: int, name: str,
        tmp: Path) -> dict[str, float]:
    model = load_city(city)
    deps = sorted(model.departments)
    by_dep = {d: [s.id for s in model.departments[d].systems] for d in deps}
    n_hosts = sum(len(model.systems[s].legacy_hosts) for v in by_dep.values() for s in v)
    label = "project" if settings.fast else "defaults"
    with miglab(name, deps, city=city) as ml:
        print(f"[{label}] lab {name}: {len(ml.plan.hosts)} hosts ({n_hosts} legacy) up and seeded in "
              f"{ml.seconds_up:.0f} s", flush=True)
        state = tmp / label / "state.db"
        with engine(ml, state, [s for v in by_dep.values() for s in v], settings=settings) as eng:
            t0 = time.monotonic()
            outcomes = eng.drive_systems(by_dep, until, max_parallel=max_parallel)
            seconds = time.monotonic() - t0
        bad = [(o.system, o.state.value, o.error) for o in outcomes if o.state is not until]
        if bad:
            raise SystemExit(f"[{label}] {len(bad)} systems did not reach {until.value}: {bad[:5]}")
        steps: dict[str, list[float]] = {}
        for o in outcomes:
            for r in o.steps:
                steps.setdefault(r.step, []).append(r.seconds)
    per_step = {k: round(sum(v) / len(v), 1) for k, v in steps.items()}
    print(f"[{label}] {len(outcomes)} systems, {n_hosts} hosts to {until.value}: {seconds:.0f} s, "
          f"{seconds / n_hosts:.2f} s per host; mean seconds per step {json.dumps(per_step)}", flush=True)
    return {"seconds": seconds, "hosts": n_hosts, "per_host": seconds / n_hosts}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=20, help="legacy hosts in the wave (a multiple of 4)")
    ap.add_argument("--until", choices=["replicated", "verified-test"], default="replicated")
    ap.add_argument("--max-parallel", type=int, default=4, help="systems at once (as migrate run)")
    ap.add_argument("--fast-only", action="store_true", help="only the project's settings (no baseline)")
    ap.add_argument("--name", default="bench-wave", help="the lab's name")
    args = ap.parse_args()
    until = State(args.until)
    with tempfile.TemporaryDirectory(prefix="bench-wave-") as t:
        tmp = Path(t)
        city = generate(tmp / "city", departments=max(1, args.hosts // SYSTEMS_PER_DEPARTMENT),
                        systems_per_department=SYSTEMS_PER_DEPARTMENT, seed=11)
        fast = run(city, args.hosts, RunnerSettings(), until, args.max_parallel, args.name, tmp)
        print(f"\nwave of {fast['hosts']} hosts through precheck, replicate"
              f"{', test-cutover, verify-test' if until is State.verified_test else ''}:")
        print(f"  project settings      {fast['seconds']:7.0f} s   {fast['per_host']:.2f} s per host")
        if not args.fast_only:
            slow = run(city, args.hosts, RunnerSettings(fast=False), until, args.max_parallel, args.name, tmp)
            print(f"  Ansible's defaults    {slow['seconds']:7.0f} s   {slow['per_host']:.2f} s per host")
            print(f"  ratio                 {slow['seconds'] / fast['seconds']:.2f}x   (goal >= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
