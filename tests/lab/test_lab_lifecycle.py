"""Lab lifecycle: teardown removes exactly what was created, after a crash too; two labs
coexist; a quick scale smoke."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from lab import HostSpec, Lab, LabError
from lab import lab as labmod
from lab.host import ProcId, pids_in_netns

pytestmark = pytest.mark.lab


def _netns_with(prefix: str) -> list[str]:
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True).stdout
    return [n["name"] for n in json.loads(out or "[]") if n["name"].startswith(prefix)]


def _root_routes() -> list[dict[str, object]]:
    out = subprocess.run(
        ["ip", "-j", "route", "show", "table", "main"], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def _assert_gone(lab: Lab, procs: list[ProcId], root_if: str | None = None) -> None:
    assert _netns_with(lab.netns_prefix) == []
    assert not any(p.alive() for p in procs)
    assert str(lab.dir) not in Path("/proc/1/mountinfo").read_text()
    assert not lab.dir.exists()
    if root_if:
        assert not Path("/sys/class/net", root_if).exists()
    status = lab.status()
    assert status.hosts == [] and status.namespaces == [] and not status.exists


def _procs(lab: Lab) -> list[ProcId]:
    found = []
    for host in lab.state.hosts.values():
        for pid in pids_in_netns(host["netns"]):
            proc = ProcId.of(pid)
            if proc:
                found.append(proc)
    return found


def test_down_removes_everything_and_is_idempotent() -> None:
    lab = Lab("pyt-down")
    lab.down()
    lab.up_hosts([HostSpec("a"), HostSpec("b")])
    lab.add_router("r")
    lab.add_link("a", "eth0", "r", "a", "10.97.1.10/24", "10.97.1.1/24")
    lab.add_link("b", "eth0", "r", "b", "10.97.2.10/24", "10.97.2.1/24")
    lab.protect(["10.97.0.0/16"])
    root_if = lab.add_root_link("r", "up", "ctl", "10.97.255.1/30", "10.97.255.2/30")
    lab.add_route(labmod.ROOT, "10.97.1.0/24", via="10.97.255.2")
    lab.service("a", "start", "nginx")
    deadline = time.monotonic() + 10  # nginx forks its workers after the master is up
    while len(procs := _procs(lab)) < 6 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(procs) >= 6  # unshare + sshd per host, nginx master and workers on a
    dsts = {r["dst"] for r in _root_routes()}
    assert {"10.97.0.0/16", "10.97.1.0/24"} <= dsts

    lab.down()
    _assert_gone(lab, procs, root_if)
    dsts = {r["dst"] for r in _root_routes()}
    assert not {"10.97.0.0/16", "10.97.1.0/24", "10.97.255.0/30"} & dsts
    lab.down()  # idempotent
    Lab("pyt-down").down()


def test_down_after_a_crash_mid_up(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = Lab("pyt-crash")
    lab.down()
    lab.up_hosts([HostSpec("a")])
    # A process in the lab's namespace that no state entry names (as if the crash hit
    # between its start and the state write): down still finds it by namespace.
    stray = subprocess.Popen(["ip", "netns", "exec", lab.netns_name("a"), "sleep", "300"])
    time.sleep(0.2)
    stray_id = ProcId.of(stray.pid)
    assert stray_id is not None

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(labmod.hostmod, "spawn", crash)
    with pytest.raises(KeyboardInterrupt):
        lab.up_hosts([HostSpec("b")])
    monkeypatch.undo()
    # The crash left netns "b" created and its process "intended" in the state file.
    assert lab.netns_name("b") in _netns_with(lab.netns_prefix)
    assert any("process" in x for x in Lab("pyt-crash").status().leftovers)

    fresh = Lab("pyt-crash")  # a new process knows only the state file
    procs = _procs(fresh) + [stray_id]
    fresh.down()
    stray.wait(timeout=5)
    _assert_gone(fresh, procs)


def test_two_labs_coexist_with_the_same_ranges() -> None:
    one, two = Lab("pyt-one"), Lab("pyt-two")
    for lab in (one, two):
        lab.down()
        lab.up_hosts([HostSpec("h")])
        lab.protect(["10.96.0.0/16"])
    unreachable = [r for r in _root_routes() if r["dst"] == "10.96.0.0/16"]
    assert len(unreachable) == 2
    assert one.netns_name("h") != two.netns_name("h")
    procs_one = _procs(one)
    one.down()
    _assert_gone(one, procs_one)
    assert two.status().hosts[0].running
    assert [r for r in _root_routes() if r["dst"] == "10.96.0.0/16"]
    assert two.ssh_config.exists()
    two.down()
    assert not [r for r in _root_routes() if r["dst"] == "10.96.0.0/16"]


def test_safety_rules_refuse_touching_the_machines_network() -> None:
    lab = Lab("pyt-safe")
    lab.down()
    try:
        lab.up_hosts([HostSpec("h")])
        with pytest.raises(LabError, match="default route"):
            lab.add_unreachable("0.0.0.0/0")
        with pytest.raises(LabError, match="machine itself"):
            lab.add_unreachable("192.0.2.0/25")
        with pytest.raises(LabError, match="machine itself"):
            lab.add_root_link("h", "x", "eth1", "192.0.2.77/24", "192.0.2.78/24")
        with pytest.raises(LabError, match="protected lab range"):
            lab.add_route(labmod.ROOT, "10.95.0.0/24", via="10.95.255.2")
        lab.protect(["10.95.0.0/16"])
        with pytest.raises(LabError, match="links"):
            lab.add_route(labmod.ROOT, "10.95.0.0/24", via="192.0.2.1")
        with pytest.raises(LabError, match="default route"):
            lab.add_route(labmod.ROOT, "0.0.0.0/0", via="10.95.255.2")
    finally:
        lab.down()


@pytest.mark.slow
def test_twenty_hosts_up_and_down_quickly_and_lean() -> None:
    lab = Lab("pyt-scale")
    lab.down()
    started = time.monotonic()
    lab.up_hosts([HostSpec(f"h{i:02d}") for i in range(20)])
    up = time.monotonic() - started
    procs = _procs(lab)
    pss = 0
    for p in procs:
        for line in Path(f"/proc/{p.pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss += int(line.split()[1])
    started = time.monotonic()
    lab.down()
    down = time.monotonic() - started
    _assert_gone(lab, procs)
    print(f"20 hosts: up {up:.1f} s, down {down:.1f} s, PSS/host {pss / 20 / 1024:.1f} MiB")
    assert up < 60 and down < 30
    assert pss / 20 < 16 * 1024  # KiB: sshd alone at idle
    assert len(procs) == 40  # unshare + sshd per host, nothing else


def test_root_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="need root"):
        Lab("pyt-nonroot").up_hosts([HostSpec("h")])
