"""The host-check inventory: which hosts, how to reach them, and what each may run.

YAML::

    ssh_config: lab/ssh_config          # optional, passed to testinfra (ProxyJump through the bastion)
    ssh_identity_file: ~/.ssh/id_ed25519  # optional
    hosts:
      - name: finance-budget-app1
        target: ssh://root@10.64.20.11  # a testinfra backend URL; local:// is this machine
        department: finance
        system: finance-budget
        classification: internal
        services: [nginx, ssh]          # the registry's service names
        ports: []                       # further declared TCP ports

Or built from a rehearsal lab (:func:`from_lab`): the lab's hosts (``plan.json``) reached as
``ssh://<host alias>`` through the lab's ``ssh_config`` (ProxyJump through the bastion, host-key
checking on), with the services the city registry declares for each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SERVICE_PORTS = {"ssh": (22,), "nginx": (80, 443), "postgresql": (5432,), "files": (22,)}


class InventoryError(ValueError):
    pass


@dataclass(frozen=True)
class HostSpec:
    name: str
    target: str
    department: str = ""
    system: str = ""
    classification: str = ""
    services: tuple[str, ...] = ("ssh",)
    ports: tuple[int, ...] = ()
    role: str = ""  # legacy, target or bastion (hosts of a lab)
    zone: str = ""

    @property
    def allowed_ports(self) -> set[int]:
        out = set(self.ports)
        for s in self.services:
            out.update(SERVICE_PORTS.get(s, ()))
        return out


@dataclass
class Inventory:
    hosts: list[HostSpec]
    ssh_config: str | None = None
    ssh_identity_file: str | None = None
    path: Path | None = field(default=None)
    source: str = ""  # where the hosts come from, for people: a file, or "lab NAME"


def load_inventory(path: Path) -> Inventory:
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise InventoryError(f"{path}: not YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), list) or not data["hosts"]:
        raise InventoryError(f"{path}: expected a mapping with a non-empty list 'hosts:'")
    hosts, problems = [], []
    for i, h in enumerate(data["hosts"]):
        if not isinstance(h, dict) or not h.get("name") or not h.get("target"):
            problems.append(f"{path}: hosts[{i}]: needs name and target (e.g. ssh://root@10.64.20.11 or local://)")
            continue
        unknown = [s for s in h.get("services", []) if s not in SERVICE_PORTS]
        if unknown:
            problems.append(f"{path}: hosts[{i}] ({h['name']}): unknown service(s) {', '.join(unknown)}; "
                            f"use {', '.join(SERVICE_PORTS)} or list ports")
            continue
        try:
            ports = tuple(int(p) for p in h.get("ports", []))
        except (TypeError, ValueError):
            problems.append(f"{path}: hosts[{i}] ({h['name']}): ports must be numbers")
            continue
        hosts.append(HostSpec(str(h["name"]), str(h["target"]), str(h.get("department", "")),
                              str(h.get("system", "")), str(h.get("classification", "")),
                              tuple(h.get("services", ["ssh"])), ports))
    if problems:
        raise InventoryError("\n".join(problems))
    base = path.parent

    def rel(p: Any) -> str | None:
        if not p:
            return None
        q = Path(str(p)).expanduser()
        return str(q if q.is_absolute() else (base / q))

    return Inventory(hosts, rel(data.get("ssh_config")), rel(data.get("ssh_identity_file")), path, str(path))


# --------------------------------------------------------------------------- from a rehearsal lab

LAB_ROLES = ("legacy", "target", "bastion")  # egress and the internet stub are no migrated hosts


def _ordered(services: Iterable[str]) -> tuple[str, ...]:
    have = set(services) | {"ssh"}
    return tuple(s for s in SERVICE_PORTS if s in have)


def from_lab(lab_dir: Path, model: Any, role: str | None = None, department: str | None = None) -> Inventory:
    """The inventory of a rehearsal lab's hosts (issue 5), from its ``plan.json`` and the registry.

    What each host may run: a legacy host, its registry entry's ``services``; a target host, what
    the legacy hosts of its system ran (once migrated it runs the same, plus ssh); a bastion, ssh
    only. ``role`` (legacy, target, bastion) and ``department`` narrow the hosts; bastions belong
    to no department. Raises :class:`InventoryError` on anything that does not fit.
    """
    from lab.topology import LabPlan

    name = lab_dir.name
    if not lab_dir.is_dir():
        raise InventoryError(f"no lab {name!r} (no {lab_dir}); `jiyue lab up --name {name}` builds it")
    plan_path = lab_dir / "plan.json"
    if not plan_path.is_file():
        raise InventoryError(f"lab {name!r} has no plan.json ({plan_path}): it was never built completely; "
                             f"`jiyue lab down --name {name}` then `jiyue lab up --name {name}`")
    ssh_config = lab_dir / "ssh" / "ssh_config"
    if not ssh_config.is_file():
        raise InventoryError(f"lab {name!r} has no ssh_config ({ssh_config}): bring it up again")
    try:
        plan = LabPlan.load(plan_path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InventoryError(f"{plan_path}: not a lab plan: {exc}") from exc
    if role is not None and role not in LAB_ROLES:
        raise InventoryError(f"no role {role!r}: use one of {', '.join(LAB_ROLES)}")
    if plan.city != model.city.id:
        raise InventoryError(f"lab {name!r} was built from city {plan.city!r}, not {model.city.id!r}: "
                             "give the same --city as to `jiyue lab up`")
    if department is not None and department not in plan.departments:
        known = model.departments.keys()
        where = "the lab" if department in known else "the city"
        raise InventoryError(f"no department {department!r} in {where}; lab {name!r} holds "
                             f"{', '.join(plan.departments)}")
    hosts, problems = [], []
    for h in plan.hosts:
        if h.role not in LAB_ROLES or (role and h.role != role) or (department and h.department != department):
            continue
        system = model.systems.get(h.system) if h.system else None
        if h.role in ("legacy", "target") and system is None:
            problems.append(f"{h.name}: the registry has no system {h.system!r} (the lab was built from "
                            "another version of the registry: bring it up again)")
            continue
        if h.role == "legacy":
            reg = next((x for x in system.legacy_hosts if x.name == h.legacy_name), None)
            if reg is None:
                problems.append(f"{h.name}: system {h.system!r} has no legacy host {h.legacy_name!r} in the "
                                "registry (the lab was built from another version of it: bring it up again)")
                continue
            services = _ordered(str(s) for s in reg.services)
        elif h.role == "target":
            services = _ordered(str(s) for x in system.legacy_hosts for s in x.services)
        else:
            services = ("ssh",)
        hosts.append(HostSpec(h.name, f"ssh://{h.name}", h.department or "", h.system or "",
                              system.classification.value if system else "", services, (), h.role, h.zone or ""))
    if problems:
        raise InventoryError("\n".join(problems))
    if not hosts:
        what = " ".join(filter(None, [role, "host"]))
        of = f" of department {department!r}" if department else ""
        raise InventoryError(f"lab {name!r} has no {what}{of} to check"
                             + (" (bastions belong to no department)" if role == "bastion" and department else ""))
    return Inventory(hosts, str(ssh_config), None, None, f"lab {name}")
