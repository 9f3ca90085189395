"""testinfra wiring: every test runs once per host of the inventory in $JIYUE_HOSTS_INVENTORY."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import testinfra

from policies.hosts.inventory import HostSpec, load_inventory

_INVENTORY = None


def _inventory():
    global _INVENTORY
    if _INVENTORY is None:
        path = os.environ.get("JIYUE_HOSTS_INVENTORY")
        if not path:
            raise pytest.UsageError("set JIYUE_HOSTS_INVENTORY (jiyue policy hosts --inventory FILE does)")
        _INVENTORY = load_inventory(Path(path))
    return _INVENTORY


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rule(name): the jiyue host rule a test implements")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "spec" in metafunc.fixturenames:
        hosts = _inventory().hosts
        metafunc.parametrize("spec", hosts, ids=[h.name for h in hosts], scope="module")


_HOSTS: dict[str, Any] = {}


@pytest.fixture(scope="module")
def target(spec: HostSpec) -> Any:
    """The testinfra host of ``spec`` (one connection per host, reused by every check)."""
    inv = _inventory()
    if spec.name not in _HOSTS:
        kwargs: dict[str, Any] = {}
        if spec.target.startswith(("ssh://", "paramiko://")):
            if inv.ssh_config:
                kwargs["ssh_config"] = inv.ssh_config
            if inv.ssh_identity_file:
                kwargs["ssh_identity_file"] = inv.ssh_identity_file
        _HOSTS[spec.name] = testinfra.get_host(spec.target, **kwargs)
    return _HOSTS[spec.name]
