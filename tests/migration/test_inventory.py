"""The derived inventory and the per-department slice each step runs with (no lab needed:
the lab's plan gives the same stack outputs the lab writes; Ansible itself reads the files)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.outputs import city_targets
from jiyue.ipam import plan as ip_plan
from jiyue.registry import DEFAULT_CITY, load_city
from lab.topology import plan_lab
from migration.inventory import Connection, build_inventory, department_inventory, write_inventory

DEPARTMENTS = ["audit", "finance", "archives"]


def ansible_inventory(path: Path) -> dict:
    tool = Path(sys.executable).parent / "ansible-inventory"
    proc = subprocess.run([str(tool), "-i", str(path), "--list"], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def test_department_slice_keeps_its_hosts_the_bastions_and_the_jump(tmp_path):
    model = load_city(DEFAULT_CITY)
    ip = ip_plan(model)
    plan = plan_lab(model, ip, DEPARTMENTS, city_targets(model, ip))
    conn = Connection(bastions={"intranet": "192.0.2.1", "extranet": "192.0.2.9"},
                      private_key=tmp_path / "id", known_hosts=tmp_path / "known_hosts")
    wave = build_inventory(model, ip, plan.outputs, conn, departments=DEPARTMENTS)
    whole = ansible_inventory(write_inventory(wave, tmp_path / "wave.yml"))["_meta"]["hostvars"]
    part = ansible_inventory(write_inventory(department_inventory(wave, "finance"), tmp_path / "finance.yml"))
    hostvars = part["_meta"]["hostvars"]

    expected = {h for h, v in whole.items() if v.get("jiyue_department") == "finance"}
    assert {v["jiyue_role"] for h, v in whole.items() if h in expected} == {"legacy", "target"}
    assert set(hostvars) == expected | {"bastion-intranet", "bastion-extranet"}
    assert len(hostvars) < len(whole)
    # every host Ansible sees in the slice is exactly what it sees in the wave: the jump through
    # the zone's bastion (a group variable), the key, the socket directory
    for host in hostvars:
        assert hostvars[host] == whole[host], host
    assert any("ProxyCommand" in v.get("ansible_ssh_common_args", "") for v in hostvars.values())
    assert set(part["dept_finance"]["hosts"]) == expected
    assert "dept_audit" not in part or not part["dept_audit"].get("hosts")


def test_bytes_copied_are_read_from_rsyncs_own_stats(tmp_path):
    """The runner counts the file data replicate copied from rsync's --stats (the figure the
    progress bars and step records show): real rsync, twice, the second time nothing to copy."""
    from migration.runner import rsync_bytes

    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed (make setup installs it)")
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "sub").mkdir(parents=True)
    sizes = [1000, 250_000, 3_000_000]
    for i, n in enumerate(sizes):
        (src / "sub" / f"f{i}").write_bytes(bytes(n))

    def sync() -> dict:
        proc = subprocess.run(["rsync", "-a", "--stats", f"{src}/", f"{dst}/"], capture_output=True, text=True,
                              check=True)
        return {"stdout": proc.stdout}

    assert rsync_bytes(sync()) == sum(sizes)
    assert rsync_bytes(sync()) == 0
    assert rsync_bytes({"stdout": "no stats here"}) == 0
