"""No listening port beyond the declared services; the host firewall denies by default."""

import pytest

from policies.hosts import checks


@pytest.mark.rule("jiyue-host-listening-ports")
def test_only_declared_ports(spec, target):
    out = target.run("ss -Htlnu 2>/dev/null || ss -tlnu")
    assert out.rc == 0, f"cannot list sockets: {out.stderr.strip()}"
    extra = checks.undeclared_ports(checks.parse_listening(out.stdout), spec.allowed_ports)
    assert not extra, f"listening on undeclared port(s) {', '.join(map(str, extra))} " \
                      f"(declared: {', '.join(map(str, sorted(spec.allowed_ports)))})"


@pytest.mark.rule("jiyue-host-firewall-default-deny")
def test_firewall_default_deny(spec, target):
    nft = target.run("nft list ruleset 2>/dev/null")
    ipt = target.run("iptables -S INPUT 2>/dev/null")
    why = checks.default_deny(nft.stdout, ipt.stdout)
    assert why is None, why
