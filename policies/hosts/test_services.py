"""Logging and audit running, time synchronised."""

import pytest

from policies.hosts import checks


@pytest.fixture(scope="module")
def on_node_kernel(target):
    """Whether the host is a namespace host on this machine's kernel (see checks.shares_node_kernel)."""
    return checks.shares_node_kernel(checks.kernel_identity(target), checks.node_identity())


@pytest.mark.rule("jiyue-host-logging")
def test_logging_runs(spec, target):
    assert checks.running(target, checks.LOGGERS), (
        f"no system logger runs (none of {', '.join(checks.LOGGERS)}): install rsyslog "
        "(apt-get install rsyslog), start it and forward to the city's log platform")


@pytest.mark.rule("jiyue-host-audit")
def test_audit_runs(spec, target, on_node_kernel):
    if checks.running(target, checks.AUDITORS):
        return
    if on_node_kernel:
        pytest.fail("auditd does not run, and cannot here: the host runs on this machine's kernel from its own "
                    "PID namespace, where the kernel refuses an audit daemon; the audit trail is the node's: "
                    "run auditd on the node with rules for this host's processes, or waive this rule "
                    "for the lab (approver, expiry)")
    pytest.fail("auditd does not run: install auditd (apt-get install auditd), enable it at boot and load "
                "the city's audit rules")


@pytest.mark.rule("jiyue-host-time-sync")
def test_time_synchronised(spec, target, on_node_kernel):
    """A time daemon runs; not applicable to a host with no clock of its own.

    CIS (time synchronisation): "if access to a physical host's clock is available and configured
    according to site policy, this section can be skipped". A namespace host shares its node's
    kernel clock outright, so the control is judged on the node; a daemon started in the host
    would discipline the node's clock (never start chronyd or ntpd in a lab host).
    """
    if checks.running(target, checks.TIME_DAEMONS):
        return
    if on_node_kernel:
        pytest.skip("no clock of its own: the host runs on this machine's kernel and shares its "
                    "clock, so time sync is judged on the node (check it with target local://); never start "
                    "a time daemon in the host, it would set the node's clock")
    pytest.fail(f"no time daemon runs (none of {', '.join(checks.TIME_DAEMONS)}): install chrony and point it at "
                "the zone's NTP servers")
