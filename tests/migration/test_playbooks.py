"""The migration playbooks (playbooks/, collection jiyue.migration) end to end on a lab of their
own ("pbk": the audit department, seeded legacy hosts, targets from the stack-output contract).

Everything runs through ``ansible_runner.run`` with ``project_dir=playbooks`` (so
playbooks/ansible.cfg applies) and the inventory derived from the city model, exactly as the
driver does; effects are checked over real ssh (the lab's config, host-key checking on).

- audit-online (a web host and a database host -> one target): precheck, replicate, replicate
  again (no change), test cutover, cutover, rollback, cutover, finalize, with the copy (files
  by SHA-256, rows per table, the nginx answer), the freeze, the name's move and back, the
  keys' removal, and the sources left untouched until finalize.
- audit-ao (two web hosts sharing a directory -> one target): the first source is authoritative
  for the shared directory, and the second replicate changes nothing.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from migration import consolidate

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
LAB_NAME = "pbk"
RUN_ID = "r-pbk-0001"
CLIENT = "bastion-extranet"

pytestmark = pytest.mark.lab


@dataclass
class PbkLab:
    lab: Any
    model: Any
    inventory: dict[str, Any]
    inventory_path: Path
    key: Path
    host_keys: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    def sh(self, host: str, command: str) -> str:
        """Run ``command`` on ``host`` over ssh; fail the test with its stderr when it fails."""
        proc = self.lab.ssh(host, command, timeout=120)
        assert proc.returncode == 0, f"{host}: {command}: {proc.stderr}"
        return proc.stdout

    def hostvars(self, host: str) -> dict[str, Any]:
        return self.inventory["all"]["hosts"][host]

    def extravars(self, system_id: str) -> dict[str, Any]:
        """The driver's contract for one system, from the registry and the inventory."""
        system = self.model.systems[system_id]
        targets = [h for h, v in self.inventory["all"]["hosts"].items()
                   if v.get("jiyue_role") == "target" and v.get("jiyue_system") == system_id]
        target = sorted(targets)[0]
        plan = consolidate.copy_plan(system, [target])[target]
        pairs = [{
            "source": h.name,
            "target": target,
            "source_address": self.hostvars(h.name)["ansible_host"],
            "target_address": self.hostvars(target)["ansible_host"],
            "services": [str(s) for s in h.services],
            "data_paths": list(h.data_paths),
            "databases": list(h.databases),
            "copies": [c.as_dict() for c in plan if c.source == h.name],
        } for h in system.legacy_hosts]
        return {
            "jiyue_run_id": RUN_ID,
            "jiyue_system": {"id": system_id, "department": "audit", "zone": system.zone.value,
                             "service_name": f"{system_id}.svc.dalian.gov.internal"},
            "jiyue_pairs": pairs,
            "jiyue_migration_key": str(self.key),
            "jiyue_source_host_keys": {p["source"]: self.host_keys[p["source"]] for p in pairs},
            "jiyue_clients": [CLIENT],
            "jiyue_archive_dir": "/var/backups/jiyue",
        }

    def run(self, playbook: str, extravars: dict[str, Any], tmp: Path) -> Any:
        """One playbook through ansible-runner, as the driver runs it; must succeed."""
        import ansible_runner

        started = time.monotonic()
        data_dir = tmp / f"{extravars['jiyue_system']['id']}-{playbook.removesuffix('.yml')}-{time.time_ns()}"
        data_dir.mkdir(parents=True)
        result = ansible_runner.run(
            private_data_dir=str(data_dir), project_dir=str(PLAYBOOKS), playbook=playbook,
            inventory=str(self.inventory_path), extravars=extravars, quiet=True,
            envvars=runner_env(),
        )
        key = f"{extravars['jiyue_system']['id']} {playbook}"
        self.timings[key] = self.timings.get(key, 0.0) + time.monotonic() - started
        if result.rc != 0:
            out = result.stdout.read() if result.stdout else ""
            pytest.fail(f"{playbook} failed (rc {result.rc}, {result.status}):\n{out[-6000:]}")
        return result


def runner_env() -> dict[str, str]:
    """ansible-playbook from this interpreter's venv (ansible-runner's ``binary=`` would switch
    it to raw mode and drop the playbook), and the playbooks' ansible.cfg."""
    return {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg")}


def _changed(result: Any) -> int:
    return sum((result.stats or {}).get("changed", {}).values())


@pytest.fixture(scope="module")
def pbk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PbkLab]:
    """The audit department in lab "pbk", seeded, with its inventory and a migration key;
    torn down at the end (also when a test fails)."""
    from infra.outputs import city_targets
    from jiyue.ipam import plan as ip_plan
    from jiyue.registry import load_city
    from lab import Lab
    from lab.bringup import lab_up
    from lab.migrations import open_migration
    from migration.inventory import Connection, build_inventory, read_outputs, write_inventory

    tmp = tmp_path_factory.mktemp("pbk")
    model = load_city(REPO / "inventories" / "dalian")
    ip = ip_plan(model)
    with lab_up(Lab(LAB_NAME, progress=lambda _: None), model, ip, ["audit"], city_targets(model, ip)) as up:
        lab = up.lab
        # the playbooks are driven here without the engine: the migration flows it would open
        for system in model.departments["audit"].systems:
            if system.legacy_hosts and up.plan.migrations.get(system.id):
                open_migration(lab, system.id)
        inventory = build_inventory(model, ip, read_outputs(lab.dir / "outputs.json"), Connection.from_lab(lab.dir),
                                    departments=["audit"])
        inventory_path = write_inventory(inventory, tmp / "inventory.yml")
        key = tmp / "migration_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"jiyue-migration {RUN_ID}",
                        "-f", str(key)], check=True)
        host_keys = {}
        for line in (lab.dir / "ssh" / "known_hosts").read_text().splitlines():
            names, ktype, kdata = line.split()[:3]
            host_keys[names.split(",")[0]] = f"{ktype} {kdata}"
        env = PbkLab(lab, model, inventory, inventory_path, key, host_keys)
        env.timings["lab up + seed"] = up.seconds
        yield env
        print("\nplaybook timings (s): " + json.dumps({k: round(v, 1) for k, v in env.timings.items()}))


# --------------------------------------------------------------------------- helpers over ssh


def tree_sums(env: PbkLab, host: str, path: str) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``path`` on ``host``."""
    out = env.sh(host, f"cd {shlex.quote(path)} && find . -type f -print0 | xargs -0 -r sha256sum")
    return {line[66:]: line[:64] for line in out.splitlines()}


def tree_meta(env: PbkLab, host: str, path: str) -> str:
    """Owners, modes and mtimes of every entry under ``path`` (numeric), sorted."""
    return env.sh(host, f"cd {shlex.quote(path)} && find . -printf '%U:%G %m %T@ %p\\n' | LC_ALL=C sort")


def row_counts(env: PbkLab, host: str, db: str) -> dict[str, int]:
    sql = ("SELECT relname, n FROM (SELECT 'records' relname, count(*) n FROM app.records UNION ALL "
           "SELECT 'attachments', count(*) FROM app.attachments UNION ALL "
           "SELECT 'audit_log', count(*) FROM app.audit_log) t")
    out = env.sh(host, f"cd / && runuser -u postgres -- psql -XAt -F ' ' -d {shlex.quote(db)} -c {shlex.quote(sql)}")
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def table_digest(env: PbkLab, host: str, db: str) -> str:
    sql = "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM app.records t"
    return env.sh(host, f"cd / && runuser -u postgres -- psql -XAt -d {shlex.quote(db)} -c {shlex.quote(sql)}").strip()


def http_body(env: PbkLab, host: str, url: str) -> str:
    program = ("import sys, urllib.request; "
               "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())")
    return env.sh(host, f"python3 -c {shlex.quote(program)} {shlex.quote(url)}")


def http_status(env: PbkLab, host: str, url: str) -> int:
    program = ("import sys, urllib.error, urllib.request\n"
               "try:\n    print(urllib.request.urlopen(sys.argv[1], timeout=10).status)\n"
               "except urllib.error.HTTPError as e:\n    print(e.code)")
    return int(env.sh(host, f"python3 -c {shlex.quote(program)} {shlex.quote(url)}").strip())


APP_WRITE = ("cd / && runuser -u audit_online -- psql -XAt -d audit-online -c "
             "\"BEGIN READ WRITE; INSERT INTO app.audit_log (action) VALUES ('by the application'); COMMIT\"")


def migration_keys_left(env: PbkLab, hosts: list[str]) -> list[str]:
    left = []
    for h in hosts:
        out = env.sh(h, "grep -c 'jiyue-migration:' /root/.ssh/authorized_keys || true; "
                        "ls -d /root/.jiyue-migration 2>/dev/null || true")
        if out.split()[0] != "0" or "/root/.jiyue-migration" in out:
            left.append(f"{h}: {out.strip()}")
    return left


def source_snapshot(env: PbkLab, pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """What must not change on the sources before finalize: data, site configs, row counts."""
    snap: dict[str, Any] = {}
    for p in pairs:
        for path in p["data_paths"]:
            snap[f"{p['source']}:{path}"] = (tree_sums(env, p["source"], path), tree_meta(env, p["source"], path))
        for db in p["databases"]:
            snap[f"{p['source']}:{db}"] = (row_counts(env, p["source"], db), table_digest(env, p["source"], db))
        snap[f"{p['source']}:sites"] = env.sh(p["source"], "cat /etc/nginx/sites-enabled/* 2>/dev/null || true")
    return snap


# --------------------------------------------------------------------------- the tests


def test_audit_online_end_to_end(pbk: PbkLab, tmp_path: Path) -> None:
    ev = pbk.extravars("audit-online")
    pairs = ev["jiyue_pairs"]
    web = next(p for p in pairs if "nginx" in p["services"])
    db = next(p for p in pairs if p["databases"])
    target = web["target"]
    name = ev["jiyue_system"]["service_name"]
    before = source_snapshot(pbk, pairs)

    pbk.run("precheck.yml", ev, tmp_path)
    first = pbk.run("replicate.yml", ev, tmp_path)
    assert _changed(first) > 0
    second = pbk.run("replicate.yml", ev, tmp_path)
    assert _changed(second) == 0, f"the second replicate changed something: {second.stats}"
    assert migration_keys_left(pbk, [p["source"] for p in pairs] + [target]) == []

    # The copy: files by SHA-256 with owners, modes and mtimes; rows per table; the site.
    for path in web["data_paths"]:
        assert tree_sums(pbk, target, path) == tree_sums(pbk, web["source"], path)
        assert tree_meta(pbk, target, path) == tree_meta(pbk, web["source"], path)
    for name_db in db["databases"]:
        assert row_counts(pbk, target, name_db) == row_counts(pbk, db["source"], name_db)
        assert table_digest(pbk, target, name_db) == table_digest(pbk, db["source"], name_db)
        owner = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        owner_cmd = f"cd / && runuser -u postgres -- psql -XAt -d {name_db} -c {shlex.quote(owner)}"
        assert pbk.sh(target, owner_cmd).strip() == "audit_online"

    # Test cutover: the target serves on its own address, the source still serves the name.
    pbk.run("test_cutover.yml", ev, tmp_path)
    source_body = http_body(pbk, CLIENT, f"http://{web['source_address']}/")
    assert http_body(pbk, CLIENT, f"http://{web['target_address']}/") == source_body
    assert "联网审计系统" in source_body

    # Cutover: the source's database is frozen, the name moves to the target.
    pbk.run("cutover.yml", ev, tmp_path)
    hosts = pbk.sh(CLIENT, "cat /etc/hosts")
    assert f"{web['target_address']} {name}" in hosts
    assert http_body(pbk, CLIENT, f"http://{name}/") == source_body
    frozen = pbk.lab.ssh(db["source"], "cd / && runuser -u postgres -- psql -XAt -d audit-online "
                                       "-c \"INSERT INTO app.audit_log (action) VALUES ('x')\"")
    assert frozen.returncode != 0 and "read-only" in frozen.stderr
    assert pbk.sh(db["source"], "cat /var/lib/jiyue/frozen-audit-online").strip() == RUN_ID
    assert migration_keys_left(pbk, [p["source"] for p in pairs] + [target]) == []
    # The freeze holds on every path the system has: its own database role cannot get in (not
    # even with a read-write transaction), its data path refuses writes, its site answers 503 to
    # everyone but the host itself.
    app = pbk.lab.ssh(db["source"], APP_WRITE)
    assert app.returncode != 0 and "too many connections" in app.stderr, app
    refused = pbk.lab.ssh(web["source"], f"touch {web['data_paths'][0]}/after-freeze")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr, refused
    assert http_status(pbk, CLIENT, f"http://{web['source_address']}/") == 503

    # Rollback: the name back on the source, writable again, the target stopped with its data.
    pbk.run("rollback.yml", ev, tmp_path)
    assert f"{web['source_address']} {name}" in pbk.sh(CLIENT, "cat /etc/hosts")
    assert http_body(pbk, CLIENT, f"http://{name}/") == source_body
    pbk.sh(db["source"], "test ! -e /var/lib/jiyue/frozen-audit-online")
    assert pbk.lab.ssh(target, "/etc/init.d/nginx status").returncode != 0
    assert tree_sums(pbk, target, web["data_paths"][0]) == tree_sums(pbk, web["source"], web["data_paths"][0])

    # A write on the source after the rollback reaches the target with the next cutover.
    assert http_status(pbk, CLIENT, f"http://{web['source_address']}/") == 200
    pbk.sh(db["source"], APP_WRITE)
    pbk.sh(db["source"], "cd / && runuser -u postgres -- psql -XAt -d audit-online "
                         "-c \"INSERT INTO app.audit_log (action) VALUES ('after rollback')\"")
    pbk.sh(web["source"], f"echo after-rollback > {web['data_paths'][0]}/rollback.txt")
    after = source_snapshot(pbk, pairs)
    pbk.run("cutover.yml", ev, tmp_path)
    assert row_counts(pbk, target, "audit-online") == row_counts(pbk, db["source"], "audit-online")
    assert tree_sums(pbk, target, web["data_paths"][0]) == tree_sums(pbk, web["source"], web["data_paths"][0])
    assert f"{web['target_address']} {name}" in pbk.sh(CLIENT, "cat /etc/hosts")

    # Nothing on the sources changed but what the test wrote itself, up to finalize.
    assert source_snapshot(pbk, pairs) == after
    assert before.keys() == after.keys()

    pbk.run("finalize.yml", ev, tmp_path)
    again = pbk.run("finalize.yml", ev, tmp_path)
    assert _changed(again) == 0
    for p in pairs:
        base = f"/var/backups/jiyue/audit-online-{RUN_ID}"
        pbk.sh(p["source"], f"cd /var/backups/jiyue && sha256sum -c --quiet {base}.sha256 --ignore-missing"
                            f" && tail -n 1 {base}.sha256 | sha256sum -c --quiet")
        manifest = pbk.sh(p["source"], f"cat {base}.sha256")
        listing = pbk.sh(p["source"], f"tar -tzf {base}.tar.gz")
        for path in p["data_paths"]:
            assert f"{path.lstrip('/')}/index.html" in listing and f"{path.lstrip('/')}/index.html" in manifest
        if p["databases"]:
            assert "pg_dumpall.sql" in listing and "pg_dumpall.sql" in manifest
        for svc in set(p["services"]) & {"nginx", "postgresql"}:
            assert pbk.lab.ssh(p["source"], f"/etc/init.d/{svc} status").returncode != 0
            assert pbk.sh(p["source"], f"/usr/local/sbin/jiyue-service is-enabled {svc} || true").strip() == "disabled"
        # The data is still in place: archived, not deleted.
        for path in p["data_paths"]:
            assert tree_sums(pbk, p["source"], path) == after[f"{p['source']}:{path}"][0]


def test_audit_ao_web_farm_copies_as_the_registry_says(pbk: PbkLab, tmp_path: Path) -> None:
    """Two web hosts onto one target: the registry names web2 authoritative for the directory both
    hold (web1's copy is older and lacks files); what only web1 holds comes from web1."""
    ev = pbk.extravars("audit-ao")
    web1, web2 = ev["jiyue_pairs"]
    shared = sorted(set(web1["data_paths"]) & set(web2["data_paths"]))
    assert shared == ["/var/www/audit-ao"]
    only1 = sorted(set(web1["data_paths"]) - set(web2["data_paths"]))
    target = web1["target"]

    pbk.run("precheck.yml", ev, tmp_path)
    pbk.run("replicate.yml", ev, tmp_path)
    second = pbk.run("replicate.yml", ev, tmp_path)
    assert _changed(second) == 0, f"the second replicate changed something: {second.stats}"
    for path in shared:
        held = tree_sums(pbk, target, path)
        assert held == tree_sums(pbk, web2["source"], path)
        assert set(tree_sums(pbk, web1["source"], path)) <= set(held), "a file of web1 is on no target"
    for path in only1:
        assert tree_sums(pbk, target, path) == tree_sums(pbk, web1["source"], path)
    sites = pbk.sh(target, "ls /etc/nginx/sites-enabled").split()
    assert "default" not in sites and sites
    pbk.run("test_cutover.yml", ev, tmp_path)
    assert http_body(pbk, CLIENT, f"http://{web1['target_address']}/") == \
        http_body(pbk, CLIENT, f"http://{web2['source_address']}/")
    assert migration_keys_left(pbk, [web1["source"], web2["source"], target]) == []


def test_precheck_says_what_to_fix(pbk: PbkLab, tmp_path: Path) -> None:
    """A data path missing on the source fails the precheck with an actionable message."""
    import ansible_runner

    ev = pbk.extravars("audit-website")
    ev["jiyue_pairs"][0]["data_paths"] = ["/var/www/does-not-exist"]
    result = ansible_runner.run(
        private_data_dir=str(tmp_path), project_dir=str(PLAYBOOKS), playbook="precheck.yml",
        inventory=str(pbk.inventory_path), extravars=ev, quiet=True,
        envvars=runner_env(),
    )
    assert result.rc != 0
    failures = [e["event_data"]["res"].get("msg", "") for e in result.events if e.get("event") == "runner_on_failed"]
    assert any("Fix the host's data_paths in the registry" in m for m in failures), failures
