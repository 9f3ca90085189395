"""testinfra wiring of the verification suite: the expectations and one host per target."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import testinfra

ENV = "JIYUE_EXPECTATIONS"
SOCKETS = "JIYUE_SSH_SOCKETS"  # migration.verify.SOCKETS: the suite's own ssh masters


def expectations() -> dict[str, Any]:
    path = os.environ.get(ENV)
    if not path:
        raise pytest.UsageError(f"set {ENV} to a system's expectations.json (jiyue migrate verify does it for you)")
    return json.loads(Path(path).read_text(encoding="utf-8"))


EXP = expectations() if os.environ.get(ENV) else {"targets": {}, "inventory": ""}
TARGETS: dict[str, dict[str, Any]] = EXP["targets"]


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get(ENV):
        expectations()  # says what to set


@pytest.fixture(scope="session")
def hosts() -> dict[str, Any]:
    return {}


@pytest.fixture
def host(hosts: dict[str, Any]) -> Any:
    """``host(name)``: the testinfra host of a target, through the run's inventory."""
    def get(name: str) -> Any:
        if name not in hosts:
            hosts[name] = testinfra.get_host(f"ansible://{name}", ansible_inventory=EXP["inventory"])
            sockets = os.environ.get(SOCKETS)
            inner = hosts[name].backend.ansible_runner.get_host(name) if sockets else None
            if inner is not None and hasattr(inner.backend, "controlpath"):
                # testinfra multiplexes its ssh commands only given a ControlPath
                inner.backend.controlpath = f"{sockets}/%%C"  # the backend %-formats its command line
        return hosts[name]

    return get
