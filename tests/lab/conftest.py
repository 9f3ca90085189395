"""Fixtures of the lab engine's tests: one small lab per test session (name "pytest").

Topology of the session lab (addresses inside 10.98.0.0/16, protected by an unreachable route
in the machine's namespace):

    machine ── jpytest-ctl ──(10.98.255.0/30)── bastion ──(10.98.0.0/24)── r1 (router)
                                                              web ──(10.98.1.0/24)──┤
                                                              db  ──(10.98.2.0/24)──┘
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from lab import HostSpec, Lab
from lab.image import ImageRecipe

LAB_RANGE = "10.98.0.0/16"
LAB_RANGE_2 = "192.168.98.0/24"
SUBNETS = {"bastion": "10.98.0", "web": "10.98.1", "db": "10.98.2"}


def lab_skip_reason() -> str | None:
    """Why the lab's tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "the rehearsal lab needs root (network namespaces, overlay mounts, routes)"
    image_cached = (ImageRecipe().path() / "etc/jiyue/image.json").is_file()
    if not image_cached and shutil.which("debootstrap") is None:
        return "the lab's golden image is not built and debootstrap is missing (apt-get install -y debootstrap)"
    for tool in ("ip", "unshare", "nsenter", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"the lab needs {tool}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = lab_skip_reason()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("lab") is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


def build_session_lab(lab: Lab) -> None:
    lab.down()  # whatever an interrupted earlier run left
    lab.up_hosts([HostSpec("bastion", labels={"role": "bastion"}), HostSpec("web"), HostSpec("db")])
    lab.protect([LAB_RANGE, LAB_RANGE_2])
    lab.add_router("r1")
    for host, prefix in SUBNETS.items():
        lab.add_link(host, "eth0", "r1", host, f"{prefix}.10/24", f"{prefix}.1/24")
        lab.add_route(host, "default", via=f"{prefix}.1")
    lab.add_root_link("bastion", "ctl", "eth1", "10.98.255.1/30", "10.98.255.2/30")
    lab.set_ssh("bastion", "10.98.255.2")
    lab.set_ssh("web", "10.98.1.10", jump="bastion")
    lab.set_ssh("db", "10.98.2.10", jump="bastion")


@pytest.fixture(scope="session")
def session_lab() -> Iterator[Lab]:
    """The session's lab, up once, torn down at the end (also when a test fails)."""
    lab = Lab("pytest")
    try:
        build_session_lab(lab)
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="session")
def session_ranges() -> tuple[str, ...]:
    """The lab ranges the session lab protects in the machine's namespace."""
    return (LAB_RANGE, LAB_RANGE_2)
