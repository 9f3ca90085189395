#!/usr/bin/env python3
"""Evidence collector, run ON a legacy host (python3 standard library only; no install).

Prints one JSON object: logins, web requests, database activity, data-file freshness, scheduled
jobs, package staleness, listening services and client connections, and CPU used by the host's
own processes over a short window. Usage: collector.py DAYS WINDOW_SECONDS DATA_PATHS_JSON
"""

import calendar
import glob
import json
import os
import re
import struct
import subprocess
import sys
import time

DAYS = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
WINDOW = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
PATHS = json.loads(sys.argv[3]) if len(sys.argv) > 3 else []
NOW = time.time()
SINCE = NOW - DAYS * 86400
UTMP = struct.Struct("<h2xi32s4s32s256shhiii4i20x")
MONTHS = {m: i for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                      "Dec"], 1)}
out = {"collected_at": NOW, "days": DAYS, "hostname": os.uname().nodename}


def read(path, mode="r"):
    with open(path, mode, **({} if "b" in mode else {"errors": "replace"})) as f:
        return f.read()


def logins():
    n, last = 0, None
    try:
        data = read("/var/log/wtmp", "rb")
    except OSError:
        return {"available": False}
    for off in range(0, len(data) - UTMP.size + 1, UTMP.size):
        f = UTMP.unpack_from(data, off)
        if f[0] == 7:  # USER_PROCESS
            t = f[9]
            last = t if last is None or t > last else last
            n += t >= SINCE
    return {"available": True, "recent": n, "last": last}


def web():
    n, last, files = 0, None, 0
    rx = re.compile(r"\[(\d{2})/(\w{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\]")
    for path in glob.glob("/var/log/nginx/access.log*"):
        if path.endswith(".gz"):
            continue
        files += 1
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    m = rx.search(line)
                    if not m:
                        continue
                    d, mon, y, hh, mm, ss, tz = m.groups()
                    offset = (1 if tz[0] == "+" else -1) * (int(tz[1:3]) * 3600 + int(tz[3:5]) * 60)
                    t = calendar.timegm((int(y), MONTHS[mon], int(d), int(hh), int(mm), int(ss))) - offset
                    last = t if last is None or t > last else last
                    n += t >= SINCE
        except OSError:
            pass
    return {"available": files > 0, "recent": n, "last": last}


def psql(sql, db="postgres"):
    r = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-d", db, "-c", sql],
                       capture_output=True, text=True, timeout=20)
    return r.stdout.strip() if r.returncode == 0 else None


def database():
    if not os.path.exists("/usr/bin/psql") or psql("SELECT 1") is None:
        return {"available": False}
    rows = psql("SELECT datname, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
                "WHERE datname NOT IN ('postgres', 'template0', 'template1') AND datname IS NOT NULL")
    writes = {}
    for line in (rows or "").splitlines():
        name, n = line.split("|")
        writes[name] = int(n)
    last = psql("SELECT extract(epoch FROM timestamp) FROM pg_last_committed_xact()")
    return {"available": True, "writes": writes, "last_commit": float(last) if last else None}


def data_files():
    newest, recent, count = None, 0, 0
    for root in PATHS:
        for d, _, files in os.walk(root):
            for name in files:
                try:
                    t = os.lstat(os.path.join(d, name)).st_mtime
                except OSError:
                    continue
                count += 1
                newest = t if newest is None or t > newest else newest
                recent += t >= SINCE
    return {"available": count > 0, "files": count, "recent": recent, "newest": newest}


def jobs():
    found = []
    for path in glob.glob("/etc/cron.d/*") + glob.glob("/var/spool/cron/crontabs/*"):
        try:
            for line in read(path).splitlines():
                line = line.strip()
                if line and not line.startswith("#") and not re.match(r"^[A-Z_]+=", line):
                    found.append(f"{os.path.basename(path)}: {line[:120]}")
        except OSError:
            pass
    return found


def packages():
    last = None
    try:
        for line in read("/var/log/dpkg.log").splitlines():
            if " status installed " in line or " upgrade " in line:
                last = line[:10]
    except OSError:
        pass
    try:
        status_mtime = os.stat("/var/lib/dpkg/status").st_mtime
    except OSError:
        status_mtime = None
    return {"last_dpkg_day": last, "status_mtime": status_mtime}


def sockets():
    listening, established = set(), 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = read(path).splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local_port = int(parts[1].rsplit(":", 1)[1], 16)
            state = parts[3]
            if state == "0A":
                listening.add(local_port)
            elif state == "01" and local_port != 22:
                remote_port = int(parts[2].rsplit(":", 1)[1], 16)
                if remote_port != 22:
                    established += 1
    return {"listening": sorted(listening), "established_clients": established}


def cpu_ticks(skip):
    total = 0
    for stat in glob.glob("/proc/[0-9]*/stat"):
        pid = int(stat.split("/")[2])
        if pid in skip:
            continue
        try:
            fields = read(stat).rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def ancestors():
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(read(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


out["logins"] = logins()
out["web"] = web()
out["database"] = database()
out["data"] = data_files()
out["jobs"] = jobs()
out["packages"] = packages()
out["sockets"] = sockets()
skip = ancestors()
hz = os.sysconf("SC_CLK_TCK")
t0 = cpu_ticks(skip)
time.sleep(WINDOW)
out["cpu_seconds"] = round(max(0, cpu_ticks(skip | ancestors()) - t0) / hz, 3)  # exited processes drop out
out["window"] = WINDOW
print(json.dumps(out))
