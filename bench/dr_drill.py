"""Benchmark: the pilot's DR systems, declared against achieved RTO and RPO.

    sudo .venv/bin/python bench/dr_drill.py                  # the pilot's DR systems
    sudo .venv/bin/python bench/dr_drill.py --keep           # leave the lab up afterwards

On a lab of the pilot departments that have DR systems, it migrates each DR system (`jiyue
migrate run --system S --cutover`), protects it (`jiyue dr protect`), drills it (`jiyue dr
drill`; a cold one's drill restores its latest backup) and takes each hot and warm one through
a failover and failback (`jiyue dr failover`, `jiyue dr failback`; a cold system fails over by a
rebuild and that restore), all through the real command line, then prints `jiyue dr report`'s
figures as one table: per system and exercise the declared RTO and RPO and the achieved ones.
Goal: every hot system back within its RTO with an achieved RPO under 5 s (0 when synchronous),
every warm and cold one within its RTO.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jiyue.dr import DrMode, dr_plan  # noqa: E402
from jiyue.registry import DEFAULT_CITY, load_city  # noqa: E402

JIYUE = str(Path(sys.executable).with_name("jiyue"))


def jiyue(*args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([JIYUE, *args], capture_output=True, text=True, check=False)
    if r.returncode not in ok:
        raise SystemExit(f"jiyue {' '.join(args)}: exit {r.returncode}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lab", default="bdr", help="the lab's name (default: bdr)")
    ap.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = ap.parse_args()
    model = load_city(DEFAULT_CITY)
    pilot = [s for d in model.city.pilot_departments for s in model.departments[d].systems
             if s.dr is not None and s.retirement is None]
    modes = {s.id: dr_plan(s.dr.rpo_minutes, s.dr.rto_minutes, model.city.dr_policy).mode for s in pilot}
    wanted = pilot
    deps = sorted({model.department_of[s.id] for s in wanted})
    with tempfile.TemporaryDirectory(prefix="jiyue-bench-dr-") as tmp:
        state = str(Path(tmp) / "state.db")
        where = ["--lab", args.lab, "--state", state]
        t0 = time.monotonic()
        jiyue("lab", "up", "--name", args.lab, "--departments", ",".join(deps))
        try:
            print(f"lab {args.lab} ({', '.join(deps)}) up in {time.monotonic() - t0:.0f} s", flush=True)
            for s in wanted:
                t = time.monotonic()
                jiyue("migrate", "run", "--system", s.id, "--cutover", *where)
                jiyue("dr", "protect", "--system", s.id, *where)
                print(f"{s.id}: migrated and protected in {time.monotonic() - t:.0f} s", flush=True)
            for s in wanted:
                jiyue("dr", "drill", "--system", s.id, *where, ok=(0, 1))
                if modes[s.id] is DrMode.cold:
                    print(f"{s.id}: its backup restored in a drill", flush=True)
                    continue
                jiyue("dr", "failover", "--system", s.id, "--yes", *where, ok=(0, 1))
                jiyue("dr", "failback", "--system", s.id, "--yes", *where, ok=(0, 1))
                print(f"{s.id}: drilled, failed over and back", flush=True)
            report = json.loads(jiyue("dr", "report", "--format", "json", "--state", state, ok=(0, 1)).stdout)
        finally:
            if not args.keep:
                jiyue("lab", "down", "--name", args.lab)
    print()
    print(f"{'system':<20} {'mode':<5} {'exercise':<9} {'RTO declared':>12} {'RTO achieved':>12} "
          f"{'RPO declared':>12} {'RPO achieved':>12}  result")
    misses = []
    for e in report["exercises"]:
        rto = "" if e["rto_seconds"] is None else f"{e['rto_seconds']:.1f} s"
        if e["kind"] == "failback":
            rto = f"({e['seconds']:.1f} s)"
        rpo = "" if e["rpo_seconds"] is None else f"{e['rpo_seconds']:.1f} s"
        mode = modes[e["system"]]
        goal = e["passed"] and not (e["kind"] == "failover" and mode is DrMode.hot and (e["rpo_seconds"] or 0) >= 5)
        if not goal:
            misses.append(f"{e['system']} {e['kind']}")
        print(f"{e['system']:<20} {mode.value:<5} {e['kind']:<9} {e['rto_minutes_declared']:>8} min {rto:>12} "
              f"{e['rpo_minutes_declared']:>8} min {rpo:>12}  {'meets the goal' if goal else 'MISSES the goal'}")
    print(f"goal (hot: within RTO, RPO < 5 s; warm and cold: within RTO): "
          f"{'met by every exercise' if not misses else 'missed by ' + ', '.join(misses)}")


if __name__ == "__main__":
    main()
