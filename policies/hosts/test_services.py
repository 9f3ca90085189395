"""Logging and audit running, time synchronised."""

import pytest

from policies.hosts import checks


@pytest.mark.rule("jiyue-host-logging")
def test_logging_runs(spec, target):
    assert checks.running(target, checks.LOGGERS), f"none of {', '.join(checks.LOGGERS)} runs"


@pytest.mark.rule("jiyue-host-audit")
def test_audit_runs(spec, target):
    assert checks.running(target, checks.AUDITORS), "auditd does not run"


@pytest.mark.rule("jiyue-host-time-sync")
def test_time_synchronised(spec, target):
    assert checks.running(target, checks.TIME_DAEMONS), f"none of {', '.join(checks.TIME_DAEMONS)} runs"
