"""The rehearsal lab's topology, built from the city model.

:func:`plan_lab` is pure: from the city model, the IP plan and the stack-output contract (the
per-system data of every department stack, passed in as data: ``{stack name: {system id: {...}}}``,
what ``infra.outputs.city_targets`` computes) it decides every node, link, address, route and
firewall rule.
:func:`build` applies that plan through :class:`lab.Lab`. What the lab mirrors:

- per zone and site a router namespace holding one bridge per segment (the department segments
  the Pulumi program declares, the zone's shared and management segments), with the same
  addresses; the two sites of a zone are linked (the DCI); the two zones never are;
- per zone a bastion on the primary management segment: the only host the machine's namespace
  has a link to; everything else is reached with ProxyJump through it, as in production; per
  zone a management host on the DR site's management segment;
- target hosts exactly where the stack outputs put them (the lab writes an outputs file in the
  same shape, ``outputs.json``, so the migration inventory cannot tell the difference);
- per department a router namespace holding its legacy LANs with the registry's addresses,
  linked to the primary router of each zone it uses. Legacy LANs of different departments
  overlap (192.168.1.0/24 everywhere), so the department edge maps each LAN 1:1 (nftables
  prefix NAT, NETMAP) into the department's own block of ``addressing.legacy_map``, and drops
  anything that would cross from one zone to the other through it;
- on the extranet the egress host: SNAT toward an "internet" stub host running a web server.
  The intranet has no default route at all.

The firewalls (the department edges', the egress host's) are written from the city's flow table
by :mod:`lab.firewall`; the plan also records each system's migration flows, which
:mod:`lab.migrations` opens and closes, and the probe points and paths :mod:`lab.probe` tries.

Address choices that exist only in the lab or only during migration come from ranges the city
already owns (reserved segments of each zone's primary supernet, the management range), so
nothing new has to be protected: segment 1 of a zone's primary supernet holds the DCI and the
egress transit, segments 2-5 the department edges (a /30 each, by IP-plan slot), and the last
/24 of the primary management range the links from the controller to the bastions.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from netaddr import IPAddress, IPNetwork, IPSet

from jiyue.flows import TCP, UDP, FlowTable
from jiyue.flows import flows as city_flows
from jiyue.ipam import IpPlan
from jiyue.registry import CityModel
from jiyue.registry.schema import Department, LegacyLan, Service, Site, Zone
from jiyue.stacks import StackName
from lab.firewall import edge_forward_rules, edge_ruleset, egress_ruleset, lab_table
from lab.image import Progress, quiet
from lab.lab import HostSpec, Lab

ROLES = ("legacy", "target", "bastion", "egress", "internet")
ZONE_CODE = {Zone.intranet: "i", Zone.extranet: "e"}
SITE_CODE = {Site.primary: "p", Site.dr: "d"}
INTERNET_HOST = "internet"
EGRESS_HOST = "egress"
#: a UDP port the egress host must not answer on (SNMP, what a firewall appliance often exposes)
EGRESS_UDP_PROBE = 161

#: The stack-output contract's per-system data of each department stack: {stack name: {system id: {...}}}.
Targets = dict[str, dict[str, dict[str, Any]]]


def router_node(zone: Zone, site: Site) -> str:
    return f"z{ZONE_CODE[zone]}{SITE_CODE[site]}"


def dept_node(dep: str) -> str:
    return f"d-{dep}"


def bastion_name(zone: Zone, site: Site = Site.primary) -> str:
    return f"bastion-{zone.value}" if site is Site.primary else f"mgmt-{zone.value}-dr"


@dataclass(frozen=True)
class LabHost:
    name: str
    role: str  # one of ROLES
    zone: str | None
    site: str | None
    department: str | None
    address: str  # the address the controller reaches it at (a legacy host: its mapped address)
    node: str  # the namespace it is linked to (a zone router, a department edge, the egress)
    bridge: str | None  # the bridge it hangs on in that namespace, if any
    cidr: str  # its own interface address with prefix (a legacy host: its real LAN address)
    gateway: str | None
    jump: str | None
    system: str | None = None
    legacy_name: str | None = None  # the registry's name of a legacy host


@dataclass
class Router:
    node: str
    bridges: dict[str, str] = field(default_factory=dict)  # bridge -> gateway address with prefix
    routes: list[tuple[str, str]] = field(default_factory=list)  # (destination, via)
    nft: str | None = None


@dataclass(frozen=True)
class Link:
    a: str
    a_if: str
    b: str
    b_if: str
    a_addr: str
    b_addr: str


@dataclass(frozen=True)
class MigrationFlow:
    """One migration flow of the flow table in the lab: ``target`` pulls from ``source`` (the
    address the data center reaches it by) on ``port``, through the department edge ``node``."""

    system: str
    target: str
    target_address: str
    source: str
    source_address: str
    port: int
    node: str

    @property
    def element(self) -> str:
        """The element of the edge's ``migrating`` set."""
        return f"{self.target_address} . {self.source_address} . {self.port}"


#: label -> (host, address, port, protocol)
ProbePoint = tuple[str, str, int, str]


@dataclass
class LabPlan:
    city: str
    departments: list[str]
    routers: list[Router]
    hosts: list[LabHost]
    links: list[Link]
    root_links: list[tuple[str, str, str, str, str]]  # (node, suffix, node_if, root_addr, node_addr)
    protect: list[str]
    outputs: dict[str, dict[str, Any]]  # stack name -> {"systems": {...}} in the stack-output shape
    egress_nft: str
    egress_routes: list[tuple[str, str]]
    probe_points: dict[str, ProbePoint]  # label -> (host, address, port, protocol)
    probe_sources: dict[str, str] = field(default_factory=dict)  # label -> host
    probe_paths: dict[str, list[str]] = field(default_factory=dict)  # source label -> point labels
    migrations: dict[str, list[MigrationFlow]] = field(default_factory=dict)  # system -> its flows

    def host(self, name: str) -> LabHost:
        return next(h for h in self.hosts if h.name == name)

    @classmethod
    def load(cls, path: Path) -> LabPlan:
        """The plan ``build`` wrote into the lab's directory."""
        d = json.loads(path.read_text())
        return cls(
            city=d["city"], departments=d["departments"],
            routers=[Router(r["node"], r["bridges"], [tuple(x) for x in r["routes"]], r["nft"]) for r in d["routers"]],
            hosts=[LabHost(**h) for h in d["hosts"]], links=[Link(**x) for x in d["links"]],
            root_links=[tuple(x) for x in d["root_links"]], protect=d["protect"], outputs=d["outputs"],
            egress_nft=d["egress_nft"], egress_routes=[tuple(x) for x in d["egress_routes"]],
            probe_points={k: (*v, TCP)[:4] for k, v in d["probe_points"].items()},
            probe_sources=d.get("probe_sources") or {k: v[0] for k, v in d["probe_points"].items() if ":" not in k},
            probe_paths=d.get("probe_paths") or {k: [p for p in d["probe_points"] if p.split(":")[0] != k]
                                                 for k in d["probe_points"] if ":" not in k},
            migrations={k: [MigrationFlow(**f) for f in v] for k, v in d.get("migrations", {}).items()},
        )


def _net(cidr: str) -> IPNetwork:
    return IPNetwork(cidr)


def _addr(net: IPNetwork, n: int) -> str:
    return str(IPAddress(net.first + n))


def _ip(cidr: str) -> str:
    """``10.0.0.1/30`` -> ``10.0.0.1``."""
    return cidr.split("/")[0]


def _slash30(block: IPNetwork, index: int) -> tuple[str, str]:
    """The two usable addresses (with /30) of the ``index``-th /30 of ``block``."""
    first = block.first + 4 * index
    if first + 3 > block.last:
        raise ValueError(f"no /30 number {index} in {block}")
    return f"{IPAddress(first + 1)}/30", f"{IPAddress(first + 2)}/30"


def _reserved(model: CityModel, zone: Zone, index: int) -> IPNetwork:
    """Segment ``index`` of the zone's primary supernet (1: DCI and egress transit, 2-5: department edges)."""
    a = model.city.addressing
    sup = _net(a.supernets[zone].primary)
    size = 2 ** (32 - a.segment_prefix)
    return IPNetwork(f"{IPAddress(sup.first + index * size)}/{a.segment_prefix}")


def _mgmt_block(model: CityModel, zone: Zone, site: Site) -> str:
    """The zone's /24 of the site's management range (the intranet the first, the extranet the second)."""
    mg = _net(getattr(model.city.addressing.management, site.value))
    return f"{IPAddress(mg.first + list(Zone).index(zone) * 256)}/24"


def _site_ranges(model: CityModel, zone: Zone, site: Site) -> list[str]:
    return [getattr(model.city.addressing.supernets[zone], site.value), _mgmt_block(model, zone, site)]


def _zone_ranges(model: CityModel, zone: Zone) -> list[str]:
    sup = model.city.addressing.supernets[zone]
    return [sup.primary, sup.dr, *(_mgmt_block(model, zone, site) for site in Site)]


def _lan_gateway(lan: IPNetwork, used: set[str]) -> str:
    for n in range(lan.size - 2, 0, -1):
        cand = _addr(lan, n)
        if cand not in used:
            return cand
    raise ValueError(f"no free address for the department edge in {lan}")


def controller_block(model: CityModel) -> IPNetwork:
    """The last /24 of the primary management range: the controller's links to the bastions."""
    mgmt_primary = _net(model.city.addressing.management.primary)
    return IPNetwork(f"{IPAddress(mgmt_primary.last - 255)}/24")


def free_controller_slot(model: CityModel) -> int:
    """The first /29 of the controller block no interface of the machine uses yet, so that labs
    of the same city (the demo's, the tests') coexist: each lab's two bastion links get their own."""
    block = controller_block(model)
    used = IPSet()
    for line in subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True,
                               check=False).stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            used.add(IPNetwork(parts[parts.index("inet") + 1]).cidr)
    for slot in range(block.size // 8):
        if not (IPSet([IPNetwork(f"{IPAddress(block.first + 8 * slot)}/29")]) & used):
            return slot
    raise RuntimeError(f"every controller link of {block} is taken: take a lab down first")


# --------------------------------------------------------------------------- planning, layer by layer


@dataclass
class _Draft:
    """The plan while :func:`plan_lab` assembles it; each layer appends to it in order."""

    model: CityModel
    ip: IpPlan
    sites: list[Site]
    table: FlowTable
    routers: dict[str, Router] = field(default_factory=dict)
    hosts: list[LabHost] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    root_links: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    protect: list[str] = field(default_factory=list)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    egress_nft: str = ""
    egress_routes: list[tuple[str, str]] = field(default_factory=list)
    probe_points: dict[str, ProbePoint] = field(default_factory=dict)
    probe_sources: dict[str, str] = field(default_factory=dict)
    probe_paths: dict[str, list[str]] = field(default_factory=dict)
    migrations: dict[str, list[MigrationFlow]] = field(default_factory=dict)
    extra_edges: dict[Zone, int] = field(default_factory=dict)  # further department edges per zone so far

    def router(self, zone: Zone, site: Site) -> Router:
        node = router_node(zone, site)
        if node not in self.routers:
            self.routers[node] = Router(node)
        return self.routers[node]

    def bridge(self, zone: Zone, site: Site, cidr: str, gateway: str) -> tuple[str, str]:
        """(router node, bridge) of the segment with that gateway, the bridge added if new."""
        r = self.router(zone, site)
        gw = f"{gateway}/{_net(cidr).prefixlen}"
        for name, have in r.bridges.items():
            if have == gw:
                return r.node, name
        name = "br-" + str(len(r.bridges))
        r.bridges[name] = gw
        return r.node, name


def _protected_ranges(d: _Draft) -> None:
    """Every range the city owns: the machine's namespace routes none of them out of the lab."""
    a, city = d.model.city.addressing, d.model.city
    for zone in Zone:
        d.protect += _zone_ranges(d.model, zone)
    d.protect += [a.management.primary, a.management.dr, a.legacy_map, city.egress.external_cidr]


def _management(d: _Draft, zone: Zone, controller_slot: int) -> None:
    """The zone's management segments on its routers: the bastion at the primary site, reached
    over its own link from the controller, and a management host at the DR site behind it."""
    root_addr, node_addr = _slash30(controller_block(d.model), 2 * controller_slot + list(Zone).index(zone))
    d.root_links.append((bastion_name(zone), f"b{ZONE_CODE[zone]}", "ctl0", root_addr, node_addr))
    for site in d.sites:
        seg = d.ip.management(zone, site)
        node, br = d.bridge(zone, site, seg.cidr, seg.gateway)
        addr = _addr(_net(seg.cidr), 10)
        primary = site is Site.primary
        d.hosts.append(LabHost(bastion_name(zone, site), "bastion", zone.value, site.value, None,
                               _ip(node_addr) if primary else addr, node, br, f"{addr}/{_net(seg.cidr).prefixlen}",
                               seg.gateway, None if primary else bastion_name(zone)))


def _dci(d: _Draft, zone: Zone) -> None:
    """The link between the zone's two sites: the primary routes the DR ranges over it, the DR
    site's default route points back."""
    p_addr, d_addr = _slash30(_reserved(d.model, zone, 1), 0)
    d.links.append(Link(router_node(zone, Site.primary), "dci", router_node(zone, Site.dr), "dci", p_addr, d_addr))
    d.router(zone, Site.primary).routes += [(c, _ip(d_addr)) for c in _site_ranges(d.model, zone, Site.dr)]
    d.router(zone, Site.dr).routes.append(("default", _ip(p_addr)))


def _department_targets(d: _Draft, dep: str, targets: Targets) -> None:
    """The department's stacks in the lab's outputs, and a host for every running target, on
    the department segment of its zone router."""
    live = {s.zone for s in d.model.departments[dep].systems if s.retirement is None}
    for zone in sorted(live, key=list(Zone).index):  # a department's retired systems have no stack
        for site in d.sites:
            stack = str(StackName(zone, site, dep))
            systems = targets[stack] if site is Site.primary else targets.get(stack, {})
            d.outputs[stack] = {"zone": zone.value, "site": site.value, "department": dep,
                                "segment": systems[next(iter(systems))]["segment"] if systems else None,
                                "systems": systems}
            seg = d.ip.segment(dep, zone, site)
            for sys_id, data in systems.items():
                for h in data["hosts"]:
                    if h["state"] != "running":
                        continue
                    node, br = d.bridge(zone, site, seg.cidr, seg.gateway)
                    d.hosts.append(LabHost(h["name"], "target", zone.value, site.value, dep, h["address"], node, br,
                                           f"{h['address']}/{_net(seg.cidr).prefixlen}", seg.gateway,
                                           bastion_name(zone), system=sys_id))


def _lan_zones(dep: Department) -> tuple[dict[str, set[Zone]], dict[str, set[str]]]:
    """Per legacy LAN of the department: the zones its systems are in, and the addresses its hosts use."""
    zones: dict[str, set[Zone]] = {}
    used: dict[str, set[str]] = {}
    for s in dep.systems:
        for h in s.legacy_hosts:
            zones.setdefault(h.lan, set()).add(s.zone)
            used.setdefault(h.lan, set()).add(h.address)
    return zones, used


def _lan_groups(dep: Department) -> list[list[LegacyLan]]:
    """The department's legacy LANs in groups of LANs whose ranges do not overlap, in file order:
    one edge router each (several buildings may use the same private range, each behind its own
    edge; every host names its LAN and each LAN has a block of its own in the IP plan)."""
    groups: list[list[LegacyLan]] = []
    for lan in dep.legacy_lans:
        net = _net(lan.cidr)
        for group in groups:
            if not any(_net(other.cidr).first <= net.last and net.first <= _net(other.cidr).last for other in group):
                group.append(lan)
                break
        else:
            groups.append([lan])
    return groups


def _edge_uplinks(d: _Draft, dep: Department, edge: Router, lans: list[LegacyLan],
                  lan_zones: dict[str, set[Zone]], group: int) -> dict[Zone, str]:
    """The edge's link to the primary router of each zone its LANs serve (a /30 by IP-plan slot;
    a department's further edges take the transit's /30s from its end), with routes both ways: the
    zone's ranges from the edge, the LANs' mapped blocks from the zone. Returns the edge's
    interface toward each zone."""
    slot = d.ip.slots[dep.id]
    zone_ifs: dict[Zone, str] = {}
    ids = {lan.id for lan in lans}
    for zone in sorted({z for lan, zs in lan_zones.items() if lan in ids for z in zs}, key=list(Zone).index):
        transit = IPNetwork(f"{_reserved(d.model, zone, 2).ip}/{d.model.city.addressing.segment_prefix - 2}")
        index, zone_if = slot, f"d{slot}"
        if group:
            d.extra_edges[zone] = d.extra_edges.get(zone, 0) + 1
            index, zone_if = transit.size // 4 - d.extra_edges[zone], f"d{slot}x{group}"
            if index <= max(d.ip.slots.values()):
                raise ValueError(f"{dep.id}: no /30 left in {transit} for a further department edge")
        z_addr, d_addr = _slash30(transit, index)
        zone_ifs[zone] = f"z{ZONE_CODE[zone]}"
        d.links.append(Link(router_node(zone, Site.primary), zone_if, edge.node, zone_ifs[zone], z_addr, d_addr))
        edge.routes += [(c, _ip(z_addr)) for c in _zone_ranges(d.model, zone)]
        for lan in lans:
            if zone in lan_zones.get(lan.id, set()):
                d.router(zone, Site.primary).routes.append((d.ip.legacy_block(dep.id, lan.id), _ip(d_addr)))
    return zone_ifs


def _edge_lans(d: _Draft, dep: Department, edge: Router, lans_here: list[LegacyLan],
               lan_zones: dict[str, set[Zone]], used: dict[str, set[str]], zone_ifs: dict[Zone, str]) -> None:
    """A bridge per legacy LAN with its legacy hosts at their registry addresses, the LAN mapped
    1:1 into the department's block (prefix NAT both ways), forwarding into it only the flow
    table's flows from the LAN's own zones: the edge's nftables ruleset."""
    dnat, snat = [], []
    lans: list[tuple[str, Zone, str, str]] = []
    for lan in lans_here:
        if lan.id not in lan_zones:
            continue
        lan_net = _net(lan.cidr)
        gw = _lan_gateway(lan_net, used[lan.id])
        br = "l-" + str(len(edge.bridges))
        edge.bridges[br] = f"{gw}/{lan_net.prefixlen}"
        block = d.ip.legacy_block(dep.id, lan.id)
        dnat.append(f"ip daddr {block} dnat ip prefix to ip daddr map {{ {block} : {lan.cidr} }}")
        snat.append(f"ip saddr {lan.cidr} snat ip prefix to ip saddr map {{ {lan.cidr} : {block} }}")
        for z in sorted(lan_zones[lan.id], key=list(Zone).index):
            lans.append((br, z, zone_ifs[z], block))
        d.protect.append(lan.cidr)
        for s in dep.systems:
            for h in s.legacy_hosts:
                if h.lan == lan.id:
                    d.hosts.append(LabHost(h.name, "legacy", s.zone.value, None, dep.id,
                                           d.ip.mapped_address(dep.id, lan.id, h.address), edge.node, br,
                                           f"{h.address}/{lan_net.prefixlen}", gw, bastion_name(s.zone),
                                           system=s.id, legacy_name=h.name))
    edge.nft = edge_ruleset(dnat, snat, edge_forward_rules(d.table, lans))


def _department_edge(d: _Draft, dep_id: str) -> None:
    """The department's machine rooms: a router namespace holding its legacy LANs (if it has
    legacy hosts), linked to the zones it uses; one more for each further group of LANs that use
    the same range as another (:func:`_lan_groups`), named ``d-<department>--<n>``."""
    dep = d.model.departments[dep_id]
    if not any(s.legacy_hosts for s in dep.systems):
        return
    lan_zones, used = _lan_zones(dep)
    for group, lans in enumerate(_lan_groups(dep)):
        node = dept_node(dep_id) if group == 0 else f"{dept_node(dep_id)}--{group}"
        if not any(lan.id in lan_zones for lan in lans):
            continue
        edge = d.routers[node] = Router(node)
        zone_ifs = _edge_uplinks(d, dep, edge, lans, lan_zones, group)
        _edge_lans(d, dep, edge, lans, lan_zones, used, zone_ifs)


@dataclass(frozen=True)
class _EgressAddresses:
    zone: Zone
    router_side: str  # the zone router's end of the transit /30
    inside: str  # the egress host's end, with prefix
    outside: str  # its external address
    internet: str  # the internet stub's, with prefix


def _egress_addresses(model: CityModel) -> _EgressAddresses | None:
    """Where the extranet's egress host and the internet stub sit (None when no zone has Internet access)."""
    city = model.city
    ext = next((z for z in Zone if city.zones[z].internet), None)
    if ext is None:
        return None
    z_addr, e_addr = _slash30(_reserved(model, ext, 1), 1)
    ext_net = _net(city.egress.external_cidr)
    return _EgressAddresses(ext, z_addr, e_addr, _addr(ext_net, 1), f"{_addr(ext_net, 100)}/{ext_net.prefixlen}")


def flow_table(model: CityModel, ip: IpPlan) -> FlowTable:
    """The city's flow table with the lab's own flows (:func:`lab.firewall.lab_table`): what the
    lab's firewalls let through and what the probe expects."""
    e = _egress_addresses(model)
    egress = (_ip(e.inside), e.outside) if e else ()
    return lab_table(model, ip, city_flows(model, ip), egress, e.zone if e else None)


def _egress(d: _Draft) -> str | None:
    """The extranet's egress host behind the egress site's router, SNAT toward the internet stub;
    returns the stub's address (None when no zone has Internet access)."""
    e = _egress_addresses(d.model)
    if e is None:
        return None
    ext, site = e.zone, d.model.city.egress.site
    d.links.append(Link(router_node(ext, site), "egress", EGRESS_HOST, "eth0", e.router_side, e.inside))
    d.hosts.append(LabHost(EGRESS_HOST, "egress", ext.value, site.value, None, _ip(e.inside), router_node(ext, site),
                           None, e.inside, None, bastion_name(ext)))
    d.hosts.append(LabHost(INTERNET_HOST, "internet", None, None, None, _ip(e.internet), EGRESS_HOST, None, e.internet,
                           None, None))
    d.router(ext, site).routes.append(("default", _ip(e.inside)))
    d.egress_routes = [(c, _ip(e.router_side)) for c in _zone_ranges(d.model, ext)]
    targets = [h.address for h in d.hosts if h.role == "target"]
    d.egress_nft = egress_ruleset(d.table, targets, _zone_ranges(d.model, ext), e.outside)
    return _ip(e.internet)


def _migrations(d: _Draft, deps: list[str]) -> None:
    """Every migration flow of the table whose target and source are both in the lab."""
    by_address = {h.address: h for h in d.hosts if h.role in ("target", "legacy")}
    for dep in deps:
        for s in d.model.departments[dep].systems:
            for f in d.table.migration_of(s.id):
                source = by_address.get(f.destination.cidrs[0].split("/")[0])
                for a in f.source.addresses:
                    target = by_address.get(a.cidr.split("/")[0])
                    if source is None or target is None or target.site != Site.primary.value:
                        continue
                    for port in f.ports:
                        d.migrations.setdefault(s.id, []).append(MigrationFlow(
                            s.id, target.name, target.address, source.name, source.address, port, source.node))


def _probe_pairs(d: _Draft, deps: list[str]) -> list[tuple[LabHost, LabHost]]:
    """Per department and zone, the first system with a legacy host and a running primary target:
    (that target, its first legacy host)."""
    pairs = []
    for dep in deps:
        for zone in Zone:
            for s in d.model.departments[dep].systems:
                if s.zone is not zone:
                    continue
                targets = [h for h in d.hosts if h.role == "target" and h.system == s.id and h.site == "primary"]
                legacy = [h for h in d.hosts if h.role == "legacy" and h.system == s.id]
                if targets and legacy:
                    pairs.append((targets[0], legacy[0]))
                    break
    return pairs


def _probe_points(d: _Draft, internet: str | None, deps: list[str]) -> None:
    """The points the probe tries, and from where.

    Points: each zone and site's bastion (sshd); the internet stub's web server and, as a port
    the egress does not open, its sshd; the egress host from the Internet's side (its sshd and a
    UDP port); per department and zone a legacy host (sshd and, if it serves the web, port 80).
    Sources: the bastions and the internet stub try every point; per department and zone a
    data-center target tries what lies beyond a firewall (the legacy hosts, its own system's among
    them, the egress host, the Internet): inside a zone the lab forwards everything, so the paths
    between data-center hosts are left to the security groups."""
    for zone in Zone:
        for site in d.sites:
            b = next(h for h in d.hosts if h.name == bastion_name(zone, site))
            d.probe_points[f"{zone.value}-{site.value}"] = (b.name, _ip(b.cidr), 22, TCP)
            d.probe_sources[f"{zone.value}-{site.value}"] = b.name
    beyond: list[str] = []
    if internet is not None:
        e = _egress_addresses(d.model)
        assert e is not None
        d.probe_points["internet"] = (INTERNET_HOST, internet, 80, TCP)
        d.probe_points["internet:22"] = (INTERNET_HOST, internet, 22, TCP)
        d.probe_points["egress:22"] = (EGRESS_HOST, e.outside, 22, TCP)
        d.probe_points[f"egress:{EGRESS_UDP_PROBE}/udp"] = (EGRESS_HOST, e.outside, EGRESS_UDP_PROBE, UDP)
        d.probe_sources["internet"] = INTERNET_HOST
        beyond += ["internet", "internet:22", "egress:22", f"egress:{EGRESS_UDP_PROBE}/udp"]
    pairs = _probe_pairs(d, deps)
    for _, legacy in pairs:
        reg = next(x for x in d.model.systems[legacy.system].legacy_hosts if x.name == legacy.legacy_name)
        d.probe_points[f"{legacy.name}:22"] = (legacy.name, legacy.address, 22, TCP)
        beyond.append(f"{legacy.name}:22")
        if Service.nginx in reg.services:
            d.probe_points[f"{legacy.name}:80"] = (legacy.name, legacy.address, 80, TCP)
            beyond.append(f"{legacy.name}:80")
    for label, host in d.probe_sources.items():
        d.probe_paths[label] = [p for p, (h, *_) in d.probe_points.items() if h != host]
    for target, _ in pairs:
        d.probe_sources[target.name] = target.name
        d.probe_paths[target.name] = [p for p in beyond if d.probe_points[p][0] != target.name]


def plan_lab(model: CityModel, ip: IpPlan, departments: Iterable[str], targets: Targets, *, with_dr: bool = True,
             controller_slot: int = 0) -> LabPlan:
    """Everything the lab will create for ``departments``, decided without touching the machine.
    ``targets`` is the per-system data of the department stacks (a DR stack the city does not have
    has no systems); ``controller_slot`` picks which /29 of the controller block this lab's bastion
    links use."""
    deps = list(departments)
    unknown = [dep for dep in deps if dep not in model.departments]
    if unknown:
        raise KeyError(", ".join(unknown))
    d = _Draft(model, ip, [Site.primary, Site.dr] if with_dr else [Site.primary], flow_table(model, ip))
    _protected_ranges(d)
    for zone in Zone:
        _management(d, zone, controller_slot)
        if with_dr:
            _dci(d, zone)
    for dep in deps:
        _department_targets(d, dep, targets)
    for dep in deps:
        _department_edge(d, dep)
    _probe_points(d, _egress(d), deps)
    _migrations(d, deps)
    return LabPlan(city=model.city.id, departments=deps, routers=list(d.routers.values()), hosts=d.hosts,
                   links=d.links, root_links=d.root_links, protect=list(dict.fromkeys(d.protect)), outputs=d.outputs,
                   egress_nft=d.egress_nft, egress_routes=d.egress_routes, probe_points=d.probe_points,
                   probe_sources=d.probe_sources, probe_paths=d.probe_paths, migrations=d.migrations)


# --------------------------------------------------------------------------- applying the plan


def write_outputs(plan: LabPlan, path: Path) -> None:
    """The lab's stack outputs: the same shape as ``pulumi stack output --json`` per stack."""
    path.write_text(json.dumps({"city": plan.city, "stacks": plan.outputs}, ensure_ascii=False, indent=2) + "\n")


def plan_as_json(plan: LabPlan) -> dict[str, Any]:
    return asdict(plan)


def plan_text(plan: LabPlan) -> str:
    """The plan as ``build`` writes it into the lab's directory (``plan.json``)."""
    return json.dumps(plan_as_json(plan), ensure_ascii=False, indent=1) + "\n"


def build(lab: Lab, plan: LabPlan, progress: Progress = quiet) -> None:
    """Create everything ``plan`` describes in ``lab``."""
    t0 = time.monotonic()
    specs = [HostSpec(h.name, labels={k: v for k, v in (("role", h.role), ("zone", h.zone), ("site", h.site),
                                                        ("department", h.department), ("system", h.system))
                                      if v})
             for h in plan.hosts]
    lab.up_hosts(specs)
    progress(f"{len(specs)} hosts up in {time.monotonic() - t0:.1f} s")
    t1 = time.monotonic()
    lab.protect(plan.protect)
    for r in plan.routers:
        lab.add_router(r.node)
        for br, gw in r.bridges.items():
            lab.add_bridge(r.node, br)
            lab.add_address(r.node, br, gw)
    for ln in plan.links:
        lab.add_link(ln.a, ln.a_if, ln.b, ln.b_if, ln.a_addr, ln.b_addr)
    ports: dict[str, int] = {}
    for h in plan.hosts:
        if h.bridge is None:
            continue
        n = ports.get(h.node, 0)
        ports[h.node] = n + 1
        ifname = f"h{n}"
        lab.add_link(h.name, "eth0", h.node, ifname, h.cidr, None)
        lab.attach(h.node, ifname, h.bridge)
        if h.gateway:
            lab.add_route(h.name, "default", via=h.gateway)
    internet = next((h for h in plan.hosts if h.role == "internet"), None)
    egress = next((h for h in plan.hosts if h.role == "egress"), None)
    if egress is not None and internet is not None:
        ext = IPNetwork(internet.cidr)
        lab.add_link(EGRESS_HOST, "ext0", INTERNET_HOST, "eth0", f"{_addr(ext, 1)}/{ext.prefixlen}", internet.cidr)
        lab.sysctl(EGRESS_HOST, "net.ipv4.ip_forward", "1")
        for dest, via in plan.egress_routes:
            lab.add_route(EGRESS_HOST, dest, via=via)
        lab.nft(EGRESS_HOST, plan.egress_nft)
    for r in plan.routers:
        for dest, via in r.routes:
            lab.add_route(r.node, dest, via=via)
        if r.nft:
            lab.nft(r.node, r.nft)
    for node, suffix, node_if, root_addr, node_addr in plan.root_links:
        lab.add_root_link(node, suffix, node_if, root_addr, node_addr)
    for h in plan.hosts:
        if h.role != "internet":
            lab.set_ssh(h.name, h.address, jump=h.jump)
    progress(f"network wired in {time.monotonic() - t1:.1f} s")
    if internet is not None:
        page = "<h1>internet stub</h1>\n"
        lab.exec(INTERNET_HOST, ["sh", "-c", f"printf '%s' '{page}' > /var/www/html/index.html"])
        lab.service(INTERNET_HOST, "start", "nginx")
    write_outputs(plan, lab.dir / "outputs.json")
    (lab.dir / "plan.json").write_text(plan_text(plan))
