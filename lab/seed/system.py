"""The host itself: its accounts, its package-update evidence (``om.last_update``) and the
nightly export a system in use runs from cron."""

from __future__ import annotations

import datetime as dt
import posixpath
import shlex
from collections.abc import Sequence
from typing import Any

from jiyue.registry.schema import System
from lab.lab import Lab
from lab.seed.base import ACCOUNTS, GROUPS, SYSTEM_UID, service_on, sh


def create_accounts(lab: Lab, host: str, system_user: str) -> list[str]:
    lines = [f"getent group {g} >/dev/null || groupadd -g {gid} {g}" for g, gid in GROUPS.items()]
    for user, (uid, group) in {**ACCOUNTS, system_user: (SYSTEM_UID, "")}.items():
        gopt = f"-g {group}" if group else "-U"
        lines.append(f"getent passwd {user} >/dev/null || useradd -m -u {uid} {gopt} -s /bin/bash {user}")
    sh(lab, host, "\n".join(lines))
    return sorted({*ACCOUNTS, system_user})


def seed_update_evidence(lab: Lab, host: str, last_update: dt.date) -> None:
    """Package-update evidence = om.last_update: dpkg/apt log dates and the dpkg status mtime."""
    day = last_update.isoformat()
    sh(lab, host, f"""
sed -i -E 's/^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}} /{day} /' /var/log/dpkg.log
if [ -f /var/log/apt/history.log ]; then
  sed -i -E 's/^(Start|End)-Date: [0-9-]+ /\\1-Date: {day} /' /var/log/apt/history.log
fi
touch -d '{day} 11:00:00 UTC' /var/log/dpkg.log /var/lib/dpkg/status
[ ! -f /var/log/apt/history.log ] || touch -d '{day} 11:00:00 UTC' /var/log/apt/history.log
""")


def cron_job(lab: Lab, host: str, system: System, sites: Sequence[dict[str, Any]], trees: Sequence[dict[str, Any]],
             databases: Sequence[str]) -> str:
    """A nightly export in ``/etc/cron.d/<system id>``; cron enabled and started."""
    out = f"/var/backups/{system.id}"
    steps = [f"runuser -u postgres -- pg_dump -Fc {shlex.quote(db)} > {out}/{db}.dump" for db in databases]
    steps += [f"tar -czf {out}/{posixpath.basename(x['path'])}.tar.gz -C {x['path']} ."
              for x in (*sites, *trees)]
    script = "#!/bin/sh\n# Nightly export of {} ({})\nset -e\nmkdir -p {}\n{}\n".format(
        system.id, system.names.zh, out, "\n".join(steps) or "true")
    cron = (f"# {system.names.zh}: nightly export\nSHELL=/bin/sh\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
            f"30 2 * * * root /usr/local/bin/{system.id}-export >>/var/log/{system.id}-export.log 2>&1\n")
    sh(lab, host, f"cat > /usr/local/bin/{system.id}-export\nchmod 0755 /usr/local/bin/{system.id}-export",
       script.encode())
    sh(lab, host, f"cat > /etc/cron.d/{system.id}\nchmod 0644 /etc/cron.d/{system.id}", cron.encode())
    service_on(lab, host, "cron")
    return f"/etc/cron.d/{system.id}"
