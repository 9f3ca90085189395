"""Benchmark: validate + IP plan on generated cities of 50 and 500 departments (10 systems each).

The figure that matters is the cost per department: it must stay flat (the 500-department city
within 1.5x of the 50-department one per department). Run: `make bench` or
`.venv/bin/python bench/registry.py [--repeat N]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from jiyue.ipam import plan
from jiyue.registry import load_city
from jiyue.registry.generate import generate


def measure(city: Path, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        model = load_city(city)
        ip = plan(model)
        best = min(best, time.perf_counter() - t0)
        assert not ip.errors
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3, help="runs per size; the best is kept")
    ap.add_argument("--sizes", default="50,500")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            city = generate(Path(tmp) / f"city{n}", n, 10, seed=1)
            seconds = measure(city, args.repeat)
            rows.append((n, seconds, seconds / n * 1000))
    print(f"{'departments':>11} {'systems':>8} {'seconds':>8} {'ms/department':>14}")
    for n, s, per in rows:
        print(f"{n:>11} {n * 10:>8} {s:>8.3f} {per:>14.2f}")
    if len(rows) >= 2:
        ratio = rows[-1][2] / rows[0][2]
        verdict = "flat" if ratio <= 1.5 else "NOT flat"
        print(f"cost per department {rows[-1][0]} vs {rows[0][0]}: {ratio:.2f}x ({verdict}; goal <= 1.5x)")


if __name__ == "__main__":
    main()
