"""The stack-output contract: key constants, and the per-system target data computed once.

The program exports these keys; department stacks read a foundation's through StackReference; the
migration engine reads department stacks' ``systems``; the lab writes a file in the same shape.
:func:`system_targets` computes the per-system data from the city model and the IP plan alone (no
Pulumi), so the program, the lab and the migration agree on every address without asking each
other. Everything here is plain JSON (camelCase keys, as Pulumi outputs are).

Per system (``SYSTEMS[<system id>]``)::

    {"system": "finance-budget", "department": "finance", "zone": "extranet", "site": "primary",
     "classification": "internal", "publicFacing": false, "drMode": "warm" | "hot" | "cold" | null,
     "segment": {"name": "finance-extranet-primary", "cidr": "10.128.20.0/24", "gateway": "10.128.20.1"},
     "hosts": [{"name": "finance-budget-1", "address": "10.128.20.18",
                "fqdn": "finance-budget-1.extranet.primary.dalian.gov.internal.", "state": "running",
                "role": "server"}],
     "securityGroups": ["finance-budget"],
     "ingress": [{"protocol": "tcp", "port": 22, "from": "10.0.1.0/24", "why": "..."}],
     "volumeClass": "replicated", "backup": {"intervalMinutes": 15, "retentionDays": 30} | null}

At the DR site a hot or warm system's hosts are ``running`` (a warm one's application services are
stopped on the host, its database replays the primary's), and a cold one has one host, its backup
host (``"role": "backup"``, at instance 0's address), which pulls a backup of every primary host
every ``backup.intervalMinutes`` onto a volume of ``backup.volumeGb``
(:func:`infra.plan.backup_volume_gb`). The other hosts' role is ``"server"``.
"""

from __future__ import annotations

from typing import Any

from jiyue.ipam import IpPlan
from jiyue.ipam import plan as ip_plan
from jiyue.registry import CityModel
from jiyue.registry.schema import Site, Zone
from jiyue.stacks import StackName, stack_names

from .plan import (
    DrMode,
    backup_schedule,
    backup_volume_gb,
    dns_zone_name,
    dr_mode,
    has_backup_host,
    host_address,
    ingress_rules,
    security_group_name,
    site_hosts,
    stack_systems,
    volume_class,
)

# ---- both kinds of stack
ZONE = "zone"
SITE = "site"

# ---- a foundation stack (<zone>-<site>-foundation)
ROUTER_ID = "routerId"  # the zone router every department segment attaches to
DNS_ZONE_ID = "dnsZoneId"
DNS_ZONE_NAME = "dnsZoneName"
SHARED_SEGMENT = "sharedSegment"  # {name, cidr, gateway, networkId, subnetId}
MANAGEMENT_SEGMENT = "managementSegment"  # the management/bastion segment, same shape
EGRESS = "egress"  # extranet only, else null: {role, externalNetwork, allowedPorts, routerId, firewallGroupId}
FOUNDATION_KEYS = (ZONE, SITE, ROUTER_ID, DNS_ZONE_ID, DNS_ZONE_NAME, SHARED_SEGMENT, MANAGEMENT_SEGMENT, EGRESS)

# ---- a department stack (<zone>-<site>-<department>)
DEPARTMENT = "department"
PROJECT_ID = "projectId"
SEGMENT = "segment"  # {name, cidr, gateway, networkId, subnetId}
SYSTEMS = "systems"  # {system id: per-system data above}
SECURITY_GROUP_IDS = "securityGroupIds"  # {security group name: id}
DEPARTMENT_KEYS = (ZONE, SITE, DEPARTMENT, PROJECT_ID, SEGMENT, SYSTEMS, SECURITY_GROUP_IDS)

RUNNING = "running"
#: hot and warm standbys both run (a warm one replays the databases with its application stopped); cold: no hosts
_STANDBY_STATE: dict[DrMode | None, str] = {DrMode.hot: RUNNING, DrMode.warm: RUNNING}


def segment_dict(segment: Any) -> dict[str, str]:
    return {"name": segment.name, "cidr": segment.cidr, "gateway": segment.gateway}


def system_targets(model: CityModel, ip: IpPlan, department: str, zone: Zone | str,
                   site: Site | str) -> dict[str, dict[str, Any]]:
    """The per-system outputs of the stack ``<zone>-<site>-<department>``, without Pulumi."""
    zone, site = Zone(zone), Site(site)
    segment = ip.segment(department, zone, site)
    policy = model.city.dr_policy
    out: dict[str, dict[str, Any]] = {}
    for _, system in stack_systems(model, department, zone, site):
        slot = ip.system_slot(department, system.id)
        mode = dr_mode(system, policy)
        backup_host = site is Site.dr and has_backup_host(model, system)
        hosts = [{"name": name, "address": host_address(segment, slot, i),
                  "fqdn": f"{name}.{dns_zone_name(model, zone, site)}",
                  "state": RUNNING if site is Site.primary or backup_host else _STANDBY_STATE[mode],
                  "role": "backup" if backup_host else "server"}
                 for name, i in site_hosts(model, system, site)]
        backup = backup_schedule(system, policy)
        if backup is not None and backup_host:
            backup = {**backup, "volumeGb": backup_volume_gb(system)}
        out[system.id] = {
            "system": system.id,
            "department": department,
            "zone": zone.value,
            "site": site.value,
            "classification": system.classification.value,
            "publicFacing": system.public_facing,
            "drMode": mode.value if mode else None,
            "segment": segment_dict(segment),
            "hosts": hosts,
            "securityGroups": [security_group_name(system, site)] if hosts else [],
            "ingress": [r.as_dict() for r in ingress_rules(model, ip, system, site)] if hosts else [],
            "volumeClass": volume_class(model, system, site),
            "backup": backup,
        }
    return out


def foundation_plan(model: CityModel, ip: IpPlan, zone: Zone | str, site: Site | str) -> dict[str, Any]:
    """What a foundation stack's outputs say before any id is known (the ids are added by the program)."""
    zone, site = Zone(zone), Site(site)
    egress = model.city.egress
    return {
        ZONE: zone.value,
        SITE: site.value,
        DNS_ZONE_NAME: dns_zone_name(model, zone, site),
        SHARED_SEGMENT: segment_dict(ip.shared(zone, site)),
        MANAGEMENT_SEGMENT: segment_dict(ip.management(zone, site)),
        EGRESS: ({"role": egress_role(model, site), "externalNetwork": egress.external_network,
                  "allowedPorts": list(egress.allowed_ports)}
                 if model.city.zones[zone].internet else None),
    }


def egress_role(model: CityModel, site: Site) -> str:
    """The egress site's router is the active egress; the other site's is a closed standby."""
    return "active" if site is model.city.egress.site else "standby"


def city_targets(model: CityModel, ip: IpPlan | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Every department stack's per-system data: ``{stack name: {system id: {...}}}`` (for the lab)."""
    ip = ip or ip_plan(model)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name in stack_names(model):
        if isinstance(name, StackName) and name.department is not None:
            out[str(name)] = system_targets(model, ip, name.department, name.zone, name.site)
    return out
