"""sshd as CIS asks: no root password login, no password authentication, MaxAuthTries 4, strong crypto."""

import pytest

from policies.hosts import checks


@pytest.fixture(scope="module")
def sshd(target):
    s = checks.sshd_settings(target)
    if s is None:
        pytest.fail("sshd is not installed or its configuration cannot be read")
    return s


@pytest.mark.rule("jiyue-host-sshd-no-root-password")
def test_no_root_password_login(spec, sshd):
    why = checks.root_password_login(sshd)
    assert why is None, why


@pytest.mark.rule("jiyue-host-sshd-no-password-auth")
def test_no_password_auth(spec, sshd):
    why = checks.password_auth(sshd)
    assert why is None, why


@pytest.mark.rule("jiyue-host-sshd-max-auth-tries")
def test_max_auth_tries(spec, sshd):
    why = checks.max_auth_tries(sshd)
    assert why is None, why


@pytest.mark.rule("jiyue-host-sshd-strong-ciphers")
def test_strong_ciphers(spec, sshd):
    why = checks.weak_crypto(sshd)
    assert why is None, why
