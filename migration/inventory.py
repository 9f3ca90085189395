"""The Ansible inventory, derived from the city model, the IP plan and the stack outputs.

Nothing here is typed twice: legacy hosts and their addresses come from the registry (reached at
their address in the department's legacy map, see docs/adr/0001-ip-plan.md), target hosts from
the stack outputs (``pulumi stack output --json`` per department stack, or the lab's
``outputs.json`` of the same shape), and the way in from a *connection profile*: per zone the
bastion everything jumps through, the key, and the known_hosts file. Host-key checking stays on.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from jiyue.ipam import IpPlan
from jiyue.registry import CityModel
from jiyue.registry.schema import System


@dataclass(frozen=True)
class Connection:
    """How the controller reaches the city: per zone its bastion's address, one key, one
    known_hosts file (production: a reviewed YAML file; the lab: derived from its directory)."""

    bastions: dict[str, str]  # zone -> address of the zone's bastion
    private_key: Path
    known_hosts: Path
    user: str = "root"

    @classmethod
    def from_lab(cls, lab_dir: Path) -> Connection:
        plan = json.loads((lab_dir / "plan.json").read_text())
        bastions = {h["zone"]: h["address"] for h in plan["hosts"]
                    if h["role"] == "bastion" and h["site"] == "primary"}
        return cls(bastions=bastions, private_key=lab_dir / "ssh" / "id_ed25519",
                   known_hosts=lab_dir / "ssh" / "known_hosts")

    @classmethod
    def from_file(cls, path: Path) -> Connection:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(bastions=dict(data["bastions"]), private_key=Path(data["private_key"]),
                   known_hosts=Path(data["known_hosts"]), user=data.get("user", "root"))

    def ssh_options(self) -> list[str]:
        return ["-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3"]

    def control_path_dir(self, run_id: str | None = None) -> str:
        """Where Ansible keeps this connection profile's ssh ControlMaster sockets. The socket's
        name (``%C``) hashes only user, address and port, and the same addresses exist behind
        other bastions (two labs of one city, a lab and production): a directory of its own per
        profile keeps a run from reusing another profile's connection, i.e. from running its
        tasks on another environment's host of the same address. With ``run_id``, the run's own
        directory below it: the run closes its connections when it ends, and never another's."""
        profile = json.dumps([str(self.private_key), str(self.known_hosts), self.user, sorted(self.bastions.items())])
        base = f"/tmp/.jiyue-cp/{hashlib.sha256(profile.encode()).hexdigest()[:12]}"
        # short: a unix socket's path has at most 107 bytes, and ssh adds a random suffix to %C
        return f"{base}/{hashlib.sha256(run_id.encode()).hexdigest()[:8]}" if run_id else base

    def proxy_args(self, zone: str) -> str:
        """ansible_ssh_common_args for hosts of ``zone``: through the zone's bastion."""
        inner = ["ssh", "-W", "%h:%p", "-q", "-i", str(self.private_key), *self.ssh_options(),
                 f"{self.user}@{self.bastions[zone]}"]
        return " ".join([*map(shlex.quote, self.ssh_options()), "-o",
                         shlex.quote(f"ProxyCommand={' '.join(inner)}")])


def group(name: str) -> str:
    """Ansible group names: letters, digits and underscores."""
    return name.replace("-", "_")


def read_outputs(path: Path) -> dict[str, dict[str, Any]]:
    """Stack outputs: ``{"stacks": {stack: outputs}}`` (the lab's file) or ``{stack: outputs}``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return data.get("stacks", data)


def _declared(system: System, services: Iterable[str]) -> dict[str, Any]:
    """What the host checks (policies/hosts) read of a host: its system's classification and the
    services it runs (the registry's names, each once)."""
    return {"jiyue_classification": system.classification.value,
            "jiyue_services": list(dict.fromkeys(str(x) for x in services))}


def build_inventory(model: CityModel, ip: IpPlan, outputs: dict[str, dict[str, Any]], conn: Connection,
                    departments: Iterable[str] | None = None, exclude: Iterable[str] = (),
                    run_id: str | None = None) -> dict[str, Any]:
    """The inventory as Ansible's YAML inventory structure (with ``run_id``, that run's: its
    own ssh control sockets)."""
    wanted = set(departments) if departments is not None else None
    skip = set(exclude)
    children: dict[str, dict[str, Any]] = {}

    def add(grp: str, host: str, hostvars: dict[str, Any] | None = None) -> None:
        g = children.setdefault(grp, {"hosts": {}})
        g["hosts"][host] = hostvars or {}

    hostvars: dict[str, dict[str, Any]] = {}
    for dep in model.departments.values():
        if wanted is not None and dep.id not in wanted:
            continue
        for s in dep.systems:
            for h in s.legacy_hosts:
                if h.name in skip:
                    continue
                hostvars[h.name] = {"ansible_host": ip.mapped_address(dep.id, h.lan, h.address),
                                    "jiyue_role": "legacy", "jiyue_system": s.id, "jiyue_department": dep.id,
                                    "jiyue_zone": s.zone.value, "jiyue_lan_address": h.address,
                                    **_declared(s, h.services)}
                for g in ("legacy", f"zone_{s.zone.value}", f"dept_{group(dep.id)}", f"sys_{group(s.id)}"):
                    add(g, h.name)
    for stack, out in outputs.items():
        dep_id = out.get("department")
        if dep_id is None or (wanted is not None and dep_id not in wanted):
            continue
        for sys_id, data in (out.get("systems") or {}).items():
            system = model.systems.get(sys_id)
            # once migrated a target runs what its system's legacy hosts ran
            declared = _declared(system, [x for lh in system.legacy_hosts for x in lh.services]) if system else {}
            dr = ({"jiyue_dr_mode": data["drMode"], "jiyue_rpo_minutes": system.dr.rpo_minutes}
                  if data.get("site") == "dr" and data.get("drMode") and system and system.dr else {})
            for h in data["hosts"]:
                if h.get("state") != "running" or h["name"] in skip:
                    continue
                mine = declared
                if h.get("role") == "backup":  # a cold system's backup host serves nothing of it
                    primaries = [p["name"] for o in outputs.values() if o.get("site") == "primary"
                                 for p in ((o.get("systems") or {}).get(sys_id) or {}).get("hosts", [])]
                    mine = {**declared, "jiyue_services": ["ssh"], "jiyue_dr_backup": True,
                            "jiyue_dr_primaries": primaries}
                hostvars[h["name"]] = {"ansible_host": h["address"], "jiyue_role": "target",
                                       "jiyue_system": sys_id, "jiyue_department": dep_id,
                                       "jiyue_zone": data["zone"], "jiyue_site": data["site"],
                                       "jiyue_stack": stack, **mine, **dr}
                for g in ("target", f"site_{data['site']}", f"zone_{data['zone']}", f"dept_{group(dep_id)}",
                          f"sys_{group(sys_id)}"):
                    add(g, h["name"])
    for zone, address in conn.bastions.items():
        name = f"bastion-{zone}"
        hostvars[name] = {"ansible_host": address, "jiyue_role": "bastion", "jiyue_zone": zone,
                          "jiyue_services": ["ssh"],
                          "ansible_ssh_common_args": " ".join(map(shlex.quote, conn.ssh_options()))}
        add("bastion", name)
    for zone in conn.bastions:
        children.setdefault(f"zone_{zone}", {"hosts": {}})["vars"] = {"ansible_ssh_common_args":
                                                                      conn.proxy_args(zone)}
    for g in children.values():
        for host in g["hosts"]:
            g["hosts"][host] = {}
    return {"all": {
        "vars": {"ansible_user": conn.user, "ansible_ssh_private_key_file": str(conn.private_key),
                 "ansible_python_interpreter": "/usr/bin/python3",
                 "ansible_control_path_dir": conn.control_path_dir(run_id)},
        "hosts": hostvars,
        "children": children,
    }}


def department_inventory(inventory: dict[str, Any], department: str) -> dict[str, Any]:
    """The part of a (wave's) inventory one department's steps need: its own legacy and target
    hosts and the bastions, with every group's variables. Each playbook run parses its whole
    inventory, so a run that reads only its department's costs the same in a wave of 200 hosts as
    in one of 20 (time per host stays flat)."""
    root = inventory["all"]
    hosts = {name: hv for name, hv in root["hosts"].items()
             if hv.get("jiyue_department") == department or hv.get("jiyue_role") == "bastion"}
    children = {}
    for name, grp in root["children"].items():
        members = {h: v for h, v in grp.get("hosts", {}).items() if h in hosts}
        if members or "vars" in grp:
            children[name] = {**grp, "hosts": members}
    return {"all": {**root, "hosts": hosts, "children": children}}


def write_inventory(inventory: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Derived by jiyue from the city model and the stack outputs; do not edit.\n"
                    + yaml.safe_dump(inventory, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
