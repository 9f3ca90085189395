#!/usr/bin/python
# Copyright: jiyue founding engineers; Apache-2.0
"""Stop or allow every write on a migration's source, in one call (see DOCUMENTATION)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: source_freeze
short_description: Stop or allow every write on a migration's source for its cutover, in one call
description:
  - "Frozen: each PostgreSQL database becomes read-only for new sessions
    (C(default_transaction_read_only)) and closed to every role but the superuser
    (C(CONNECTION LIMIT 0); the limit from before is kept beside the marker); the sessions opened
    before the freeze are ended (once per run: after the marker holds O(run_id), every session
    left was opened read-only by the superuser and is kept); each data path becomes a read-only
    bind mount (a write fails with EROFS: refused, not lost); with O(web), nginx answers 503 on
    every address of the host but loopback (the host's own probe still sees the sites). The
    marker file then records the run."
  - "Thawed: all of it undone, the connection limits from before given back, the marker gone."
  - Idempotent; in check mode it changes nothing and reports what it would do.
options:
  state:
    description: Whether the source is to be frozen or thawed.
    type: str
    choices: [frozen, thawed]
    required: true
  system:
    description: The system's id (named in the 503 server's comment).
    type: str
    required: true
  run_id:
    description: The id of the run that freezes the source (kept in the marker).
    type: str
    default: ""
  marker:
    description: The marker file of a frozen source.
    type: path
    required: true
  databases:
    description: The source's PostgreSQL databases.
    type: list
    elements: str
    default: []
  paths:
    description: The source's data paths.
    type: list
    elements: str
    default: []
  web:
    description: Whether the source serves web sites (nginx) that answer 503 while frozen.
    type: bool
    default: false
  nginx_conf:
    description: The nginx server that answers 503 on the host's own addresses.
    type: path
    required: true
  tls_certificate:
    description: A certificate of the source's TLS sites, so that 443 answers 503 too.
    type: path
  tls_key:
    description: The key of O(tls_certificate).
    type: path
  as_postgres:
    description: How a command runs as the postgres OS account (peer authentication).
    type: list
    elements: str
    default: [runuser, -u, postgres, --]
author: jiyue founding engineers
"""

RETURN = r"""
actions:
  description: What the call did (or would do, in check mode), one line each.
  returned: always
  type: list
  elements: str
"""

import json
import os
import re
import shutil
import subprocess

from ansible.module_utils.basic import AnsibleModule


def literal(value):
    return "'" + value.replace("'", "''") + "'"


def ident(value):
    return '"' + value.replace('"', '""') + '"'


class Source:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.check = module.check_mode
        self.actions = []

    # ---- running things
    def run(self, argv, stdin=None, what=None):
        proc = subprocess.run(argv, cwd="/", input=stdin, capture_output=True, text=True, check=False)
        if proc.returncode:
            said = proc.stderr.strip() or proc.stdout.strip()
            self.fail(f"{what or ' '.join(argv)} failed (exit {proc.returncode}): {said}")
        return proc.stdout

    def psql(self, sql, what):
        return self.run([*self.p["as_postgres"], "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", "postgres"],
                        stdin=sql, what=what)

    def fail(self, msg):
        self.module.fail_json(msg=msg, changed=bool(self.actions), actions=self.actions)

    def do(self, action, *argv):
        self.actions.append(action)
        if not self.check:
            self.run(list(argv), what=action)

    # ---- files
    def read(self, path):
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def write(self, path, content, action):
        if self.read(path) == content and (os.stat(path).st_mode & 0o7777) == 0o644:
            return False
        self.actions.append(action)
        if not self.check:
            tmp = f"{path}.jiyue-{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(content)
            os.chown(tmp, 0, 0)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        return True

    def remove(self, path, action):
        if not os.path.lexists(path):
            return False
        self.actions.append(action)
        if not self.check:
            os.unlink(path)
        return True

    def connlimit_file(self, db):
        return f"{self.p['marker']}-{db}.connlimit"

    # ---- state of the databases and mounts
    def databases(self):
        """name -> (connection limit, read-only setting of the database: None, 'on' or another value)."""
        dbs = list(dict.fromkeys(self.p["databases"]))
        if not dbs:
            return {}
        out = self.psql(
            "SELECT coalesce(json_agg(json_build_array(d.datname, d.datconnlimit, (SELECT substr(c, "
            "length('default_transaction_read_only=') + 1) FROM pg_db_role_setting s, unnest(s.setconfig) c "
            "WHERE s.setdatabase = d.oid AND s.setrole = 0 AND c LIKE 'default\\_transaction\\_read\\_only=%' "
            f"LIMIT 1))), '[]') FROM pg_database d WHERE d.datname IN ({', '.join(literal(db) for db in dbs)})",
            "Reading the databases' settings")
        rows = {name: (int(limit), setting or None) for name, limit, setting in json.loads(out)}
        return rows

    def read_only_mount(self, path):
        proc = subprocess.run(["findmnt", "-n", "-O", "ro", "--mountpoint", path], capture_output=True, check=False)
        return proc.returncode == 0

    def reload_nginx(self):
        self.do("reloaded nginx", "nginx", "-s", "reload")

    # ---- the two states
    def freeze(self):
        p = self.p
        marker = p["marker"]
        frozen_by = (self.read(marker) or "").strip()
        directory = os.path.dirname(marker)
        if not os.path.isdir(directory):
            self.actions.append(f"created {directory}")
            if not self.check:
                os.makedirs(directory, mode=0o755, exist_ok=True)
        dbs = self.databases()
        missing = [db for db in p["databases"] if db not in dbs]
        if missing:
            self.fail(f"Database(s) {', '.join(missing)} do not exist on this source "
                      f"(it has: {', '.join(dbs) or 'none'}): fix the system's databases in the "
                      "registry, or restore the database, before the cutover.")
        alter = []
        for db, (limit, setting) in dbs.items():
            if not os.path.exists(self.connlimit_file(db)):
                self.write(self.connlimit_file(db), f"{limit}\n", f"kept the connection limit of {db} ({limit})")
            if setting != "on":
                alter.append(f"ALTER DATABASE {ident(db)} SET default_transaction_read_only = on;")
                self.actions.append(f"made {db} read-only")
            if limit != 0:
                alter.append(f"ALTER DATABASE {ident(db)} CONNECTION LIMIT 0;")
                self.actions.append(f"closed {db} to every role but the superuser")
        if alter and not self.check:
            self.psql("\n".join(alter), "Making the databases read-only")
        if dbs and frozen_by != p["run_id"]:
            names = ", ".join(literal(db) for db in dbs)
            if self.check:
                count = self.psql(f"SELECT count(*) FROM pg_stat_activity WHERE datname IN ({names})",
                                  "Counting the sessions")
            else:
                count = self.psql(f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  f"WHERE datname IN ({names}) AND pid <> pg_backend_pid()", "Ending the sessions")
            if int(count.strip() or 0):
                self.actions.append(f"ended {count.strip()} session(s) opened before the freeze")
        for path in dict.fromkeys(p["paths"]):
            if not self.read_only_mount(path):
                self.actions.append(f"made {path} read-only")
                if not self.check:
                    self.run(["mount", "--bind", path, path], what=f"Binding {path}")
                    self.run(["mount", "-o", "remount,bind,ro", path], what=f"Making {path} read-only")
        wrote = f"wrote {p['nginx_conf']} (503 on every address but loopback)"
        # reloaded when written, and once more in each run (a reload that failed is done again)
        if p["web"] and (self.write(p["nginx_conf"], self.nginx_server(), wrote) or frozen_by != p["run_id"]):
            self.reload_nginx()
        self.write(marker, f"{p['run_id']}\n", f"recorded run {p['run_id']} in {marker}")

    def nginx_server(self):
        p = self.p
        tls = bool(p["tls_certificate"] and p["tls_key"])
        addresses = [line.split()[3].split("/")[0]
                     for line in self.run(["ip", "-o", "addr", "show", "scope", "global"]).splitlines() if line.split()]
        lines = [f"# jiyue: {p['system']} is frozen for its cutover (run {p['run_id']}); rollback removes this.",
                 "server {"]
        for addr in addresses:
            at = f"[{addr}]" if ":" in addr else addr
            lines.append(f"    listen {at}:80 default_server;")
            if tls:
                lines.append(f"    listen {at}:443 ssl default_server;")
        if tls:
            lines += [f"    ssl_certificate {p['tls_certificate']};", f"    ssl_certificate_key {p['tls_key']};"]
        lines += ["    server_name _;", "    return 503;", "}", ""]
        return "\n".join(lines)

    def thaw(self):
        p = self.p
        dbs = self.databases()
        sql = []
        for db, (_limit, setting) in dbs.items():
            if setting is not None:
                sql.append(f"ALTER DATABASE {ident(db)} RESET default_transaction_read_only;")
                self.actions.append(f"made {db} writable")
        kept = {}
        for db in dict.fromkeys(p["databases"]):
            text = self.read(self.connlimit_file(db))
            if text is not None:
                if db not in dbs:
                    self.fail(f"Database {db} does not exist on this source, and its connection limit from before the "
                              f"freeze is kept in {self.connlimit_file(db)}: restore the database, then thaw again.")
                limit = int(re.sub(r"[^0-9-]", "", text) or -1)
                sql.append(f"ALTER DATABASE {ident(db)} CONNECTION LIMIT {limit};")
                self.actions.append(f"gave {db} its connection limit back ({limit})")
                kept[db] = self.connlimit_file(db)
        if sql and not self.check:
            self.psql("\n".join(sql), "Making the databases writable")
        for path in kept.values():
            if not self.check:
                os.unlink(path)
        for path in dict.fromkeys(p["paths"]):
            if self.read_only_mount(path):
                self.actions.append(f"made {path} writable")
                while not self.check and self.read_only_mount(path):
                    self.run(["umount", path], what=f"Unmounting {path}")
        # reloaded when the 503 server goes, or while the marker is there (a reload that failed is done again)
        removed = self.remove(p["nginx_conf"], f"removed {p['nginx_conf']}")
        if (removed or (p["web"] and os.path.exists(p["marker"]))) and shutil.which("nginx"):
            self.reload_nginx()
        self.remove(p["marker"], f"removed {p['marker']}")


def main():
    module = AnsibleModule(argument_spec={
        "state": {"type": "str", "choices": ["frozen", "thawed"], "required": True},
        "system": {"type": "str", "required": True},
        "run_id": {"type": "str", "default": ""},
        "marker": {"type": "path", "required": True},
        "databases": {"type": "list", "elements": "str", "default": []},
        "paths": {"type": "list", "elements": "str", "default": []},
        "web": {"type": "bool", "default": False},
        "nginx_conf": {"type": "path", "required": True},
        "tls_certificate": {"type": "path"},
        "tls_key": {"type": "path"},
        "as_postgres": {"type": "list", "elements": "str", "default": ["runuser", "-u", "postgres", "--"]},
    }, required_if=[("state", "frozen", ["run_id"])], required_together=[("tls_certificate", "tls_key")],
        supports_check_mode=True)
    source = Source(module)
    source.freeze() if module.params["state"] == "frozen" else source.thaw()
    module.exit_json(changed=bool(source.actions), actions=source.actions)


if __name__ == "__main__":
    main()
