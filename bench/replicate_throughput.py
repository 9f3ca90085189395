"""Benchmark: copy throughput of the replicate step against raw ``rsync -a``.

    sudo .venv/bin/python bench/replicate_throughput.py            # 400 MB, 2 rounds
    sudo .venv/bin/python bench/replicate_throughput.py --mb 200 --rounds 3

Brings up a lab of its own ("bench-rep": the forestry department, seeded), adds ``--mb`` MB of
random data of mixed sizes (dd from /dev/urandom: a few large files, some medium, many small)
to forestry-resource's data path on its legacy host, then, side by side and alternating, per
round:

- raw: ``rsync -a`` run on the target host, pulling the same directory from the same source
  over ssh (a key of its own, strict host-key checking, ssh's default cipher) into a fresh
  directory;
- replicate: the engine's replicate step (replicate.yml through ansible-runner, exactly as
  ``jiyue migrate run`` runs it) into a fresh target directory (removed before each round).

Prints MB/s of both (replicate: of its rsync task, the copy itself, and of the whole step with
Ansible's fixed cost of granting/revoking the key and installing sites) and the ratio replicate
/ raw (goal: at least 0.9). Tears the lab down at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _miglab import MigLab, engine, miglab  # noqa: E402

SYSTEM = "forestry-resource"
DEPARTMENT = "forestry"


def generate(ml: MigLab, host: str, root: str, mb: int) -> None:
    """``mb`` MB under ``root``/bench: half in 4 large files, 3/8 in 6 MB files, 1/8 in 64 KB ones."""
    large, medium = mb // 2 // 4, mb * 3 // 8 // 6
    small = mb * 1024 // 8 // 64
    script = f"""set -e
mkdir -p {root}/bench/large {root}/bench/medium {root}/bench/small
for i in $(seq 1 4); do dd if=/dev/urandom of={root}/bench/large/l$i.bin bs=1M count={large} status=none; done
for i in $(seq 1 {medium}); do dd if=/dev/urandom of={root}/bench/medium/m$i.bin bs=1M count=6 status=none; done
d={root}/bench/small; for i in $(seq 1 {small}); do head -c 65536 /dev/urandom > $d/s$i.bin; done
"""
    ml.sh(host, script)


def file_bytes(ml: MigLab, host: str, root: str) -> int:
    return int(ml.sh(host, f"find {root} -type f -printf '%s\\n' | awk '{{n += $1}} END {{print n}}'").strip())


def raw_setup(ml: MigLab, source: str, source_address: str, target: str) -> str:
    """A key of the benchmark's own on the target, authorized on the source; returns ssh's -e."""
    ml.sh(target, "rm -rf /root/.bench && mkdir -m 700 /root/.bench && "
                  "ssh-keygen -q -t ed25519 -N '' -C bench-raw -f /root/.bench/id")
    pub = ml.sh(target, "cat /root/.bench/id.pub").strip()
    ml.sh(source, f"echo {shlex.quote(pub)} >> /root/.ssh/authorized_keys")
    key = next(line.split()[1:3] for line in ml.lab.known_hosts.read_text().splitlines()
               if line.split()[0].split(",")[0] == source)
    ml.sh(target, f"echo {shlex.quote(source_address + ' ' + ' '.join(key))} > /root/.bench/known_hosts")
    return ("ssh -i /root/.bench/id -o BatchMode=yes -o StrictHostKeyChecking=yes "
            "-o UserKnownHostsFile=/root/.bench/known_hosts -o GlobalKnownHostsFile=/dev/null -l root")


def raw_teardown(ml: MigLab, source: str, target: str) -> None:
    ml.sh(source, "sed -i '/ bench-raw$/d' /root/.ssh/authorized_keys")
    ml.sh(target, "rm -rf /root/.bench /srv/bench-raw")


def rsync_task_seconds(artifacts: Path) -> float:
    """The rsync task's own time in a replicate run (Ansible's ``delta`` of each item)."""
    total = 0.0
    for f in artifacts.glob("artifacts/*/job_events/*.json"):
        ev = json.loads(f.read_text())
        data = ev.get("event_data", {})
        if ev.get("event") == "runner_item_on_ok" and str(data.get("task", "")).startswith("Pull each data"):
            h, m, s = data["res"]["delta"].split(":")
            total += int(h) * 3600 + int(m) * 60 + float(s)
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=400, help="data to generate on the source (MB)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--name", default="bench-rep", help="the lab's name")
    args = ap.parse_args()
    with miglab(args.name, [DEPARTMENT]) as ml, tempfile.TemporaryDirectory(prefix="bench-rep-") as tmp:
        print(f"lab {args.name} up and seeded in {ml.seconds_up:.1f} s", flush=True)
        with engine(ml, Path(tmp) / "state.db", [SYSTEM]) as eng:
            pair = eng.pairs(ml.model.systems[SYSTEM])[0]
            source, target, root = pair["source"], pair["target"], pair["data_paths"][0]
            t0 = time.monotonic()
            generate(ml, source, root, args.mb)
            size = file_bytes(ml, source, root)
            files = int(ml.sh(source, f"find {root} -type f | wc -l"))
            print(f"generated on {source}: {size / 1e6:.0f} MB in {files} files ({time.monotonic() - t0:.0f} s)",
                  flush=True)
            ssh = raw_setup(ml, source, pair["source_address"], target)
            raw, step, task = [], [], []
            try:
                for n in range(args.rounds):
                    ml.sh(target, "rm -rf /srv/bench-raw && sync")
                    t0 = time.monotonic()
                    ml.sh(target, f"rsync -a -e {shlex.quote(ssh)} {pair['source_address']}:{root}/ /srv/bench-raw/")
                    raw.append(time.monotonic() - t0)
                    ml.sh(target, f"rm -rf /srv/bench-raw {root} && sync")
                    r = eng.runner.run("replicate.yml", eng.extravars(ml.model.systems[SYSTEM]),
                                       label=f"replicate-{n}")
                    if not r.ok:
                        raise RuntimeError(r.summary())
                    step.append(r.seconds)
                    task.append(rsync_task_seconds(r.artifacts))
                    copied = file_bytes(ml, target, root)
                    if copied != size:
                        raise RuntimeError(f"replicate copied {copied} bytes of {size}")
                    print(f"round {n + 1}: raw rsync {raw[-1]:.2f} s, replicate's rsync {task[-1]:.2f} s, "
                          f"replicate step {step[-1]:.2f} s", flush=True)
            finally:
                raw_teardown(ml, source, target)
    mbs = size / 1e6
    r_raw, r_task, r_step = (mbs / statistics.median(x) for x in (raw, task, step))
    print(f"\n{dt.date.today()} {mbs:.0f} MB, {files} files, forestry-resource-files1 -> {target}, "
          f"median of {args.rounds} rounds")
    print(f"  raw rsync -a                  {r_raw:7.1f} MB/s")
    print(f"  replicate (its rsync)         {r_task:7.1f} MB/s   ratio {r_task / r_raw:.2f}  (goal >= 0.9)")
    print(f"  replicate (whole step)        {r_step:7.1f} MB/s   ratio {r_step / r_raw:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
