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
- on the extranet the egress host: SNAT and a default-deny forward policy opening only the
  egress's allowed ports, toward an "internet" stub host running a web server. The intranet has
  no default route at all.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from netaddr import IPAddress, IPNetwork, IPSet

from jiyue.ipam import IpPlan
from jiyue.registry import CityModel
from jiyue.registry.schema import Department, Site, Zone
from jiyue.stacks import StackName
from lab.image import Progress, quiet
from lab.lab import HostSpec, Lab

ROLES = ("legacy", "target", "bastion", "egress", "internet")
ZONE_CODE = {Zone.intranet: "i", Zone.extranet: "e"}
SITE_CODE = {Site.primary: "p", Site.dr: "d"}
INTERNET_HOST = "internet"
EGRESS_HOST = "egress"

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
    probe_points: dict[str, tuple[str, str, int]]  # label -> (host, address, port)

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
            probe_points={k: tuple(v) for k, v in d["probe_points"].items()},
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
    routers: dict[str, Router] = field(default_factory=dict)
    hosts: list[LabHost] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    root_links: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    protect: list[str] = field(default_factory=list)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    egress_nft: str = ""
    egress_routes: list[tuple[str, str]] = field(default_factory=list)
    probe_points: dict[str, tuple[str, str, int]] = field(default_factory=dict)

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
    for zone in d.model.zones_of(dep):
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


def _edge_uplinks(d: _Draft, dep: Department, edge: Router, lan_zones: dict[str, set[Zone]]) -> dict[Zone, str]:
    """The edge's link to the primary router of each zone its LANs serve (a /30 by IP-plan slot),
    with routes both ways: the zone's ranges from the edge, the LANs' mapped blocks from the zone.
    Returns the edge's interface toward each zone."""
    slot = d.ip.slots[dep.id]
    zone_ifs: dict[Zone, str] = {}
    for zone in sorted({z for zs in lan_zones.values() for z in zs}, key=list(Zone).index):
        transit = IPNetwork(f"{_reserved(d.model, zone, 2).ip}/{d.model.city.addressing.segment_prefix - 2}")
        z_addr, d_addr = _slash30(transit, slot)
        zone_ifs[zone] = f"z{ZONE_CODE[zone]}"
        d.links.append(Link(router_node(zone, Site.primary), f"d{slot}", edge.node, zone_ifs[zone], z_addr, d_addr))
        edge.routes += [(c, _ip(z_addr)) for c in _zone_ranges(d.model, zone)]
        for lan in dep.legacy_lans:
            if zone in lan_zones.get(lan.id, set()):
                d.router(zone, Site.primary).routes.append((d.ip.legacy_block(dep.id, lan.id), _ip(d_addr)))
    return zone_ifs


def _edge_lans(d: _Draft, dep: Department, edge: Router, lan_zones: dict[str, set[Zone]],
               used: dict[str, set[str]], zone_ifs: dict[Zone, str]) -> None:
    """A bridge per legacy LAN with its legacy hosts at their registry addresses, the LAN mapped
    1:1 into the department's block (prefix NAT both ways), forwarding only toward the LAN's own
    zones: the edge's nftables ruleset."""
    dnat, snat, fwd = [], [], []
    for lan in dep.legacy_lans:
        if lan.id not in lan_zones:
            continue
        lan_net = _net(lan.cidr)
        gw = _lan_gateway(lan_net, used[lan.id])
        br = "l-" + str(len(edge.bridges))
        edge.bridges[br] = f"{gw}/{lan_net.prefixlen}"
        block = d.ip.legacy_block(dep.id, lan.id)
        dnat.append(f"ip daddr {block} dnat ip prefix to ip daddr map {{ {block} : {lan.cidr} }}")
        snat.append(f"ip saddr {lan.cidr} snat ip prefix to ip saddr map {{ {lan.cidr} : {block} }}")
        for z in lan_zones[lan.id]:
            fwd.append(f'iifname "{br}" oifname "{zone_ifs[z]}" accept')
            fwd.append(f'iifname "{zone_ifs[z]}" oifname "{br}" accept')
        d.protect.append(lan.cidr)
        for s in dep.systems:
            for h in s.legacy_hosts:
                if h.lan == lan.id:
                    d.hosts.append(LabHost(h.name, "legacy", s.zone.value, None, dep.id,
                                           d.ip.mapped_address(dep.id, lan.id, h.address), edge.node, br,
                                           f"{h.address}/{lan_net.prefixlen}", gw, bastion_name(s.zone),
                                           system=s.id, legacy_name=h.name))
    edge.nft = _edge_ruleset(dnat, snat, fwd)


def _department_edge(d: _Draft, dep_id: str) -> None:
    """The department's machine room: a router namespace holding its legacy LANs (if it has
    legacy hosts), linked to the zones it uses."""
    dep = d.model.departments[dep_id]
    if not any(s.legacy_hosts for s in dep.systems):
        return
    edge = d.routers[dept_node(dep_id)] = Router(dept_node(dep_id))
    lan_zones, used = _lan_zones(dep)
    zone_ifs = _edge_uplinks(d, dep, edge, lan_zones)
    _edge_lans(d, dep, edge, lan_zones, used, zone_ifs)


def _egress(d: _Draft) -> str | None:
    """The extranet's egress host behind the egress site's router, SNAT toward the internet stub;
    returns the stub's address (None when no zone has Internet access)."""
    city = d.model.city
    ext = next((z for z in Zone if city.zones[z].internet), None)
    if ext is None:
        return None
    z_addr, e_addr = _slash30(_reserved(d.model, ext, 1), 1)
    ext_net = _net(city.egress.external_cidr)
    e_ext = _addr(ext_net, 1)
    i_addr = f"{_addr(ext_net, 100)}/{ext_net.prefixlen}"
    site = city.egress.site
    d.links.append(Link(router_node(ext, site), "egress", EGRESS_HOST, "eth0", z_addr, e_addr))
    d.hosts.append(LabHost(EGRESS_HOST, "egress", ext.value, site.value, None, _ip(e_addr), router_node(ext, site),
                           None, e_addr, None, bastion_name(ext)))
    d.hosts.append(LabHost(INTERNET_HOST, "internet", None, None, None, _ip(i_addr), EGRESS_HOST, None, i_addr,
                           None, None))
    d.router(ext, site).routes.append(("default", _ip(e_addr)))
    d.egress_routes = [(c, _ip(z_addr)) for c in _zone_ranges(d.model, ext)]
    d.egress_nft = _egress_ruleset(_zone_ranges(d.model, ext), city.egress.allowed_ports, e_ext)
    return _ip(i_addr)


def _probe_points(d: _Draft, internet: str | None) -> None:
    """Each zone and site's bastion (sshd), the internet stub's web server and, as a port the
    egress does not open, the stub's sshd (a destination only)."""
    for zone in Zone:
        for site in d.sites:
            b = next(h for h in d.hosts if h.name == bastion_name(zone, site))
            d.probe_points[f"{zone.value}-{site.value}"] = (b.name, _ip(b.cidr), 22)
    if internet is not None:
        d.probe_points["internet"] = (INTERNET_HOST, internet, 80)
        d.probe_points["internet:22"] = (INTERNET_HOST, internet, 22)


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
    d = _Draft(model, ip, [Site.primary, Site.dr] if with_dr else [Site.primary])
    _protected_ranges(d)
    for zone in Zone:
        _management(d, zone, controller_slot)
        if with_dr:
            _dci(d, zone)
    for dep in deps:
        _department_targets(d, dep, targets)
    for dep in deps:
        _department_edge(d, dep)
    _probe_points(d, _egress(d))
    return LabPlan(city=model.city.id, departments=deps, routers=list(d.routers.values()), hosts=d.hosts,
                   links=d.links, root_links=d.root_links, protect=list(dict.fromkeys(d.protect)), outputs=d.outputs,
                   egress_nft=d.egress_nft, egress_routes=d.egress_routes, probe_points=d.probe_points)


def _edge_ruleset(dnat: list[str], snat: list[str], fwd: list[str]) -> str:
    nl = "\n    "
    return f"""table ip jiyue_edge {{
  chain prerouting {{
    type nat hook prerouting priority dstnat;
    {nl.join(dnat)}
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat;
    {nl.join(snat)}
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    {nl.join(fwd)}
  }}
}}
"""


def _egress_ruleset(internal_ranges: list[str], allowed_ports: Iterable[int], snat_to: str) -> str:
    """Default-deny forwarding opening only the allowed ports from the zone, SNAT to the egress's
    external address."""
    ports = ", ".join(str(p) for p in allowed_ports)
    internal = ", ".join(internal_ranges)
    return f"""table ip jiyue_egress {{
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "eth0" oifname "ext0" ip saddr {{ {internal} }} tcp dport {{ {ports} }} accept
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat;
    oifname "ext0" ip saddr {{ {internal} }} snat to {snat_to}
  }}
}}
"""


# --------------------------------------------------------------------------- applying the plan


def expected_matrix(model: CityModel, plan: LabPlan) -> dict[str, dict[str, bool]]:
    """Which probe point may reach which: same zone yes, across zones never, the Internet only
    from a zone that has Internet access (through the egress), and nothing from the Internet."""
    out: dict[str, dict[str, bool]] = {}
    for src in probe_sources(plan):
        out[src] = {}
        for dst in plan.probe_points:
            if src == dst or dst.split(":")[0] == src:
                continue
            if src == "internet":
                ok = False
            elif dst == "internet:22":
                ok = False  # the egress opens only its allowed ports
            elif dst == "internet":
                ok = model.city.zones[Zone(src.split("-")[0])].internet
            else:
                ok = src.split("-")[0] == dst.split("-")[0]
            out[src][dst] = ok
    return out


def probe_sources(plan: LabPlan) -> list[str]:
    return [p for p in plan.probe_points if ":" not in p]


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


_PROBE = """
import socket, sys, json
res = {}
for label, addr, port in json.loads(sys.argv[1]):
    s = socket.socket(); s.settimeout(float(sys.argv[2]))
    try:
        s.connect((addr, port)); res[label] = True
    except OSError:
        res[label] = False
    finally:
        s.close()
print(json.dumps(res))
"""


def probe(lab: Lab, plan: LabPlan, timeout: float = 1.5) -> dict[str, dict[str, bool]]:
    """Real TCP connects from every probe point to every other; returns the observed matrix."""
    def one(src: str) -> tuple[str, dict[str, bool]]:
        host = plan.probe_points[src][0]
        targets = [[dst, addr, port] for dst, (_, addr, port) in plan.probe_points.items()
                   if dst.split(":")[0] != src]
        proc = lab.exec(host, ["python3", "-c", _PROBE, json.dumps(targets), str(timeout)], check=True)
        return src, json.loads(proc.stdout)

    with ThreadPoolExecutor(max_workers=len(plan.probe_points)) as pool:
        return dict(pool.map(one, probe_sources(plan)))
