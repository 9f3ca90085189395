"""Benchmark: `jiyue infra preview --all` in-process: the sample city, and generated cities of 10 and 100
departments (10 systems each).

Figures: stacks, resources, the largest stack, total seconds, milliseconds per resource. Goals:
the sample city under 60 s; the cost per resource at 100 departments within 1.3x of
that at 10. Run: `.venv/bin/python bench/infra_preview.py [--sizes 10,100] [--no-sample]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_openstack\..*")

from infra.preview import preview_all  # noqa: E402 (after the warnings filter)
from jiyue.registry import DEFAULT_CITY, load_city  # noqa: E402
from jiyue.registry.generate import generate  # noqa: E402


def measure(label: str, city: Path) -> tuple[str, int, int, int, float]:
    model = load_city(city)
    t0 = time.perf_counter()
    previews = preview_all(model)
    seconds = time.perf_counter() - t0
    sizes = [len(p.resources) for p in previews]
    return label, len(previews), sum(sizes), max(sizes), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10,100", help="generated cities, in departments")
    ap.add_argument("--no-sample", action="store_true", help="skip the sample city")
    args = ap.parse_args()
    rows = []
    if not args.no_sample:
        rows.append(measure("sample (dalian)", DEFAULT_CITY))
    generated = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            row = measure(f"generated {n}x10", generate(Path(tmp) / f"city{n}", n, 10, seed=1))
            rows.append(row)
            generated.append(row)
    print(f"{'city':<18}{'stacks':>7}{'resources':>10}{'largest':>8}{'seconds':>9}{'ms/resource':>12}")
    for label, stacks, resources, largest, seconds in rows:
        print(f"{label:<18}{stacks:>7}{resources:>10}{largest:>8}{seconds:>9.2f}{seconds / resources * 1000:>12.2f}")
    if len(generated) >= 2:
        first, last = generated[0], generated[-1]
        ratio = (last[4] / last[2]) / (first[4] / first[2])
        verdict = "flat" if ratio <= 1.3 else "NOT flat"
        print(f"ms/resource {last[0]} vs {first[0]}: {ratio:.2f}x ({verdict}; goal <= 1.3x)")
    if not args.no_sample:
        print(f"sample city: {rows[0][4]:.1f} s ({'ok' if rows[0][4] < 60 else 'SLOW'}; goal < 60 s); "
              f"largest stack {rows[0][3]} resources (limit 500)")


if __name__ == "__main__":
    main()
