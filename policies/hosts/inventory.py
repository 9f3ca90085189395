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
"""

from __future__ import annotations

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

    return Inventory(hosts, rel(data.get("ssh_config")), rel(data.get("ssh_identity_file")), path)
