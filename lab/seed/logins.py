"""Login sessions as ``login`` and ``sshd`` record them: ``utmp`` records in ``/var/log/wtmp`` and
the matching ``/var/log/lastlog`` entries (what ``last -F`` and ``lastlog`` read)."""

from __future__ import annotations

import base64
import socket
import struct
import time
from collections.abc import Sequence
from typing import Any

from jiyue.registry.schema import LegacyHost
from lab.lab import Lab
from lab.seed.base import lan_client, run_python, seeded_rng

_UTMP = struct.Struct("<h2xi32s4s32s256shhiii4i20x")  # glibc x86_64 struct utmp, 384 bytes


_LASTLOG = struct.Struct("<i32s256s")  # struct lastlog, 292 bytes


USER_PROCESS, DEAD_PROCESS = 7, 8


def utmp_record(kind: int, pid: int, line: str, user: str, host: str, when: int, addr: str = "") -> bytes:
    """One ``struct utmp`` as ``login``/``sshd`` append it to ``/var/log/wtmp``."""
    ip = struct.unpack("<i", socket.inet_aton(addr))[0] if addr else 0
    return _UTMP.pack(kind, pid, line.encode(), line[-4:].encode(), user.encode(), host.encode(), 0, 0,
                      0, when, 0, ip, 0, 0, 0)


def parse_wtmp(data: bytes) -> list[dict[str, Any]]:
    """Records of a wtmp file (for tests and the audit's collector)."""
    out = []
    for off in range(0, len(data) - _UTMP.size + 1, _UTMP.size):
        f = _UTMP.unpack_from(data, off)
        out.append({"type": f[0], "pid": f[1], "line": f[2].rstrip(b"\0").decode(),
                    "user": f[4].rstrip(b"\0").decode(), "host": f[5].rstrip(b"\0").decode(), "time": f[9]})
    return out


_WRITE_LOGINS = """
import json, os, sys, base64
a = json.loads(sys.argv[1])
wtmp = base64.b64decode(a["wtmp"])
old = open("/var/log/wtmp", "rb").read() if os.path.exists("/var/log/wtmp") else b""
if wtmp not in old:
    with open("/var/log/wtmp", "ab") as f:
        f.write(wtmp)
fd = os.open("/var/log/lastlog", os.O_WRONLY | os.O_CREAT, 0o664)
for uid, rec in a["lastlog"]:
    os.pwrite(fd, base64.b64decode(rec), uid * 292)
os.close(fd)
"""


def logins(lab: Lab, host: str, legacy: LegacyHost, users: dict[str, int], times: Sequence[int],
           seed: int) -> int:
    """Login sessions at ``times`` in ``/var/log/wtmp`` (+ lastlog): what ``last`` shows."""
    rng = seeded_rng(seed, legacy.name, "logins")
    records: list[tuple[int, bytes]] = []
    latest: dict[str, tuple[int, str, str]] = {}
    names = sorted(users)
    for i, t in enumerate(sorted(times)):
        user = rng.choice(names)
        line = f"pts/{i % 4}"
        addr = lan_client(rng, legacy.address)
        pid = 1000 + rng.randrange(30000)
        end = min(t + rng.randint(60, 3 * 3600), int(time.time()) - 1)
        records.append((t, utmp_record(USER_PROCESS, pid, line, user, addr, t, addr)))
        records.append((end, utmp_record(DEAD_PROCESS, pid, line, "", "", end)))
        latest[user] = (t, line, addr)
    wtmp = b"".join(rec for _, rec in sorted(records, key=lambda r: r[0]))
    last = [[users[u], base64.b64encode(_LASTLOG.pack(t, ln.encode(), a.encode())).decode()]
            for u, (t, ln, a) in latest.items()]
    run_python(lab, host, _WRITE_LOGINS, {"wtmp": base64.b64encode(wtmp).decode(), "lastlog": last})
    return len(times)
