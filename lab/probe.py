"""The probe: real packets along the plan's probe paths, next to what the flow table expects.

:func:`expected_matrix` asks the lab's flow table (:func:`lab.topology.flow_table`) of every
path: open when a flow admits it (the migration's flows only while they are open in the lab,
:func:`lab.migrations.open_flows`), closed otherwise. :func:`probe` tries each path from its
source host: over TCP open means the connection was accepted; over UDP open means the
destination answered at all (a reply, or the ICMP port unreachable of a host that received the
datagram), closed that nothing came back.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jiyue.ipam import plan as ip_plan
from jiyue.registry import CityModel
from lab.lab import Lab
from lab.topology import LabPlan, flow_table

Matrix = dict[str, dict[str, bool]]


def expected_matrix(model: CityModel, plan: LabPlan, open_migrations: dict[str, Any] | None = None) -> Matrix:
    """Per probe source and point, whether the flow table lets it through; ``open_migrations``
    is what :func:`lab.migrations.open_flows` returns (none open when left out)."""
    table = flow_table(model, ip_plan(model))
    here = {h.name: h for h in plan.hosts}
    src_addrs = {here[plan.probe_sources[s]].cidr.split("/")[0] for s in plan.probe_paths}
    relevant = [f for f in table if not f.temporary and any(f.source.contains(a) for a in src_addrs)]
    opened = {(f.target, f.source, f.port) for flows in (open_migrations or {}).values() for f in flows}
    out: Matrix = {}
    for src, paths in plan.probe_paths.items():
        host = here[plan.probe_sources[src]]
        src_addr = host.cidr.split("/")[0]
        out[src] = {}
        for dst in paths:
            dst_host, addr, port, proto = plan.probe_points[dst]
            ok = any(f.admits(src_addr, addr, proto, port) for f in relevant)
            out[src][dst] = ok or (host.name, dst_host, port) in opened
    return out


_PROBE = """
import socket, sys, json
from concurrent.futures import ThreadPoolExecutor
timeout = float(sys.argv[2])
def one(point):
    label, addr, port, proto = point
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(timeout)
        try:
            s.connect((addr, port)); s.send(b"jiyue-probe"); s.recv(64); return label, True
        except ConnectionRefusedError:
            return label, True
        except OSError:
            return label, False
        finally:
            s.close()
    s = socket.socket(); s.settimeout(timeout)
    try:
        s.connect((addr, port)); return label, True
    except OSError:
        return label, False
    finally:
        s.close()
points = json.loads(sys.argv[1])
with ThreadPoolExecutor(max_workers=max(1, len(points))) as pool:
    print(json.dumps(dict(pool.map(one, points))))
"""


def probe(lab: Lab, plan: LabPlan, timeout: float = 1.5) -> Matrix:
    """Real connects (TCP) and datagrams (UDP) along every probe path; returns the observed matrix."""
    def one(src: str) -> tuple[str, dict[str, bool]]:
        points = [[dst, *plan.probe_points[dst][1:]] for dst in plan.probe_paths[src]]
        proc = lab.exec(plan.probe_sources[src], ["python3", "-c", _PROBE, json.dumps(points), str(timeout)],
                        check=True)
        return src, json.loads(proc.stdout)

    with ThreadPoolExecutor(max_workers=max(1, len(plan.probe_paths))) as pool:
        return dict(pool.map(one, plan.probe_paths))
