"""Benchmark: the pilot wave through the engine against the same work issued directly over ssh.

    sudo .venv/bin/python bench/wave_limit.py            # the sample city's pilot wave, cut over
    sudo .venv/bin/python bench/wave_limit.py --parallel 4

One lab of the pilot's departments, seeded. First the **engine**: ``jiyue migrate run --wave 0
--cutover`` as the command runs it (a fresh state, every step, the verification suites). Then, on
the same lab in the same run, **raw**: what a person with a shell script would do for the same
systems, ``--parallel`` systems at once, over ssh the way the engine reaches the hosts (through
the zone's bastion, one key, host keys checked, a multiplexed connection per host):

- reach every source and target;
- copy every data path, ``tar`` piped from the source through the controller to the target;
- copy every database, ``pg_dump | psql`` into a database of its own on the target;
- copy every nginx site of the source to the target and reload nginx there (``nginx -t`` first);
- compare the digests of every copied file (``find | sha256sum`` on both sides) and every
  database's tables and row counts.

That is the physical limit of this job on this machine: the same bytes over the same paths,
nothing recorded, nothing checked twice. Raw does none of the engine's other work (accounts,
cron jobs and TLS files carried, the freeze, the test cutover's sync, services started, the state
recorded), so the ratio overstates the engine's overhead rather than hiding it.

Prints both times, the engine's time by step and what it spent on what, and as the last line
``ratio engine/raw: X.XX``.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _miglab import SAMPLE_CITY, engine, miglab  # noqa: E402

from jiyue.registry import load_city  # noqa: E402
from jiyue.registry.schema import System  # noqa: E402
from migration.engine import Engine  # noqa: E402
from migration.state import State  # noqa: E402
from migration.waves import plan_waves  # noqa: E402

PG = "cd / && runuser -u postgres --"


class Shell:
    """ssh to the wave's hosts as the engine reaches them: through the zone's bastion, checked host keys."""

    def __init__(self, ml: Any, control_dir: Path) -> None:
        self.conn = ml.conn
        self.control_dir = control_dir

    def argv(self, zone: str, address: str) -> list[str]:
        c = self.conn
        proxy = " ".join(["ssh", "-W", "%h:%p", "-q", "-i", str(c.private_key), *c.ssh_options(),
                          f"{c.user}@{c.bastions[zone]}"])
        return ["ssh", "-i", str(c.private_key), *c.ssh_options(), "-o", f"ProxyCommand={proxy}",
                "-o", "ControlMaster=auto", "-o", "ControlPersist=120",
                "-o", f"ControlPath={self.control_dir}/%C", f"{c.user}@{address}"]

    def run(self, zone: str, address: str, script: str, stdin: Any = None) -> str:
        proc = subprocess.run([*self.argv(zone, address), script], stdin=stdin, capture_output=True, text=True,
                              check=False)
        if proc.returncode:
            raise RuntimeError(f"{address}: {script[:80]}: {proc.stderr.strip()[-300:]}")
        return proc.stdout

    def pipe(self, zone: str, src: str, read: str, dst: str, write: str) -> None:
        """``read`` on ``src`` piped into ``write`` on ``dst``, through the controller."""
        a = subprocess.Popen([*self.argv(zone, src), read], stdout=subprocess.PIPE)
        b = subprocess.run([*self.argv(zone, dst), write], stdin=a.stdout, capture_output=True, check=False)
        assert a.stdout is not None
        a.stdout.close()
        if a.wait() or b.returncode:
            raise RuntimeError(f"{src} -> {dst}: {read[:60]} | {write[:60]}: {b.stderr.decode()[-300:]}")


DIGESTS = "cd {p} && find . -type f -print0 | sort -z | xargs -0r sha256sum"
COUNT = ("{pg} psql -X -A -t -d {db} -c \"SELECT string_agg(t, ',' ORDER BY t) FROM (SELECT format('%s %s', "
         "table_name, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', "
         "table_schema, table_name), false, true, '')))[1]::text) AS t FROM information_schema.tables "
         "WHERE table_schema = 'public' AND table_type = 'BASE TABLE') x\"")


def raw_system(sh: Shell, eng: Engine, system: System) -> float:
    """The same work for one system, directly; returns its seconds."""
    t0 = time.monotonic()
    zone = system.zone.value
    for p in eng.pairs(system):
        src, dst = p["source_address"], p["target_address"]
        sh.run(zone, src, "true")
        sh.run(zone, dst, "true")
        copies = p["copies"]  # the copy plan: a tree several sources hold is copied as the registry says
        for c in copies:
            sh.pipe(zone, src, f"tar -C {shlex.quote(c['path'])} -cf - .", dst,
                    f"mkdir -p {shlex.quote(c['dest'])} && tar -C {shlex.quote(c['dest'])} -xpf -")
        for db in p["databases"]:
            copy = f"jiyue_raw_{db}"
            sh.run(zone, dst, f"{PG} dropdb --if-exists --force {copy}; {PG} createdb {copy}")
            sh.pipe(zone, src, f"{PG} pg_dump --no-owner --no-acl {shlex.quote(db)}",
                    dst, f"{PG} psql -X -q -v ON_ERROR_STOP=1 -d {copy}")
            want = sh.run(zone, src, COUNT.format(pg=PG, db=shlex.quote(db)))
            got = sh.run(zone, dst, COUNT.format(pg=PG, db=copy))
            if want != got:
                raise RuntimeError(f"{system.id}: {db} differs on {dst}: {want!r} vs {got!r}")
        if "nginx" in p["services"]:
            sites = sh.run(zone, src, "cd /etc/nginx/sites-enabled && ls")
            for site in sites.split():
                sh.pipe(zone, src, f"cat /etc/nginx/sites-enabled/{shlex.quote(site)}", dst,
                        f"cat > /etc/nginx/sites-available/jiyue-raw-{shlex.quote(site)}")
            sh.run(zone, dst, "nginx -t -q && nginx -s reload")
        for c in copies:
            if not c["delete"]:
                continue  # a union's target holds more than any one source
            want = sh.run(zone, src, DIGESTS.format(p=shlex.quote(c["path"])))
            got = sh.run(zone, dst, DIGESTS.format(p=shlex.quote(c["dest"])))
            if want != got:
                raise RuntimeError(f"{system.id}: {c['path']} of {src} differs from {c['dest']} on {dst}")
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parallel", type=int, default=4, help="systems at once, in both runs")
    ap.add_argument("--name", default="bench-limit", help="the lab's name")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-limit-") as t:
        tmp = Path(t)
        model = load_city(SAMPLE_CITY)
        wave = plan_waves(model).waves[0]
        by_dep = {d: [s for s in wave.systems if model.department_of[s] == d] for d in wave.departments}
        with miglab(args.name, list(wave.departments)) as ml:
            print(f"lab {args.name}: {len(ml.plan.hosts)} hosts up and seeded in {ml.seconds_up:.0f} s; "
                  f"the pilot wave: {len(wave.systems)} systems of {', '.join(wave.departments)}", flush=True)
            with engine(ml, tmp / "state.db", list(wave.systems)) as eng:
                t0 = time.monotonic()
                outcomes = eng.drive_systems(by_dep, State.verified, max_parallel=args.parallel)
                engine_s = time.monotonic() - t0
                bad = [(o.system, o.state.value, o.error) for o in outcomes if o.state is not State.verified]
                if bad:
                    raise SystemExit(f"engine: {len(bad)} system(s) not verified: {bad[:3]}")
                (tmp / "cp").mkdir()
                sh = Shell(ml, tmp / "cp")
                t0 = time.monotonic()
                with ThreadPoolExecutor(max_workers=args.parallel) as pool:
                    raw_each = dict(zip(wave.systems, pool.map(lambda s: raw_system(sh, eng, model.systems[s]),
                                                               wave.systems), strict=True))
                raw_s = time.monotonic() - t0
                for d in (tmp / "cp").iterdir():
                    subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={d}", "x"], capture_output=True,
                                   check=False)
    by_step: dict[str, float] = {}
    for o in outcomes:
        for r in o.steps:
            by_step[r.step] = by_step.get(r.step, 0.0) + r.seconds
    busy = sum(by_step.values())
    verification = by_step.get("verify-test", 0.0) + by_step.get("verify", 0.0)
    print(f"\nthe pilot wave ({len(wave.systems)} systems, {args.parallel} at once), on one lab, one after the other:")
    print(f"  engine   {engine_s:7.1f} s   (jiyue's drive up to verified, the cutover included)")
    print(f"  raw      {raw_s:7.1f} s   (tar, pg_dump | psql, nginx, digests over ssh; slowest system "
          f"{max(raw_each.values()):.1f} s)")
    print("  engine's step time, summed over the systems (the systems run side by side):")
    for step, secs in by_step.items():
        print(f"    {step:13s} {secs:7.1f} s   {100 * secs / busy:4.1f} %")
    print(f"    of which verification suites {verification:.1f} s; playbook steps {busy - verification:.1f} s; "
          f"idle slots waiting on dependencies {max(0.0, args.parallel * engine_s - busy):.1f} slot-seconds")
    print(f"ratio engine/raw: {engine_s / raw_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
