"""The hosts to check: an Ansible inventory (the migration's, ``migration/inventory.py``), read as data.

Ansible reads the file (``ansible-inventory --list``: any inventory Ansible reads, its group
variables merged into each host's); of each host the checks use these variables:

==============================  ==============================================================
``ansible_connection``          ``ssh`` (the default) or ``local`` (this machine)
``ansible_host``                the address to reach (default: the host's name)
``ansible_user``                the ssh user; ``ansible_port`` the port
``ansible_ssh_private_key_file`` the ssh key
``ansible_ssh_common_args``     further ssh options, e.g. the ProxyCommand through the zone's
``ansible_ssh_extra_args``      bastion and the known_hosts file (host-key checking stays on)
``jiyue_services``              what the host runs, by the registry's names (ssh, nginx,
                                postgresql, files): what it may listen on; ssh always
``jiyue_ports``                 further declared TCP ports (optional)
``jiyue_role``                  legacy, target or bastion (``--role`` narrows to one)
``jiyue_department``            its department (``--department``); ``jiyue_system``,
``jiyue_zone``                  ``jiyue_classification``, ``jiyue_zone``: shown with findings
``jiyue_dr_mode``               a DR host's mode (hot, warm, cold) and its system's RPO
``jiyue_rpo_minutes``           (``jiyue_rpo_minutes``): its copy must be no older
``jiyue_dr_backup``             true on a cold system's backup host; ``jiyue_dr_primaries``
                                the primary hosts it must hold a backup of
==============================  ==============================================================

The migration's inventory writes every one of them; a hand-written inventory needs at least a
host name (and its ``jiyue_services`` if it runs more than sshd).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

SERVICE_PORTS = {"ssh": (22,), "nginx": (80, 443), "postgresql": (5432,), "files": (22,)}
ROLES = ("legacy", "target", "bastion")
CONNECTIONS = ("ssh", "smart", "local")


class InventoryError(ValueError):
    pass


@dataclass(frozen=True)
class HostSpec:
    name: str
    target: str  # a testinfra backend URL: ssh://user@address[:port] or local://
    department: str = ""
    system: str = ""
    classification: str = ""
    services: tuple[str, ...] = ("ssh",)
    ports: tuple[int, ...] = ()
    role: str = ""  # legacy, target or bastion
    zone: str = ""
    ssh_identity_file: str | None = None
    ssh_extra_args: str = ""
    dr_mode: str = ""  # a DR host's: hot, warm or cold (its copy is then judged against rpo_minutes)
    rpo_minutes: int | None = None
    dr_backup: bool = False  # a cold system's backup host
    dr_primaries: tuple[str, ...] = ()  # the primaries a backup host must hold a backup of

    @property
    def allowed_ports(self) -> set[int]:
        out = set(self.ports)
        for s in self.services:
            out.update(SERVICE_PORTS.get(s, ()))
        return out


@dataclass
class Inventory:
    hosts: list[HostSpec]
    path: Path | None = field(default=None)
    source: str = ""  # where the hosts come from, for people: a file, or "lab NAME"

    def narrowed(self, role: str | None = None, department: str | None = None) -> Inventory:
        """Only the hosts of ``role`` and/or ``department``; InventoryError if that leaves none."""
        if role is not None and role not in ROLES:
            raise InventoryError(f"no role {role!r}: use one of {', '.join(ROLES)}")
        hosts = [h for h in self.hosts if (role is None or h.role == role)
                 and (department is None or h.department == department)]
        if not hosts:
            what = " ".join(filter(None, [role, "host"]))
            of = f" of department {department!r}" if department else ""
            raise InventoryError(f"{self.source} has no {what}{of} to check"
                                 + (" (bastions belong to no department)" if role == "bastion" and department else ""))
        return replace(self, hosts=hosts)


def _ansible_inventory() -> str:
    beside = Path(sys.executable).parent / "ansible-inventory"  # the venv's, when not on PATH
    found = str(beside) if beside.is_file() else shutil.which("ansible-inventory")
    if found is None:
        raise InventoryError("ansible-inventory is not installed (it comes with ansible-core: `make setup`)")
    return found


def read_hostvars(path: Path) -> dict[str, dict[str, Any]]:
    """Every host of the inventory at ``path`` with its variables, as Ansible resolves them."""
    if not path.is_file():
        raise InventoryError(f"{path}: no such inventory file")
    proc = subprocess.run([_ansible_inventory(), "-i", str(path), "--list"], capture_output=True, text=True,
                          check=False, env={**_quiet_env(), "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    if proc.returncode != 0:
        why = proc.stderr.strip().splitlines()
        raise InventoryError(f"{path}: Ansible cannot read it as an inventory: {why[-1] if why else proc.returncode}")
    data = json.loads(proc.stdout)
    hostvars: dict[str, dict[str, Any]] = data.get("_meta", {}).get("hostvars", {})
    names = _hosts(data, "all")
    return {name: dict(hostvars.get(name, {})) for name in names}


def _quiet_env() -> dict[str, str]:
    return {**os.environ, "ANSIBLE_VERBOSITY": "0", "ANSIBLE_DEPRECATION_WARNINGS": "false"}


def _hosts(data: Mapping[str, Any], group: str, seen: set[str] | None = None) -> list[str]:
    """The hosts of ``group`` and its children, in the inventory's order, each once."""
    seen = set() if seen is None else seen
    out: list[str] = []
    node = data.get(group) or {}
    for h in node.get("hosts", []):
        if h not in seen:
            seen.add(h)
            out.append(h)
    for child in node.get("children", []):
        out += _hosts(data, child, seen)
    return out


def _ordered(services: Iterable[str]) -> tuple[str, ...]:
    have = set(services) | {"ssh"}
    return tuple(s for s in SERVICE_PORTS if s in have)


def _target(name: str, v: Mapping[str, Any]) -> str:
    connection = str(v.get("ansible_connection", "ssh"))
    if connection not in CONNECTIONS:
        raise InventoryError(f"{name}: ansible_connection {connection!r} cannot be checked: use ssh or local")
    if connection == "local":
        return "local://"
    user = f"{v['ansible_user']}@" if v.get("ansible_user") else ""
    port = f":{v['ansible_port']}" if v.get("ansible_port") else ""
    return f"ssh://{user}{v.get('ansible_host') or name}{port}"


def host_spec(name: str, v: Mapping[str, Any]) -> HostSpec:
    """One host of the inventory from its variables (the table in the module docstring)."""
    services = v.get("jiyue_services", ["ssh"])
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        raise InventoryError(f"{name}: jiyue_services must be a list of service names")
    unknown = [s for s in services if s not in SERVICE_PORTS]
    if unknown:
        raise InventoryError(f"{name}: unknown service(s) {', '.join(unknown)}; use {', '.join(SERVICE_PORTS)} "
                             "or list ports in jiyue_ports")
    try:
        ports = tuple(int(p) for p in v.get("jiyue_ports", []))
    except (TypeError, ValueError):
        raise InventoryError(f"{name}: jiyue_ports must be numbers") from None
    extra = " ".join(str(v[k]) for k in ("ansible_ssh_common_args", "ansible_ssh_extra_args") if v.get(k))
    key = v.get("ansible_ssh_private_key_file") or v.get("ansible_private_key_file")
    try:
        rpo = None if v.get("jiyue_rpo_minutes") is None else int(v["jiyue_rpo_minutes"])
    except (TypeError, ValueError):
        raise InventoryError(f"{name}: jiyue_rpo_minutes must be a number of minutes") from None
    if v.get("jiyue_dr_mode") and rpo is None:
        raise InventoryError(f"{name}: jiyue_dr_mode is {v['jiyue_dr_mode']!r} but jiyue_rpo_minutes is not given")
    return HostSpec(name, _target(name, v), str(v.get("jiyue_department", "")), str(v.get("jiyue_system", "")),
                    str(v.get("jiyue_classification", "")), _ordered(services), ports, str(v.get("jiyue_role", "")),
                    str(v.get("jiyue_zone", "")), str(key) if key else None, extra,
                    str(v.get("jiyue_dr_mode") or ""), rpo, bool(v.get("jiyue_dr_backup", False)),
                    tuple(str(x) for x in v.get("jiyue_dr_primaries") or ()))


def load_inventory(path: Path, source: str | None = None) -> Inventory:
    """The hosts of the Ansible inventory at ``path``; :class:`InventoryError` with every problem."""
    hosts, problems = [], []
    for name, v in read_hostvars(path).items():
        try:
            hosts.append(host_spec(name, v))
        except InventoryError as exc:
            problems.append(f"{path}: {exc}")
    if problems:
        raise InventoryError("\n".join(problems))
    if not hosts:
        raise InventoryError(f"{path}: the inventory holds no host")
    return Inventory(hosts, path, source or str(path))
