"""Benchmark of the rehearsal lab engine: bring up N hosts, measure, tear down.

    sudo PYTHONPATH=. python bench/lab_up.py            # 20 hosts
    sudo PYTHONPATH=. python bench/lab_up.py 20 200     # 20, then 200 hosts

For each N: time to start N hosts (netns + namespaces + overlay + sshd), time to wire them to
one switch namespace (veth + bridge + address each), time for a real ssh round trip to a few
of them, time to tear down; memory per host (RSS and PSS of each host's processes, which is
sshd alone at idle; the host's overlay upper layer on disk; the machine's MemAvailable drop).
The golden image is built first if it is not cached (not counted). Uses the lab name "bench"
(``--name``), so it never touches another lab.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import subprocess
import sys
import time
from pathlib import Path

from lab import HostSpec, Lab
from lab.host import pids_in_netns
from lab.image import ensure_image


def _kib(path: str, field: str) -> int:
    for line in Path(path).read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _mem_available_kib() -> int:
    return _kib("/proc/meminfo", "MemAvailable")


def _du_kib(path: Path) -> int:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True).stdout
    return int(out.split()[0]) if out else 0


def run(n: int, name: str) -> dict[str, float]:
    lab = Lab(name, progress=lambda msg: None)
    lab.down()  # a previous interrupted run
    subnet = ipaddress.ip_network("10.250.0.0/16")
    addrs = list(subnet.hosts())
    before = _mem_available_kib()

    t0 = time.monotonic()
    specs = [HostSpec(f"h{i:03d}") for i in range(n)]
    lab.up_hosts(specs)
    t_up = time.monotonic() - t0

    t0 = time.monotonic()
    lab.add_namespace("sw")
    lab.add_bridge("sw", "br0")
    for i, spec in enumerate(specs):
        lab.add_link(spec.name, "eth0", "sw", f"p{i}", f"{addrs[i + 10]}/16")
        lab.attach("sw", f"p{i}", "br0")
    lab.protect([str(subnet)])
    lab.add_root_link("h000", "b0", "eth9", "10.250.255.253/30", "10.250.255.254/30")
    lab.set_ssh("h000", "10.250.255.254")
    for i, spec in enumerate(specs[1:], start=1):
        lab.set_ssh(spec.name, str(addrs[i + 10]), jump="h000")
    t_net = time.monotonic() - t0

    t0 = time.monotonic()
    probes = [specs[0].name, specs[len(specs) // 2].name, specs[-1].name]
    for host in probes:
        r = lab.ssh(host, "hostname")
        if r.returncode != 0 or r.stdout.strip() != host:
            raise SystemExit(f"ssh to {host} failed: {r.stderr}")
    t_ssh = (time.monotonic() - t0) / len(probes)

    rss = pss = 0
    for spec in specs:
        for pid in pids_in_netns(lab.netns_name(spec.name)):
            try:
                rss += _kib(f"/proc/{pid}/status", "VmRSS")
                pss += _kib(f"/proc/{pid}/smaps_rollup", "Pss")
            except OSError:
                pass
    upper = _du_kib(lab.dir / "hosts")
    after = _mem_available_kib()

    t0 = time.monotonic()
    lab.down()
    t_down = time.monotonic() - t0
    return {
        "hosts": n,
        "up_s": round(t_up, 2),
        "network_s": round(t_net, 2),
        "ssh_roundtrip_s": round(t_ssh, 3),
        "down_s": round(t_down, 2),
        "rss_per_host_kib": rss // n,
        "pss_per_host_kib": pss // n,
        "upper_disk_per_host_kib": upper // n,
        "mem_available_drop_per_host_kib": max(0, before - after) // n,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[20], help="host counts")
    parser.add_argument("--name", default="bench", help="lab name (default: bench)")
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    args = parser.parse_args(argv)
    image = ensure_image()
    if not args.json:
        print(f"image {image.path} ({f'built in {image.seconds:.0f} s' if image.built else 'cached'})")
    for n in args.sizes:
        result = run(n, args.name)
        if args.json:
            print(json.dumps(result))
        else:
            print(
                f"{n:4d} hosts: up {result['up_s']:.1f} s, network {result['network_s']:.1f} s, "
                f"ssh {result['ssh_roundtrip_s'] * 1000:.0f} ms, down {result['down_s']:.1f} s; "
                f"per host RSS {result['rss_per_host_kib'] / 1024:.1f} MiB, "
                f"PSS {result['pss_per_host_kib'] / 1024:.1f} MiB, "
                f"MemAvailable drop {result['mem_available_drop_per_host_kib'] / 1024:.1f} MiB, "
                f"upper {result['upper_disk_per_host_kib']} KiB on disk"
            )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
