"""Pure decisions the program, the lab and the tests share: no Pulumi here.

Everything is computed from the city model and the IP plan, so that an address, a rule or a DR
mode is decided once: the Pulumi program declares it, the lab builds it, the migration reads it.
Where a system's hosts are (its stacks, its DR mode, its addresses) is decided on the ground floor
in :mod:`jiyue.placement`, what may reach what in :mod:`jiyue.flows`; both are re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from jiyue.dr import backup_volume_gb as dr_backup_volume_gb
from jiyue.flows import (
    ANYWHERE,
    POSTGRESQL_PORT,
    SSH_PORT,
    WEB_PORTS,
    EgressRule,
    FlowKind,
    FlowTable,
    flows,
    ingress_flows,
    serves_web,
    services,
)
from jiyue.ipam import IpPlan
from jiyue.ipam import plan as ip_plan
from jiyue.placement import (
    HOST_BASE,
    HOST_BLOCK,
    DrMode,
    PlanError,
    dhcp_pool,
    dr_mode,
    dr_plan_of,
    has_backup_host,
    host_address,
    host_name,
    site_hosts,
    stack_systems,
)
from jiyue.registry import CityModel
from jiyue.registry.schema import Classification, Department, DrPolicy, Service, Site, System, Zone

__all__ = ["ANYWHERE", "HOST_BASE", "HOST_BLOCK", "POSTGRESQL_PORT", "SSH_PORT", "WEB_PORTS", "DrMode",
           "EgressRule", "PlanError", "backup_volume_gb", "dhcp_pool", "dr_mode", "dr_plan_of", "has_backup_host",
           "host_address", "host_name", "serves_web", "services", "site_hosts", "stack_systems"]

#: the rules of the project's own ``default`` group, which Neutron creates with every project
DEFAULT_GROUP_RULES = 4
FOUNDATION_OWNER = "datacenter"  # the "department" label of foundation resources
DEPARTMENT_WIDE = "*"  # the "system" label of a department's resources that serve all its systems
_RANK = {Classification.public: 0, Classification.internal: 1, Classification.classified: 2}


def backup_schedule(system: System, policy: DrPolicy) -> dict[str, int] | None:
    """The backup schedule of the DR table (:mod:`jiyue.dr`): every RPO minutes; none when the RPO is
    below the shortest backup interval (replication alone meets it) or the system has no DR needs."""
    row = dr_plan_of(system, policy)
    return None if row is None else row.backup()


def backup_volume_gb(system: System) -> int:
    """The size of a cold system's backup volume at the DR site (:func:`jiyue.dr.backup_volume_gb`)."""
    return dr_backup_volume_gb(system.capacity.volume_gb, system.capacity.instances)


def highest(classifications: list[Classification]) -> Classification:
    return max(classifications, key=_RANK.__getitem__, default=Classification.internal)


# --------------------------------------------------------------------------- addresses


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
    """The flows of :mod:`jiyue.flows` that reach the system at the site, as security-group rules (G8).

    - web (nginx, or any public-facing system): 80/443 from anywhere if public-facing, else from the
      zone's own supernets (both sites);
    - SSH, always (the migration and operations come in over it), and PostgreSQL when a host runs it:
      only from the zone's management/bastion segment at the site; PostgreSQL also from the members
      of the system's own security group (its application servers);
    - at the primary site, from each of the system's DR hosts: SSH (the DR file sync) and PostgreSQL
      when a host runs it (the standby's replication).
    """
    out = []
    for f in ingress_flows(model, ip, system, site):
        sources = [None] if f.kind is FlowKind.peer else \
            list(f.source.cidrs) if f.kind is FlowKind.replication else [f.source.cidrs[0]]
        out += [IngressRule(port, src, f.why, f.protocol) for src in sources for port in f.ports]
    return out


def egress_rules(table: FlowTable, system: System, site: Site, *, migrating: bool = False) -> list[EgressRule]:
    """The flows of :mod:`jiyue.flows` the system opens at the site, as security-group rules (IPv4 only).

    Everything else is denied: the group is created without OpenStack's default egress rules. The
    migration's flows (to the system's legacy sources) only while it migrates (``migrating``).
    """
    return table.egress_rules(system.id, site, temporary=migrating)


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
    row = dr_plan_of(system, model.city.dr_policy)
    want_replicated = (row is not None and row.replicated) or classes[declared].replicated

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


def quotas(model: CityModel, department: str, zone: Zone, site: Site, table: FlowTable | None = None) -> QuotaPlan:
    """The department's registry quotas, split over its zones by what each zone's systems need.

    The registry gives one quota per department; each zone and site is its own cloud, so each of
    the department's projects gets the share its systems there need (rounded up, never below what
    they need). The registry's volume_gb counts data volumes; boot volumes are added here. At the
    DR site the quota covers the systems with DR needs, so a failover fits, plus the cold systems'
    backup volumes and the public addresses reserved for hot ones. The security-group
    rules are the table's (``table``, else the city's flow table), the migration's egress included,
    so a system fits while it migrates.
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
    table = table or flows(model, ip_plan(model))
    rules = sum(ingress_rule_count(s) + len(table.egress_rules(s.id, site, temporary=True)) for s in here)
    public = sum(s.capacity.instances for s in here if s.public_facing)
    egress_here = zone is Zone.extranet and site is city.egress.site
    if not egress_here and zone is Zone.extranet and site is Site.dr:  # reserved for a failover
        public = sum(s.capacity.instances for s in here if s.public_facing and dr_mode(s, city.dr_policy) is DrMode.hot)
    backups = sum(backup_volume_gb(s) for s in here if site is Site.dr and has_backup_host(model, s))
    return QuotaPlan(
        vcpus=share("vcpus", q.vcpus),
        ram_mb=share("ram_gb", q.ram_gb) * 1024,
        instances=instances,
        gigabytes=share("volume_gb", q.volume_gb) + mine["boot_gb"] + backups,
        volumes=2 * instances,
        ports=instances + 4,
        security_groups=len(here) + 1,
        security_group_rules=rules + DEFAULT_GROUP_RULES,
        server_groups=sum(1 for s in here if s.capacity.ha),
        floating_ips=public if egress_here or site is Site.dr else 0,
    )


def ingress_rule_count(system: System) -> int:
    """How many rules ingress_rules() gives, without needing the IP plan (for quotas)."""
    n = 1 + (2 if Service.postgresql in services(system) else 0)
    if serves_web(system):
        n += len(WEB_PORTS) * (1 if system.public_facing else len(Site))
    return n
