"""What verification measures on a host, as small Python scripts run *on* that host.

The same script measures the frozen source and the migrated target, so "equal" means equal by
one definition: files by SHA-256 with mode, owner (by id and by name: an id with no account on
the target is no owner), mtime and ACL; databases per table by row
count and an md5 over the rows in a stable order; web answers by the SHA-256 of the body.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

FILES = r"""
import grp, hashlib, json, os, pwd, stat, sys
names = {}
def user(uid):
    if ("u", uid) not in names:
        try:
            names["u", uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            names["u", uid] = str(uid)
    return names["u", uid]
def group(gid):
    if ("g", gid) not in names:
        try:
            names["g", gid] = grp.getgrgid(gid).gr_name
        except KeyError:
            names["g", gid] = str(gid)
    return names["g", gid]
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
            m[rel] = [digest, oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid, mtime, acl(p),
                      user(st.st_uid), group(st.st_gid)]
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


#: What a system runs on, on one source host: the accounts that own its data or run its jobs, its
#: cron entries and the scripts they run, what listens with which owner, the TLS files its nginx
#: sites use, the service units that name it. Input: {"system", "paths", "services"}.
DISCOVER = r"""
import base64, glob, grp, hashlib, json, os, pwd, re, stat, sys
arg = json.loads(sys.argv[1])
system, paths = arg["system"], arg["paths"]
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
uids, gids = set(), set()
for root in paths:
    for d, dirs, files in os.walk(root):
        for name in files + [""]:
            try:
                st = os.lstat(os.path.join(d, name) if name else d)
            except OSError:
                continue
            uids.add(st.st_uid); gids.add(st.st_gid)
def mine(text):
    return system in text or any(p in text for p in paths)
# a frozen source keeps the system's jobs aside (jiyue.migration.jobs): they are still its jobs
frozen = f"/var/lib/jiyue/frozen-jobs/{system}"
cron_files = {}
for f in sorted(glob.glob("/etc/cron.d/*") + glob.glob(f"{frozen}/cron.d/*")):
    try:
        text = open(f, encoding="utf-8", errors="replace").read()
    except OSError:
        continue
    if mine(text) or os.path.basename(f) == system:
        cron_files["/etc/cron.d/" + os.path.basename(f)] = text
crontabs = {}
scripts = {}
users = set()
for f, text in cron_files.items():
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 7 and not line.startswith("#") and "=" not in parts[0]:
            users.add(parts[5])
            # the program the entry runs (after an interpreter, its script); never a data file
            # the command line names as an argument or a redirection
            words = parts[6:8] if os.path.basename(parts[6]) in ("sh", "bash", "python3", "perl") else parts[6:7]
            for word in words:
                system_dir = word.startswith(("/bin/", "/usr/bin/", "/sbin/", "/usr/sbin/"))
                in_data = any(word == p or word.startswith(p.rstrip("/") + "/") for p in paths)
                if word.startswith("/") and os.path.isfile(word) and not system_dir and not in_data:
                    raw = open(word, "rb").read(1 << 20)
                    scripts[word] = {"sha256": sha(word), "mode": oct(stat.S_IMODE(os.stat(word).st_mode)),
                                     "content": base64.b64encode(raw).decode()}
def user_of(uid):
    try:
        return pwd.getpwuid(uid)
    except KeyError:
        return None
names = {u.pw_name for u in map(user_of, uids) if u} | users
for n in sorted(names):
    for spool in (f"/var/spool/cron/crontabs/{n}", f"{frozen}/crontabs/{n}"):
        if os.path.isfile(spool):
            crontabs[n] = open(spool, encoding="utf-8", errors="replace").read()
accounts, groups = [], {}
for n in sorted(names - {"root"}):
    try:
        u = pwd.getpwnam(n)
    except KeyError:
        continue
    member_of = sorted(g.gr_name for g in grp.getgrall() if n in g.gr_mem)
    g0 = grp.getgrgid(u.pw_gid)
    groups[g0.gr_name] = u.pw_gid
    for m in member_of:
        groups[m] = grp.getgrnam(m).gr_gid
    accounts.append({"name": n, "uid": u.pw_uid, "gid": u.pw_gid, "group": g0.gr_name, "groups": member_of,
                     "home": u.pw_dir, "shell": u.pw_shell})
for g in gids:
    try:
        e = grp.getgrgid(g)
    except KeyError:
        continue
    if e.gr_gid:
        groups[e.gr_name] = e.gr_gid
unknown = sorted({i for i in uids if user_of(i) is None})
tls = {}
for f in glob.glob("/etc/nginx/sites-enabled/*"):
    try:
        text = open(f, encoding="utf-8", errors="replace").read()
    except OSError:
        continue
    for m in re.finditer(r"^\s*ssl_certificate(_key)?\s+([^;\s]+)\s*;", text, re.M):
        p = m.group(2)
        if os.path.isfile(p):
            st = os.stat(p)
            tls[p] = {"sha256": sha(p), "mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid, "gid": st.st_gid,
                      "kind": "key" if m.group(1) else "certificate"}
units = {}
for f in sorted(glob.glob("/etc/systemd/system/*.service") + glob.glob("/etc/systemd/system/*.timer")):
    try:
        text = open(f, encoding="utf-8", errors="replace").read()
    except OSError:
        continue
    if mine(text):
        units[f] = text
listening = []
inode_port = {}
for proto in ("tcp", "tcp6"):
    try:
        rows = open(f"/proc/net/{proto}").read().splitlines()[1:]
    except OSError:
        continue
    for r in rows:
        c = r.split()
        if c[3] == "0A":
            inode_port[c[9]] = int(c[1].rsplit(":", 1)[1], 16)
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
        status = open(f"/proc/{pid}/status").read()
        comm = open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        continue
    uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m and m.group(1) in inode_port:
            u = user_of(uid)
            listening.append({"port": inode_port[m.group(1)], "process": comm, "user": u.pw_name if u else str(uid)})
listening = sorted({json.dumps(x, sort_keys=True) for x in listening})
print(json.dumps({"accounts": accounts, "groups": dict(sorted(groups.items())), "unknown_uids": unknown,
                  "cron": {"files": cron_files, "crontabs": crontabs, "scripts": scripts},
                  "tls": tls, "units": units, "listening": [json.loads(x) for x in listening]}))
"""


#: Which of the accounts (and groups) a target is to receive it cannot hold under the same name
#: and id: the name is there with another id, or the id is another account's.
#: Input: {"users": [{"name", "uid"}], "groups": [{"name", "gid"}]}.
ACCOUNT_CLASHES = r"""
import grp, json, pwd, sys
arg = json.loads(sys.argv[1])
out = []
for u in arg["users"]:
    try:
        by_name = pwd.getpwnam(u["name"]).pw_uid
    except KeyError:
        by_name = None
    try:
        by_id = pwd.getpwuid(u["uid"]).pw_name
    except KeyError:
        by_id = None
    if by_name is not None and by_name != u["uid"]:
        out.append(f"user {u['name']} is uid {by_name} here, {u['uid']} on the source (free the id or "
                   "change the account on the target first)")
    elif by_id is not None and by_id != u["name"]:
        out.append(f"uid {u['uid']} ({u['name']} on the source) is taken by {by_id} here (free it first)")
for g in arg["groups"]:
    try:
        by_name = grp.getgrnam(g["name"]).gr_gid
    except KeyError:
        by_name = None
    try:
        by_id = grp.getgrgid(g["gid"]).gr_name
    except KeyError:
        by_id = None
    if by_name is not None and by_name != g["gid"]:
        out.append(f"group {g['name']} is gid {by_name} here, {g['gid']} on the source")
    elif by_id is not None and by_id != g["name"]:
        out.append(f"gid {g['gid']} ({g['name']} on the source) is taken by {by_id} here")
print(json.dumps(out))
"""
