"""Print how far behind its primary this DR host is, as JSON (run by jiyue.migration.dr_lag)."""

import json
import os
import subprocess
import sys
import time

database, heartbeat, backups = sys.argv[1] == "1", sys.argv[2], sys.argv[3]
out = {"now": time.time()}
if backups != "-":  # a backup host: per primary, its latest complete snapshot's manifest
    out["backups"] = {}
    for name in sorted(os.listdir(backups)) if os.path.isdir(backups) else []:
        latest = os.path.join(backups, name, "latest")
        try:
            with open(os.path.join(latest, "manifest.json"), encoding="utf-8") as f:
                out["backups"][name] = {**json.load(f), "snapshot": os.path.realpath(latest)}
        except (OSError, ValueError) as exc:
            out["backups"][name] = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(out))
    sys.exit(0)
if database:
    r = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-F", " ", "-d", "jiyue_dr", "-c",
                        "SELECT extract(epoch FROM beat), pg_is_in_recovery(),"
                        " coalesce((SELECT status FROM pg_stat_wal_receiver), 'none') FROM heartbeat"],
                       capture_output=True, text=True, timeout=20)
    if r.returncode == 0 and r.stdout.split():
        beat, recovery, receiver = r.stdout.split()
        out["database"] = {"beat": float(beat), "standby": recovery == "t", "receiver": receiver}
    else:
        out["database"] = {"error": (r.stderr.strip() or "no heartbeat row").splitlines()[-1]}
if heartbeat != "-":
    try:
        with open(heartbeat, encoding="ascii") as f:
            out["files"] = {"beat": float(f.read().strip())}
    except (OSError, ValueError) as exc:
        out["files"] = {"error": f"{type(exc).__name__}: {exc}"}
print(json.dumps(out))
