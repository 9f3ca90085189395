"""Host checks: the judging functions on canned outputs, and one run against this machine (local://).

Against the rehearsal lab's hosts (issue 5), ``test_lab_hosts_pass`` runs once the lab writes an
inventory; it is marked ``lab`` and skipped until then.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from policies.hosts import checks, run
from policies.hosts.inventory import InventoryError, load_inventory
from policies.hosts.rules import HOST_RULES

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
    p = tmp_path / "inv.yaml"
    p.write_text("hosts:\n  - name: a\n    target: local://\n    services: [ssh, mysql]\n", encoding="utf-8")
    with pytest.raises(InventoryError, match="unknown service"):
        load_inventory(p)


def test_every_check_runs_against_this_machine(tmp_path):
    p = tmp_path / "inv.yaml"
    p.write_text("hosts:\n  - name: controller\n    target: local://\n    department: finance\n"
                 "    services: [ssh]\n", encoding="utf-8")
    report, results = run(p)
    assert {r["rule"] for r in results} == set(HOST_RULES)
    assert all(r["outcome"] in ("passed", "failed") for r in results)
    failed = {r["rule"] for r in results if r["outcome"] != "passed"}
    assert {f.rule for f in report.findings} == failed
    assert all(f.department == "finance" and f.message for f in report.findings)


@pytest.mark.lab
def test_lab_hosts_pass():
    inv = os.environ.get("JIYUE_LAB_INVENTORY")
    if not inv or not Path(inv).is_file():
        pytest.skip("no lab host inventory yet (set JIYUE_LAB_INVENTORY to the lab's inventory file)")
    report, _ = run(Path(inv))
    assert not report.blocking, [f"{f.stack}: {f.rule}: {f.message}" for f in report.findings]
