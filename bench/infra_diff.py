"""Benchmark: `jiyue infra diff` against one `jiyue infra preview --all`, in-process, side by side in one run.

The sample city with one edit (a department's English name, which updates its projects) is compared
with the sample city; the same run previews the edited city's every stack once. Figures: seconds
of each, the diff's changes, and the ratio diff / preview. Goal: the diff within 2x of one preview
(it runs the program for two registries; the base in a forked process where there is a second
CPU). Run: `.venv/bin/python bench/infra_diff.py [--rounds 1]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_openstack\..*")

from infra import diff  # noqa: E402 (after the warnings filter)
from infra.preview import preview_all  # noqa: E402
from jiyue.registry import DEFAULT_CITY, load_city  # noqa: E402

EDIT = ("departments/secrecy.yaml", "  en: Dalian Municipal State Secrets Protection Bureau",
        "  en: Dalian State Secrets Bureau")


def edited_city(into: Path) -> Path:
    city = into / "city"
    shutil.copytree(DEFAULT_CITY, city)
    rel, old, new = EDIT
    path = city / rel
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    return city


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=1, help="measure each this many times; the best is kept")
    args = ap.parse_args()
    best_preview = best_diff = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        city = edited_city(Path(tmp))
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            previews = preview_all(load_city(city))
            best_preview = min(best_preview, time.perf_counter() - t0)
            diff._KEPT.items.clear()  # the diff runs both registries afresh, as a CI job does
            t0 = time.perf_counter()
            result = diff.compare(load_city(DEFAULT_CITY), load_city(city))
            best_diff = min(best_diff, time.perf_counter() - t0)
    counts = result.counts()
    changed = sum(1 for s in result.stacks if s.action != "same")
    ratio = best_diff / best_preview
    print(f"{'run':<34}{'stacks':>7}{'resources':>10}{'seconds':>9}")
    print(f"{'infra preview --all (edited city)':<34}{len(previews):>7}"
          f"{sum(len(p.resources) for p in previews):>10}{best_preview:>9.2f}")
    print(f"{'infra diff (sample vs edited)':<34}{len(result.stacks):>7}{sum(counts.values()):>10}{best_diff:>9.2f}")
    print(f"diff: {changed} stacks changed, {counts['update']} updates, {counts['replace']} replacements, "
          f"{counts['create']} creates, {counts['delete']} deletes; {os.cpu_count()} CPUs")
    print(f"diff / preview: {ratio:.2f}x ({'ok' if ratio <= 2 else 'SLOW'}; goal <= 2x)")


if __name__ == "__main__":
    main()
