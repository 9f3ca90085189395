"""Benchmark: the pilot wave through the engine against the same work issued directly over ssh.

    sudo .venv/bin/python bench/wave_limit.py            # the sample city's pilot wave, cut over
    sudo .venv/bin/python bench/wave_limit.py --parallel 4

One lab of the pilot's departments, seeded. First the **engine**: ``jiyue migrate run --wave 0
--cutover`` as the command runs it (a fresh state, every step, the verification suites). Then, on
the same lab in the same run, **raw**: what a person with a shell script would do for the same
systems, ``--parallel`` systems at once, over ssh the way the engine reaches the hosts (through
the zone's bastion, one key, host keys checked, a multiplexed connection per host), step by step
as the engine does it:

- precheck: reach every source and target;
- replicate: the accounts and groups that own the data created with the sources' ids, the cron
  entries and crontabs of the system carried (not scheduled), the TLS files its sites name, then
  the first sync: every data path ``tar`` piped from the source through the controller to the
  target, every database ``pg_dump | psql`` into a database of its own on the target, every nginx
  site copied;
- test cutover: synced again, nginx checked and reloaded on the target; verified: every copied
  tree's digests (``find | sha256sum`` on both sides), every database's tables and row counts, the
  site answering on the target as on the source;
- cutover: the sources frozen (databases read-only and closed, sessions ended, data paths bound
  read-only, 503 to every client, the jobs taken off the schedule), synced a last time, the
  services reloaded and the jobs scheduled on the target, the service name moved on the zone's
  client; verified again.

That is the physical limit of this job on this machine: the same bytes over the same paths, no
state recorded, no check mode, no rollback, nothing discovered twice. The copies go to names of
their own (``jiyue_raw_*`` databases, ``jiyue-raw`` sites and staging), beside what the engine
migrated.

Prints both times, the engine's time by step and what it spent on what, and as the last line
``ratio engine/raw: X.XX``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _miglab import SAMPLE_CITY, engine, miglab  # noqa: E402

from jiyue.registry import load_city  # noqa: E402
from jiyue.registry.schema import System  # noqa: E402
from migration.engine import Engine, service_name  # noqa: E402
from migration.state import State  # noqa: E402
from migration.waves import plan_waves  # noqa: E402

PG = "cd / && runuser -u postgres --"


def _checked(argv: list[str], where: str, script: str, stdin: Any = None) -> str:
    proc = subprocess.run(argv, stdin=stdin, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{where}: {script[:80]}: {proc.stderr.strip()[-300:]}")
    return proc.stdout


class Shell:
    """ssh to the wave's hosts as the engine reaches them: through the zone's bastion, checked host keys."""

    def __init__(self, ml: Any, control_dir: Path) -> None:
        self.conn = ml.conn
        self.control_dir = control_dir

    def _ssh(self, *args: str) -> list[str]:
        c = self.conn
        return ["ssh", *args, "-i", str(c.private_key), *c.ssh_options()]

    def argv(self, zone: str, address: str) -> list[str]:
        c = self.conn
        proxy = " ".join([*self._ssh("-W", "%h:%p", "-q"), f"{c.user}@{c.bastions[zone]}"])
        return [*self._ssh(), "-o", f"ProxyCommand={proxy}", "-o", "ControlMaster=auto", "-o", "ControlPersist=120",
                "-o", f"ControlPath={self.control_dir}/%C", f"{c.user}@{address}"]

    def run(self, zone: str, address: str, script: str, stdin: Any = None) -> str:
        return _checked([*self.argv(zone, address), script], address, script, stdin)

    def run_bastion(self, zone: str, script: str) -> str:
        """``script`` on the zone's bastion itself (where the zone's clients resolve service names)."""
        return _checked([*self._ssh(), f"{self.conn.user}@{self.conn.bastions[zone]}", script],
                        f"bastion of {zone}", script)

    def pipe(self, zone: str, src: str, read: str, dst: str, write: str) -> None:
        """``read`` on ``src`` piped into ``write`` on ``dst``, through the controller."""
        a = subprocess.Popen([*self.argv(zone, src), read], stdout=subprocess.PIPE)
        b = subprocess.run([*self.argv(zone, dst), write], stdin=a.stdout, capture_output=True, check=False)
        assert a.stdout is not None
        a.stdout.close()
        if a.wait() or b.returncode:
            raise RuntimeError(f"{src} -> {dst}: {read[:60]} | {write[:60]}: {b.stderr.decode()[-300:]}")


DIGESTS = "cd {p} && find . -type f -print0 | sort -z | xargs -0r sha256sum"
#: every table of every schema but PostgreSQL's own, with its row count
COUNT = ("{pg} psql -X -A -t -d {db} -c \"SELECT string_agg(t, ',' ORDER BY t) FROM (SELECT format('%s.%s %s', "
         "table_schema, table_name, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', "
         "table_schema, table_name), false, true, '')))[1]::text) AS t FROM information_schema.tables "
         "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE') x\"")
#: the groups that own a source's data (``name:gid``), ``--``, the passwd entries of its owners
OWNERS = ("find {paths} -printf '%g:%G\\n' 2>/dev/null | sort -u; echo --; "
          "for u in $(find {paths} -printf '%u\\n' 2>/dev/null | sort -u); do getent passwd \"$u\"; done")
#: a source's cron entries that name the system or its data, and its owners' crontabs; the TLS
#: files its sites name
CRON = "grep -lF {names} /etc/cron.d/* 2>/dev/null; cd /var/spool/cron/crontabs 2>/dev/null && ls {users} 2>/dev/null"
TLS = "grep -ho 'ssl_certificate[_key]* [^;]*' /etc/nginx/sites-enabled/* 2>/dev/null | cut -d' ' -f2 | sort -u"
FREEZE = ("{pg} psql -X -q -d postgres -c 'ALTER DATABASE {db} SET default_transaction_read_only = on' "
          "-c 'ALTER DATABASE {db} CONNECTION LIMIT 0' "
          "-c \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' "
          "AND pid <> pg_backend_pid()\" > /dev/null")
MOUNT_RO = ("findmnt -n -O ro --mountpoint {p} > /dev/null || "
            "{{ mount --bind {p} {p} && mount -o remount,bind,ro {p}; }}")
NGINX_503 = ("addrs=$(ip -o addr show scope global | awk '{{split($4, a, \"/\"); print a[1]}}'); "
             "{{ echo 'server {{'; for a in $addrs; do echo \"  listen $a:80;\"; done; "
             "echo '  server_name _; return 503; }}'; }} > /etc/nginx/conf.d/jiyue-raw-frozen-{sid}.conf; "
             "nginx -t -q; nginx -s reload")
SITE = "curl -s -o /dev/null -w '%{{http_code}} %{{size_download}}' -H 'Host: {name}' http://127.0.0.1/"


class RawSystem:
    """The engine's steps for one system, each done directly over ssh, in the engine's order."""

    def __init__(self, sh: Shell, eng: Engine, system: System) -> None:
        self.sh, self.system, self.zone = sh, system, system.zone.value
        self.pairs = eng.pairs(system)
        self.name = service_name(eng.model, system)
        self.crons: dict[str, list[str]] = {}  # source address -> its cron entries of the system

    def run(self) -> float:
        t0 = time.monotonic()
        self.precheck()
        self.replicate()
        self.sync()  # the test cutover: synced again, served on the target's own address
        self.serve(jobs=False)
        self.verify()
        self.freeze()  # the cutover: the sources frozen, synced a last time, the name moved
        self.sync()
        self.serve(jobs=True)
        self.move_name()
        self.verify()
        return time.monotonic() - t0

    def precheck(self) -> None:
        for p in self.pairs:
            self.sh.run(self.zone, p["source_address"], "df -P / > /dev/null && command -v tar")
            self.sh.run(self.zone, p["target_address"], "df -P / > /dev/null && command -v tar")

    def replicate(self) -> None:
        """The accounts, jobs (not scheduled) and TLS files carried, then the first sync."""
        for p in self.pairs:
            src, dst = p["source_address"], p["target_address"]
            paths = " ".join(shlex.quote(d) for d in p["data_paths"])
            if paths:
                ids, _, passwd = self.sh.run(self.zone, src, OWNERS.format(paths=paths)).partition("--\n")
                create = ["set -e"]
                for line in ids.split():
                    group, gid = line.rsplit(":", 1)
                    create.append(f"getent group {group} > /dev/null || groupadd -g {gid} {group}")
                users = []
                for entry in passwd.splitlines():
                    user, _, uid, gid, _, home, shell = entry.split(":")
                    users.append(user)
                    create.append(f"getent passwd {user} > /dev/null || useradd -M -u {uid} -g {gid} "
                                  f"-d {shlex.quote(home)} -s {shlex.quote(shell)} {user}")
                self.sh.run(self.zone, dst, "; ".join(create))
                names = " ".join(f"-e {shlex.quote(n)}" for n in [self.system.id, *p["data_paths"]])
                found = self.sh.run(self.zone, src, CRON.format(names=names, users=" ".join(users)) + "; true")
                self.crons[src] = [f for f in found.split() if f.startswith("/etc/cron.d/")]
                for tab in (f for f in found.split() if "/" not in f):
                    self.sh.pipe(self.zone, src, f"cat /var/spool/cron/crontabs/{tab}", dst,
                                 f"mkdir -p /var/lib/jiyue-raw/crontabs && cat > /var/lib/jiyue-raw/crontabs/{tab}")
                for cron in self.crons[src]:
                    self.sh.pipe(self.zone, src, f"cat {cron}", dst,
                                 f"mkdir -p /var/lib/jiyue-raw/cron && cat > /var/lib/jiyue-raw/cron/"
                                 f"{shlex.quote(Path(cron).name)}")
            if "nginx" in p["services"]:
                for f in self.sh.run(self.zone, src, TLS).split():
                    self.sh.pipe(self.zone, src, f"cat {shlex.quote(f)}", dst,
                                 f"mkdir -p {shlex.quote(str(Path(f).parent))} && cat > {shlex.quote(f)}")
        self.sync()

    def sync(self) -> None:
        """Every data path (tar), every database (``pg_dump | psql``), every nginx site."""
        for p in self.pairs:
            src, dst = p["source_address"], p["target_address"]
            for c in p["copies"]:  # the copy plan: a tree several sources hold is copied as the registry says
                self.sh.pipe(self.zone, src, f"tar -C {shlex.quote(c['path'])} -cf - .", dst,
                             f"mkdir -p {shlex.quote(c['dest'])} && tar -C {shlex.quote(c['dest'])} -xpf -")
            for db in p["databases"]:
                copy = f"jiyue_raw_{db}"
                self.sh.run(self.zone, dst, f"{PG} dropdb --if-exists --force {copy}; {PG} createdb {copy}")
                self.sh.pipe(self.zone, src, f"{PG} pg_dump --no-owner --no-acl {shlex.quote(db)}",
                             dst, f"{PG} psql -X -q -v ON_ERROR_STOP=1 -d {copy}")
            if "nginx" in p["services"]:
                for site in self.sh.run(self.zone, src, "cd /etc/nginx/sites-enabled && ls").split():
                    self.sh.pipe(self.zone, src, f"cat /etc/nginx/sites-enabled/{shlex.quote(site)}", dst,
                                 f"cat > /etc/nginx/sites-available/jiyue-raw-{shlex.quote(site)}")

    def serve(self, *, jobs: bool) -> None:
        """The services started on the targets, and at the cutover their jobs scheduled."""
        for p in self.pairs:
            script = ["true"]
            if "nginx" in p["services"]:
                script.append("nginx -t -q && nginx -s reload")
            if jobs and self.crons.get(p["source_address"]):
                script.append("cp /var/lib/jiyue-raw/cron/* /etc/cron.d/")
            self.sh.run(self.zone, p["target_address"], " && ".join(script))

    def verify(self) -> None:
        """Digests of every copied tree, tables and row counts of every database, the site answering
        on the target as on the source."""
        for p in self.pairs:
            src, dst = p["source_address"], p["target_address"]
            for db in p["databases"]:
                want = self.sh.run(self.zone, src, COUNT.format(pg=PG, db=shlex.quote(db)))
                got = self.sh.run(self.zone, dst, COUNT.format(pg=PG, db=f"jiyue_raw_{db}"))
                if want != got:
                    raise RuntimeError(f"{self.system.id}: {db} differs on {dst}: {want!r} vs {got!r}")
            for c in p["copies"]:
                if not c["delete"]:
                    continue  # a union's target holds more than any one source
                want = self.sh.run(self.zone, src, DIGESTS.format(p=shlex.quote(c["path"])))
                got = self.sh.run(self.zone, dst, DIGESTS.format(p=shlex.quote(c["dest"])))
                if want != got:
                    raise RuntimeError(f"{self.system.id}: {c['path']} of {src} differs from {c['dest']} on {dst}")
            if "nginx" in p["services"]:
                want = self.sh.run(self.zone, src, SITE.format(name=self.name))
                got = self.sh.run(self.zone, dst, SITE.format(name=self.name))
                if want.split()[0] != got.split()[0]:
                    raise RuntimeError(f"{self.system.id}: {dst} answers {got}, {src} {want}")

    def freeze(self) -> None:
        """Databases read-only and closed, data paths read-only, 503 to clients, jobs off the schedule."""
        for p in self.pairs:
            script = ["set -e", *(FREEZE.format(pg=PG, db=db) for db in p["databases"])]
            script += [MOUNT_RO.format(p=shlex.quote(d)) for d in p["data_paths"]]
            if "nginx" in p["services"]:
                script.append(NGINX_503.format(sid=self.system.id))
            script.append("mkdir -p /var/lib/jiyue-raw/frozen")
            script += [f"mv -f {shlex.quote(c)} /var/lib/jiyue-raw/frozen/ 2>/dev/null || true"
                       for c in self.crons.get(p["source_address"], [])]
            self.sh.run(self.zone, p["source_address"], "; ".join(script))

    def move_name(self) -> None:
        """The service name moved on the zone's clients (a name of its own: the engine's stays)."""
        address = self.pairs[0]["target_address"]
        self.sh.run_bastion(self.zone, f"sed -i '/ raw.{self.name}$/d' /etc/hosts && "
                                       f"echo '{address} raw.{self.name}' >> /etc/hosts")


def _at(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["at"]).timestamp()


def playbook_time(ansible_dir: Path) -> dict[str, float]:
    """The engine's playbook runs, from their event logs, summed: each process's start-up (before
    its first event and after its last), the connection set-up (estimated: on each host, the first
    of its first five tasks that takes three times the playbook's median task, beyond that median;
    the tasks before it are the controller's own, such as validating arguments), and the tasks;
    with the number of runs and of the hosts' task runs (run or skipped: each costs the host a
    worker of the controller's; a count, unlike a time, does not vary with the machine's load)."""
    out = {"start-up": 0.0, "connections": 0.0, "tasks": 0.0, "runs": 0.0, "host tasks": 0.0}
    for log in sorted(ansible_dir.glob("*/events.jsonl")):
        events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
        marks = {e["event"]: _at(e) for e in events if e["event"].startswith("jiyue_process_")}
        ansible = [e for e in events if not e["event"].startswith("jiyue_process_")]
        if len(marks) < 2 or not ansible:
            continue
        first, last = _at(ansible[0]), _at(ansible[-1])
        out["runs"] += 1
        out["host tasks"] += sum(e["event"] in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable",
                                                "runner_on_skipped") for e in ansible)
        out["start-up"] += (first - marks["jiyue_process_start"]) + (marks["jiyue_process_end"] - last)
        started: dict[tuple[str, str], float] = {}
        ran: dict[str, list[tuple[str, float]]] = {}  # host -> (task, seconds) in order
        for e in ansible:
            key = (e.get("host"), e.get("task"))
            if e["event"] == "runner_on_start":
                started[key] = _at(e)
            elif e["event"] in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable") and key in started:
                ran.setdefault(key[0], []).append((key[1], _at(e) - started.pop(key)))
        durations = [d for tasks in ran.values() for _, d in tasks]
        typical = statistics.median(durations) if durations else 0.0
        by_task: dict[str, float] = {}
        for tasks in ran.values():
            slow = next(((t, d) for t, d in tasks[:5] if d >= 3 * typical), None)
            if slow is not None:
                by_task[slow[0]] = max(by_task.get(slow[0], 0.0), slow[1] - typical)
        connect = sum(by_task.values())  # the hosts of one task connect side by side
        out["connections"] += connect
        out["tasks"] += (last - first) - connect
    return out


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
                playbooks = playbook_time(eng.run_dir / "ansible")
                bad = [(o.system, o.state.value, o.error) for o in outcomes if o.state is not State.verified]
                if bad:
                    raise SystemExit(f"engine: {len(bad)} system(s) not verified: {bad[:3]}")
                (tmp / "cp").mkdir()
                sh = Shell(ml, tmp / "cp")
                t0 = time.monotonic()
                with ThreadPoolExecutor(max_workers=args.parallel) as pool:
                    raw_each = dict(zip(wave.systems, pool.map(lambda s: RawSystem(sh, eng, model.systems[s]).run(),
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
    print(f"  raw      {raw_s:7.1f} s   (the same steps by hand over ssh: tar, pg_dump | psql, nginx, freeze, "
          "digests;\n                       slowest system "
          f"{max(raw_each.values()):.1f} s)")
    print("  engine's step time, summed over the systems (the systems run side by side):")
    for step, secs in by_step.items():
        print(f"    {step:13s} {secs:7.1f} s   {100 * secs / busy:4.1f} %")
    pb = playbooks
    driver = busy - verification - pb["start-up"] - pb["connections"] - pb["tasks"]
    print("  what that step time went on:")
    for what, secs in [(f"ansible-playbook start-up ({pb['runs']:.0f} runs)", pb["start-up"]),
                       ("connection set-up (a host's first task)", pb["connections"]),
                       (f"tasks ({pb['host tasks']:.0f} host task runs)", pb["tasks"]),
                       ("verification suites (pytest + testinfra)", verification),
                       ("the driver's own (discovery, measuring, recording)", driver)]:
        print(f"    {what:52s} {secs:7.1f} s   {100 * secs / busy:4.1f} %")
    print(f"  idle slots waiting on dependencies: {max(0.0, args.parallel * engine_s - busy):.1f} slot-seconds "
          f"of {args.parallel * engine_s:.1f}")
    print(f"ratio engine/raw: {engine_s / raw_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
