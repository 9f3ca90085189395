"""Benchmark: judge a generated city of at least 10,000 resources with the policy pack.

Two figures, in resources per second:

- *direct*: every rule called in-process (``policies.pack.judge_direct``);
- *analyzer gRPC*: through the analyzer interface the Pulumi engine uses, as ``jiyue policy
  check`` does (policy-pack processes started like the engine starts them, ConfigureStack,
  Analyze per resource, AnalyzeStack per stack), counting the packs' start-up (the goal's
  figure); and the steady state once the packs are up.

Goal: at least 2,000 resources/s through the interface. The graph is the real program's preview
(``infra.preview``) of every stack of a generated city (``jiyue.registry.generate``), judged with
that city's facts (``jiyue.facts``); the generated registry files everything, so every rule does
its full work and none short-circuits on a violation. Run: ``.venv/bin/python
bench/policy_check.py [--departments N] [--workers W] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from infra.preview import preview_all
from jiyue.facts import write_facts
from jiyue.registry import load_city
from jiyue.registry.generate import generate
from policies.analyzer import PackProcess, judge_stacks
from policies.core import RUNTIME
from policies.pack import judge_direct


def _cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--departments", type=int, default=120)
    ap.add_argument("--systems", type=int, default=8, help="systems per department")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="policy-pack processes")
    ap.add_argument("--repeat", type=int, default=2, help="best of N runs")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        city_dir = generate(Path(tmp) / "city", args.departments, args.systems, seed=1)
        model = load_city(city_dir)
        t0 = time.perf_counter()
        graphs = [(p.stack, p.resources) for p in preview_all(model)]
        previewed = time.perf_counter() - t0
        facts = write_facts(model, Path(tmp) / "facts.json")
        n = sum(len(r) for _, r in graphs)
        print(f"city: {args.departments} departments x {args.systems} systems -> {len(graphs)} stacks, "
              f"{n} resources (previewed in {previewed:.1f} s); {args.workers} pack process(es) on "
              f"{os.cpu_count()} CPU(s)")
        config = {"facts": str(facts)}
        policy_config = {"all": config}

        runs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            results, _ = judge_stacks(graphs, workers=args.workers, policy_config=policy_config)
            runs.append(time.perf_counter() - t0)
        found = sum(len(r.diagnostics) for r in results)
        warm = min(runs)

        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            found_direct = 0
            for stack, res in graphs:
                RUNTIME.configure_stack(stack)
                found_direct += len(judge_direct(stack, res, config))
            best = min(best, time.perf_counter() - t0)
        print(f"direct (rules called in-process):   {n / best:9.0f} resources/s  ({best:.2f} s, "
              f"{found_direct} findings)")
        print(f"analyzer gRPC, with pack start-up:  {n / warm:9.0f} resources/s  ({warm:.2f} s, {found} findings)")

        # steady state: packs already up (the engine starts the pack once per preview); the packs'
        # own CPU time tells what the pack costs without this Python client (the engine is Go)
        packs = [PackProcess(policy_config=policy_config) for _ in range(min(args.workers, len(graphs)))]
        gc.disable()
        try:
            slices = [graphs[i::len(packs)] for i in range(len(packs))]
            best_steady, cpu = float("inf"), 0.0
            for _ in range(args.repeat):
                before = sum(_cpu_seconds(p.proc.pid) for p in packs)
                t0 = time.perf_counter()
                with ThreadPoolExecutor(len(packs)) as pool:
                    list(pool.map(lambda i: [packs[i].judge(s, r) for s, r in slices[i]], range(len(packs))))
                elapsed = time.perf_counter() - t0
                if elapsed < best_steady:
                    best_steady, cpu = elapsed, sum(_cpu_seconds(p.proc.pid) for p in packs) - before
        finally:
            gc.enable()
            for p in packs:
                p.close()
        print(f"analyzer gRPC, packs already up:    {n / best_steady:9.0f} resources/s  ({best_steady:.2f} s)")
        if cpu:
            print(f"pack CPU per resource (server side): {cpu / n * 1000:.3f} ms -> {n / cpu:.0f} resources/s "
                  f"per core without the Python client")
        goal = n / warm >= 2000
        print(f"goal >= 2000 resources/s through the interface (with start-up): {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
