"""End to end on the lab: the pilot wave (T4.2) of three departments, web, database and files,
migrated, cut over and verified (T4.3) through the real CLI; then resumed, rolled back, finalized."""

from __future__ import annotations

import dataclasses
import json
import re
import time

import pytest

from lab.gate import LabFlows
from migration import consolidate
from migration.run import Sources, run_systems
from migration.state import State

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
            for host in [h.name for h in system.legacy_hosts] + targets:
                script = (f"for p in {' '.join(paths)}; do test -d $p && cd $p && find . -path ./heartbeat -prune -o "
                          "-printf '%p %u %g %m\\n' -type f -exec sha256sum {} + ; done | sort | sha256sum")
                out[host] = lab.ssh(host, f"bash -c {json.dumps(script)}").stdout.split()[0]
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
        out[name] += " " + digest
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
