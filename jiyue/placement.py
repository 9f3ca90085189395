"""Where each system's hosts are: the stacks that hold it, its DR mode, its host names and addresses.

Pure decisions from the city model and the IP plan, on the ground floor so that every floor (the
program, the lab, the flow table of :mod:`jiyue.flows`) computes an address one way.

Host addresses (per department segment, the same layout at every zone and site)::

    .1                       gateway (from the IP plan)
    .2 - .9                  reserved (DHCP agents, metadata)
    .10 + 8*k + i            instance i of the system in slot k of its department (pinned in
                             ipam.lock.yaml, :meth:`jiyue.ipam.IpPlan.system_slot`; at first its
                             position in the department file, counted over all its systems)
    last quarter             the DHCP pool, for anything not planned here

A system keeps its slot while the lock file lists it: adding, deleting, reordering or retiring
an entry, or moving a system to the other zone, moves no other system's addresses.
"""

from __future__ import annotations

from netaddr import IPNetwork

from .dr import DrMode, DrPlan, dr_plan
from .ipam import Segment, pool_offset
from .registry import CityModel
from .registry.checks import HOST_BASE, HOST_BLOCK
from .registry.schema import DrPolicy, Site, System, Zone

__all__ = ["HOST_BASE", "HOST_BLOCK", "DrMode", "DrPlan", "PlanError", "dhcp_pool", "dr_mode", "dr_plan_of",
           "backup_host_name", "has_backup_host", "has_hosts", "host_address", "host_name", "site_hosts",
           "stack_systems"]


class PlanError(ValueError):
    """The registry asks for something the address or volume plan cannot give."""


def dr_plan_of(system: System, policy: DrPolicy) -> DrPlan | None:
    """The DR table's row for the system (:mod:`jiyue.dr`); None when it declares no RPO/RTO."""
    if system.dr is None:
        return None
    return dr_plan(system.dr.rpo_minutes, system.dr.rto_minutes, policy)


def dr_mode(system: System, policy: DrPolicy) -> DrMode | None:
    row = dr_plan_of(system, policy)
    return None if row is None else row.mode


def stack_systems(model: CityModel, department: str, zone: Zone, site: Site) -> list[tuple[int, System]]:
    """(position in the department file, system) of the systems a department stack holds.

    The primary stack holds every system of the zone; the DR stack those that declare an RPO/RTO.
    A retired system (``retirement`` in the registry, T1.2) is in neither. The position orders the
    stack; a system's addresses come from its pinned slot (:meth:`jiyue.ipam.IpPlan.system_slot`).
    """
    dep = model.departments[department]
    return [(k, s) for k, s in enumerate(dep.systems)
            if s.zone is zone and s.retirement is None and (site is Site.primary or s.dr is not None)]


def has_hosts(model: CityModel, system: System, site: Site) -> bool:
    """Whether the system has hosts (running or shut off) at the site: always at the primary site,
    at the DR site when it runs hot or warm there (a cold system has only a backup schedule)."""
    if system.retirement is not None:
        return False
    if site is Site.primary:
        return True
    return dr_mode(system, model.city.dr_policy) in (DrMode.hot, DrMode.warm)


def has_backup_host(model: CityModel, system: System) -> bool:
    """Whether the system's copy at the DR site is a backup host (a cold system): one small server
    on the system's DR segment, at its first address, holding the backups on a volume of its own."""
    return system.retirement is None and dr_mode(system, model.city.dr_policy) is DrMode.cold


def host_name(system: System, site: Site, instance: int) -> str:
    return f"{system.id}-{instance + 1}" if site is Site.primary else f"{system.id}-dr-{instance + 1}"


def backup_host_name(system: System) -> str:
    return f"{system.id}-backup"


def site_hosts(model: CityModel, system: System, site: Site) -> list[tuple[str, int]]:
    """(name, instance) of the system's hosts at the site, as the stack declares them: its servers
    (:func:`has_hosts`), or at the DR site of a cold system its backup host, at instance 0's address."""
    if has_hosts(model, system, site):
        return [(host_name(system, site, i), i) for i in range(system.capacity.instances)]
    if site is Site.dr and has_backup_host(model, system):
        return [(backup_host_name(system), 0)]
    return []


def host_address(segment: Segment, slot: int, instance: int) -> str:
    """The planned address of instance ``instance`` of the system in slot ``slot`` of the segment's department."""
    net = IPNetwork(segment.cidr)
    if instance >= HOST_BLOCK:
        raise PlanError(f"{segment.name}: a system may have at most {HOST_BLOCK} instances")
    offset = HOST_BASE + HOST_BLOCK * slot + instance
    first_pool = dhcp_pool(segment)[0]
    if net.first + offset >= _int(first_pool):
        raise PlanError(f"{segment.name} ({segment.cidr}) has no planned address for system slot {slot} "
                        f"instance {instance + 1}: use a shorter addressing.segment_prefix or fewer systems")
    return _ip(net.first + offset)


def dhcp_pool(segment: Segment) -> tuple[str, str]:
    """The last quarter of the segment (minus broadcast) is the DHCP pool."""
    net = IPNetwork(segment.cidr)
    return _ip(net.first + pool_offset(net.prefixlen)), _ip(net.last - 1)


def _ip(value: int) -> str:
    return f"{value >> 24 & 255}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def _int(addr: str) -> int:
    a, b, c, d = (int(x) for x in addr.split("."))
    return a << 24 | b << 16 | c << 8 | d
