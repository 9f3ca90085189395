"""The city's allowed flows: one table, derived from the registry and the IP plan (G8).

Whatever is not in the table is denied. Every floor reads the table instead of deciding again:
the program turns it into security groups (ingress and egress, ``infra/plan.py``), the lab into
the firewalls of its namespaces and into the probe that tries what is allowed and what is not,
the policy pack (through the facts of :mod:`jiyue.facts`) judges each security-group rule by it.

A flow is (kind, source, destination, protocol, ports, why). Per system and site with hosts
(:func:`jiyue.placement.site_hosts`):

- ``web``: to a system that serves the web (nginx, or any public-facing system), tcp/80 and 443,
  from anywhere if it is public-facing, else from each of its zone's supernets (both sites);
- ``admin``: from the zone's management/bastion segment at the site, tcp/22 always (operations
  and the migration come in over it) and tcp/5432 when a host runs PostgreSQL;
- ``peer``: tcp/5432 between the system's own servers, when a host runs PostgreSQL;
- ``replication``: from a system's hosts at the DR site to its hosts at the primary site, tcp/22
  (the DR copy's file sync pulls over ssh) and tcp/5432 when a host runs PostgreSQL (the standby
  streams from the primary): what ``jiyue dr protect`` sets up (:mod:`migration.dr`). A cold
  system's DR host is its backup host (:func:`jiyue.placement.site_hosts`): it pulls its backups
  over ssh only (files and dumps), is reached by ``admin`` ssh only, and opens nothing but its
  zone's ``shared`` services;
- ``dependency``: a system to each system it declares in ``depends_on``, at every site where the
  dependency has hosts, on the ports the dependency's ``web`` flows open to the system;
- ``shared``: a system to its zone's shared services at the site: DNS (udp and tcp/53), NTP
  (udp/123) and the package mirrors (tcp/80, 443) on the shared segment, the log collector on the
  management segment (tcp/514), and the city's sharing and exchange platform (T6) of its zone,
  on the ports its ``web`` flows open;
- ``internet``: a system of a zone the registry allows the Internet (``zones.<zone>.internet``,
  the extranet) to the Internet, on the egress's ``allowed_ports`` only; the central egress
  (FWaaS at the egress site, a closed standby at the other) is the second gate;
- ``migration`` (temporary: open only while the system migrates): a system's data-center hosts
  at the primary site to each of its legacy hosts, at the address the data center reaches it by
  (the department edge's 1:1 NAT), tcp/22: the targets pull over ssh (rsync, pg_dump through ssh).

Replies to an allowed flow are allowed by the state of the connection (security groups and the
lab's firewalls are stateful); the table lists who opens a connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, cached_property
from typing import Any

from netaddr import IPAddress, IPNetwork

from .ipam import IpPlan
from .placement import has_backup_host, host_address, site_hosts
from .registry import CityModel
from .registry.schema import Service, SharedPlatform, Site, System, Zone

WEB_PORTS = (80, 443)
SSH_PORT = 22
POSTGRESQL_PORT = 5432
DNS_PORT = 53
NTP_PORT = 123
SYSLOG_PORT = 514
ANYWHERE = "0.0.0.0/0"
TCP = "tcp"
UDP = "udp"

#: the zone's shared services on its shared segment: (protocol, port, what)
SHARED_SEGMENT_SERVICES = ((UDP, DNS_PORT, "DNS"), (TCP, DNS_PORT, "DNS"), (UDP, NTP_PORT, "NTP"),
                           (TCP, 80, "package mirrors"), (TCP, 443, "package mirrors"))
#: the zone's shared services on its management segment
MANAGEMENT_SERVICES = ((TCP, SYSLOG_PORT, "the log collector"),)


class FlowKind(StrEnum):
    web = "web"
    admin = "admin"
    peer = "peer"
    replication = "replication"
    dependency = "dependency"
    shared = "shared"
    internet = "internet"
    migration = "migration"


class EndpointKind(StrEnum):
    system = "system"  # a system's hosts at one site
    shared = "shared"  # a zone's shared-service segment at one site
    management = "management"  # a zone's management/bastion segment at one site
    supernet = "supernet"  # every segment of a zone at one site
    anywhere = "anywhere"  # every address: the Internet and every government network
    internet = "internet"  # the Internet, beyond the egress: every address but the city's own
    legacy = "legacy"  # a legacy host in a department's machine room, as the data center reaches it


@cache
def _range(cidr: str) -> tuple[int, int]:
    net = IPNetwork(cidr)
    return net.first, net.last


@dataclass(frozen=True, slots=True)
class Address:
    """One address or range of an endpoint, with a stable name (a host, a segment, ``internet``)."""

    name: str
    cidr: str


@dataclass(frozen=True, slots=True)
class Endpoint:
    kind: EndpointKind
    name: str  # the system id, the segment name, the legacy host name, "internet", "anywhere"
    zone: Zone | None
    site: Site | None
    addresses: tuple[Address, ...]
    excludes: tuple[str, ...] = ()  # ranges inside ``addresses`` that are not this endpoint
    backup: bool = False  # a cold system's backup host at the DR site: no service of the system runs there

    @property
    def key(self) -> str:
        """``<kind>:<name>`` and ``@<site>`` when it has one: unique in a table."""
        return f"{self.kind.value}:{self.name}" + (f"@{self.site.value}" if self.site else "")

    @property
    def cidrs(self) -> tuple[str, ...]:
        return tuple(a.cidr for a in self.addresses)

    def contains(self, address: str) -> bool:
        ip = int(IPAddress(address))
        return (any(a <= ip <= b for a, b in map(_range, self.cidrs))
                and not any(a <= ip <= b for a, b in map(_range, self.excludes)))

    def covers(self, other: Endpoint) -> bool:
        """Whether every address of ``other`` is one of this endpoint's (each of its ranges inside one of
        this endpoint's, outside its excludes)."""
        if other.excludes or not other.cidrs:
            return False
        mine, out = [_range(c) for c in self.cidrs], [_range(c) for c in self.excludes]
        return all(any(a <= x and y <= b for a, b in mine) and not any(x <= b and a <= y for a, b in out)
                   for x, y in map(_range, other.cidrs))

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "name": self.name, "zone": self.zone.value if self.zone else None,
                "site": self.site.value if self.site else None,
                "addresses": [{"name": a.name, "cidr": a.cidr} for a in self.addresses],
                "excludes": list(self.excludes)}


@dataclass(frozen=True, slots=True)
class Flow:
    kind: FlowKind
    source: Endpoint
    destination: Endpoint
    protocol: str  # "tcp" | "udp"
    ports: tuple[int, ...]
    why: str
    temporary: bool = False  # migration: open only while the system migrates

    def admits(self, src: str, dst: str, protocol: str, port: int) -> bool:
        return (protocol == self.protocol and port in self.ports
                and self.source.contains(src) and self.destination.contains(dst))

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "source": self.source.as_dict(), "destination": self.destination.as_dict(),
                "protocol": self.protocol, "ports": list(self.ports), "why": self.why,
                "temporary": self.temporary}


@dataclass(frozen=True, slots=True)
class EgressRule:
    """One egress rule of a system's security group: to one address (or range) on one port."""

    protocol: str
    port: int
    to: Address
    why: str
    temporary: bool = False


@dataclass(frozen=True)
class FlowTable:
    flows: tuple[Flow, ...]
    #: (system, dependency) pairs where the dependency opens nothing to the system (no ``web`` flow)
    unreachable: tuple[tuple[str, str], ...] = field(default=())

    def __iter__(self) -> Iterator[Flow]:
        return iter(self.flows)

    def __len__(self) -> int:
        return len(self.flows)

    def _index(self, end: str) -> dict[str, list[Flow]]:
        out: dict[str, list[Flow]] = {}
        for f in self.flows:
            e = getattr(f, end)
            if e.kind is EndpointKind.system:
                out.setdefault(e.name, []).append(f)
        return out

    @cached_property
    def _by_source(self) -> dict[str, list[Flow]]:
        return self._index("source")

    @cached_property
    def _by_destination(self) -> dict[str, list[Flow]]:
        return self._index("destination")

    def egress_of(self, system: str, site: Site | str | None = None, *, temporary: bool = True) -> list[Flow]:
        """The flows a system opens (at ``site``, or at every site); ``temporary=False`` leaves out the migration's."""
        return [f for f in self._by_source.get(system, [])
                if (site is None or f.source.site is Site(site)) and (temporary or not f.temporary)]

    def ingress_of(self, system: str, site: Site | str | None = None) -> list[Flow]:
        """The flows that reach a system (at ``site``, or at every site)."""
        return [f for f in self._by_destination.get(system, []) if site is None or f.destination.site is Site(site)]

    def migration_of(self, system: str) -> list[Flow]:
        """The temporary flows of a system's migration: its targets to its legacy sources."""
        return [f for f in self.egress_of(system) if f.kind is FlowKind.migration]

    def of_kind(self, kind: FlowKind | str) -> list[Flow]:
        return [f for f in self.flows if f.kind is FlowKind(kind)]

    def allowed(self, src_addr: str, dst_addr: str, proto: str, port: int, *, temporary: bool = True) -> Flow | None:
        """The first flow that allows ``src_addr`` to open ``proto``/``port`` to ``dst_addr``; None: denied."""
        for f in self.flows:
            if (temporary or not f.temporary) and f.admits(src_addr, dst_addr, proto, port):
                return f
        return None

    def egress_rules(self, system: str, site: Site | str, *, temporary: bool = False) -> list[EgressRule]:
        """The egress rules of a system's security group at a site: one per (protocol, port, address),
        in the table's order; the first flow's reason names it. ``temporary``: the migration's too."""
        seen: dict[tuple[str, int, str], EgressRule] = {}
        for f in self.egress_of(system, site, temporary=temporary):
            for a in f.destination.addresses:
                for p in f.ports:
                    seen.setdefault((f.protocol, p, a.cidr), EgressRule(f.protocol, p, a, f.why, f.temporary))
        return list(seen.values())

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON: each endpoint once, under its key; each flow names its endpoints by key."""
        endpoints: dict[str, dict[str, Any]] = {}
        rows = []
        for f in self.flows:
            for end in (f.source, f.destination):
                endpoints.setdefault(end.key, end.as_dict())
            rows.append({"kind": f.kind.value, "source": f.source.key, "destination": f.destination.key,
                         "protocol": f.protocol, "ports": list(f.ports), "why": f.why, "temporary": f.temporary})
        return {"endpoints": endpoints, "flows": rows, "unreachable": [list(pair) for pair in self.unreachable]}


# --------------------------------------------------------------------------- what a system runs


def services(system: System) -> set[Service]:
    found = {svc for host in system.legacy_hosts for svc in host.services}
    return found or {Service.nginx, Service.ssh}


def serves_web(system: System) -> bool:
    return system.public_facing or Service.nginx in services(system)


# --------------------------------------------------------------------------- endpoints


def _segment(kind: EndpointKind, seg: Any) -> Endpoint:
    return Endpoint(kind, seg.name, seg.zone, seg.site, (Address(seg.name, seg.cidr),))


class _Endpoints:
    """The endpoints of one city: every system's hosts per site, the zones' segments, the Internet."""

    def __init__(self, model: CityModel, ip: IpPlan) -> None:
        self.model, self.ip = model, ip
        self._systems: dict[tuple[str, Site], Endpoint | None] = {}
        self._home = {s.id: (dep_id, s) for dep_id, dep in model.departments.items() for s in dep.systems}
        a = model.city.addressing
        own = [getattr(a.supernets[z], s.value) for z in Zone for s in Site]
        own += [getattr(a.management, s.value) for s in Site] + [a.legacy_map]
        self.internet = Endpoint(EndpointKind.internet, "internet", None, None,
                                 (Address("internet", ANYWHERE),), tuple(own))
        self.anywhere = Endpoint(EndpointKind.anywhere, "anywhere", None, None, (Address("anywhere", ANYWHERE),))

    def system(self, system_id: str, site: Site) -> Endpoint | None:
        """A system's hosts at a site (a cold system's backup host at the DR site); None where it has
        none (a retired system)."""
        key = (system_id, site)
        if key not in self._systems:
            self._systems[key] = None
            if system_id in self._home:
                dep_id, s = self._home[system_id]
                named = site_hosts(self.model, s, site)
                if named:
                    seg, slot = self.ip.segment(dep_id, s.zone, site), self.ip.system_slot(dep_id, s.id)
                    hosts = tuple(Address(name, f"{host_address(seg, slot, i)}/32") for name, i in named)
                    backup = site is Site.dr and has_backup_host(self.model, s)
                    self._systems[key] = Endpoint(EndpointKind.system, s.id, s.zone, site, hosts, backup=backup)
        return self._systems[key]

    def supernet(self, zone: Zone, site: Site) -> Endpoint:
        cidr = getattr(self.model.city.addressing.supernets[zone], site.value)
        name = f"{zone.value}-{site.value}"
        return Endpoint(EndpointKind.supernet, name, zone, site, (Address(name, cidr),))

    def management(self, zone: Zone, site: Site) -> Endpoint:
        return _segment(EndpointKind.management, self.ip.management(zone, site))

    def shared(self, zone: Zone, site: Site) -> Endpoint:
        return _segment(EndpointKind.shared, self.ip.shared(zone, site))


# --------------------------------------------------------------------------- the flows


def _ingress(e: _Endpoints, system: System, site: Site, here: Endpoint) -> Iterator[Flow]:
    zone = system.zone
    mgmt = e.management(zone, site)
    if here.backup:
        yield Flow(FlowKind.admin, mgmt, here, TCP, (SSH_PORT,), "ssh from the management/bastion segment")
        return
    if serves_web(system):
        for p in WEB_PORTS:
            if system.public_facing:
                yield Flow(FlowKind.web, e.anywhere, here, TCP, (p,), "public-facing web")
            else:
                for s in Site:
                    yield Flow(FlowKind.web, e.supernet(zone, s), here, TCP, (p,), f"web from the {zone.value}")
    yield Flow(FlowKind.admin, mgmt, here, TCP, (SSH_PORT,), "ssh from the management/bastion segment")
    if Service.postgresql in services(system):
        yield Flow(FlowKind.admin, mgmt, here, TCP, (POSTGRESQL_PORT,),
                   "postgresql admin from the management/bastion segment")
        yield Flow(FlowKind.peer, here, here, TCP, (POSTGRESQL_PORT,), "postgresql from the system's own servers")
    standby = e.system(system.id, Site.dr) if site is Site.primary else None
    if standby is not None:
        if standby.backup:
            yield Flow(FlowKind.replication, standby, here, TCP, (SSH_PORT,),
                       "the DR backup host pulls its backups over ssh (read-only files, dumps)")
            return
        yield Flow(FlowKind.replication, standby, here, TCP, (SSH_PORT,),
                   "the DR copy's file sync pulls over ssh (read-only)")
        if Service.postgresql in services(system):
            yield Flow(FlowKind.replication, standby, here, TCP, (POSTGRESQL_PORT,),
                       "the DR standby streams from the primary")


def ingress_flows(model: CityModel, ip: IpPlan, system: System, site: Site) -> list[Flow]:
    """The flows that reach one system at a site (its security group's ingress), without the whole table."""
    e = _Endpoints(model, ip)
    here = e.system(system.id, site)
    return [] if here is None else list(_ingress(e, system, site, here))


def _opened_to(web: Iterable[Flow], client: Endpoint) -> list[tuple[str, int]]:
    """The (protocol, port) a server's web flows open to ``client``."""
    return list(dict.fromkeys((f.protocol, p) for f in web if f.source.covers(client) for p in f.ports))


def flows(model: CityModel, ip: IpPlan) -> FlowTable:
    """The city's allowed flows, from the registry and the IP plan."""
    e = _Endpoints(model, ip)
    live = [(dep_id, s) for dep_id, dep in sorted(model.departments.items()) for s in dep.systems
            if s.retirement is None]
    out: list[Flow] = []
    web: dict[str, list[Flow]] = {}  # system -> its web flows, at every site
    for _, s in live:
        for site in Site:
            here = e.system(s.id, site)
            if here is None:
                continue
            for f in _ingress(e, s, site, here):
                out.append(f)
                if f.kind is FlowKind.web:
                    web.setdefault(s.id, []).append(f)
    platforms = {z: [s for _, s in live if s.platform is SharedPlatform.sharing_exchange and s.zone is z]
                 for z in Zone}
    unreachable: list[tuple[str, str]] = []
    egress = model.city.egress
    for dep_id, s in live:
        zone = s.zone
        for site in Site:
            here = e.system(s.id, site)
            if here is None:
                continue
            if here.backup:  # the shared services only (names, time, logs)
                out += [Flow(FlowKind.shared, here, e.shared(zone, site), proto, (port,), f"{what} of the {zone.value}")
                        for proto, port, what in SHARED_SEGMENT_SERVICES if port != 80 and port != 443]
                out += [Flow(FlowKind.shared, here, e.management(zone, site), proto, (port,),
                             f"{what} of the {zone.value}") for proto, port, what in MANAGEMENT_SERVICES]
                continue
            for ref in s.depends_on:
                found = False
                for there_site in Site:
                    there = e.system(ref, there_site)
                    if there is None or there.zone is not zone:
                        continue
                    for proto, port in _opened_to([f for f in web.get(ref, []) if f.destination == there], here):
                        found = True
                        out.append(Flow(FlowKind.dependency, here, there, proto, (port,), f"{s.id} depends on {ref}"))
                if not found and site is Site.primary:
                    unreachable.append((s.id, ref))
            shared = e.shared(zone, site)
            for proto, port, what in SHARED_SEGMENT_SERVICES:
                out.append(Flow(FlowKind.shared, here, shared, proto, (port,), f"{what} of the {zone.value}"))
            mgmt = e.management(zone, site)
            for proto, port, what in MANAGEMENT_SERVICES:
                out.append(Flow(FlowKind.shared, here, mgmt, proto, (port,), f"{what} of the {zone.value}"))
            for platform in platforms[zone]:
                if platform.id == s.id or platform.id in s.depends_on:
                    continue
                for there_site in Site:
                    there = e.system(platform.id, there_site)
                    if there is None:
                        continue
                    for proto, port in _opened_to([f for f in web.get(platform.id, []) if f.destination == there],
                                                  here):
                        out.append(Flow(FlowKind.shared, here, there, proto, (port,),
                                        f"the {zone.value}'s sharing and exchange platform"))
            if model.city.zones[zone].internet:
                out.append(Flow(FlowKind.internet, here, e.internet, TCP, tuple(egress.allowed_ports),
                                "the Internet through the city's egress"))
        here = e.system(s.id, Site.primary)
        if here is None:
            continue
        for h in s.legacy_hosts:
            try:
                mapped = ip.mapped_address(dep_id, h.lan, h.address)
            except KeyError:  # the IP plan could not map the LAN; `jiyue validate` says why
                continue
            source = Endpoint(EndpointKind.legacy, h.name, zone, None, (Address(h.name, f"{mapped}/32"),))
            out.append(Flow(FlowKind.migration, here, source, TCP, (SSH_PORT,),
                            f"migration of {s.id}: pulls from {h.name} over ssh (rsync, pg_dump)", temporary=True))
    return FlowTable(tuple(out), tuple(unreachable))
