"""Seeding legacy hosts (lab/seed/): services, deterministic data, activity for systems in use
and none for idle ones, the manifest, idempotence.

The lab tests use their own lab ("seedt", no network links: Lab.exec needs none) with four hosts
seeded from the sample city: an audit web host, an audit database host, an archives files host,
and an idle (yearly) finance system on one mixed host (nginx + postgresql + files).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jiyue.registry.model import load_city
from jiyue.registry.schema import Frequency, LegacyHost, System
from lab import HostSpec, Lab
from lab import seed as S
from lab.seed import base, files, tree

CITY = Path(__file__).resolve().parents[2] / "inventories" / "dalian"
NOW = time.time()


def _pick(system_id: str, legacy_name: str) -> tuple[System, LegacyHost]:
    system = load_city(CITY).systems[system_id]
    return system, next(h for h in system.legacy_hosts if h.name == legacy_name)


def _idle_mixed() -> tuple[System, LegacyHost]:
    """finance-accounts (used yearly: idle) on one synthetic mixed host."""
    system = load_city(CITY).systems["finance-accounts"]
    app, db = system.legacy_hosts
    mixed = LegacyHost.model_validate({
        **app.model_dump(),
        "name": "finance-accounts-mixed1",
        "role": "mixed",
        "services": ["nginx", "postgresql", "files", "ssh"],
        "data_paths": [*app.data_paths, "/srv/accounts"],
        "databases": list(db.databases),
    })
    return system.model_copy(update={"legacy_hosts": [mixed]}), mixed


# --------------------------------------------------------------------------- without a lab


def test_in_use_follows_om_status_and_frequency() -> None:
    system, _ = _pick("audit-website", "audit-website-web1")
    assert S.in_use_of(system)
    assert not S.in_use_of(system.model_copy(update={"frequency_of_use": "yearly"}))
    assert not S.in_use_of(system.model_copy(update={"om": system.om.model_copy(update={"status": "stopped"})}))
    assert S.in_use_of(system.model_copy(update={"om": system.om.model_copy(update={"status": "minimal"})}))


def test_names_are_sanitized_for_accounts_and_roles() -> None:
    assert S.sanitize("audit-online") == "audit_online"
    assert S.sanitize("9x") == "s_9x"
    assert len(S.sanitize("a" * 60)) == 32


def test_data_is_deterministic_sized_and_dated_before_last_update() -> None:
    system, legacy = _pick("archives-digital", "archives-digital-files1")
    budget = int(legacy.data_gb * S.BYTES_PER_HOST)
    a = files.tree_entries(system, "/srv/digital", budget, 0)
    b = files.tree_entries(system, "/srv/digital", budget, 0)
    c = files.tree_entries(system, "/srv/digital", budget, 1)
    assert tree.tar_of("/srv/digital", a) == tree.tar_of("/srv/digital", b)
    assert tree.tree_summary("/srv/x", a)["sha256"] != tree.tree_summary("/srv/x", c)["sha256"]
    size = sum(len(e.data) for e in a if e.data is not None)
    assert budget <= size < budget + 70_000
    limit = base.epoch(system.om.last_update + dt.timedelta(days=1))
    assert all(e.mtime < limit for e in a)
    assert any(e.data is not None and not e.rel.isascii() for e in a), "some file names are Chinese"


def test_tree_digest_is_sha256sum_of_sorted_sha256sum_lines() -> None:
    files = {"b/x.txt": "1" * 64, "a.txt": "2" * 64}
    expected = hashlib.sha256(f"{'2' * 64}  a.txt\n{'1' * 64}  b/x.txt\n".encode()).hexdigest()
    assert S.tree_digest(files) == expected


def test_activity_levels_name_every_frequency_and_grow_with_use() -> None:
    order = [Frequency.rarely, Frequency.yearly, Frequency.monthly, Frequency.weekly, Frequency.daily,
             Frequency.continuous]
    assert set(S.LEVELS) == set(Frequency)
    for fewer, more in zip(order, order[1:], strict=False):
        a, b = dataclasses.astuple(S.LEVELS[fewer]), dataclasses.astuple(S.LEVELS[more])
        assert all(x <= y for x, y in zip(a, b, strict=True)), (fewer, more)
    assert all(v > 0 for level in S.LEVELS.values() for v in dataclasses.astuple(level))
    with pytest.raises(dataclasses.FrozenInstanceError):
        S.LEVELS[Frequency.daily].logins = 0  # type: ignore[misc]


def test_utmp_records_round_trip() -> None:
    rec = S.utmp_record(S.USER_PROCESS, 42, "pts/3", "ops", "192.168.1.120", 1_700_000_000, "192.168.1.120")
    assert len(rec) == 384
    assert S.parse_wtmp(rec) == [{"type": 7, "pid": 42, "line": "pts/3", "user": "ops",
                                  "host": "192.168.1.120", "time": 1_700_000_000}]


# --------------------------------------------------------------------------- on the lab

HOSTS = {
    "web": ("audit-website", "audit-website-web1"),
    "db": ("audit-online", "audit-online-db1"),
    "files": ("archives-digital", "archives-digital-files2"),
}


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[Lab, dict[str, S.SeedReport], float]]:
    lab = Lab("seedt")
    try:
        lab.down()
        lab.up_hosts([HostSpec(name) for name in (*HOSTS, "idle")])
        items = [(host, *_pick(*ids)) for host, ids in HOSTS.items()]
        items.append(("idle", *_idle_mixed()))
        started = time.monotonic()
        reports = S.seed_hosts(lab, items)
        seconds = time.monotonic() - started
        yield lab, {r.host: r for r in reports}, seconds
    finally:
        lab.down()


def sh(lab: Lab, host: str, cmd: str) -> str:
    return lab.exec(host, ["sh", "-c", cmd]).stdout


def psql(lab: Lab, host: str, db: str, sql: str) -> str:
    return sh(lab, host, f"runuser -u postgres -- psql -X -At -d {db} -c \"{sql}\"").strip()


@pytest.mark.lab
def test_hosts_are_seeded_fast_and_report_what_they_got(seeded) -> None:  # noqa: ANN001
    lab, reports, seconds = seeded
    assert seconds < 60
    assert {h: r.in_use for h, r in reports.items()} == {"web": True, "db": True, "files": True, "idle": False}
    assert all(r.changed for r in reports.values())
    for host, report in reports.items():
        manifest = json.loads(sh(lab, host, f"cat {S.MANIFEST}"))
        assert manifest["system"] == report.system
        assert manifest["key"] == report.manifest["key"]
    assert reports["files"].skipped == []


@pytest.mark.lab
def test_nginx_serves_each_site_with_the_system_named_in_chinese(seeded) -> None:  # noqa: ANN001
    lab, reports, _ = seeded
    assert "大连审计网" in sh(lab, "web", "curl -s http://localhost/")
    assert sh(lab, "web", "jiyue-service is-enabled nginx").strip() == "enabled"
    assert sh(lab, "web", "readlink /etc/nginx/sites-enabled/audit-website") == "../sites-available/audit-website\n"
    assert "default_server" in sh(lab, "web", "cat /etc/nginx/sites-available/audit-website")
    site = reports["web"].manifest["sites"][0]
    assert site["files"] > 5 and any(p.endswith(".png") for p in site["sha256_files"])
    digest = sh(lab, "web", "cd /var/www/audit-website && find . -type f -printf '%P\\0' | LC_ALL=C sort -z "
                            "| xargs -0 sha256sum | sha256sum").split()[0]
    assert digest == site["sha256"]


@pytest.mark.lab
def test_databases_have_owner_schema_rows_and_indexes(seeded) -> None:  # noqa: ANN001
    lab, reports, _ = seeded
    (db,) = reports["db"].manifest["databases"]
    assert db["name"] == "audit-online" and db["owner"] == "audit_online"
    owner = psql(lab, "db", "postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database "
                                        "WHERE datname = 'audit-online'")
    assert owner == "audit_online"
    for table, count in db["tables"].items():
        assert int(psql(lab, "db", "audit-online", f"SELECT count(*) FROM app.{table}")) == count
    assert db["tables"]["records"] >= 50
    indexes = psql(lab, "db", "audit-online", "SELECT indexname FROM pg_indexes WHERE schemaname = 'app'")
    assert "records_created_at_idx" in indexes.split()
    # peer auth: the system's OS account is its role
    assert sh(lab, "db", "runuser -u audit_online -- psql -X -At -d audit-online -c 'SELECT current_user'") \
        == "audit_online\n"


@pytest.mark.lab
def test_file_trees_keep_owners_modes_acls_and_old_mtimes(seeded) -> None:  # noqa: ANN001
    lab, reports, _ = seeded
    trees = reports["files"].manifest["trees"]
    assert [t["path"] for t in trees] == ["/srv/digital-archive", "/srv/digital-index"]
    year = str(max(int(p.split("/")[0]) for p in trees[0]["sha256_files"] if p[:1].isdigit()))
    out = sh(lab, "files", f"cd /srv/digital-archive && stat -c '%n %U %G %a' {year} public restricted")
    assert out.splitlines() == [f"{year} archivist archive 750", "public archivist archive 755",
                                "restricted root root 750"]  # 0700 + ACL user:archivist:r-x (mask r-x)
    files = sh(lab, "files", f"find /srv/digital-archive/{year} -type f -printf '%u %g %m\\n' | sort -u")
    assert files.split("\n")[0] == "archivist archive 640"
    acl = sh(lab, "files", "getfacl -p /srv/digital-archive/public")
    assert "user:ops:r-x" in acl and "default:group:archive:r-x" in acl
    assert "user:archivist:r-x" in sh(lab, "files", "getfacl -p /srv/digital-archive/restricted")
    last_update = base.epoch(_pick(*HOSTS["files"])[0].om.last_update + dt.timedelta(days=1))
    mtimes = sh(lab, "files", "find /srv/digital-archive -mindepth 1 -path '*/incoming' -prune -o -printf '%T@\\n'")
    assert max(float(t) for t in mtimes.split()) < last_update
    digest = sh(lab, "files", "cd /srv/digital-index && find . -type f -printf '%P\\0' | LC_ALL=C sort -z "
                              "| xargs -0 sha256sum | sha256sum").split()[0]
    incoming = [f for f in reports["files"].manifest["activity"]["new_documents"]
                if f.startswith("/srv/digital-index/")]
    if not incoming:
        assert digest == trees[1]["sha256"]


def _last(lab: Lab, host: str) -> list[str]:
    return [ln for ln in sh(lab, host, "last -F -w -f /var/log/wtmp").splitlines() if ln and "wtmp begins" not in ln]


def _access_times(text: str) -> list[float]:
    return [dt.datetime.strptime(ln.split("[", 1)[1].split("]", 1)[0], "%d/%b/%Y:%H:%M:%S %z").timestamp()
            for ln in text.splitlines()]


@pytest.mark.lab
def test_systems_in_use_show_requests_logins_transactions_and_jobs(seeded) -> None:  # noqa: ANN001
    lab, reports, _ = seeded
    act = reports["web"].manifest["activity"]
    live = sh(lab, "web", "cat /var/log/nginx/access.log").splitlines()
    assert len([ln for ln in live if ln.startswith("127.0.0.1 ")]) >= act["web_requests"] > 0
    history = _access_times(sh(lab, "web", "cat /var/log/nginx/access.log.1"))
    assert len(history) == act["web_history_requests"] > 30
    assert min(history) > NOW - 31 * S.DAY
    for host in ("web", "db", "files"):
        sessions = _last(lab, host)
        assert len(sessions) == reports[host].manifest["activity"]["logins"] > 0
        assert any(" ops " in s or s.startswith("ops ") for s in sessions)
        job = sh(lab, host, f"cat /etc/cron.d/{reports[host].system}")
        assert f"root /usr/local/bin/{reports[host].system}-export" in job
        assert lab.service(host, "status", "cron").returncode == 0
    assert "ops" in sh(lab, "web", "lastlog -u ops")
    stats = psql(lab, "db", "audit-online", "SELECT tup_inserted > 0 AND tup_updated > 0 FROM pg_stat_database "
                                            "WHERE datname = current_database()")
    assert stats == "t"
    last_commit = psql(lab, "db", "audit-online", "SELECT extract(epoch FROM timestamp) FROM pg_last_committed_xact()")
    assert float(last_commit) > NOW - 600
    recent = psql(lab, "db", "audit-online", "SELECT extract(epoch FROM max(updated_at)) FROM app.records")
    assert float(recent) > NOW - 600
    docs = reports["files"].manifest["activity"]["new_documents"]
    assert docs and all("/incoming/" in d for d in docs)
    newest = sh(lab, "files", "find /srv/digital-archive /srv/digital-index -type f -printf '%T@\\n' "
                              "| sort -n | tail -1")
    assert float(newest) > NOW - 31 * S.DAY


@pytest.mark.lab
def test_an_idle_system_runs_its_services_but_shows_no_activity(seeded) -> None:  # noqa: ANN001
    lab, reports, _ = seeded
    manifest = reports["idle"].manifest
    assert [s["path"] for s in manifest["sites"]] == ["/var/www/finance-accounts"]
    assert [t["path"] for t in manifest["trees"]] == ["/srv/accounts"]
    for service in ("nginx", "postgresql"):
        assert lab.service("idle", "status", service).returncode == 0
    assert lab.service("idle", "status", "cron").returncode != 0
    assert "财政决算系统" in sh(lab, "idle", "curl -s http://localhost/")
    sh(lab, "idle", ": > /var/log/nginx/access.log")  # the request just made
    history = _access_times(sh(lab, "idle", "cat /var/log/nginx/access.log.1"))
    assert history and max(history) < NOW - 45 * S.DAY
    sessions = _last(lab, "idle")
    assert sessions and "incoming" not in sh(lab, "idle", "ls /srv/accounts")
    assert sh(lab, "idle", "ls /etc/cron.d").split() == ["e2scrub_all"] or \
        "finance-accounts" not in sh(lab, "idle", "ls /etc/cron.d")
    db = "finance-accounts"
    assert psql(lab, "idle", db, "SELECT * FROM pg_last_committed_xact()") in ("", "||")
    assert psql(lab, "idle", db, "SELECT tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
                                 "WHERE datname = current_database()") == "0"
    recent = psql(lab, "idle", db, "SELECT max(updated_at)::date FROM app.records")
    system, _ = _idle_mixed()
    assert dt.date.fromisoformat(recent) <= system.om.last_update


@pytest.mark.lab
def test_last_update_evidence_is_the_registry_date(seeded) -> None:  # noqa: ANN001
    lab, reports, _ = seeded
    system, _ = _pick(*HOSTS["web"])
    day = system.om.last_update.isoformat()
    assert {ln[:10] for ln in sh(lab, "web", "cat /var/log/dpkg.log").splitlines()} == {day}
    assert sh(lab, "web", "date -u -r /var/lib/dpkg/status +%F").strip() == day


@pytest.mark.lab
def test_seeding_again_changes_nothing_and_other_parameters_are_refused(seeded) -> None:  # noqa: ANN001
    lab, reports, _ = seeded
    before = {h: sh(lab, h, f"stat -c %Y {S.MANIFEST}; wc -l < /var/log/nginx/access.log; "
                            "stat -c %s /var/log/wtmp") for h in ("web", "files")}
    items = [(host, *_pick(*ids)) for host, ids in HOSTS.items()]
    again = S.seed_hosts(lab, items)
    assert not any(r.changed for r in again)
    assert [r.manifest["key"] for r in again] == [reports[h].manifest["key"] for h in HOSTS]
    assert {h: sh(lab, h, f"stat -c %Y {S.MANIFEST}; wc -l < /var/log/nginx/access.log; "
                          "stat -c %s /var/log/wtmp") for h in ("web", "files")} == before
    system, legacy = _pick(*HOSTS["web"])
    with pytest.raises(S.SeedError, match="other parameters"):
        S.seed_host(lab, "web", system, legacy, scale=2.0)
