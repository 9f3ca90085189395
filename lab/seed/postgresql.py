"""PostgreSQL databases: a role and a database per registry database, schema ``app`` with
deterministic rows, and real transactions for systems in use. Authentication stays local peer
auth; no password is created and no database port is opened."""

from __future__ import annotations

import datetime as dt
import hashlib
import shlex
import time
from collections.abc import Sequence
from typing import Any

from jiyue.registry.schema import System
from lab.lab import Lab
from lab.seed.base import (
    DAY,
    binary_blob,
    epoch,
    past_mtime,
    sanitize,
    seeded_rng,
    service_on,
    sh,
    share_of,
    zh_text,
)


def _copy_text(value: object) -> str:
    if value is None:
        return r"\N"
    s = str(value)
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _db_rows(system: System, db: str, budget: int, seed: int) -> tuple[list[list[object]], ...]:
    """Deterministic rows of records, attachments and audit_log, dated <= last update."""
    rng = seeded_rng(seed, system.id, "db", db)
    last = system.om.last_update
    n_records = max(50, budget // 2 // 600)
    n_attach = max(5, n_records // 10)
    attach_size = max(256, budget // 2 // n_attach)
    records, attachments, log = [], [], []
    for i in range(1, n_records + 1):
        created = past_mtime(rng, last)
        updated = min(created + rng.randrange(0, 90 * DAY), epoch(last, 10 * 3600))
        when = [dt.datetime.fromtimestamp(t, dt.UTC).isoformat() for t in (created, updated)]
        body = "\n".join(zh_text(rng, rng.randint(10, 40)) for _ in range(rng.randint(1, 6)))
        amount = f"{rng.randrange(0, 10**9) / 100:.2f}"
        records.append([i, f"{zh_text(rng, 3)}第{i}号", body, when[0], when[1], amount])
        log.append([i, i, "create", when[0]])
    for j in range(1, n_attach + 1):
        data = binary_blob(rng, "pdf", rng.randint(attach_size // 2, attach_size))
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
    return sh(lab, host, f"{_PSQL}{flags} -At -d {shlex.quote(db)} -f -", sql.encode())


def _sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def seed_postgresql(lab: Lab, host: str, system: System, databases: Sequence[str], budget: int,
                    seed: int) -> list[dict[str, Any]]:
    """Cluster enabled and started; per database: role, database, schema ``app``, rows, indexes."""
    role = sanitize(system.id)
    service_on(lab, host, "postgresql")
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
        records, attachments, log = _db_rows(system, db, share_of(budget, len(databases)), seed)
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


def track_commits(lab: Lab, host: str, databases: Sequence[str]) -> None:
    """Commit timestamps on from now, statistics reset: what follows is the only activity."""
    # pg_ctl itself (what pg_ctlcluster runs, same data directory, options and log file) restarts
    # in a fraction of a second; Debian's wrapper takes seconds.
    sh(lab, host, """
pg_lsclusters -h | while read -r version cluster port status owner data log; do
  printf 'track_commit_timestamp = on\\n' > "/etc/postgresql/$version/$cluster/conf.d/jiyue-seed.conf"
  runuser -u "$owner" -- "/usr/lib/postgresql/$version/bin/pg_ctl" -D "$data" -l "$log" -s -w -m fast restart
done""")
    for db in databases:
        _psql(lab, host, db, "SELECT pg_stat_reset();")


def db_activity(lab: Lab, host: str, databases: Sequence[str], count: int, seed: int) -> int:
    """Real transactions, one commit each: inserts, updates and audit-log rows, dated now."""
    rng = seeded_rng(seed, host, "tx", time.time_ns())
    n = 0
    for db in databases:
        stmts = []
        for i in range(count):
            if i % 3 == 0:
                title, body, amount = zh_text(rng, 3), zh_text(rng, 20), rng.randrange(10**7) / 100
                stmts.append(f"INSERT INTO app.records (title, body, created_at, updated_at, amount) VALUES "
                             f"('{title}', '{body}', now(), now(), {amount});")
            elif i % 3 == 1:
                stmts.append(f"UPDATE app.records SET updated_at = now(), amount = amount + 1 "
                             f"WHERE id = {rng.randint(1, 50)};")
            else:
                stmts.append(f"INSERT INTO app.audit_log (record_id, action) VALUES ({rng.randint(1, 50)}, 'view');")
        _psql(lab, host, db, "\n".join(stmts) + "\n")
        n += count
    return n


def db_counts(lab: Lab, host: str, db: str) -> dict[str, int]:
    out = _psql(lab, host, db, "SELECT 'records', count(*) FROM app.records UNION ALL "
                               "SELECT 'attachments', count(*) FROM app.attachments UNION ALL "
                               "SELECT 'audit_log', count(*) FROM app.audit_log;")
    return {k: int(v) for k, v in (line.split("|") for line in out.split())}
