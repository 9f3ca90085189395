"""What verification measures on a host, as small Python scripts run *on* that host.

The same script measures the frozen source and the migrated target, so "equal" means equal by
one definition: files by SHA-256 with mode, owner, mtime and ACL; databases per table by row
count and an md5 over the rows in a stable order; web answers by the SHA-256 of the body.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

FILES = r"""
import hashlib, json, os, stat, sys
def acl(p):
    try:
        return hashlib.sha256(os.getxattr(p, "system.posix_acl_access", follow_symlinks=False)).hexdigest()[:16]
    except OSError:
        return ""
out = {}
for root in json.loads(sys.argv[1]):
    m = {}
    if not os.path.isdir(root):
        out[root] = None
        continue
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files) + [""]:
            p = os.path.join(d, name) if name else d
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                digest = h.hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                digest = "->" + os.readlink(p)
            else:
                digest = "dir" if stat.S_ISDIR(st.st_mode) else "other"
            rel = os.path.relpath(p, root)
            mtime = int(st.st_mtime) if not stat.S_ISDIR(st.st_mode) else 0
            m[rel] = [digest, oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid, mtime, acl(p)]
    out[root] = m
print(json.dumps(out))
"""

DATABASES = r"""
import json, subprocess, sys
def psql(db, sql):
    r = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-d", db, "-c", sql],
                       capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"psql {db}: {r.stderr.strip()}")
    return r.stdout
out = {}
for db in json.loads(sys.argv[1]):
    exists = psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{db}'").strip()
    if not exists:
        out[db] = None
        continue
    tables = [t for t in psql(db, "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
                                  "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1").split()]
    out[db] = {}
    for t in tables:
        row = psql(db, f"SELECT count(*), coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM {t} x")
        n, digest = row.strip().split("|")
        out[db][t] = [int(n), digest]
print(json.dumps(out))
"""

HTTP = r"""
import hashlib, json, sys, urllib.request
out = {}
for port, path in json.loads(sys.argv[1]):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            out[f"{port}{path}"] = [r.status, hashlib.sha256(r.read()).hexdigest()]
    except Exception as exc:  # noqa: BLE001 - recorded, compared
        out[f"{port}{path}"] = [0, type(exc).__name__]
print(json.dumps(out))
"""


def command(script: str, arg: Any) -> str:
    """A shell command running ``script`` with one JSON argument on the host."""
    return f"python3 -c {shlex.quote(script)} {shlex.quote(json.dumps(arg))}"


def run(host: Any, script: str, arg: Any) -> Any:
    """Run a probe through a testinfra host and parse its JSON answer."""
    return json.loads(host.check_output(command(script, arg)))
