"""Fixtures of the lab engine's tests: one small lab per test session (name "pytest").

Topology of the session lab (addresses inside 10.98.0.0/16, protected by an unreachable route
in the machine's namespace):

    machine ── jpytest-ctl ──(10.98.255.0/30)── bastion ──(10.98.0.0/24)── r1 (router)
                                                              web ──(10.98.1.0/24)──┤
                                                              db  ──(10.98.2.0/24)──┘
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab import HostSpec, Lab

LAB_RANGE = "10.98.0.0/16"
LAB_RANGE_2 = "192.168.98.0/24"
SUBNETS = {"bastion": "10.98.0", "web": "10.98.1", "db": "10.98.2"}


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
