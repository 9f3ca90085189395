"""The session lab's hosts: real sshd, real ssh with host-key checking, services, routing,
and the safety rules in the machine's own namespace."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
from pathlib import Path

import pytest

from lab import Lab

pytestmark = pytest.mark.lab

HOSTS = ("bastion", "web", "db")


def test_every_host_runs_sshd_as_its_init(session_lab: Lab) -> None:
    status = session_lab.status()
    assert {h.name for h in status.hosts} == set(HOSTS)
    assert all(h.running for h in status.hosts)
    for host in HOSTS:
        out = session_lab.exec(host, ["ps", "-o", "comm=", "-p", "1"]).stdout.strip()
        assert out == "sshd"


def test_ssh_reaches_each_host_through_the_bastion_with_host_keys_checked(
    session_lab: Lab,
) -> None:
    config = session_lab.ssh_config.read_text()
    assert "StrictHostKeyChecking yes" in config
    assert "ProxyJump bastion" in config
    for host in HOSTS:
        result = subprocess.run(
            ["ssh", "-F", str(session_lab.ssh_config), host, "hostname; id -un"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [host, "root"]


def test_a_wrong_host_key_is_refused(session_lab: Lab, tmp_path: Path) -> None:
    # known_hosts holding another host's key under the bastion's name: ssh must refuse.
    lines = session_lab.known_hosts.read_text().splitlines()
    web_key = next(line.split(" ", 1)[1] for line in lines if line.startswith("web,"))
    fake = tmp_path / "known_hosts"
    fake.write_text(f"bastion {web_key}\n")
    result = subprocess.run(
        ["ssh", "-F", str(session_lab.ssh_config), "-o", f"UserKnownHostsFile={fake}", "bastion", "true"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 255
    assert "host key" in result.stderr.lower() or "identification" in result.stderr.lower()


def test_password_login_is_off(session_lab: Lab) -> None:
    out = session_lab.ssh(
        "bastion", "sshd -T 2>/dev/null | grep -iE '^(passwordauthentication|permitrootlogin|kbdinteractive)'"
    ).stdout
    settings = dict(line.split() for line in out.splitlines())
    assert settings == {
        "passwordauthentication": "no",
        "permitrootlogin": "without-password",
        "kbdinteractiveauthentication": "no",
    }


def test_each_host_has_its_own_host_key(session_lab: Lab) -> None:
    keys = [line.split()[-1] for line in session_lab.known_hosts.read_text().splitlines()]
    assert len(keys) == len(HOSTS) == len(set(keys))
    image = Path(session_lab.state.meta["image"])
    assert not list((image / "etc/ssh").glob("ssh_host_*"))


def test_nginx_starts_with_the_service_helper_and_serves_across_the_router(
    session_lab: Lab,
) -> None:
    assert session_lab.ssh("web", "jiyue-service status nginx").returncode == 3
    start = session_lab.ssh("web", "jiyue-service start nginx")
    assert start.returncode == 0, start.stderr
    assert session_lab.ssh("web", "jiyue-service status nginx").returncode == 0
    code = session_lab.ssh("db", "curl -s -m 5 -o /dev/null -w '%{http_code}' http://10.98.1.10/")
    assert code.stdout == "200"
    assert session_lab.ssh("web", "jiyue-service stop nginx").returncode == 0
    assert session_lab.ssh("web", "jiyue-service status nginx").returncode == 3


def test_postgresql_starts_and_answers_queries(session_lab: Lab) -> None:
    start = session_lab.ssh("db", "jiyue-service start postgresql")
    assert start.returncode == 0, start.stdout + start.stderr
    query = session_lab.ssh(
        "db",
        "cd / && su postgres -c \"psql -tAc 'create table t(x int); "
        "insert into t values (41),(1); select sum(x) from t'\"",
    )
    assert query.stdout.split()[-1] == "42", query.stderr
    assert session_lab.ssh("db", "jiyue-service status postgresql").returncode == 0


def test_enabled_services_are_recorded_like_sysv(session_lab: Lab) -> None:
    assert session_lab.ssh("db", "jiyue-service is-enabled cron").returncode == 1
    assert session_lab.ssh("db", "jiyue-service enable cron").returncode == 0
    assert session_lab.ssh("db", "ls /etc/rc2.d/S*cron").returncode == 0
    assert session_lab.ssh("db", "jiyue-service is-enabled cron").returncode == 0
    assert session_lab.ssh("db", "jiyue-service disable cron").returncode == 0


def test_idle_host_runs_nothing_but_sshd(session_lab: Lab) -> None:
    procs = session_lab.exec("bastion", ["ps", "-e", "-o", "comm="]).stdout.split()
    assert set(procs) <= {"sshd", "ps"}


def test_machine_namespace_holds_unreachable_routes_for_the_lab_ranges(
    session_lab: Lab, session_ranges: tuple[str, ...]
) -> None:
    routes = json.loads(
        subprocess.run(
            ["ip", "-j", "route", "show", "type", "unreachable"], capture_output=True, text=True, check=True
        ).stdout
    )
    dsts = {r["dst"] for r in routes}
    assert set(session_ranges) <= dsts
    # An address of the lab that is not behind a lab link fails right here.
    with socket.socket() as s:
        s.settimeout(3)
        with pytest.raises(OSError) as err:
            s.connect(("10.98.1.10", 22))  # web: only reachable through the bastion
        assert err.value.errno in (113, 101)  # EHOSTUNREACH / ENETUNREACH
    get = subprocess.run(["ip", "route", "get", "192.168.98.7"], capture_output=True, text=True)
    assert get.returncode != 0 or "unreachable" in get.stdout


def test_default_route_and_machine_interfaces_untouched(session_lab: Lab) -> None:
    routes = json.loads(subprocess.run(["ip", "-j", "route"], capture_output=True, text=True, check=True).stdout)
    defaults = [r for r in routes if r["dst"] == "default"]
    assert all(not r.get("dev", "").startswith("j") for r in defaults)
    lab_links = session_lab.status().root_links
    assert lab_links == ["jpytest-ctl"]
    fwd = Path("/proc/sys/net/ipv4/conf/jpytest-ctl/forwarding").read_text().strip()
    assert fwd == "0"


def test_no_lab_host_reaches_the_machines_network(session_lab: Lab) -> None:
    for host in HOSTS:
        routes = session_lab.exec(host, ["ip", "-j", "route"]).stdout
        for r in json.loads(routes):
            if r["dst"] != "default":
                net = ipaddress.ip_network(r["dst"])
                assert not net.overlaps(ipaddress.ip_network("192.0.2.0/24"))
    # The router has no path to the machine's network; the bastion reaches only its link.
    ping = session_lab.ssh("web", "ping -c1 -W1 192.0.2.1")
    assert ping.returncode != 0


def test_host_mounts_are_invisible_in_the_machine_namespace(session_lab: Lab) -> None:
    mounts = Path("/proc/1/mountinfo").read_text()
    assert str(session_lab.dir) not in mounts
    inside = session_lab.ssh("web", "cat /proc/self/mountinfo").stdout
    assert "overlay" in inside and "/mnt" not in inside


def test_nftables_in_a_router_namespace_filters_forwarded_traffic(session_lab: Lab) -> None:
    probe = "nc -z -w 2 10.98.1.10 22"
    assert session_lab.ssh("db", probe).returncode == 0
    session_lab.nft(
        "r1",
        "table inet jl_test {\n"
        "  chain forward { type filter hook forward priority 0; policy accept;\n"
        "    ip daddr 10.98.1.10 tcp dport 22 drop\n  }\n}\n",
    )
    try:
        assert session_lab.ssh("db", probe).returncode != 0
    finally:
        session_lab.nft("r1", "delete table inet jl_test\n")
    assert session_lab.ssh("db", probe).returncode == 0


def test_status_reports_labels_and_addresses(session_lab: Lab) -> None:
    hosts = {h.name: h for h in session_lab.status().hosts}
    assert hosts["web"].address == "10.98.1.10"
    assert hosts["web"].jump == "bastion"
    assert hosts["bastion"].labels == {"role": "bastion"}
