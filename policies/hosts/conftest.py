"""testinfra wiring: every test runs once per host of the inventory.

``policies.hosts.runner.run`` hands its inventory (an Ansible inventory file's, see
``inventory.py``) to pytest through its plugin; run by hand (``pytest policies/hosts``), the
inventory is the Ansible inventory file named by $JIYUE_HOSTS_INVENTORY.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from testinfra.host import Host

from policies.hosts.inventory import HostSpec, load_inventory
from policies.hosts.runner import HostSession

_SESSION = pytest.StashKey[HostSession]()


def _session(config: pytest.Config) -> HostSession:
    if _SESSION not in config.stash:
        for plugin in config.pluginmanager.get_plugins():
            found = getattr(plugin, "jiyue_hosts_session", None)
            if isinstance(found, HostSession):
                config.stash[_SESSION] = found
                break
        else:
            path = os.environ.get("JIYUE_HOSTS_INVENTORY")
            if not path:
                raise pytest.UsageError("set JIYUE_HOSTS_INVENTORY (jiyue policy hosts --inventory FILE does it "
                                        "for you)")
            config.stash[_SESSION] = HostSession(load_inventory(Path(path)))
            config.add_cleanup(config.stash[_SESSION].close)
    return config.stash[_SESSION]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rule(name): the jiyue host rule a test implements")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "spec" in metafunc.fixturenames:
        hosts = _session(metafunc.config).inventory.hosts
        metafunc.parametrize("spec", hosts, ids=[h.name for h in hosts], scope="module")


@pytest.fixture(scope="module")
def target(spec: HostSpec, request: pytest.FixtureRequest) -> Host:
    """The testinfra host of ``spec`` (one connection per host, reused by every check)."""
    host = _session(request.config).host(spec)
    try:
        r = host.run("true")
    except RuntimeError as exc:  # testinfra raises on ssh's own failures (exit 255)
        result = exc.args[0] if exc.args else None
        why = (getattr(result, "stderr", "") or str(exc)).strip().splitlines()
        pytest.fail(f"cannot reach {spec.name} ({spec.target}): {why[-1] if why else 'ssh failed'}")
    if r.rc != 0:
        pytest.fail(f"cannot run a command on {spec.name} ({spec.target}): {r.stderr.strip()}")
    return host
