"""T4.3 functional verification of one system: every target host against what its sources held."""

from __future__ import annotations

from typing import Any

import pytest

from migration import probes
from migration.suite.conftest import EXP, TARGETS


def test_every_source_is_held() -> None:
    """Several sources onto one target: the trees combine as the registry says, and nothing of
    any source is left out (the sources as they are now, frozen)."""
    assert not EXP["problems"], "; ".join(EXP["problems"])


@pytest.mark.parametrize(("target", "service"), [(t, s) for t, e in TARGETS.items() for s in e["services"]])
def test_service_running_and_enabled(host: Any, target: str, service: str) -> None:
    svc = host(target).service(service)
    assert svc.is_running, f"{service} is not running on {target}"
    # a drill's copy runs in a sandbox: whether the DR host starts the service at boot is its mode's
    if EXP.get("services_enabled", True):
        assert svc.is_enabled, f"{service} is not enabled on {target}"


@pytest.mark.parametrize(("target", "port"), [(t, p) for t, e in TARGETS.items() for p in e["ports"]])
def test_port_listening(host: Any, target: str, port: int) -> None:
    # on whatever address the source listened (PostgreSQL on loopback only, nginx on all)
    listening = host(target).socket.get_listening_sockets()
    assert any(s.rsplit(":", 1)[-1] == str(port) for s in listening), f"nothing listens on {target}:{port}"


@pytest.mark.parametrize("target", [t for t, e in TARGETS.items() if e["http_answers"]])
def test_web_answers_equal_the_source(host: Any, target: str) -> None:
    # several web sources onto one target: it answers as one of them (the one whose tree it holds)
    got = probes.run(host(target), probes.HTTP, TARGETS[target]["http_requests"])
    assert got in TARGETS[target]["http_answers"], "the target answers differently from every source"


@pytest.mark.parametrize(("target", "database"), [(t, d) for t, e in TARGETS.items() for d in e["databases"]])
def test_database_equals_the_frozen_source(host: Any, target: str, database: str) -> None:
    expected = TARGETS[target]["databases"][database]
    got = probes.run(host(target), probes.DATABASES, [database])[database]
    assert got is not None, f"database {database} is missing on {target}"
    assert {t: v[0] for t, v in got.items()} == {t: v[0] for t, v in expected.items()}, "row counts differ"
    assert got == expected, "table checksums differ"


@pytest.mark.parametrize(("target", "account"), [(t, a) for t, e in TARGETS.items() for a in e.get("accounts", [])],
                         ids=lambda x: x["name"] if isinstance(x, dict) else x)
def test_account_as_on_the_source(host: Any, target: str, account: dict[str, Any]) -> None:
    """The accounts that own the data or run the jobs: same name, ids, groups and shell."""
    user = host(target).user(account["name"])
    assert user.exists, f"no account {account['name']} on {target}"
    assert (user.uid, user.gid, user.group) == (account["uid"], account["gid"], account["group"])
    assert set(account["groups"]) <= set(user.groups), f"{account['name']} lacks groups on {target}"
    assert user.shell == account["shell"]


@pytest.mark.parametrize(("target", "entry"), [(t, c) for t, e in TARGETS.items() for c in e.get("cron", {})])
def test_cron_entry_as_on_the_source(host: Any, target: str, entry: str) -> None:
    """The system's scheduled jobs: kept on the target at the test cutover, scheduled there (and
    no longer on the frozen source) after the cutover."""
    name = entry.rsplit("/", 1)[-1]
    where = entry if EXP.get("step") == "verify" else f"/var/lib/jiyue/jobs/{EXP['system']}/cron.d/{name}"
    got = host(target).file(where)
    assert got.exists, f"{where} is missing on {target}"
    assert got.content_string == TARGETS[target]["cron"][entry], f"{where} differs from the source's {entry}"


@pytest.mark.parametrize(("target", "path"), [(t, p) for t, e in TARGETS.items() for p in e.get("tls", {})])
def test_tls_file_as_on_the_source(host: Any, target: str, path: str) -> None:
    """The certificates and keys the sites use: the same bytes, a key no more readable than there."""
    got = host(target).file(path)
    assert got.exists, f"{path} is missing on {target}"
    assert got.sha256sum == TARGETS[target]["tls"][path]["sha256"], f"{path} differs from the source's"
    assert oct(got.mode) == TARGETS[target]["tls"][path]["mode"], f"{path}: mode {oct(got.mode)} on {target}"


@pytest.mark.parametrize(("target", "path"), [(t, p) for t, e in TARGETS.items() for p in e["files"]])
def test_files_manifest_equal(host: Any, target: str, path: str) -> None:
    expected = TARGETS[target]["files"][path]
    if expected is None:
        pytest.fail(f"no source tree to compare {target}:{path} with (see test_every_source_is_held)")
    got = probes.run(host(target), probes.FILES, [path])[path]
    assert got is not None, f"{path} is missing on {target}"
    # at the test cutover the sources still serve: what they wrote since its sync is compared later
    for rel in EXP.get("written_since_sync", {}).get(target, {}).get(path, []):
        expected.pop(rel, None)
        got.pop(rel, None)
    # after the cutover the target serves: what it wrote itself since then is its own
    since = EXP.get("target_writes_since")
    for rel in [r for r, entry in got.items() if since and entry[4] >= since - 2]:
        expected.pop(rel, None)
        got.pop(rel, None)
    missing = sorted(set(expected) - set(got))[:5]
    extra = sorted(set(got) - set(expected))[:5]
    differ = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])[:5]
    assert not (missing or extra or differ), f"missing {missing}, extra {extra}, different {differ}"
