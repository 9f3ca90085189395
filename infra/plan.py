"""Pure decisions the program, the lab and the tests share: no Pulumi here.

Everything is computed from the city model and the IP plan, so that an address, a rule or a DR
mode is decided once: the Pulumi program declares it, the lab builds it, the migration reads it.

Host addresses (per department segment, the same layout at every zone and site)::

    .1                       gateway (from the IP plan)
    .2 - .9                  reserved (DHCP agents, metadata)
    .10 + 8*k + i            instance i of the department's k-th system (k: position in the
                             department file, counted over all its systems, so moving a system
                             to the other zone or adding one at the end never moves another)
    last quarter             the DHCP pool, for anything not planned here

Append new systems at the end of a department file: the position is the address.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from netaddr import IPNetwork

from jiyue.ipam import IpPlan, Segment
from jiyue.registry import CityModel
from jiyue.registry.schema import Classification, Department, DrPolicy, Service, Site, System, Zone

HOST_BASE = 10
HOST_BLOCK = 8  # addresses per system; a system has at most this many instances
WEB_PORTS = (80, 443)
SSH_PORT = 22
POSTGRESQL_PORT = 5432
ANYWHERE = "0.0.0.0/0"
FOUNDATION_OWNER = "datacenter"  # the "department" label of foundation resources
DEPARTMENT_WIDE = "*"  # the "system" label of a department's resources that serve all its systems
_RANK = {Classification.public: 0, Classification.internal: 1, Classification.classified: 2}


class PlanError(ValueError):
    """The registry asks for something the address or volume plan cannot give."""


class DrMode(StrEnum):
    """How a system is covered at the DR site (T3.1), from its RTO and the city's DR policy."""

    hot = "hot"  # standby servers running, volumes replicated
    warm = "warm"  # volumes replicated, standby servers defined but shut off, ports reserved
    cold = "cold"  # a backup schedule to the DR site only; servers are built on failover


def dr_mode(system: System, policy: DrPolicy) -> DrMode | None:
    if system.dr is None:
        return None
    if system.dr.rto_minutes <= policy.hot_max_rto_minutes:
        return DrMode.hot
    if system.dr.rto_minutes <= policy.warm_max_rto_minutes:
        return DrMode.warm
    return DrMode.cold


def backup_schedule(system: System) -> dict[str, int] | None:
    """The backup schedule that covers a system's RPO: at least as often as the RPO, at most every 5 minutes."""
    if system.dr is None:
        return None
    return {"intervalMinutes": max(5, system.dr.rpo_minutes), "retentionDays": 30}


def highest(classifications: list[Classification]) -> Classification:
    return max(classifications, key=_RANK.__getitem__, default=Classification.internal)


# --------------------------------------------------------------------------- which systems, where


def stack_systems(model: CityModel, department: str, zone: Zone, site: Site) -> list[tuple[int, System]]:
    """(position in the department file, system) of the systems a department stack holds.

    The primary stack holds every system of the zone; the DR stack those that declare an RPO/RTO.
    A retired system (``retirement`` in the registry, T1.2) is in neither; it keeps its position,
    so no other system's addresses move when a zombie is retired.
    """
    dep = model.departments[department]
    return [(k, s) for k, s in enumerate(dep.systems)
            if s.zone is zone and s.retirement is None and (site is Site.primary or s.dr is not None)]


def services(system: System) -> set[Service]:
    found = {svc for host in system.legacy_hosts for svc in host.services}
    return found or {Service.nginx, Service.ssh}


def serves_web(system: System) -> bool:
    return system.public_facing or Service.nginx in services(system)


# --------------------------------------------------------------------------- addresses


def host_name(system: System, site: Site, instance: int) -> str:
    return f"{system.id}-{instance + 1}" if site is Site.primary else f"{system.id}-dr-{instance + 1}"


def host_address(segment: Segment, position: int, instance: int) -> str:
    net = IPNetwork(segment.cidr)
    if instance >= HOST_BLOCK:
        raise PlanError(f"{segment.name}: a system may have at most {HOST_BLOCK} instances")
    offset = HOST_BASE + HOST_BLOCK * position + instance
    first_pool = dhcp_pool(segment)[0]
    if net.first + offset >= _int(first_pool):
        raise PlanError(f"{segment.name} ({segment.cidr}) has no planned address for system #{position + 1} "
                        f"instance {instance + 1}: use a shorter addressing.segment_prefix or fewer systems")
    return _ip(net.first + offset)


def dhcp_pool(segment: Segment) -> tuple[str, str]:
    """The last quarter of the segment (minus broadcast) is the DHCP pool."""
    net = IPNetwork(segment.cidr)
    start = net.first + (net.size * 3) // 4
    return _ip(start), _ip(net.last - 1)


def _ip(value: int) -> str:
    return f"{value >> 24 & 255}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def _int(addr: str) -> int:
    a, b, c, d = (int(x) for x in addr.split("."))
    return a << 24 | b << 16 | c << 8 | d


def dns_zone_name(model: CityModel, zone: Zone, site: Site) -> str:
    return f"{zone.value}.{site.value}.{model.city.id}.gov.internal."


# --------------------------------------------------------------------------- security groups


@dataclass(frozen=True, slots=True)
class IngressRule:
    """One ingress rule of a system's security group; everything else is denied (no rule, no traffic)."""

    port: int
    remote_ip_prefix: str | None  # None: from the members of the same security group
    why: str
    protocol: str = "tcp"

    def as_dict(self) -> dict[str, object]:
        return {"protocol": self.protocol, "port": self.port,
                "from": self.remote_ip_prefix or "same security group", "why": self.why}


def security_group_name(system: System, site: Site) -> str:
    return system.id if site is Site.primary else f"{system.id}-dr"


def ingress_rules(model: CityModel, ip: IpPlan, system: System, site: Site) -> list[IngressRule]:
    """What a system declares, and nothing else (G8).

    - web (nginx, or any public-facing system): 80/443 from anywhere if public-facing, else from the
      zone's own supernets (both sites);
    - SSH, always (the migration and operations come in over it), and PostgreSQL when a host runs it:
      only from the zone's management/bastion segment at the site; PostgreSQL also from the members
      of the system's own security group (its application servers).
    """
    zone = system.zone
    mgmt = ip.management(zone, site).cidr
    rules: list[IngressRule] = []
    if serves_web(system):
        if system.public_facing:
            rules += [IngressRule(p, ANYWHERE, "public-facing web") for p in WEB_PORTS]
        else:
            nets = model.city.addressing.supernets[zone]
            for p in WEB_PORTS:
                rules += [IngressRule(p, getattr(nets, s.value), f"web from the {zone.value}") for s in Site]
    rules.append(IngressRule(SSH_PORT, mgmt, "ssh from the management/bastion segment"))
    if Service.postgresql in services(system):
        rules.append(IngressRule(POSTGRESQL_PORT, mgmt, "postgresql admin from the management/bastion segment"))
        rules.append(IngressRule(POSTGRESQL_PORT, None, "postgresql from the system's own servers"))
    return rules


# --------------------------------------------------------------------------- volumes


def volume_class(model: CityModel, system: System, site: Site) -> str:
    """The volume type a system's volumes get at a site.

    Classified data always gets an encrypted class (G8), whatever the registry says. A system that
    is hot or warm at the DR site gets a replicated class (at both sites) when the city has one with
    the encryption it needs; otherwise it keeps its class and relies on its backup schedule.
    """
    classes = model.city.volume_classes
    declared = system.capacity.volume_class
    need_encrypted = system.classification is Classification.classified or classes[declared].encrypted
    want_replicated = dr_mode(system, model.city.dr_policy) in (DrMode.hot, DrMode.warm) or classes[declared].replicated

    def fits(name: str, replicated: bool) -> bool:
        vc = classes[name]
        return vc.encrypted == need_encrypted and vc.replicated == replicated

    if fits(declared, want_replicated):
        return declared
    for replicated in ((want_replicated, False) if want_replicated else (False, True)):
        for name in sorted(classes):
            if fits(name, replicated):
                return name
    if need_encrypted:
        for name in sorted(classes):
            if classes[name].encrypted:
                return name
        raise PlanError(f"{system.id}: classified data needs an encrypted volume class; the city defines none")
    return declared


def replicated(model: CityModel, name: str) -> bool:
    return model.city.volume_classes[name].replicated


# --------------------------------------------------------------------------- quotas


@dataclass(frozen=True, slots=True)
class QuotaPlan:
    vcpus: int
    ram_mb: int
    instances: int
    gigabytes: int
    volumes: int
    ports: int
    security_groups: int
    security_group_rules: int
    server_groups: int
    floating_ips: int
    networks: int = 1
    subnets: int = 1
    routers: int = 0  # T3.5: no department has a router (a gateway) of its own


def quotas(model: CityModel, department: str, zone: Zone, site: Site) -> QuotaPlan:
    """The department's registry quotas, split over its zones by what each zone's systems need.

    The registry gives one quota per department; each zone and site is its own cloud, so each of
    the department's projects gets the share its systems there need (rounded up, never below what
    they need). The registry's volume_gb counts data volumes; boot volumes are added here. At the
    DR site the quota covers the systems with DR needs, so a failover fits.
    """
    dep: Department = model.departments[department]
    city = model.city

    def need(systems: list[System]) -> dict[str, int]:
        out = {"vcpus": 0, "ram_gb": 0, "volume_gb": 0, "instances": 0, "boot_gb": 0}
        for s in systems:
            fl = city.flavors[s.capacity.flavor]
            n = s.capacity.instances
            out["vcpus"] += fl.vcpus * n
            out["ram_gb"] += fl.ram_gb * n
            out["volume_gb"] += s.capacity.volume_gb * n
            out["instances"] += n
            out["boot_gb"] += fl.disk_gb * n
        return out

    here = [s for _, s in stack_systems(model, department, zone, site)]
    total, mine = need(dep.systems), need(here)

    def share(key: str, limit: int) -> int:
        return math.ceil(limit * mine[key] / total[key]) if total[key] else 0

    q = dep.quotas
    instances = share("instances", q.instances)
    rules = sum(ingress_rule_count(s) for s in here)
    public = sum(s.capacity.instances for s in here if s.public_facing)
    egress_here = zone is Zone.extranet and site is city.egress.site
    return QuotaPlan(
        vcpus=share("vcpus", q.vcpus),
        ram_mb=share("ram_gb", q.ram_gb) * 1024,
        instances=instances,
        gigabytes=share("volume_gb", q.volume_gb) + mine["boot_gb"],
        volumes=2 * instances,
        ports=instances + 4,
        security_groups=len(here) + 1,
        security_group_rules=rules + 2 * (len(here) + 1),  # + the default egress rules of every group
        server_groups=sum(1 for s in here if s.capacity.ha),
        floating_ips=public if egress_here else 0,
    )


def ingress_rule_count(system: System) -> int:
    """How many rules ingress_rules() gives, without needing the IP plan (for quotas)."""
    n = 1 + (2 if Service.postgresql in services(system) else 0)
    if serves_web(system):
        n += len(WEB_PORTS) * (1 if system.public_facing else len(Site))
    return n
