"""Host checks: the judging functions on canned outputs, one run against this machine (local://),
the migration's inventory of a lab read as the hosts to check, and (marked ``lab``) real runs over
ssh against the session lab's hosts (``city_lab``): the golden image's real findings, then one host
hardened for real and checked again.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cli.policy_cmds import lab_inventory
from infra.outputs import city_targets
from jiyue.ipam import plan as ip_plan
from jiyue.registry import DEFAULT_CITY, load_city
from lab.topology import LabPlan, plan_lab, plan_text, write_outputs
from policies.hosts import checks
from policies.hosts.inventory import Inventory, InventoryError, load_inventory
from policies.hosts.rules import HOST_RULES
from policies.hosts.runner import run

GOOD_SSHD_T = """permitrootlogin prohibit-password
passwordauthentication no
kbdinteractiveauthentication no
maxauthtries 4
ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com
macs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com
"""


def test_sshd_judgements():
    good = checks.parse_sshd_t(GOOD_SSHD_T)
    assert not any(f(good) for f in (checks.root_password_login, checks.password_auth, checks.max_auth_tries,
                                     checks.weak_crypto))
    bad = checks.parse_sshd_config("PermitRootLogin yes\nMaxAuthTries 6\nCiphers aes128-cbc,aes256-ctr\n")
    assert checks.root_password_login(bad) == "PermitRootLogin is yes"
    assert "passwordauthentication is yes" in checks.password_auth(bad)  # missing: OpenSSH's default
    assert checks.max_auth_tries(bad) == "MaxAuthTries is 6 (at most 4)"
    assert "aes128-cbc" in checks.weak_crypto(bad)
    kex = {**good, "kexalgorithms": "curve25519-sha256,diffie-hellman-group14-sha1"}
    assert checks.weak_crypto(kex) == "weak KexAlgorithms: diffie-hellman-group14-sha1"


def test_whose_clock():
    node = ("3ef1c660-88ed-4d1f-966d-662bd9978e9e", "pid:[4026531836]")
    assert checks.shares_node_kernel((node[0], "pid:[4026534387]"), node)  # a namespace host of this machine
    assert not checks.shares_node_kernel(node, node)  # this machine itself (local://, ssh to localhost)
    assert not checks.shares_node_kernel(("another-boot-id", "pid:[4026534387]"), node)  # another machine
    assert not checks.shares_node_kernel(None, node)
    assert checks.node_identity()[1].startswith("pid:[")


def test_ports_and_firewall_judgements():
    ss = ("tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\ntcp LISTEN 0 128 127.0.0.1:5432 0.0.0.0:*\n"
          "tcp LISTEN 0 128 [::]:8080 [::]:*\n")
    assert checks.undeclared_ports(checks.parse_listening(ss), {22}) == [8080]
    nft = "table inet filter {\n chain input {\n  type filter hook input priority filter; policy drop;\n }\n}"
    assert checks.default_deny(nft) is None
    assert "accept" in checks.default_deny(nft.replace("drop", "accept"))
    assert checks.default_deny("", "-P INPUT DROP\n") is None
    assert checks.default_deny("", "") is not None


def test_inventory_is_checked(tmp_path):
    p = tmp_path / "inv.yml"
    p.write_text("all:\n  hosts:\n    a:\n      ansible_connection: local\n      jiyue_services: [ssh, mysql]\n",
                 encoding="utf-8")
    with pytest.raises(InventoryError, match="unknown service"):
        load_inventory(p)
    p.write_text("all:\n  hosts:\n    a:\n      ansible_connection: winrm\n", encoding="utf-8")
    with pytest.raises(InventoryError, match="ansible_connection 'winrm' cannot be checked"):
        load_inventory(p)
    with pytest.raises(InventoryError, match="no such inventory file"):
        load_inventory(tmp_path / "missing.yml")


def test_an_ansible_inventory_gives_each_host_its_variables(tmp_path):
    """Group variables reach their hosts as Ansible resolves them (the migration's jump through the
    zone's bastion is a group variable)."""
    p = tmp_path / "inv.yml"
    p.write_text("""all:
  vars: {ansible_user: root, ansible_ssh_private_key_file: /keys/id}
  hosts:
    web1: {ansible_host: 10.1.2.3, ansible_port: 2222, jiyue_services: [nginx], jiyue_ports: [8080],
           jiyue_role: legacy, jiyue_department: finance, jiyue_zone: extranet}
  children:
    zone_extranet:
      vars: {ansible_ssh_common_args: "-o ProxyCommand='ssh -W %h:%p root@192.0.2.9'"}
      hosts: {web1: {}}
""", encoding="utf-8")
    (web1,) = load_inventory(p).hosts
    assert web1.target == "ssh://root@10.1.2.3:2222" and web1.ssh_identity_file == "/keys/id"
    assert web1.ssh_extra_args == "-o ProxyCommand='ssh -W %h:%p root@192.0.2.9'"
    assert web1.services == ("ssh", "nginx") and web1.allowed_ports == {22, 80, 443, 8080}
    assert (web1.role, web1.department, web1.zone) == ("legacy", "finance", "extranet")


def test_every_check_runs_against_this_machine(tmp_path):
    p = tmp_path / "inv.yml"
    p.write_text("all:\n  hosts:\n    controller:\n      ansible_connection: local\n"
                 "      jiyue_department: finance\n      jiyue_services: [ssh]\n"
                 "      jiyue_dr_mode: warm\n      jiyue_rpo_minutes: 15\n", encoding="utf-8")
    report, results = run(p)
    assert {r["rule"] for r in results} == set(HOST_RULES)
    assert all(r["outcome"] in ("passed", "failed") for r in results)
    [dr] = [r for r in results if r["rule"] == "jiyue-host-dr-copy-current"]  # this machine holds no copy
    assert dr["outcome"] == "failed" and "no copy of its primary" in dr["message"], dr
    failed = {r["rule"] for r in results if r["outcome"] != "passed"}
    assert {f.rule for f in report.findings} == failed
    assert all(f.department == "finance" and f.message for f in report.findings)


# ----------------------------------------------------------------- the inventory of a lab (no root)


@pytest.fixture(scope="module")
def sample_city():
    return load_city(DEFAULT_CITY)


def _fake_lab(tmp_path: Path, model, departments) -> Path:
    """A lab directory as ``build`` leaves it (plan.json, outputs.json, the ssh key), without building anything."""
    ip = ip_plan(model)
    lab_dir = tmp_path / "fake"
    (lab_dir / "ssh").mkdir(parents=True)
    (lab_dir / "ssh" / "id_ed25519").write_text("not a key\n", encoding="utf-8")
    (lab_dir / "ssh" / "known_hosts").write_text("", encoding="utf-8")
    plan = plan_lab(model, ip, departments, city_targets(model, ip))
    (lab_dir / "plan.json").write_text(plan_text(plan), encoding="utf-8")
    write_outputs(plan, lab_dir / "outputs.json")
    return lab_dir


def lab_hosts(lab_dir: Path, model, where: Path, role: str | None = None,
              department: str | None = None) -> Inventory:
    """What `jiyue policy hosts --lab NAME [--role R] [--department D]` checks."""
    path = lab_inventory(model, lab_dir, where / "inventory.yml", department)
    return load_inventory(path, f"lab {lab_dir.name}").narrowed(role, department)


def test_inventory_of_a_lab(tmp_path, sample_city):
    lab_dir = _fake_lab(tmp_path, sample_city, ["culture"])
    inv = lab_hosts(lab_dir, sample_city, tmp_path)
    by = {h.name: h for h in inv.hosts}
    assert inv.source == "lab fake"
    assert {h.role for h in inv.hosts} == {"legacy", "target", "bastion"}  # never the egress or internet stub
    plan = LabPlan.load(lab_dir / "plan.json")
    address = {h.name: h.address for h in plan.hosts}
    # reached as the migration reaches them: the lab's key, host-key checking on, through the zone's bastion
    assert by["culture-service-1"].target == f"ssh://root@{address['culture-service-1']}"
    assert all(h.ssh_identity_file == str(lab_dir / "ssh" / "id_ed25519") for h in inv.hosts)
    assert all("StrictHostKeyChecking=yes" in h.ssh_extra_args for h in inv.hosts)
    assert all(("ProxyCommand" in h.ssh_extra_args) == (h.role != "bastion") for h in inv.hosts)
    # legacy hosts: the registry's own services; targets: what their system's legacy hosts ran
    assert by["culture-service-web1"].services == ("ssh", "nginx")
    assert by["culture-service-db1"].allowed_ports == {22, 5432}
    assert by["culture-service-1"].services == ("ssh", "nginx", "postgresql")
    assert by["culture-heritage-1"].allowed_ports == {22}
    assert by["culture-oldsite-1"].classification == "public" and by["culture-oldsite-1"].department == "culture"
    assert by["bastion-extranet"].services == ("ssh",) and by["bastion-extranet"].department == ""
    legacy = lab_hosts(lab_dir, sample_city, tmp_path, role="legacy", department="culture")
    assert {h.name for h in legacy.hosts} == {"culture-service-web1", "culture-service-db1",
                                              "culture-heritage-files1", "culture-oldsite-web1"}


def test_bad_lab_input_is_refused(tmp_path, sample_city):
    with pytest.raises(InventoryError, match="no lab 'nope'.*jiyue lab up --name nope"):
        lab_hosts(tmp_path / "nope", sample_city, tmp_path)
    (tmp_path / "half").mkdir()
    with pytest.raises(InventoryError, match="no plan.json"):
        lab_hosts(tmp_path / "half", sample_city, tmp_path)
    lab_dir = _fake_lab(tmp_path, sample_city, ["culture"])
    with pytest.raises(InventoryError, match="no department 'finance' in the lab; lab 'fake' holds culture"):
        lab_hosts(lab_dir, sample_city, tmp_path, department="finance")
    with pytest.raises(InventoryError, match="no department 'atlantis' in the city"):
        lab_hosts(lab_dir, sample_city, tmp_path, department="atlantis")
    with pytest.raises(InventoryError, match="bastions belong to no department"):
        lab_hosts(lab_dir, sample_city, tmp_path, role="bastion", department="culture")


def test_cli_refuses_bad_lab_input(cli, tmp_path):
    r = cli("policy", "hosts", "--lab", "no-such-lab-here")
    assert r.exit_code == 2 and "no lab 'no-such-lab-here'" in r.stderr
    r = cli("policy", "hosts", "--inventory", tmp_path / "x.yaml", "--lab", "jtest")
    assert r.exit_code == 2 and "one of them" in r.stderr
    r = cli("policy", "hosts")
    assert r.exit_code == 2
    r = cli("policy", "hosts", "--inventory", tmp_path / "x.yaml", "--role", "legacy")
    assert r.exit_code == 2 and "use them with --lab" in r.stderr


# ----------------------------------------------------------------- on the real lab (root, session lab)

#: what the golden image gives every lab host, before anyone hardens it: OpenSSH 9.2's defaults
#: under the lab's key-only drop-in, no logger, no auditd, no time daemon, an empty nftables ruleset
GOLDEN_FINDINGS = {
    "jiyue-host-sshd-max-auth-tries": "MaxAuthTries is 6 (at most 4)",
    "jiyue-host-sshd-strong-ciphers": "weak MACs: hmac-sha1, hmac-sha1-etm@openssh.com, umac-128@openssh.com, "
                                      "umac-64-etm@openssh.com, umac-64@openssh.com",
    "jiyue-host-logging": "no system logger runs (none of rsyslogd, syslog-ng, systemd-journal, "
                          "systemd-journald): install rsyslog",
    "jiyue-host-audit": "auditd does not run, and cannot here: the host runs on this machine's kernel from its "
                        "own PID namespace",
    "jiyue-host-firewall-default-deny": "no input firewall chain with a drop policy (nftables or iptables)",
}
PASSING = {"jiyue-host-sshd-no-root-password", "jiyue-host-sshd-no-password-auth", "jiyue-host-listening-ports"}
NOT_APPLICABLE = {"jiyue-host-time-sync", "jiyue-host-dr-copy-current"}  # the latter: not DR hosts

#: a target of culture-heritage: no other test uses it (the audit reads legacy hosts, the lab tests
#: take the first target of the pilot departments), so hardening it leaves the shared lab usable
HARDENED = "culture-heritage-1"

CIS_SSHD = """# CIS: at most 4 authentication attempts, strong crypto only (read before jiyue-lab.conf)
MaxAuthTries 4
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr
MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com
KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,\
diffie-hellman-group16-sha512,diffie-hellman-group18-sha512
"""


def _by_host(results):
    out: dict[str, dict[str, dict]] = {}
    for r in results:
        out.setdefault(r["host"].name, {})[r["rule"]] = r
    return out


def _nft_ruleset(ports) -> str:
    return ("#!/usr/sbin/nft -f\nflush ruleset\n\ntable inet filter {\n"
            "\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n"
            "\t\tct state established,related accept\n\t\tiif \"lo\" accept\n"
            f"\t\ttcp dport {{ {', '.join(map(str, sorted(ports)))} }} accept\n\t}}\n}}\n")


@pytest.mark.lab
def test_golden_image_findings_on_legacy_hosts(city_lab, tmp_path):
    inv = lab_hosts(city_lab.lab.dir, city_lab.model, tmp_path, role="legacy", department="culture")
    names = {h.name for h in inv.hosts}
    assert names == {"culture-service-web1", "culture-service-db1", "culture-heritage-files1", "culture-oldsite-web1"}
    t0 = time.perf_counter()
    report, results = run(inv)
    seconds = time.perf_counter() - t0
    by = _by_host(results)
    assert set(by) == names
    for host, rules in by.items():
        assert set(rules) == set(HOST_RULES), host
        outcome = {rule: r["outcome"] for rule, r in rules.items()}
        assert {r for r, o in outcome.items() if o == "failed"} == set(GOLDEN_FINDINGS), (host, rules)
        assert {r for r, o in outcome.items() if o == "passed"} == PASSING, (host, rules)
        assert {r for r, o in outcome.items() if o == "skipped"} == NOT_APPLICABLE, (host, rules)
        for rule, start in GOLDEN_FINDINGS.items():
            assert rules[rule]["message"].startswith(start), (host, rule, rules[rule]["message"])
        assert "no clock of its own" in rules["jiyue-host-time-sync"]["message"]
    # the findings carry the registry's metadata; the time-sync n/a is no finding
    assert len(report.findings) == len(names) * len(GOLDEN_FINDINGS) and len(report.blocking) == len(report.findings)
    assert {f.department for f in report.findings} == {"culture"} and {f.zone for f in report.findings} == {"extranet"}
    # the seeded db host listens on 5432 on loopback only: within its declared services
    db = city_lab.lab.ssh("culture-service-db1", "ss -Htln").stdout
    assert "127.0.0.1:5432" in db and "0.0.0.0:5432" not in db
    web = city_lab.lab.ssh("culture-service-web1", "ss -Htln").stdout
    assert "0.0.0.0:80" in web
    assert seconds < 60, f"{len(names)} hosts took {seconds:.1f}s"


@pytest.mark.lab
def test_hardening_a_host_makes_its_checks_pass(city_lab, tmp_path):
    lab = city_lab.lab
    inv = lab_hosts(city_lab.lab.dir, city_lab.model, tmp_path, role="target", department="culture")
    inv.hosts = [h for h in inv.hosts if h.name == HARDENED]
    spec = inv.hosts[0]
    assert spec.allowed_ports == {22}  # a files system: ssh (rsync over ssh) only
    before = _by_host(run(inv)[1])[HARDENED]
    assert {r for r, x in before.items() if x["outcome"] == "failed"} == set(GOLDEN_FINDINGS)

    # before: a closed port answers with a reset (refused at once)
    refused = _connect_from_bastion(lab, spec, 80)
    assert refused.returncode == 1 and "refused" in refused.stderr, refused

    # sshd: a CIS drop-in read before the lab's own (sshd keeps the first value), checked, then a
    # reload: sshd is the host's init (PID 1 of its PID namespace) and re-executes itself on SIGHUP
    lab.exec(HARDENED, ["sh", "-c", "cat > /etc/ssh/sshd_config.d/50-cis.conf"], input=CIS_SSHD)
    lab.exec(HARDENED, ["sshd", "-t"])
    init = lab.state.hosts[HARDENED]["init"]["pid"]
    lab.exec(HARDENED, ["sh", "-c", "kill -HUP 1"])
    # the firewall: default deny, the declared ports and established traffic (ssh stays open)
    lab.exec(HARDENED, ["sh", "-c", "cat > /etc/nftables.conf && nft -f /etc/nftables.conf"],
             input=_nft_ruleset(spec.allowed_ports))
    deadline = time.monotonic() + 20
    while lab.ssh(HARDENED, "sshd -T | grep -qx 'maxauthtries 4'", timeout=20).returncode != 0:
        assert time.monotonic() < deadline, "sshd did not come back with the CIS settings"
        time.sleep(0.3)
    assert Path(f"/proc/{init}/comm").read_text().strip() == "sshd"  # the host's init survived its reload

    t0 = time.perf_counter()
    after = _by_host(run(inv)[1])[HARDENED]
    seconds = time.perf_counter() - t0
    fixed = {"jiyue-host-sshd-max-auth-tries", "jiyue-host-sshd-strong-ciphers", "jiyue-host-firewall-default-deny"}
    for rule in fixed | PASSING:
        assert after[rule]["outcome"] == "passed", (rule, after[rule])
    # what hardening sshd and the firewall cannot fix stays failing, with the same clear message
    assert {r for r, x in after.items() if x["outcome"] == "failed"} == {"jiyue-host-logging", "jiyue-host-audit"}
    assert after["jiyue-host-audit"]["message"].startswith(GOLDEN_FINDINGS["jiyue-host-audit"])
    assert after["jiyue-host-time-sync"]["outcome"] == "skipped"
    assert seconds < 30
    # and the firewall really drops: the closed port no longer answers, ssh through the bastion still does
    dropped = _connect_from_bastion(lab, spec, 80)
    assert dropped.returncode == 124, dropped  # timed out: no reset any more
    assert _connect_from_bastion(lab, spec, 22).returncode == 0
    ruleset = lab.ssh(HARDENED, "nft list ruleset", timeout=20).stdout
    assert "policy drop;" in ruleset and "tcp dport 22 accept" in ruleset


def _connect_from_bastion(lab, spec, port: int):
    """A TCP connect from the zone's bastion to ``spec``'s address: 0 open, 1 refused, 124 no answer."""
    address = next(h.address for h in lab_plan_hosts(lab) if h.name == spec.name)
    return lab.ssh(f"bastion-{spec.zone}", f"timeout 3 bash -c '</dev/tcp/{address}/{port}'", timeout=30)


def lab_plan_hosts(lab):
    return LabPlan.load(lab.dir / "plan.json").hosts


def test_a_dr_copy_is_judged_by_the_newest_heartbeat_it_holds():
    """The copy's worst heartbeat against the RPO; a standby's own beats, a backup host's backups only."""
    now = 10_000.0
    standby = {"now": now, "files": now - 30, "database": now - 2}
    assert checks.dr_copy_problem(standby, 1, backup=False) is None
    late = checks.dr_copy_problem({**standby, "files": now - 120}, 1, backup=False)
    assert late and "(files) is 2.0 min behind" in late and "RPO of 1 min" in late
    assert "no copy of its primary" in checks.dr_copy_problem({"now": now}, 5, backup=False)
    # a backup host: only its snapshots count (a stray heartbeat file is not a backup)
    assert "no backup of its primary" in checks.dr_copy_problem({"now": now, "files": now}, 60, backup=True)
    assert checks.dr_copy_problem({"now": now, "backup archives-digital-1": now - 3000}, 60, backup=True) is None
    assert checks.dr_copy_problem({"now": now, "backup a-1": now - 30, "backup a-2": now - 4000}, 60,
                                  backup=True).startswith("its copy (backup a-2) is 66.7 min behind")
    # every primary of the system, not any one
    missing = checks.dr_copy_problem({"now": now, "backup a-1": now - 30}, 60, backup=True, primaries=("a-1", "a-2"))
    assert missing and missing.startswith("no backup of a-2"), missing


def test_a_dr_host_is_checked_against_its_systems_rpo(tmp_path, sample_city):
    """The lab's inventory gives each DR host its mode and RPO; a cold system's backup host declares
    ssh only (it serves nothing of the system) and is judged by its backups."""
    inv = lab_hosts(_fake_lab(tmp_path, sample_city, ["archives", "finance"]), sample_city, tmp_path, role="target")
    by = {h.name: h for h in inv.hosts}
    backup = by["archives-digital-backup"]
    assert (backup.dr_mode, backup.rpo_minutes, backup.dr_backup, backup.services) == ("cold", 1440, True, ("ssh",))
    assert backup.dr_primaries == ("archives-digital-1",)
    warm = by["finance-budget-dr-1"]
    assert (warm.dr_mode, warm.rpo_minutes, warm.dr_backup) == ("warm", 15, False)
    assert "nginx" in warm.services
    assert by["finance-budget-1"].dr_mode == "" and by["finance-budget-1"].rpo_minutes is None
