"""End to end on the lab: the pilot wave (T4.2) of three departments, web, database and files,
migrated, cut over and verified (T4.3) through the real CLI; then resumed, rolled back, finalized."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
import yaml

from jiyue.registry import DEFAULT_CITY as SAMPLE_CITY
from lab.gate import LabFlows
from migration import consolidate, processes
from migration.run import Sources, run_systems
from migration.state import State, Store

pytestmark = pytest.mark.lab


#: a job archives-digital runs every minute as the account that owns its data, writing into it
HEARTBEAT = ("archives-digital-files1", "/etc/cron.d/archives-digital-heartbeat", "/srv/digital/heartbeat")


@pytest.fixture(scope="module")
def pilot_run(city_lab, cli, tmp_path_factory):
    host, entry, folder = HEARTBEAT
    city_lab.lab.ssh(host, f"mkdir -p {folder} && chown archivist:archive {folder} && printf '%s\\n' "
                           f"'* * * * * archivist date +\\%s >> {folder}/beats' > {entry}")  # % is cron's newline
    state = tmp_path_factory.mktemp("pilot") / "state.db"
    # a dry run first: it changes nothing on any host (checked in test_the_dry_run_changed_nothing)
    before = _digests(city_lab)
    check = cli("migrate", "run", "--wave", "0", "--cutover", "--check", "--lab", city_lab.lab.name, "--state", state)
    after = _digests(city_lab)
    result = cli("migrate", "run", "--wave", "0", "--cutover", "--lab", city_lab.lab.name, "--state", state,
                 "--max-parallel", "3")
    return state, result, (check, before, after)


def _digests(city_lab) -> dict[str, str]:
    """A digest of every pilot host's data paths (names, owners, modes, contents), the sources' and
    the targets', with our own commands, but for the heartbeat that changes every minute."""
    lab, model = city_lab.lab, city_lab.model
    outputs = json.loads((lab.dir / "outputs.json").read_text())["stacks"]
    out = {}
    for dep in model.city.pilot_departments:
        for system in model.departments[dep].systems:
            paths = sorted({p for h in system.legacy_hosts for p in h.data_paths})
            targets = [h["name"] for o in outputs.values() for sid, d in (o.get("systems") or {}).items()
                       if sid == system.id and d["site"] == "primary" for h in d["hosts"]]
            script = (f"for p in {' '.join(map(shlex.quote, paths))}; do cd -- \"$p\" 2>/dev/null || continue; "
                      "find . -path ./heartbeat -prune -o -printf \"$p/%P %u %g %m\\n\" -type f -exec sha256sum {} +; "
                      "done | sort")
            holders = {h.name for h in system.legacy_hosts if h.data_paths}
            for host in [h.name for h in system.legacy_hosts] + targets:
                listing = lab.ssh(host, f"bash -c {shlex.quote(script)}").stdout
                # a source holds its data paths: an empty listing would be a digest of nothing
                assert host not in holders or listing.strip(), (host, paths)
                out[host] = hashlib.sha256(listing.encode()).hexdigest()
    return out


def test_the_dry_run_changed_nothing(pilot_run):
    _, _, (check, before, after) = pilot_run
    assert check.exit_code == 0, check.output
    assert "nothing was changed on any host" in check.stdout
    assert "precheck (check)" in check.stdout and "not simulated" in check.stdout
    assert after == before, {h for h in before if before[h] != after.get(h)}


def _status(cli, city_lab, state):
    result = cli("migrate", "status", "--state", state, "--lab", city_lab.lab.name, "--format", "json")
    assert result.exit_code == 0, result.output
    return {s["id"]: s for s in json.loads(result.stdout)["systems"]}


def test_pilot_wave_is_verified_end_to_end(pilot_run, city_lab, cli):
    state, result, _ = pilot_run
    assert result.exit_code == 0, result.output
    systems = _status(cli, city_lab, state)
    pilot = set(city_lab.model.city.pilot_departments)
    assert {s["department"] for s in systems.values()} == pilot
    assert all(s["state"] == "verified" for s in systems.values()), {k: (v["state"], v["error"])
                                                                     for k, v in systems.items()}
    for s in systems.values():
        assert s["wave"] == 0 and s["source_hosts"] and s["target_hosts"]
    # progress: a line per step (not a terminal here), the file data replicate copied, the total
    assert "audit-website: replicate ok (" in result.stderr
    assert re.search(r"replicate ok \([\d.]+ s, [\d.]+ [kMG]?B copied\)", result.stderr), result.stderr[-2000:]
    assert re.search(r"^copied [\d.]+ [kMG]?B of file data", result.stderr, re.MULTILINE)
    # web, database and files all went through the verification suite
    report = json.loads(cli("migrate", "report", "--state", state, "--format", "json").stdout)
    compared = [c for r in report["systems"] for c in r["verification"]["compared"].values()]
    assert sum(c["files"] for c in compared) > 100
    assert sum(c["tables"] for c in compared) >= 3
    assert sum(c["web"] for c in compared) >= 3
    assert all(r["verification"]["failed"] == 0 for r in report["systems"])
    assert report["bytes_copied"] == sum(r["bytes_copied"] for r in report["systems"]) > 100_000


def test_the_job_runs_on_the_target_after_cutover(pilot_run, city_lab, cli):
    """The heartbeat job moved with archives-digital: scheduled on the target, where it runs as its
    own account and writes into the data; off the frozen source's schedule."""
    state, _, _ = pilot_run
    lab = city_lab.lab
    host, entry, folder = HEARTBEAT
    (target,) = _status(cli, city_lab, state)["archives-digital"]["target_hosts"]
    assert lab.ssh(target, f"cat {entry}").stdout == lab.ssh(host, f"cat /var/lib/jiyue/frozen-jobs/archives-digital/"
                                                                f"cron.d/{entry.rsplit('/', 1)[-1]}").stdout
    assert lab.ssh(host, f"test -e {entry}").returncode != 0, "the job is still scheduled on the frozen source"
    now = int(lab.ssh(target, "date +%s").stdout)
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        beats = [int(x) for x in lab.ssh(target, f"cat {folder}/beats 2>/dev/null").stdout.split()]
        if beats and max(beats) >= now:
            break
        time.sleep(5)
    else:
        pytest.fail(f"the job did not run on {target} in 150 s")
    assert lab.ssh(target, f"stat -c %U {folder}/beats").stdout.strip() == "archivist"


def test_the_service_name_points_at_the_target(pilot_run, city_lab):
    lab = city_lab.lab
    outputs = json.loads((lab.dir / "outputs.json").read_text())
    target = outputs["stacks"]["extranet-primary-audit"]["systems"]["audit-website"]["hosts"][0]["address"]
    hosts = lab.ssh("bastion-extranet", "getent hosts audit-website.svc.dalian.gov.internal").stdout
    assert hosts.split()[0] == target


def test_a_second_run_redoes_nothing(pilot_run, city_lab, cli):
    state, _, _ = pilot_run
    result = cli("migrate", "run", "--wave", "0", "--cutover", "--lab", city_lab.lab.name, "--state", state)
    assert result.exit_code == 0
    assert "precheck" not in result.stderr and "replicate" not in result.stderr


def test_rollback_then_finalize(pilot_run, city_lab, cli):
    state, _, _ = pilot_run
    lab = city_lab.lab
    # roll one system back: the source serves again, with its data unchanged
    result = cli("migrate", "rollback", "--system", "audit-law", "--lab", lab.name, "--state", state)
    assert result.exit_code == 0, result.output
    assert _status(cli, city_lab, state)["audit-law"]["state"] == "rolled-back"
    legacy = next(h for h in city_lab.plan.hosts if h.legacy_name == "audit-law-web1")
    served = lab.ssh("bastion-extranet", "getent hosts audit-law.svc.dalian.gov.internal").stdout.split()[0]
    assert served == legacy.address
    assert "200" in lab.exec("audit-law-web1", ["python3", "-c", "import urllib.request;"
                                                "print(urllib.request.urlopen('http://127.0.0.1/').status)"]).stdout
    # finalize another: it cannot be undone, so it asks (and, off a terminal, needs --yes) ...
    refused = cli("migrate", "finalize", "--system", "audit-website", "--lab", lab.name, "--state", state)
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert _status(cli, city_lab, state)["audit-website"]["state"] == "verified"
    # ... then it is archived with a manifest, and stopped
    result = cli("migrate", "finalize", "--system", "audit-website", "--lab", lab.name, "--state", state, "--yes")
    assert result.exit_code == 0, result.output
    assert _status(cli, city_lab, state)["audit-website"]["state"] == "finalized"
    listing = lab.exec("audit-website-web1", ["sh", "-c", "ls /var/backups/jiyue/"]).stdout
    assert ".tar.gz" in listing and ".sha256" in listing
    assert lab.exec("audit-website-web1", ["/usr/local/sbin/jiyue-service", "status", "nginx"],
                    check=False).returncode != 0
    # and the finalized system's data is still there: nothing is deleted
    assert lab.exec("audit-website-web1", ["test", "-d", "/var/www/audit-website"], check=False).returncode == 0


def _listing(lab, host: str, path: str) -> dict[str, str]:
    """Our own listing of a tree, not the project's probe: every entry's owner and group by name,
    mode and type (find), and every file's SHA-256 (sha256sum), by path."""
    meta = lab.ssh(host, f"cd {path} && find . -printf '%p\\t%u %g %m %y\\n'").stdout.splitlines()
    sums = lab.ssh(host, f"cd {path} && find . -type f -print0 | xargs -0r sha256sum").stdout.splitlines()
    out = dict(line.split("\t", 1) for line in meta)
    for line in sums:
        digest, name = line.split("  ", 1)
        out[name] = out.get(name, "(appeared while listed)") + " " + digest  # a sync may land meanwhile
    return out


def test_an_independent_comparison_finds_no_difference(pilot_run, city_lab, cli):
    """Every source's trees on the targets (owners by name), every table's rows, every account
    and cron entry: compared with our own commands, not the project's verification."""
    state, _, _ = pilot_run
    lab, model = city_lab.lab, city_lab.model
    systems = _status(cli, city_lab, state)
    for sid, st in systems.items():
        if st["state"] != "verified":
            continue
        system = model.systems[sid]
        where = consolidate.assign(system, st["target_hosts"])  # the registry's hosts over its instances
        for h in system.legacy_hosts:
            target = where[h.name]
            for path in h.data_paths:
                rule = system.consolidation.get(path)
                # the heartbeat job writes on the target since the cutover: its file is the target's own
                held = {k: v for k, v in _listing(lab, target, path).items() if not k.startswith("./heartbeat/")}
                mine = {k: v for k, v in _listing(lab, h.name, path).items() if not k.startswith("./heartbeat/")}
                if rule is None or rule.source == h.name:
                    assert held == mine, f"{sid}: {target}:{path} differs from {h.name}'s"
                else:  # another source is authoritative: every file of this one is there by name
                    assert set(mine) <= set(held), f"{sid}: files of {h.name}:{path} are on no target"
            for db in h.databases:
                count = ("SELECT string_agg(format('%s=%s', table_name, (xpath('/row/c/text()', query_to_xml("
                         "format('select count(*) as c from %I.%I', table_schema, table_name), false, true, '')))[1]"
                         "::text), ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'app'")
                q = f"cd / && runuser -u postgres -- psql -XAt -d {db} -c {json.dumps(count)}"
                assert lab.ssh(target, q).stdout == lab.ssh(h.name, q).stdout, f"{sid}: rows of {db} differ"
        status = cli("migrate", "status", "--state", state, "--lab", lab.name, "--system", sid, "--format", "json")
        found = json.loads(status.stdout)["systems"][0]["discovered"]
        assert found, f"{sid}: its precheck recorded nothing of what it runs on"
        for host, d in found.items():
            target = where[host]
            for a in d["accounts"]:
                assert lab.ssh(target, f"getent passwd {a['name']}").stdout.split(":")[2:4] == \
                    [str(a["uid"]), str(a["gid"])], f"{sid}: account {a['name']} on {target}"
            for path in d["cron"]["files"]:
                assert lab.ssh(target, f"test -f {path}").returncode == 0, f"{sid}: {path} not scheduled on {target}"
        for host, d in found.items():
            target = where[host]
            for path, tls in d["tls"].items():  # a public site's certificate: the target answers with it
                assert lab.ssh(target, f"sha256sum {path}").stdout.split()[0] == tls["sha256"], f"{sid}: {path}"
                if tls["kind"] == "certificate":
                    served = lab.ssh(target, "openssl s_client -connect 127.0.0.1:443 </dev/null 2>/dev/null "
                                             "| openssl x509 -outform DER | sha256sum").stdout.split()[0]
                    expected = lab.ssh(target, f"openssl x509 -in {path} -outform DER | sha256sum").stdout.split()[0]
                    assert served == expected, f"{sid}: {target} answers on 443 with another certificate"
        assert st["downtime_seconds"] >= st["serving_after_seconds"] > 0


def test_trees_that_differ_are_refused_before_anything_is_copied(pilot_run, city_lab, tmp_path):
    """audit-ao without its consolidation rule: its two web hosts' trees differ, so the precheck
    refuses on the real hosts, saying which and what to write, and nothing changes anywhere."""
    lab, model = city_lab.lab, city_lab.model
    audit = model.departments["audit"]
    audit = audit.model_copy(update={"systems": [s.model_copy(update={"consolidation": {}}) if s.id == "audit-ao"
                                                 else s for s in audit.systems]})
    bare = dataclasses.replace(model, departments={**model.departments, "audit": audit})
    before = _digests(city_lab)
    where = Sources.from_lab(lab.dir, lab.name).with_flows(LabFlows(lab))
    with run_systems(bare, where, tmp_path / "state.db", ["audit-ao"], argv=["test"]) as run:
        out = run.engine.drive("audit-ao", State.verified)
    assert out.state is State.planned
    assert "audit-ao-web1 and audit-ao-web2 hold different trees" in out.error
    assert "consolidation: {/var/www/audit-ao: {mode: union | authoritative | distinct}}" in out.error
    assert _digests(city_lab) == before


# ---- the DR site (T3.1): the pilot's hot and warm systems protected after the wave

DR_SYSTEMS = {"finance-treasury": "hot", "finance-budget": "warm"}
NORMALIZED_DUMP = ("cd / && runuser -u postgres -- pg_dump --no-password -d {db} "
                   "| sed -E '/^\\\\(un)?restrict [[:alnum:]]+$/d' | sha256sum")


def _dr_status(cli, lab, state) -> tuple[int, dict[str, dict]]:
    r = cli("dr", "status", "--department", "finance", "--lab", lab.name, "--state", state, "--format", "json")
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, {s["id"]: s for s in json.loads(r.stdout)["systems"]}


def _dr_pairs(lab, sid: str) -> list[tuple[str, str]]:
    stacks = json.loads((lab.dir / "outputs.json").read_text())["stacks"]
    primary = [h["name"] for h in stacks["intranet-primary-finance"]["systems"][sid]["hosts"]]
    dr = [h["name"] for h in stacks["intranet-dr-finance"]["systems"][sid]["hosts"]]
    assert len(primary) == len(dr)
    return list(zip(primary, dr, strict=True))


def _holdings(lab, model, sid: str, host: str) -> dict[str, object]:
    """What a host holds of the system, by our own commands: every tree (owners by name, modes,
    digests) and every database's normalized dump digest."""
    system = model.systems[sid]
    out: dict[str, object] = {}
    for path in sorted({p for h in system.legacy_hosts for p in h.data_paths}):
        if lab.ssh(host, f"test -d {path}").returncode == 0:
            out[path] = _listing(lab, host, path)
    for db in sorted({d for h in system.legacy_hosts for d in h.databases}):
        if lab.ssh(host, f"cd / && runuser -u postgres -- psql -XAtc 'select 1' -d {db}").returncode == 0:
            out[db] = lab.ssh(host, NORMALIZED_DUMP.format(db=db)).stdout.split()[0]
    return out


def _until_same(lab, model, sid: str, pairs: list[tuple[str, str]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        diff = {(p, d) for p, d in pairs if _holdings(lab, model, sid, p) != _holdings(lab, model, sid, d)}
        if not diff:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{sid}: after {seconds:.0f} s the DR hosts still differ from their primaries: {diff}")
        time.sleep(5)


def _killed_in(argv: list[str], state: Path, label: str, after: float) -> None:
    """Run the CLI ``argv`` and SIGKILL it ``after`` seconds into its playbook ``label`` (as the
    state records it); return once that playbook has ended with it."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    playbook = None
    try:
        deadline = time.monotonic() + 120
        while playbook is None:
            assert proc.poll() is None and time.monotonic() < deadline, f"{argv[1:3]} never started {label}"
            time.sleep(0.2)
            with closing(sqlite3.connect(state, timeout=5)) as db:
                row = db.execute("SELECT pid FROM processes WHERE label=? AND ended_at IS NULL "
                                 "ORDER BY started_at DESC", (label,)).fetchone()
            playbook = row[0] if row else None
        time.sleep(after)
    finally:
        proc.kill()
        proc.wait()
    for _ in range(100):
        if processes.start_time(playbook) is None:
            break
        time.sleep(0.1)
    assert processes.start_time(playbook) is None, "the killed driver's playbook lives on"


def test_a_protect_killed_midway_is_finished_by_the_same_command(pilot_run, city_lab):
    """``jiyue dr protect`` killed with SIGKILL while its playbook runs: its playbook ends with it,
    the system stays ``protecting``, the same command finishes it, and the primary holds what it
    held before."""
    state, _, _ = pilot_run
    lab, model = city_lab.lab, city_lab.model
    sid = "finance-budget"
    (pair,) = _dr_pairs(lab, sid)
    before = _holdings(lab, model, sid, pair[0])
    argv = [str(Path(sys.executable).parent / "jiyue"), "dr", "protect", "--system", sid, "--lab", lab.name,
            "--state", str(state)]
    _killed_in(argv, state, f"{sid}-dr-protect", after=8)  # well into it (it takes about 40 s)
    with Store.open(state, write=False) as store:
        assert store.protection(sid)[sid]["state"] == "protecting"
    again = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    with Store.open(state, write=False) as store:
        assert store.protection(sid)[sid]["state"] == "protected"
    assert _holdings(lab, model, sid, pair[0]) == before, "the primary changed"
    _until_same(lab, model, sid, [pair], seconds=150)


def test_dr_protect_keeps_a_copy_with_nothing_lost(pilot_run, city_lab, cli, tmp_path):
    """The pilot's DR systems protected after the wave: a write on each primary after protection
    (a file owned like its tree, a new table) is at the DR site within the sync interval, compared
    with our own commands; hot runs nginx there, warm keeps it stopped; the status measures the
    lag, a DR host cut off is outside its RPO until it is back; a second protect changes nothing."""
    state, _, _ = pilot_run
    lab, model = city_lab.lab, city_lab.model
    r = cli("dr", "protect", "--department", "finance", "--lab", lab.name, "--state", state)
    assert r.exit_code == 0, r.output
    assert "finance-treasury: protecting (hot, RPO 5 min, RTO 30 min)" in r.stderr
    assert "finance-budget: protecting (warm, RPO 15 min, RTO 60 min)" in r.stderr

    for sid in DR_SYSTEMS:
        system = model.systems[sid]
        for primary, _ in _dr_pairs(lab, sid):
            for path in {p for h in system.legacy_hosts for p in h.data_paths}:
                lab.ssh(primary, f"test -d {path} && echo written-after-protect > {path}/dr-probe.txt "
                                 f"&& chown --reference={path} {path}/dr-probe.txt")
            for db in {d for h in system.legacy_hosts for d in h.databases}:
                lab.ssh(primary, f"cd / && runuser -u postgres -- psql -XAt -d {db} -c "
                                 "'CREATE TABLE app.dr_probe AS SELECT now() AS written'")
    for sid in DR_SYSTEMS:
        _until_same(lab, model, sid, _dr_pairs(lab, sid), seconds=150)
        held = [_holdings(lab, model, sid, dr) for _, dr in _dr_pairs(lab, sid)]
        assert any("./dr-probe.txt" in tree for h in held for tree in h.values() if isinstance(tree, dict)), sid

    def nginx_runs(host: str) -> bool:
        return lab.exec(host, ["/usr/local/sbin/jiyue-service", "status", "nginx"], check=False).returncode == 0

    for sid, mode in DR_SYSTEMS.items():  # a hot standby serves like its primary, a warm one does not
        for primary, dr in _dr_pairs(lab, sid):
            if nginx_runs(primary):
                assert nginx_runs(dr) is (mode == "hot"), f"{sid}: nginx on {dr}, a {mode} standby"
    standby_db = "finance-treasury-dr-2"
    recovery = lab.ssh(standby_db, "cd / && runuser -u postgres -- psql -XAtc 'select pg_is_in_recovery()'")
    assert recovery.stdout.strip() == "t", recovery

    code, rows = _dr_status(cli, lab, state)
    assert code == 0, rows
    for sid, mode in DR_SYSTEMS.items():
        row = rows[sid]
        assert (row["mode"], row["protection"], row["within_rpo"]) == (mode, "protected", True), row
        assert 0 <= row["lag_seconds"] < row["rpo_minutes"] * 60, row

    again = cli("dr", "protect", "--system", "finance-treasury", "--lab", lab.name, "--state", state)
    assert again.exit_code == 0, again.output
    with Store.open(state, write=False) as store:
        last = store.protection_transitions("finance-treasury")[-1]
    assert (last["to"], last["detail"]["changed"]) == ("protected", 0), last

    # the DR host of the database cut off: outside its RPO (it cannot be read), back once it returns
    gateway = next(h.gateway for h in city_lab.plan.hosts if h.name == standby_db)
    lab.exec(standby_db, ["ip", "link", "set", "eth0", "down"])
    try:
        code, rows = _dr_status(cli, lab, state)
        assert code == 1 and not rows["finance-treasury"]["within_rpo"], rows["finance-treasury"]
        assert any(standby_db in p for p in rows["finance-treasury"]["problems"]), rows["finance-treasury"]
        assert rows["finance-budget"]["within_rpo"], rows["finance-budget"]
    finally:
        lab.exec(standby_db, ["sh", "-c", f"ip link set eth0 up && ip route replace default via {gateway} dev eth0"])
    deadline = time.monotonic() + 90
    while (status := _dr_status(cli, lab, state))[0] != 0:
        assert time.monotonic() < deadline, status
        time.sleep(3)

    # what cannot be protected is refused, exit 2, nothing recorded
    fresh = tmp_path / "fresh.db"
    for args, says in ((["--system", "no-such-system"], "no system 'no-such-system'"),
                       (["--system", "audit-law"], "gives it no DR need"),
                       (["--department", "audit"], "none of the systems asked for has a DR need")):
        bad = cli("dr", "protect", *args, "--lab", lab.name, "--state", state)
        assert bad.exit_code == 2 and says in bad.stderr, (args, bad.output)
    bad = cli("dr", "protect", "--system", "finance-treasury", "--lab", lab.name, "--state", fresh)
    assert bad.exit_code == 2 and "only a system verified at the primary site" in bad.stderr, bad.output


def test_synchronous_replication_waits_for_the_dr_site_then_falls_back(pilot_run, city_lab, cli, tmp_path):
    """RPO 0 (the registry edited, finance-treasury protected again): a commit on the primary
    returns once the standby has it; with the DR host cut off, commits wait no longer than the
    bounded wait (the primary turns asynchronous) and the status shows the system outside its RPO;
    back, the standby catches up (nothing written meanwhile is missing) and it is synchronous again."""
    state, _, _ = pilot_run
    lab = city_lab.lab
    city = shutil.copytree(SAMPLE_CITY, tmp_path / "city")
    finance = city / "departments" / "finance.yaml"
    data = yaml.safe_load(finance.read_text(encoding="utf-8"))
    next(s for s in data["systems"] if s["id"] == "finance-treasury")["dr"]["rpo_minutes"] = 0
    finance.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    r = cli("dr", "protect", "--system", "finance-treasury", "--city", city, "--lab", lab.name, "--state", state)
    assert r.exit_code == 0, r.output
    assert "finance-treasury: protecting (hot, RPO 0 min, RTO 30 min)" in r.stderr

    primary, standby = "finance-treasury-2", "finance-treasury-dr-2"  # the database's hosts

    def sql(host: str, query: str, timeout: float = 60) -> str:
        return lab.ssh(host, f"cd / && runuser -u postgres -- psql -XAt -d finance-treasury -c {json.dumps(query)}",
                       timeout=timeout, check=True).stdout.strip()

    deadline = time.monotonic() + 60
    while sql(primary, "SELECT string_agg(sync_state, ',') FROM pg_stat_replication "
                       "WHERE application_name = 'jiyue_dr'") != "sync":
        assert time.monotonic() < deadline, "the standby never became synchronous"
        time.sleep(1)
    sql(primary, "CREATE TABLE app.sync_probe AS SELECT 'committed while synchronous' AS what")
    # synchronous: the standby has it as soon as the commit returned (no waiting, no retry)
    assert sql(standby, "SELECT what FROM app.sync_probe") == "committed while synchronous"

    gateway = next(h.gateway for h in city_lab.plan.hosts if h.name == standby)
    lab.exec(standby, ["ip", "link", "set", "eth0", "down"])
    try:
        t0 = time.monotonic()
        sql(primary, "INSERT INTO app.sync_probe VALUES ('committed while the DR host was cut off')", timeout=60)
        waited = time.monotonic() - t0
        assert waited < 20, f"a commit waited {waited:.1f} s for a DR host that was gone"
        assert lab.exec(primary, ["test", "-e", "/var/lib/jiyue-dr/asynchronous"], check=False).returncode == 0
        code, rows = _dr_status(cli, lab, state)
        assert code == 1 and not rows["finance-treasury"]["within_rpo"], rows
    finally:
        lab.exec(standby, ["sh", "-c", f"ip link set eth0 up && ip route replace default via {gateway} dev eth0"])
    deadline = time.monotonic() + 90
    while sql(primary, "SELECT coalesce(string_agg(sync_state, ','), '') FROM pg_stat_replication "
                       "WHERE application_name = 'jiyue_dr'") != "sync":
        assert time.monotonic() < deadline, "the standby never became synchronous again"
        time.sleep(2)
    # synchronous means flushed on the standby (its replay follows within moments), and the
    # heartbeat takes its marker away just after turning the primary synchronous again
    deadline = time.monotonic() + 15
    while sql(standby, "SELECT count(*) FROM app.sync_probe") != "2" or \
            lab.exec(primary, ["test", "-e", "/var/lib/jiyue-dr/asynchronous"], check=False).returncode == 0:
        assert time.monotonic() < deadline, "the row committed while the DR host was cut off never reached it, " \
                                            "or the primary still says it is asynchronous"
        time.sleep(0.5)


def test_failover_then_failback_loses_nothing(pilot_run, city_lab, cli):
    """finance-treasury (hot): refused while its copy is outside its RPO; failed over (the driver
    killed midway, the same command finishing it), its primaries cut off: the DR site serves what
    the primaries held (our own comparison), with less than 5 s of data lost; written to at the DR
    site, failed back: the primaries hold every one of those writes, what they had written after
    the loss is kept aside, and the copy is protected again."""
    state, _, _ = pilot_run
    lab, model, sid = city_lab.lab, city_lab.model, "finance-treasury"
    pairs = _dr_pairs(lab, sid)
    address = {h.name: h.address for h in city_lab.plan.hosts}
    tree, db = "/var/www/finance-treasury", "finance-treasury"
    web = next(p for p, _ in pairs if lab.exec(p, ["test", "-d", tree], check=False).returncode == 0)
    base = next(p for p, _ in pairs if p != web)
    dr = dict(pairs)

    def sql(host: str, query: str) -> str:
        return lab.exec(host, ["runuser", "-u", "postgres", "--", "psql", "-XAt", "-d", db, "-c", query],
                        check=False).stdout.strip()

    def failover(*args: str):
        return cli("dr", "failover", "--system", sid, *args, "--lab", lab.name, "--state", state)

    # a DR host cut off: the copy is outside its RPO, so a failover is refused and nothing changes
    gateway = next(h.gateway for h in city_lab.plan.hosts if h.name == dr[base])
    lab.exec(dr[base], ["ip", "link", "set", "eth0", "down"])
    try:
        refused = failover("--yes")
        assert refused.exit_code == 2 and "outside its RPO" in refused.stderr, refused.output
    finally:
        lab.exec(dr[base], ["sh", "-c", f"ip link set eth0 up && ip route replace default via {gateway} dev eth0"])
    with Store.open(state, write=False) as store:
        assert store.protection(sid)[sid]["state"] == "protected"
    deadline = time.monotonic() + 90  # the standby streams again once its DR host is back
    while _dr_status(cli, lab, state)[0] != 0:
        assert time.monotonic() < deadline, "the copy never came back within its RPO"
        time.sleep(2)

    lab.exec(web, ["sh", "-c", f"echo before-the-loss > {tree}/before-loss.txt"])
    sql(base, "CREATE TABLE app.before_loss AS SELECT 'before the loss' AS what")
    # the driver killed (SIGKILL) while the DR hosts are promoted: the same command finishes it
    argv = [str(Path(sys.executable).parent / "jiyue"), "dr", "failover", "--system", sid, "--yes",
            "--lab", lab.name, "--state", str(state)]
    _killed_in(argv, state, f"{sid}-dr-failover", after=2)
    with Store.open(state, write=False) as store:
        assert store.protection(sid)[sid]["state"] == "failing-over"
    r = failover("--yes", "--format", "json")
    assert r.exit_code == 0, r.output
    [done] = json.loads(r.stdout)["failovers"]
    assert (done["state"], done["verified"], done["compared"]) == ("failed-over", True, True), done
    assert done["checks"] >= 6 and not done["failures"], done
    assert 0 <= done["rpo_seconds"] < 5, done  # hot: files synced every second, the database streamed
    assert done["rto_seconds"] < done["rto_minutes_declared"] * 60, done
    # the primaries are cut off (their data stays), the DR site serves, the service name is there
    for p, d in pairs:
        assert lab.exec(d, ["nc", "-z", "-w", "2", address[p], "22"], check=False).returncode != 0, p
    assert sql(dr[base], "SELECT pg_is_in_recovery()") == "f"
    assert sql(dr[base], "SELECT what FROM app.before_loss") == "before the loss"  # less than 5 s lost
    assert lab.exec(dr[web], ["cat", f"{tree}/before-loss.txt"]).stdout == "before-the-loss\n"
    hosts = lab.ssh("bastion-intranet", "cat /etc/hosts").stdout
    assert f"{address[dr[web]]} {sid}.svc." in hosts, hosts
    again = failover("--yes")
    assert again.exit_code == 2 and "has failed over already" in again.stderr, again.output

    # the DR site takes writes; the cut-off primary had written after the loss
    lab.exec(dr[web], ["sh", "-c", f"echo written-at-dr > {tree}/at-dr.txt && chown --reference={tree} "
                                   f"{tree}/at-dr.txt"])
    sql(dr[base], "CREATE TABLE app.at_dr AS SELECT 'written at the DR site' AS what")
    lab.exec(web, ["sh", "-c", f"echo after-the-loss > {tree}/after-loss.txt"])
    owner = lab.exec(dr[web], ["stat", "-c", "%U:%G", f"{tree}/at-dr.txt"]).stdout

    r = cli("dr", "failback", "--system", sid, "--yes", "--format", "json", "--lab", lab.name, "--state", state)
    assert r.exit_code == 0, r.output
    [back] = json.loads(r.stdout)["failbacks"]
    assert (back["state"], back["verified"]) == ("protected", True), back
    assert lab.ssh(web, f"cat {tree}/at-dr.txt").stdout == "written-at-dr\n"
    assert lab.ssh(web, f"stat -c %U:%G {tree}/at-dr.txt").stdout == owner
    assert sql(base, "SELECT what FROM app.at_dr") == "written at the DR site"
    assert sql(base, "SHOW default_transaction_read_only") == "off"
    assert lab.ssh(web, f"test -e {tree}/after-loss.txt", check=False).returncode != 0
    newest = lab.ssh(web, "ls -d /var/lib/jiyue-dr/diverged/* | tail -1").stdout.strip()  # run ids sort by time
    kept = lab.ssh(web, f"cat {newest}{tree}/after-loss.txt").stdout
    assert kept == "after-the-loss\n", "what the primary wrote after the loss was not kept aside"
    for p, d in pairs:  # the failback's key was authorized only while it copied
        assert "jiyue-dr-failback" not in lab.ssh(p, "cat /root/.ssh/authorized_keys").stdout
        assert lab.ssh(d, "ls /etc/jiyue-dr").stdout.split() in (["id_ed25519", "id_ed25519.pub", "known_hosts"], [])
    hosts = lab.ssh("bastion-intranet", "cat /etc/hosts").stdout
    assert f"{address[web]} {sid}.svc." in hosts, hosts
    assert sql(dr[base], "SELECT pg_is_in_recovery()") == "t"
    _until_same(lab, model, sid, pairs, seconds=60)
    code, rows = _dr_status(cli, lab, state)
    assert code == 0 and rows[sid]["protection"] == "protected", rows[sid]
    with Store.open(state, write=False) as store:
        went = [t["to"] for t in store.protection_transitions(sid)]
    went = went[max(i for i, x in enumerate(went) if x == "failing-over"):]
    assert went[:4] == ["failing-over", "failed-over", "failing-back", "protecting"] and went[-1] == "protected", went
    bad = cli("dr", "failback", "--system", sid, "--yes", "--lab", lab.name, "--state", state)
    assert bad.exit_code == 2 and "only a system that failed over" in bad.stderr, bad.output

    # the report: declared against achieved, as measured
    report = cli("dr", "report", "--format", "json", "--state", state)
    rows = [e for e in json.loads(report.stdout)["exercises"] if e["system"] == sid]
    assert rows[-2]["kind"] == "failover" and rows[-2]["rpo_seconds"] == done["rpo_seconds"], rows[-2:]
    assert rows[-2]["passed"] and rows[-1]["kind"] == "failback" and rows[-1]["passed"], rows[-2:]
    html = cli("dr", "report", "--format", "html", "--state", state).stdout
    assert f"{done['rpo_seconds']} s / 5 min" in html and "http" not in html.split("<body", 1)[1], html[:400]


def test_a_drill_proves_the_copy_without_touching_the_primary(pilot_run, city_lab, cli):
    """finance-budget (warm): its copy comes up in a sandbox on the DR host and passes the suite
    there (nginx runs in the sandbox only: the host's own stays stopped), within its RTO; the
    primary serves on, the standby streams on, and nothing of the drill is left."""
    state, _, _ = pilot_run
    lab, sid = city_lab.lab, "finance-budget"
    pairs = _dr_pairs(lab, sid)
    hosts_before = lab.ssh("bastion-intranet", "cat /etc/hosts").stdout
    r = cli("dr", "drill", "--system", sid, "--format", "json", "--lab", lab.name, "--state", state)
    assert r.exit_code == 0, r.output
    [drill] = json.loads(r.stdout)["drills"]
    assert drill["verified"] and drill["discarded"] and drill["checks"] >= 6, drill
    assert 0 < drill["rto_seconds"] < drill["rto_minutes_declared"] * 60, drill
    assert drill["lag_seconds"] is not None and drill["lag_seconds"] < 15 * 60, drill
    assert lab.ssh("bastion-intranet", "cat /etc/hosts").stdout == hosts_before
    for primary, dr in pairs:
        assert lab.exec(dr, ["/usr/local/sbin/jiyue-service", "status", "nginx"], check=False).returncode != 0
        left = lab.ssh(dr, "ls /var/lib/jiyue-dr /var/lib/postgresql; cat /root/.ssh/authorized_keys; "
                           "ps -eo args").stdout
        assert "drill" not in left, left
        if lab.exec(primary, ["test", "-d", "/var/lib/postgresql"], check=False).returncode == 0:
            got = lab.exec(dr, ["runuser", "-u", "postgres", "--", "psql", "-XAt", "-c",
                                "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver)"]).stdout
            assert got.strip() == "t|streaming", got
    with Store.open(state, write=False) as store:
        assert store.protection(sid)[sid]["state"] == "protected"
        [ex] = [e for e in store.dr_exercises(sid) if e["kind"] == "drill"][-1:]
    assert ex["detail"]["rto_seconds"] == drill["rto_seconds"]


def test_a_cold_system_is_backed_up_and_its_backup_restores(pilot_run, city_lab, cli):
    """archives-digital (cold): ``dr protect`` makes its backup host pull a snapshot of every data
    path, equal to the primary's by our own listing; the next snapshot shares the unchanged files
    (hard links) and holds a file written since; the backup host's key reads and dumps, nothing
    else; ``dr status`` shows the last backup within the RPO; a drill restores the latest backup in
    a sandbox and passes the suite there, and leaves nothing; a failover is refused (exit 2)."""
    state, _, _ = pilot_run
    lab, model, sid = city_lab.lab, city_lab.model, "archives-digital"
    primary, backup = "archives-digital-1", "archives-digital-backup"
    paths = sorted({p for h in model.systems[sid].legacy_hosts for p in h.data_paths})
    r = cli("dr", "protect", "--system", sid, "--lab", lab.name, "--state", state)
    assert r.exit_code == 0, r.output
    root = f"/var/lib/jiyue-dr/backups/{primary}"
    first = lab.ssh(backup, f"readlink -e {root}/latest").stdout.strip()
    assert first, lab.ssh(backup, f"ls -R {root} | head").stdout
    for path in paths:  # the cron job writes into ./heartbeat/ every minute
        held = {k: v for k, v in _listing(lab, backup, f"{first}/files{path}").items() if "heartbeat" not in k}
        mine = {k: v for k, v in _listing(lab, primary, path).items() if "heartbeat" not in k}
        assert held == mine, f"{backup}:{first}{path} differs from {primary}:{path}"
    lab.ssh(primary, f"echo written-after-the-backup > {paths[0]}/after-backup.txt")
    r = cli("dr", "status", "--system", sid, "--lab", lab.name, "--state", state, "--format", "json")
    assert r.exit_code == 0, r.output
    [row] = json.loads(r.stdout)["systems"]
    assert row["mode"] == "cold" and row["within_rpo"] and row["last_backup"], row
    assert 0 <= row["lag_seconds"] < 600, row
    # least privilege: the backup host's key runs rsync read-only, the dumps and the roles only
    key = "-i /etc/jiyue-dr/id_ed25519 -o BatchMode=yes -o UserKnownHostsFile=/etc/jiyue-dr/known_hosts"
    address = {h.name: h.address for h in city_lab.plan.hosts}[primary]
    refused = lab.ssh(backup, f"ssh {key} root@{address} cat /etc/shadow", check=False)
    assert refused.returncode != 0 and "root:" not in refused.stdout, refused.stdout
    wrote = lab.ssh(backup, f"rsync -e 'ssh {key}' /etc/hostname root@{address}:/tmp/from-backup", check=False)
    assert wrote.returncode != 0
    assert lab.ssh(primary, "test -e /tmp/from-backup", check=False).returncode != 0

    r = cli("dr", "drill", "--system", sid, "--format", "json", "--lab", lab.name, "--state", state)
    assert r.exit_code == 0, r.output
    [drill] = json.loads(r.stdout)["drills"]
    assert drill["verified"] and drill["discarded"] and drill["checks"] >= len(paths), drill
    assert 0 < drill["rto_seconds"] < drill["rto_minutes_declared"] * 60, drill
    latest = lab.ssh(backup, f"readlink -e {root}/latest").stdout.strip()
    assert latest != first  # the drill asked for a backup of the moment it measured the primary
    after = lab.ssh(backup, f"cat {latest}/files{paths[0]}/after-backup.txt").stdout
    assert after.strip() == "written-after-the-backup"
    inode = "find {0} -type f ! -path '*heartbeat*' ! -name after-backup.txt -printf '%P %i\\n' | sort"
    assert lab.ssh(backup, inode.format(f"{first}/files")).stdout == lab.ssh(backup, inode.format(
        f"{latest}/files")).stdout, "unchanged files are not shared between snapshots"
    left = lab.ssh(backup, "ls /var/lib/jiyue-dr /var/lib/postgresql; cat /root/.ssh/authorized_keys; "
                           f"ps -eo args; ls -d {' '.join(paths)} 2>&1").stdout
    assert "drill" not in left and "No such file" in left, left
    r = cli("dr", "failover", "--system", sid, "--yes", "--lab", lab.name, "--state", state)
    assert r.exit_code == 2 and "cold" in r.output, r.output

    # the host check: the backup host holds a backup within the RPO; without one, a finding
    def dr_findings() -> list[str]:
        r = cli("policy", "hosts", "--lab", lab.name, "--role", "target", "--department", "archives",
                "--format", "json")
        assert r.exit_code in (0, 1), r.output
        return [f["message"] for f in json.loads(r.stdout)["findings"]
                if f["rule"] == "jiyue-host-dr-copy-current" and f["resource_name"] == backup]

    assert dr_findings() == []
    lab.ssh(backup, f"mv {root}/latest {root}/held-aside")
    try:
        [finding] = dr_findings()
        assert "no backup of its primary" in finding, finding
    finally:
        lab.ssh(backup, f"mv {root}/held-aside {root}/latest")
