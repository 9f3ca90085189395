"""Seeding: make a legacy host run what the city registry says it runs (issue 5).

:func:`seed_host` gives one lab host the services of one :class:`~jiyue.registry.schema.LegacyHost`
with deterministic data and, for systems in use, genuine activity; :func:`seed_hosts` does many
hosts in parallel. Everything runs inside the host through :meth:`lab.Lab.exec` (no network
needed). Data travels as a tar stream (base64 on stdin) built here, so owners, modes and mtimes
come out exactly as generated.

What a host gets, per service the registry lists:

- ``nginx``: one site per data path under ``/var/www`` (all data paths on a host whose services
  do not include ``files``): ``index.html`` naming the system in Chinese, HTML pages, binary
  ``assets/*.png`` and ``files/*.pdf``, an ``uploads/`` directory owned by ``www-data``; a server
  block in ``/etc/nginx/sites-available/<site>`` linked into ``sites-enabled`` (the first site is
  the ``default_server`` on port 80; the others answer to ``server_name <site>``); nginx enabled
  and started, and the index checked over ``http://localhost``.
- ``postgresql``: the cluster enabled and started; per database of the registry a role named
  after the system (``audit-online`` -> ``audit_online``, with an OS account of the same name),
  the database owned by it, schema ``app`` with ``records``, ``attachments`` (bytea) and
  ``audit_log``, deterministic rows, indexes, ``VACUUM ANALYZE``.
  **Authentication stays local peer auth** (Debian's default ``pg_hba.conf``, ``listen_addresses``
  localhost): the migration engine dumps and restores over ssh as ``sudo -u postgres`` (or
  ``runuser``); no password is ever created and no database port is opened to the lab.
- ``files``: per data path (outside ``/var/www``) a nested tree of documents of varied sizes
  (some empty, some with Chinese names), owned by ``archivist``/``clerk`` and group ``archive``
  (fixed ids, see :data:`ACCOUNTS`), directories 0750/0755/0700, files 0640/0644/0600, and
  POSIX ACLs (``setfacl``) on a few entries when the image has ``acl``.
- ``ssh``: nothing to do, sshd is the host's init.

Every host, in use or not, gets the registry's ``om.last_update`` as its package-update evidence:
the dates of ``/var/log/dpkg.log`` and ``/var/log/apt/history.log`` are rewritten to that day and
those files and ``/var/lib/dpkg/status`` get it as mtime. Base data (site files, file trees,
database rows) is dated on or before ``om.last_update`` and depends only on the registry, ``seed``
and ``scale``: seeding the same host twice anywhere gives the same bytes.

Activity, for systems in use (see :func:`in_use_of`), all of it dated relative to *now* and
readable by the audit (issue 7):

- web: real HTTP requests to every site from inside the host, so nginx itself writes them to
  ``/var/log/nginx/access.log``; plus older traffic from the department's LAN over the last 30
  days in ``/var/log/nginx/access.log.1`` (as logrotate leaves it), combined log format.
- logins: ``utmp`` records in ``/var/log/wtmp`` (``USER_PROCESS`` at login and ``DEAD_PROCESS`` at
  logout, on ``pts/N`` from LAN addresses, the records ``login``/``sshd`` write) and the matching
  ``/var/log/lastlog`` entries: ``last -F`` and ``lastlog`` read them.
- database: after the load the cluster is restarted with ``track_commit_timestamp = on`` and the
  statistics are reset, then real transactions run (inserts, updates, audit-log rows), each its
  own commit. Evidence: ``pg_stat_database`` (``xact_commit``, ``tup_inserted``, ``tup_updated``,
  ``stats_reset``), ``SELECT * FROM pg_last_committed_xact()`` (recent timestamp; NULL on idle
  hosts, whose only writes happened before commit timestamps were on), and
  ``max(updated_at)`` of ``app.records``.
- files: new documents under ``<data path>/incoming/<date>/`` with mtimes over the last 30 days.
- cron: ``/etc/cron.d/<system id>`` runs a nightly export (``/usr/local/bin/<system id>-export``),
  and cron is enabled and started.

Idle systems (zombies) keep every service the registry lists running, but have no activity:
empty ``access.log`` (the seed's own check request is truncated away), at most a few requests and
logins around ``om.last_update`` and at least 45 days ago, zero statistics and no commit
timestamp in PostgreSQL, no cron job, every data mtime on or before ``om.last_update``.

What was seeded is written to ``/var/lib/jiyue/seed.json`` (:data:`MANIFEST`): sites, trees (file
counts, bytes, per-file SHA-256 and a tree digest, see :func:`tree_digest`), databases and row
counts, accounts, activity counts and where the evidence lives. Seeding is idempotent: when the
manifest holds the same parameters the host is left untouched; different parameters are refused
(bring the host up again to reseed).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import posixpath
import random
import re
import shlex
import socket
import struct
import tarfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from jiyue.registry.schema import Frequency, LegacyHost, OmStatus, Service, System
from lab.errors import LabError
from lab.lab import Lab

SEED_VERSION = 1
MANIFEST = "/var/lib/jiyue/seed.json"
MIB = 1 << 20
#: Data bytes per host at scale 1.0 and data_gb >= 1 (smaller registry sizes scale it down).
BYTES_PER_HOST = 4 * MIB
#: The smallest fraction of BYTES_PER_HOST a host with data gets, whatever its data_gb.
MIN_FRACTION = 0.05
DAY = 86400
ACTIVITY_DAYS = 30

#: Accounts seeding creates: name -> (uid, primary group). Groups: name -> gid. Fixed ids so
#: that a migration that keeps numeric owners can be checked.
GROUPS: dict[str, int] = {"archive": 2100}
ACCOUNTS: dict[str, tuple[int, str]] = {"archivist": (2101, "archive"), "clerk": (2102, "archive"), "ops": (2110, "")}
#: uid of the account named after the system (also its PostgreSQL role, for peer auth).
SYSTEM_UID = 2001

#: Activity per frequency of use: (HTTP requests now, requests per day in history, logins in
#: 30 days, database transactions, new documents).
_LEVELS: dict[Frequency, tuple[int, int, int, int, int]] = {
    Frequency.continuous: (40, 60, 60, 60, 12),
    Frequency.daily: (25, 25, 30, 30, 8),
    Frequency.weekly: (12, 6, 8, 12, 4),
    Frequency.monthly: (6, 2, 3, 5, 2),
    Frequency.yearly: (4, 1, 2, 3, 1),
    Frequency.rarely: (4, 1, 2, 3, 1),
}

_WORDS = (
    "预算", "决算", "审计", "档案", "公告", "通知", "政策", "法规", "项目", "报告", "统计", "年度",
    "专项", "资金", "管理", "办法", "实施", "意见", "工作", "动态", "采购", "合同", "收缴", "凭证",
    "目录", "清单", "备案", "整改", "检查", "会议", "纪要", "批复", "申请", "材料", "数据", "共享",
)


class SeedError(LabError):
    """Seeding a host failed or was refused; the message says which host and why."""


@dataclass
class SeedReport:
    """What :func:`seed_host` did to one host. ``manifest`` is what ``/var/lib/jiyue/seed.json``
    holds; ``changed`` is False when the host was already seeded with the same parameters."""

    host: str
    system: str
    legacy: str
    in_use: bool
    changed: bool
    seconds: float
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def skipped(self) -> list[str]:
        return list(self.manifest.get("skipped", []))


# --------------------------------------------------------------------------- helpers


def in_use_of(system: System) -> bool:
    """A system is in use unless its O&M stopped or it is used rarely or yearly (zombie-like)."""
    return system.om.status != OmStatus.stopped and system.frequency_of_use not in (
        Frequency.rarely,
        Frequency.yearly,
    )


def sanitize(name: str, limit: int = 32) -> str:
    """An identifier usable as OS account and PostgreSQL role: ``audit-online`` -> ``audit_online``."""
    out = re.sub(r"[^a-z0-9_]", "_", name.lower())
    if not out or not out[0].isalpha():
        out = "s_" + out
    return out[:limit]


def _rng(seed: int, *parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def _epoch(day: dt.date, seconds: int = 0) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) + seconds


def _past_mtime(rng: random.Random, last_update: dt.date, years: float = 3.0) -> int:
    """A deterministic time in the ``years`` before the end of ``last_update`` (office hours)."""
    day = last_update - dt.timedelta(days=rng.randrange(int(365 * years)))
    return _epoch(day, rng.randrange(8 * 3600, 18 * 3600) - 8 * 3600)  # 08:00-18:00 Beijing


def _text(rng: random.Random, words: int) -> str:
    return "".join(rng.choice(_WORDS) for _ in range(words))


def _sh(lab: Lab, host: str, script: str, data: bytes | None = None) -> str:
    """Run ``script`` with ``sh -e`` inside ``host``; ``data`` arrives on its stdin (sent base64)."""
    if data is None:
        return lab.exec(host, ["sh", "-ec", script]).stdout
    payload = base64.b64encode(data).decode("ascii")
    return lab.exec(host, ["sh", "-ec", f"base64 -d | {{\n{script}\n}}"], input=payload).stdout


def _py(lab: Lab, host: str, program: str, arg: Any) -> str:
    """Run a small python3 ``program`` inside ``host``; ``arg`` is JSON in ``sys.argv[1]``."""
    return lab.exec(host, ["python3", "-c", program, json.dumps(arg)]).stdout


# --------------------------------------------------------------------------- file trees


@dataclass(frozen=True)
class Entry:
    """One file or directory to create (``data is None`` for a directory)."""

    rel: str
    data: bytes | None
    mode: int
    owner: str = "root"
    group: str = "root"
    mtime: int = 0


_IDS = {"root": 0, "www-data": 33, **{k: v[0] for k, v in ACCOUNTS.items()}, **GROUPS}


def _tar(root: str, entries: Sequence[Entry]) -> bytes:
    """A tar of ``entries`` under absolute ``root`` (names relative to /), PAX for UTF-8 names."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        # Each directory right before its contents, subtrees contiguous: GNU tar sets a
        # directory's mtime when the archive leaves it, so nothing may be written there later.
        for e in sorted(entries, key=lambda e: e.rel.split("/") if e.rel else []):
            name = posixpath.join(root.lstrip("/"), e.rel) if e.rel else root.lstrip("/")
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = e.mode, e.mtime
            info.uname, info.gname = e.owner, e.group
            info.uid, info.gid = _IDS.get(e.owner, 0), _IDS.get(e.group, 0)
            if e.data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    return buf.getvalue()


def _extract(lab: Lab, host: str, root: str, entries: Sequence[Entry]) -> None:
    _sh(lab, host, "tar -xpf - -C / --same-owner", _tar(root, entries))


def tree_digest(files: dict[str, str]) -> str:
    """Digest of a tree from ``{relative path: sha256}``: the SHA-256 of the lines
    ``"<sha256>  <path>\\n"`` sorted by path (bytes), i.e. on a host:
    ``cd ROOT && find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum``."""
    lines = "".join(f"{files[p]}  {p}\n" for p in sorted(files, key=lambda p: p.encode()))
    return hashlib.sha256(lines.encode()).hexdigest()


def _tree_summary(path: str, entries: Sequence[Entry]) -> dict[str, Any]:
    files = {e.rel: hashlib.sha256(e.data).hexdigest() for e in entries if e.data is not None}
    return {
        "path": path,
        "files": len(files),
        "dirs": sum(1 for e in entries if e.data is None),
        "bytes": sum(len(e.data) for e in entries if e.data is not None),
        "sha256": tree_digest(files),
        "sha256_files": files,
    }


def _binary(rng: random.Random, kind: str, size: int) -> bytes:
    head = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "tif": b"II*\x00"}[kind]
    return (head + rng.randbytes(max(size - len(head), 0)))[: max(size, len(head))]


def _split(budget: int, parts: int) -> int:
    return max(budget // max(parts, 1), 16 * 1024)


# --------------------------------------------------------------------------- nginx


def _site_entries(system: System, site: str, budget: int, seed: int) -> list[Entry]:
    """index.html, HTML pages, PNG and PDF files, an uploads directory, dated <= last update."""
    rng = _rng(seed, system.id, "site", site)
    last = system.om.last_update
    pages: list[Entry] = []
    binaries: list[Entry] = []
    used = 0
    n = 0
    while used < budget or n < 6:
        n += 1
        if n % 3:
            title = _text(rng, 4)
            body = "".join(f"<p>{_text(rng, rng.randint(8, 40))}</p>\n" for _ in range(rng.randint(3, 30)))
            html = (f"<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{title}</title>"
                    f"</head>\n<body><h1>{title}</h1>\n{body}</body></html>\n").encode()
            pages.append(Entry(f"page-{n:04d}.html", html, 0o644, mtime=_past_mtime(rng, last)))
            used += len(html)
        else:
            kind = rng.choice(("png", "pdf"))
            size = int(min(2 ** rng.uniform(12, 17), max(budget - used, 4096)))
            data = _binary(rng, kind, size)
            folder = "assets" if kind == "png" else "files"
            binaries.append(Entry(f"{folder}/{kind}-{n:04d}.{kind}", data, 0o644, mtime=_past_mtime(rng, last)))
            used += len(data)
    links = "\n".join(f'<li><a href="{e.rel}">{e.rel}</a></li>' for e in pages + binaries)
    index = (
        f"<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        f"<title>{system.names.zh}</title></head>\n<body>\n<h1>{system.names.zh}</h1>\n"
        f"<p>{system.names.en} ({system.id}) &mdash; {system.function}</p>\n<ul>\n{links}\n</ul>\n</body></html>\n"
    ).encode()
    stamp = _epoch(last, 3600)
    dirs = [Entry("", None, 0o755, mtime=stamp), Entry("assets", None, 0o755, mtime=stamp),
            Entry("files", None, 0o755, mtime=stamp),
            Entry("uploads", None, 0o755, "www-data", "www-data", mtime=stamp)]
    robots = Entry("robots.txt", b"User-agent: *\nDisallow: /uploads/\n", 0o644, mtime=stamp)
    return [*dirs, Entry("index.html", index, 0o644, mtime=stamp), robots, *pages, *binaries]


def _nginx_conf(site: str, root: str, default: bool) -> str:
    listen = "listen 80 default_server;" if default else "listen 80;"
    return (
        f"# {site}: seeded by the jiyue rehearsal lab\n"
        f"server {{\n    {listen}\n    server_name {site};\n    root {root};\n    index index.html;\n"
        f"    charset utf-8;\n    location / {{\n        try_files $uri $uri/ =404;\n    }}\n}}\n"
    )


def seed_nginx(lab: Lab, host: str, system: System, paths: Sequence[str], budget: int, seed: int) -> list[dict]:
    """Sites with content and server blocks; nginx enabled, started and checked."""
    sites: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, path in enumerate(paths):
        name = re.sub(r"[^A-Za-z0-9_.-]", "-", posixpath.basename(path.rstrip("/")) or "site")
        while name in names:
            name += "-2"
        names.add(name)
        entries = _site_entries(system, name, _split(budget, len(paths)), seed)
        _extract(lab, host, path, entries)
        conf = _nginx_conf(name, path, default=i == 0)
        _sh(lab, host, f"cat > /etc/nginx/sites-available/{name}\n"
                       f"ln -sfn ../sites-available/{name} /etc/nginx/sites-enabled/{name}", conf.encode())
        sites.append({"server_name": name, "default": i == 0, "config": f"/etc/nginx/sites-available/{name}",
                      **_tree_summary(path, entries),
                      "sizes": {e.rel: len(e.data) for e in entries if e.data is not None}})
    _sh(lab, host, "rm -f /etc/nginx/sites-enabled/default\nnginx -t -q")
    _service_on(lab, host, "nginx", reload=True)
    for site in sites:
        body = _py(lab, host, _FETCH, {"host": site["server_name"], "path": "/"})
        if system.names.zh not in body:
            raise SeedError(f"{host}: nginx does not serve the index of {site['path']}: {body[:200]!r}")
    return sites


_FETCH = """
import json, sys, urllib.request
a = json.loads(sys.argv[1])
req = urllib.request.Request("http://127.0.0.1" + a["path"], headers={"Host": a["host"]})
with urllib.request.urlopen(req, timeout=10) as r:
    sys.stdout.write(r.read().decode())
"""


def _service_on(lab: Lab, host: str, service: str, reload: bool = False) -> None:
    lab.service(host, "enable", service)
    running = lab.service(host, "status", service).returncode == 0
    if not running:
        lab.service(host, "start", service)
    elif reload:
        lab.service(host, "restart", service)


# --------------------------------------------------------------------------- postgresql


def _copy_text(value: object) -> str:
    if value is None:
        return r"\N"
    s = str(value)
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _db_rows(system: System, db: str, budget: int, seed: int) -> tuple[list[list[object]], ...]:
    """Deterministic rows of records, attachments and audit_log, dated <= last update."""
    rng = _rng(seed, system.id, "db", db)
    last = system.om.last_update
    n_records = max(50, budget // 2 // 600)
    n_attach = max(5, n_records // 10)
    attach_size = max(256, budget // 2 // n_attach)
    records, attachments, log = [], [], []
    for i in range(1, n_records + 1):
        created = _past_mtime(rng, last)
        updated = min(created + rng.randrange(0, 90 * DAY), _epoch(last, 10 * 3600))
        when = [dt.datetime.fromtimestamp(t, dt.UTC).isoformat() for t in (created, updated)]
        body = "\n".join(_text(rng, rng.randint(10, 40)) for _ in range(rng.randint(1, 6)))
        amount = f"{rng.randrange(0, 10**9) / 100:.2f}"
        records.append([i, f"{_text(rng, 3)}第{i}号", body, when[0], when[1], amount])
        log.append([i, i, "create", when[0]])
    for j in range(1, n_attach + 1):
        data = _binary(rng, "pdf", rng.randint(attach_size // 2, attach_size))
        rec = rng.randint(1, n_records)
        attachments.append([j, rec, f"附件-{j:05d}.pdf", "\\x" + data.hex(), hashlib.sha256(data).hexdigest()])
    return records, attachments, log


_SCHEMA = """
DROP SCHEMA IF EXISTS app CASCADE;
CREATE SCHEMA app AUTHORIZATION {role};
SET ROLE {role};
SET search_path = app;
CREATE TABLE records (id serial PRIMARY KEY, title text NOT NULL, body text, created_at timestamptz NOT NULL,
                      updated_at timestamptz NOT NULL, amount numeric(14,2));
CREATE TABLE attachments (id serial PRIMARY KEY, record_id int NOT NULL REFERENCES records(id), name text NOT NULL,
                          content bytea NOT NULL, sha256 text NOT NULL);
CREATE TABLE audit_log (id bigserial PRIMARY KEY, record_id int REFERENCES records(id), action text NOT NULL,
                        at timestamptz NOT NULL DEFAULT now());
"""

_INDEXES = """
CREATE INDEX records_created_at_idx ON records (created_at);
CREATE INDEX attachments_record_id_idx ON attachments (record_id);
CREATE INDEX audit_log_at_idx ON audit_log (at);
SELECT setval('records_id_seq', (SELECT max(id) FROM records));
SELECT setval('attachments_id_seq', (SELECT max(id) FROM attachments));
SELECT setval('audit_log_id_seq', (SELECT max(id) FROM audit_log));
RESET ROLE;
"""

_PSQL = "runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1"


def _psql(lab: Lab, host: str, db: str, sql: str, single: bool = False) -> str:
    flags = " -1" if single else ""
    return _sh(lab, host, f"{_PSQL}{flags} -At -d {shlex.quote(db)} -f -", sql.encode())


def _sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def seed_postgresql(lab: Lab, host: str, system: System, databases: Sequence[str], budget: int,
                    seed: int) -> list[dict]:
    """Cluster enabled and started; per database: role, database, schema ``app``, rows, indexes."""
    role = sanitize(system.id)
    _service_on(lab, host, "postgresql")
    _psql(lab, host, "postgres", f"""
SELECT 'exists' FROM pg_roles WHERE rolname = '{role}';
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN CREATE ROLE {role} LOGIN; END IF;
END $$;
""")
    out = []
    for db in databases:
        exists = _psql(lab, host, "postgres", f"SELECT 1 FROM pg_database WHERE datname = '{db}';").strip()
        if not exists:
            _psql(lab, host, "postgres", f"CREATE DATABASE {_sql_ident(db)} OWNER {role} ENCODING 'UTF8' "
                                         "LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0;")
        records, attachments, log = _db_rows(system, db, _split(budget, len(databases)), seed)
        parts = [_SCHEMA.format(role=role)]
        for table, cols, rows in (
            ("records", "id, title, body, created_at, updated_at, amount", records),
            ("attachments", "id, record_id, name, content, sha256", attachments),
            ("audit_log", "id, record_id, action, at", log),
        ):
            parts.append(f"COPY {table} ({cols}) FROM stdin;\n")
            parts.extend("\t".join(_copy_text(v) for v in row) + "\n" for row in rows)
            parts.append("\\.\n")
        parts.append(_INDEXES)
        _psql(lab, host, db, "".join(parts), single=True)
        _psql(lab, host, db, "VACUUM ANALYZE;")
        out.append({"name": db, "owner": role, "schema": "app",
                    "tables": {"records": len(records), "attachments": len(attachments), "audit_log": len(log)}})
    return out


def _track_commits(lab: Lab, host: str, databases: Sequence[str]) -> None:
    """Commit timestamps on from now, statistics reset: what follows is the only activity."""
    # pg_ctl itself (what pg_ctlcluster runs, same data directory, options and log file) restarts
    # in a fraction of a second; Debian's wrapper takes seconds.
    _sh(lab, host, """
pg_lsclusters -h | while read -r version cluster port status owner data log; do
  printf 'track_commit_timestamp = on\\n' > "/etc/postgresql/$version/$cluster/conf.d/jiyue-seed.conf"
  runuser -u "$owner" -- "/usr/lib/postgresql/$version/bin/pg_ctl" -D "$data" -l "$log" -s -w -m fast restart
done""")
    for db in databases:
        _psql(lab, host, db, "SELECT pg_stat_reset();")


# --------------------------------------------------------------------------- files


def _tree_entries(system: System, path: str, budget: int, seed: int) -> list[Entry]:
    """Nested year/category directories with documents of varied sizes, owners and modes."""
    rng = _rng(seed, system.id, "tree", path)
    last = system.om.last_update
    stamp = _epoch(last, 3600)
    entries = [Entry("", None, 0o755, "root", "archive", stamp),
               Entry("public", None, 0o755, "archivist", "archive", stamp),
               Entry("restricted", None, 0o700, "root", "root", stamp)]
    years = sorted({(last - dt.timedelta(days=365 * k)).year for k in range(3)})
    cats = ["文书", "会计", "scan", "index"]
    for y in years:
        entries.append(Entry(str(y), None, 0o750, "archivist", "archive", stamp))
        entries.extend(Entry(f"{y}/{c}", None, 0o750, "archivist", "archive", stamp) for c in cats)
    dirs = [f"{y}/{c}" for y in years for c in cats] + ["public", "restricted"]
    used, n = 0, 0
    while used < budget or n < 12:
        n += 1
        d = rng.choice(dirs)
        if n == 1:
            data = b""
        elif rng.random() < 0.4:
            data = ("\n".join(_text(rng, rng.randint(5, 30)) for _ in range(rng.randint(1, 40))) + "\n").encode()
        else:
            data = _binary(rng, rng.choice(("pdf", "tif")),
                           int(min(2 ** rng.uniform(8, 16), max(budget - used, 256))))
        ext = "txt" if data[:1] not in (b"%", b"I") else ("pdf" if data[:1] == b"%" else "tif")
        name = f"{_text(rng, 2)}-{n:05d}.{ext}" if n % 7 == 0 else f"doc-{n:05d}.{ext}"
        owner, group, mode = "archivist", "archive", 0o640
        if d == "public":
            owner, mode = "clerk", 0o644
        elif d == "restricted":
            owner, group, mode = "root", "root", 0o600
        entries.append(Entry(f"{d}/{name}", data, mode, owner, group, _past_mtime(rng, last)))
        used += len(data)
    return entries


#: ACLs set on every tree (path relative to the tree, setfacl spec).
_ACLS: tuple[tuple[str, str], ...] = (
    ("public", "u:ops:r-x"),
    ("public", "d:g:archive:r-x"),
    ("restricted", "u:archivist:r-x"),
)


def seed_files(lab: Lab, host: str, system: System, paths: Sequence[str], budget: int, seed: int,
               skipped: list[str]) -> list[dict]:
    """File trees with owners, modes, mtimes, and ACLs when ``setfacl`` exists."""
    has_acl = bool(_sh(lab, host, "command -v setfacl || true").strip())
    if not has_acl:
        skipped.append("ACLs: setfacl is not in the image (package acl)")
    trees = []
    for path in paths:
        entries = _tree_entries(system, path, _split(budget, len(paths)), seed)
        _extract(lab, host, path, entries)
        acls = []
        if has_acl:
            for rel, spec in _ACLS:
                target = posixpath.join(path, rel)
                # Directory mtimes stay as seeded: setfacl changes only the ctime.
                _sh(lab, host, f"setfacl -m {shlex.quote(spec)} {shlex.quote(target)}")
                acls.append({"path": target, "acl": spec})
        trees.append({**_tree_summary(path, entries), "acls": acls})
    return trees


def _accounts(lab: Lab, host: str, system_user: str) -> list[str]:
    lines = [f"getent group {g} >/dev/null || groupadd -g {gid} {g}" for g, gid in GROUPS.items()]
    for user, (uid, group) in {**ACCOUNTS, system_user: (SYSTEM_UID, "")}.items():
        gopt = f"-g {group}" if group else "-U"
        lines.append(f"getent passwd {user} >/dev/null || useradd -m -u {uid} {gopt} -s /bin/bash {user}")
    _sh(lab, host, "\n".join(lines))
    return sorted({*ACCOUNTS, system_user})


# --------------------------------------------------------------------------- last update


def seed_update_evidence(lab: Lab, host: str, last_update: dt.date) -> None:
    """Package-update evidence = om.last_update: dpkg/apt log dates and the dpkg status mtime."""
    day = last_update.isoformat()
    _sh(lab, host, f"""
sed -i -E 's/^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}} /{day} /' /var/log/dpkg.log
if [ -f /var/log/apt/history.log ]; then
  sed -i -E 's/^(Start|End)-Date: [0-9-]+ /\\1-Date: {day} /' /var/log/apt/history.log
fi
touch -d '{day} 11:00:00 UTC' /var/log/dpkg.log /var/lib/dpkg/status
[ ! -f /var/log/apt/history.log ] || touch -d '{day} 11:00:00 UTC' /var/log/apt/history.log
""")


# --------------------------------------------------------------------------- activity

_REQUESTS = """
import json, sys, urllib.error, urllib.request
n = 0
for site, path, agent in json.loads(sys.argv[1]):
    req = urllib.request.Request("http://127.0.0.1" + path, headers={"Host": site, "User-Agent": agent})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
    except urllib.error.HTTPError:
        pass
    n += 1
print(n)
"""

_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0",
)


def _lan_client(rng: random.Random, address: str) -> str:
    a, b, c, _ = address.split(".")
    return f"{a}.{b}.{c}.{rng.randint(100, 199)}"


def _access_lines(rng: random.Random, sites: Sequence[dict], client_of, times: Sequence[int]) -> str:
    lines = []
    for t in sorted(times):
        site = rng.choice(sites)
        files = site["sha256_files"]
        rel = rng.choice(["", "index.html", *sorted(files)[:40]])
        status, size = (200, site["sizes"][rel or "index.html"]) if rng.random() > 0.03 else (404, 153)
        stamp = dt.datetime.fromtimestamp(t, dt.UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
        lines.append(f'{client_of(rng)} - - [{stamp}] "GET /{rel} HTTP/1.1" {status} {size} "-" '
                     f'"{rng.choice(_AGENTS)}"\n')
    return "".join(lines)


def web_history(lab: Lab, host: str, sites: Sequence[dict], legacy: LegacyHost, times: Sequence[int],
                seed: int) -> int:
    """Older requests from the LAN in ``/var/log/nginx/access.log.1`` (as logrotate leaves it)."""
    rng = _rng(seed, legacy.name, "access")
    text = _access_lines(rng, sites, lambda r: _lan_client(r, legacy.address), times)
    newest = max(times) if times else int(time.time()) - ACTIVITY_DAYS * DAY
    _sh(lab, host, "cat > /var/log/nginx/access.log.1\nchown www-data:adm /var/log/nginx/access.log.1\n"
                   f"chmod 0640 /var/log/nginx/access.log.1\ntouch -d @{newest} /var/log/nginx/access.log.1",
        text.encode())
    return len(times)


def web_requests(lab: Lab, host: str, sites: Sequence[dict], count: int, seed: int) -> int:
    """Real requests to the host's own nginx, which logs them in ``access.log``."""
    rng = _rng(seed, host, "requests", time.time_ns())
    reqs = []
    for _ in range(count):
        site = rng.choice(sites)
        rel = rng.choice(["", *sorted(site["sha256_files"])[:40], "missing.html"])
        reqs.append([site["server_name"], "/" + rel, rng.choice(_AGENTS)])
    return int(_py(lab, host, _REQUESTS, reqs).strip() or 0)


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
    rng = _rng(seed, legacy.name, "logins")
    records: list[tuple[int, bytes]] = []
    latest: dict[str, tuple[int, str, str]] = {}
    names = sorted(users)
    for i, t in enumerate(sorted(times)):
        user = rng.choice(names)
        line = f"pts/{i % 4}"
        addr = _lan_client(rng, legacy.address)
        pid = 1000 + rng.randrange(30000)
        end = min(t + rng.randint(60, 3 * 3600), int(time.time()) - 1)
        records.append((t, utmp_record(USER_PROCESS, pid, line, user, addr, t, addr)))
        records.append((end, utmp_record(DEAD_PROCESS, pid, line, "", "", end)))
        latest[user] = (t, line, addr)
    wtmp = b"".join(rec for _, rec in sorted(records, key=lambda r: r[0]))
    last = [[users[u], base64.b64encode(_LASTLOG.pack(t, ln.encode(), a.encode())).decode()]
            for u, (t, ln, a) in latest.items()]
    _py(lab, host, _WRITE_LOGINS, {"wtmp": base64.b64encode(wtmp).decode(), "lastlog": last})
    return len(times)


def db_activity(lab: Lab, host: str, databases: Sequence[str], count: int, seed: int) -> int:
    """Real transactions, one commit each: inserts, updates and audit-log rows, dated now."""
    rng = _rng(seed, host, "tx", time.time_ns())
    n = 0
    for db in databases:
        stmts = []
        for i in range(count):
            if i % 3 == 0:
                stmts.append(f"INSERT INTO app.records (title, body, created_at, updated_at, amount) VALUES "
                             f"('{_text(rng, 3)}', '{_text(rng, 20)}', now(), now(), {rng.randrange(10**7) / 100});")
            elif i % 3 == 1:
                stmts.append(f"UPDATE app.records SET updated_at = now(), amount = amount + 1 "
                             f"WHERE id = {rng.randint(1, 50)};")
            else:
                stmts.append(f"INSERT INTO app.audit_log (record_id, action) VALUES ({rng.randint(1, 50)}, 'view');")
        _psql(lab, host, db, "\n".join(stmts) + "\n")
        n += count
    return n


def _db_counts(lab: Lab, host: str, db: str) -> dict[str, int]:
    out = _psql(lab, host, db, "SELECT 'records', count(*) FROM app.records UNION ALL "
                               "SELECT 'attachments', count(*) FROM app.attachments UNION ALL "
                               "SELECT 'audit_log', count(*) FROM app.audit_log;")
    return {k: int(v) for k, v in (line.split("|") for line in out.split())}


def new_documents(lab: Lab, host: str, system: System, path: str, count: int, seed: int) -> list[str]:
    """Recently received documents under ``<path>/incoming/<date>/``, mtimes in the last 30 days."""
    rng = _rng(seed, host, path, "incoming")
    now = int(time.time())
    entries = [Entry("incoming", None, 0o750, "archivist", "archive", now)]
    days: set[str] = set()
    for i in range(count):
        t = now - rng.randrange(ACTIVITY_DAYS * DAY)
        day = dt.datetime.fromtimestamp(t, dt.UTC).date().isoformat()
        if day not in days:
            days.add(day)
            entries.append(Entry(f"incoming/{day}", None, 0o750, "archivist", "archive", t))
        entries.append(Entry(f"incoming/{day}/recv-{i:04d}.pdf", _binary(rng, "pdf", rng.randint(2048, 32768)),
                             0o640, "archivist", "archive", t))
    _extract(lab, host, path, entries)
    return [posixpath.join(path, e.rel) for e in entries if e.data is not None]


def cron_job(lab: Lab, host: str, system: System, sites: Sequence[dict], trees: Sequence[dict],
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
    _sh(lab, host, f"cat > /usr/local/bin/{system.id}-export\nchmod 0755 /usr/local/bin/{system.id}-export",
        script.encode())
    _sh(lab, host, f"cat > /etc/cron.d/{system.id}\nchmod 0644 /etc/cron.d/{system.id}", cron.encode())
    _service_on(lab, host, "cron")
    return f"/etc/cron.d/{system.id}"


def _recent_times(rng: random.Random, count: int, now: int, days: int = ACTIVITY_DAYS) -> list[int]:
    return sorted(now - rng.randrange(60, days * DAY) for _ in range(count))


def _old_times(rng: random.Random, count: int, last_update: dt.date, now: int) -> list[int]:
    """Around the last update, never within 45 days of now."""
    end = min(_epoch(last_update, 12 * 3600), now - 45 * DAY)
    return sorted(end - rng.randrange(0, 7 * DAY) for _ in range(count))


# --------------------------------------------------------------------------- the host


def _split_paths(legacy: LegacyHost) -> tuple[list[str], list[str]]:
    """(site paths, tree paths): with both nginx and files, /var/www and */www/* are sites."""
    services = set(legacy.services)
    if Service.nginx in services and Service.files not in services:
        return list(legacy.data_paths), []
    if Service.files in services and Service.nginx not in services:
        return [], list(legacy.data_paths)
    if Service.nginx not in services:
        return [], []
    sites = [p for p in legacy.data_paths if p.startswith("/var/www") or "/www/" in p + "/"]
    return sites, [p for p in legacy.data_paths if p not in sites]


def _read_manifest(lab: Lab, host: str) -> dict[str, Any] | None:
    out = lab.exec(host, ["cat", MANIFEST], check=False)
    if out.returncode != 0:
        return None
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        return None


def seed_host(
    lab: Lab,
    host: str,
    system: System,
    legacy: LegacyHost,
    *,
    scale: float = 1.0,
    seed: int = 0,
    in_use: bool | None = None,
) -> SeedReport:
    """Give lab host ``host`` the services, data and activity of ``legacy`` (of ``system``).

    ``scale`` multiplies the data size (about ``min(data_gb, 1) * 4 MiB`` per host at 1.0);
    ``seed`` makes other, equally deterministic data; ``in_use`` overrides :func:`in_use_of`.
    Idempotent: returns ``changed=False`` without touching the host when it was seeded with the
    same parameters; raises :class:`SeedError` when it was seeded with different ones.
    """
    started = time.monotonic()
    use = in_use_of(system) if in_use is None else in_use
    params = {"version": SEED_VERSION, "system": system.id, "legacy": legacy.name, "scale": scale, "seed": seed,
              "in_use": use, "services": sorted(str(s) for s in legacy.services),
              "data_paths": list(legacy.data_paths), "databases": list(legacy.databases), "data_gb": legacy.data_gb,
              "last_update": system.om.last_update.isoformat()}
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    existing = _read_manifest(lab, host)
    if existing is not None:
        if existing.get("key") != key:
            raise SeedError(f"{host} was seeded with other parameters ({existing.get('params')}); "
                            "bring the host up again to reseed it")
        return SeedReport(host, system.id, legacy.name, use, False, time.monotonic() - started, existing)
    try:
        manifest = _seed(lab, host, system, legacy, scale, seed, use)
    except LabError as exc:
        if isinstance(exc, SeedError):
            raise
        raise SeedError(f"seeding {host} ({system.id}/{legacy.name}) failed: {exc}") from exc
    manifest.update(key=key, params=params, seconds=round(time.monotonic() - started, 2))
    _sh(lab, host, f"mkdir -p {posixpath.dirname(MANIFEST)}\ncat > {MANIFEST}.tmp\nmv {MANIFEST}.tmp {MANIFEST}",
        json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode())
    return SeedReport(host, system.id, legacy.name, use, True, time.monotonic() - started, manifest)


def _seed(lab: Lab, host: str, system: System, legacy: LegacyHost, scale: float, seed: int,
          use: bool) -> dict[str, Any]:
    now = int(time.time())
    services = set(legacy.services)
    site_paths, tree_paths = _split_paths(legacy)
    databases = list(legacy.databases) if Service.postgresql in services else []
    budget = int(max(min(legacy.data_gb, 1.0), MIN_FRACTION) * BYTES_PER_HOST * scale)
    share = _split(budget, len(site_paths) + len(tree_paths) + len(databases))
    skipped: list[str] = []
    system_user = sanitize(system.id)
    users = _accounts(lab, host, system_user)
    seed_update_evidence(lab, host, system.om.last_update)

    sites = seed_nginx(lab, host, system, site_paths, share * len(site_paths), seed) if site_paths else []
    if Service.nginx in services and not site_paths:
        skipped.append("nginx: the registry lists no data path for a site")
    trees = seed_files(lab, host, system, tree_paths, share * len(tree_paths), seed, skipped) if tree_paths else []
    dbs = seed_postgresql(lab, host, system, databases, share * len(databases), seed) if databases else []
    if Service.postgresql in services and not databases:
        skipped.append("postgresql: the registry lists no database")
    if dbs:
        _track_commits(lab, host, databases)

    level = _LEVELS[system.frequency_of_use]
    rng = _rng(seed, legacy.name, "activity", now)
    uids = {u: ACCOUNTS[u][0] if u in ACCOUNTS else SYSTEM_UID for u in ("ops", system_user)}
    activity: dict[str, Any] = {"in_use": use}
    if use:
        if sites:
            days = [now - d * DAY for d in range(1, ACTIVITY_DAYS + 1)]
            hist = sorted(t - rng.randrange(DAY) for t in days for _ in range(max(1, int(level[1]))))
            activity["web_history_requests"] = web_history(lab, host, sites, legacy, hist, seed)
            activity["web_requests"] = web_requests(lab, host, sites, level[0], seed)
        activity["logins"] = logins(lab, host, legacy, uids, _recent_times(rng, level[2], now), seed)
        if dbs:
            activity["db_transactions"] = db_activity(lab, host, databases, level[3], seed)
        if trees:
            activity["new_documents"] = [f for t in trees for f in new_documents(
                lab, host, system, t["path"], level[4], seed)]
        activity["cron"] = cron_job(lab, host, system, sites, trees, databases)
    else:
        if sites:
            _sh(lab, host, ": > /var/log/nginx/access.log")  # the seed's own check requests
            activity["web_history_requests"] = web_history(lab, host, sites, legacy,
                                                           _old_times(rng, 5, system.om.last_update, now), seed)
        activity["logins"] = logins(lab, host, legacy, uids, _old_times(rng, 2, system.om.last_update, now), seed)
    for site in sites:
        del site["sizes"]  # only for the history's byte counts
    for d in dbs:
        d["tables"] = _db_counts(lab, host, d["name"])
    return {
        "host": host,
        "system": system.id,
        "system_zh": system.names.zh,
        "legacy": legacy.name,
        "in_use": use,
        "seeded_at": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(),
        "bytes_budget": budget,
        "services": sorted(str(s) for s in services),
        "accounts": users,
        "sites": sites,
        "trees": trees,
        "databases": dbs,
        "activity": activity,
        "evidence": EVIDENCE,
        "skipped": skipped,
    }


#: Where the audit (issue 7) reads each kind of evidence on a seeded host.
EVIDENCE: dict[str, str] = {
    "web_requests": "/var/log/nginx/access.log and /var/log/nginx/access.log.1 (combined format)",
    "logins": "/var/log/wtmp (struct utmp; `last -F -w`), /var/log/lastlog (`lastlog`)",
    "db_activity": "SELECT datname, xact_commit, tup_inserted, tup_updated, stats_reset FROM pg_stat_database; "
                   "SELECT * FROM pg_last_committed_xact(); SELECT max(updated_at) FROM app.records",
    "file_activity": "mtimes under each tree (incoming/<date>/ for systems in use)",
    "last_update": "/var/log/dpkg.log and /var/log/apt/history.log dates; mtime of /var/lib/dpkg/status",
    "scheduled_jobs": "/etc/cron.d/<system id>",
    "services": "/usr/local/sbin/jiyue-service status|is-enabled nginx|postgresql|cron",
}


def seed_hosts(
    lab: Lab,
    items: Iterable[tuple[str, System, LegacyHost]],
    max_workers: int = 8,
    **kwargs: Any,
) -> list[SeedReport]:
    """:func:`seed_host` for every ``(host, system, legacy)``, ``max_workers`` at a time.

    Returns the reports in the order of ``items``; when some hosts fail, every other host is
    still seeded and one :class:`SeedError` then names all the failures.
    """
    work = list(items)
    # Longest first (PostgreSQL hosts take several times longer than the others).
    order = sorted(range(len(work)), key=lambda i: Service.postgresql not in work[i][2].services)
    futures: list[Any] = [None] * len(work)
    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        for i in order:
            host, system, legacy = work[i]
            futures[i] = pool.submit(seed_host, lab, host, system, legacy, **kwargs)
    reports, failures = [], []
    for (host, _, _), fut in zip(work, futures, strict=True):
        exc = fut.exception()
        if exc is None:
            reports.append(fut.result())
        else:
            failures.append(f"{host}: {exc}")
    if failures:
        raise SeedError(f"seeding failed on {len(failures)} of {len(work)} hosts:\n  " + "\n  ".join(failures))
    return reports
