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
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from netaddr import IPAddress, IPNetwork, IPSet

from jiyue.ipam import IpPlan
from jiyue.registry import CityModel
from jiyue.registry.schema import Site, Zone
from jiyue.stacks import StackName

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


def _slash30(block: IPNetwork, index: int) -> tuple[str, str]:
    """The two usable addresses (with /30) of the ``index``-th /30 of ``block``."""
    first = block.first + 4 * index
    if first + 3 > block.last:
        raise ValueError(f"no /30 number {index} in {block}")
    return f"{IPAddress(first + 1)}/30", f"{IPAddress(first + 2)}/30"


def _reserved(model: CityModel, zone: Zone, index: int) -> IPNetwork:
    a = model.city.addressing
    sup = _net(a.supernets[zone].primary)
    size = 2 ** (32 - a.segment_prefix)
    return IPNetwork(f"{IPAddress(sup.first + index * size)}/{a.segment_prefix}")


def _zone_ranges(model: CityModel, zone: Zone) -> list[str]:
    a = model.city.addressing
    mg = {s: ip_mgmt for s, ip_mgmt in (("primary", a.management.primary), ("dr", a.management.dr))}
    return [a.supernets[zone].primary, a.supernets[zone].dr, *_mgmt_of_zone(model, zone, mg)]


def _mgmt_of_zone(model: CityModel, zone: Zone, mg: dict[str, str]) -> list[str]:
    k = list(Zone).index(zone)
    return [f"{IPAddress(_net(c).first + k * 256)}/24" for c in mg.values()]


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
    import subprocess

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


def plan_lab(model: CityModel, ip: IpPlan, departments: Iterable[str], targets: Targets, *, with_dr: bool = True,
             controller_slot: int = 0) -> LabPlan:
    """Everything the lab will create for ``departments``, decided without touching the machine.
    ``targets`` is the per-system data of the department stacks (a DR stack the city does not have
    has no systems); ``controller_slot`` picks which /29 of the controller block this lab's bastion
    links use."""
    deps = [d for d in departments]
    unknown = [d for d in deps if d not in model.departments]
    if unknown:
        raise KeyError(", ".join(unknown))
    city = model.city
    routers: dict[str, Router] = {}
    hosts: list[LabHost] = []
    links: list[Link] = []
    root_links: list[tuple[str, str, str, str, str]] = []
    protect: list[str] = []
    outputs: dict[str, dict[str, Any]] = {}

    for zone in Zone:
        protect += _zone_ranges(model, zone)
    protect += [city.addressing.management.primary, city.addressing.management.dr,
                city.addressing.legacy_map, city.egress.external_cidr]

    def router(zone: Zone, site: Site) -> Router:
        node = router_node(zone, site)
        if node not in routers:
            routers[node] = Router(node)
        return routers[node]

    def bridge_for(zone: Zone, site: Site, seg_name: str, cidr: str, gateway: str) -> tuple[str, str]:
        r = router(zone, site)
        br = "br-" + str(len(r.bridges))
        for name, gw in r.bridges.items():
            if gw == f"{gateway}/{_net(cidr).prefixlen}":
                return r.node, name
        r.bridges[br] = f"{gateway}/{_net(cidr).prefixlen}"
        return r.node, br

    # ---- per zone: routers, DCI, bastion and DR management host
    ctl = controller_block(model)
    for k, zone in enumerate(Zone):
        sites = [Site.primary, Site.dr] if with_dr else [Site.primary]
        for site in sites:
            seg = ip.management(zone, site)
            node, br = bridge_for(zone, site, seg.name, seg.cidr, seg.gateway)
            name = bastion_name(zone, site)
            addr = _addr(_net(seg.cidr), 10)
            hosts.append(LabHost(name, "bastion", zone.value, site.value, None, addr if site is Site.dr else "",
                                 node, br, f"{addr}/{_net(seg.cidr).prefixlen}", seg.gateway,
                                 None if site is Site.primary else bastion_name(zone)))
        if with_dr:
            dci = _reserved(model, zone, 1)
            p_addr, d_addr = _slash30(dci, 0)
            links.append(Link(router_node(zone, Site.primary), "dci", router_node(zone, Site.dr), "dci",
                              p_addr, d_addr))
            router(zone, Site.primary).routes += [(c, d_addr.split("/")[0]) for c in _site_ranges(model, zone, Site.dr)]
            router(zone, Site.dr).routes.append(("default", p_addr.split("/")[0]))
        # the controller's link to the zone's bastion
        root_addr, node_addr = _slash30(ctl, 2 * controller_slot + k)
        root_links.append((bastion_name(zone), f"b{ZONE_CODE[zone]}", "ctl0", root_addr, node_addr))
    # the bastion's controller address is how the controller reaches it
    hosts = [
        (LabHost(h.name, h.role, h.zone, h.site, h.department,
                 next(rl[4] for rl in root_links if rl[0] == h.name).split("/")[0], h.node, h.bridge, h.cidr,
                 h.gateway, None)
         if h.role == "bastion" and h.site == "primary" else h)
        for h in hosts
    ]

    # ---- department segments and target hosts, from the stack-output contract
    for dep in deps:
        for zone in model.zones_of(dep):
            for site in ([Site.primary, Site.dr] if with_dr else [Site.primary]):
                stack = str(StackName(zone, site, dep))
                systems = targets[stack] if site is Site.primary else targets.get(stack, {})
                outputs[stack] = {"zone": zone.value, "site": site.value, "department": dep,
                                  "segment": systems[next(iter(systems))]["segment"] if systems else None,
                                  "systems": systems}
                seg = ip.segment(dep, zone, site)
                for sys_id, data in systems.items():
                    for h in data["hosts"]:
                        if h["state"] != "running":
                            continue
                        node, br = bridge_for(zone, site, seg.name, seg.cidr, seg.gateway)
                        hosts.append(LabHost(h["name"], "target", zone.value, site.value, dep, h["address"], node,
                                             br, f"{h['address']}/{_net(seg.cidr).prefixlen}", seg.gateway,
                                             bastion_name(zone), system=sys_id))

    # ---- department edges and legacy hosts
    for dep_id in deps:
        dep = model.departments[dep_id]
        if not any(s.legacy_hosts for s in dep.systems):
            continue
        node = dept_node(dep_id)
        edge = Router(node)
        routers[node] = edge
        slot = ip.slots[dep_id]
        lan_zones: dict[str, set[Zone]] = {}
        used: dict[str, set[str]] = {}
        for s in dep.systems:
            for h in s.legacy_hosts:
                lan_zones.setdefault(h.lan, set()).add(s.zone)
                used.setdefault(h.lan, set()).add(h.address)
        zone_ifs: dict[Zone, str] = {}
        for zone in sorted({z for zs in lan_zones.values() for z in zs}, key=list(Zone).index):
            transit = IPNetwork(f"{_reserved(model, zone, 2).ip}/{city.addressing.segment_prefix - 2}")
            z_addr, d_addr = _slash30(transit, slot)
            ifname = f"z{ZONE_CODE[zone]}"
            zone_ifs[zone] = ifname
            links.append(Link(router_node(zone, Site.primary), f"d{slot}", node, ifname, z_addr, d_addr))
            for c in _zone_ranges(model, zone):
                edge.routes.append((c, z_addr.split("/")[0]))
            for lan in dep.legacy_lans:
                if zone in lan_zones.get(lan.id, set()):
                    router(zone, Site.primary).routes.append((ip.legacy_block(dep_id, lan.id), d_addr.split("/")[0]))
        nat_dnat, nat_snat, fwd = [], [], []
        for lan in dep.legacy_lans:
            if lan.id not in lan_zones:
                continue
            lan_net = _net(lan.cidr)
            gw = _lan_gateway(lan_net, used[lan.id])
            br = "l-" + str(len(edge.bridges))
            edge.bridges[br] = f"{gw}/{lan_net.prefixlen}"
            block = ip.legacy_block(dep_id, lan.id)
            nat_dnat.append(f"ip daddr {block} dnat ip prefix to ip daddr map {{ {block} : {lan.cidr} }}")
            nat_snat.append(f"ip saddr {lan.cidr} snat ip prefix to ip saddr map {{ {lan.cidr} : {block} }}")
            for z in lan_zones[lan.id]:
                fwd.append(f'iifname "{br}" oifname "{zone_ifs[z]}" accept')
                fwd.append(f'iifname "{zone_ifs[z]}" oifname "{br}" accept')
            protect.append(lan.cidr)
            for s in dep.systems:
                for h in s.legacy_hosts:
                    if h.lan != lan.id:
                        continue
                    hosts.append(LabHost(h.name, "legacy", s.zone.value, None, dep_id,
                                         ip.mapped_address(dep_id, lan.id, h.address), node, br,
                                         f"{h.address}/{lan_net.prefixlen}", gw, bastion_name(s.zone),
                                         system=s.id, legacy_name=h.name))
        edge.nft = _edge_ruleset(nat_dnat, nat_snat, fwd)

    # ---- the extranet's egress and the internet stub
    egress_routes: list[tuple[str, str]] = []
    egress_nft = ""
    ext = next((z for z in Zone if city.zones[z].internet), None)
    if ext is not None:
        etransit = _reserved(model, ext, 1)
        z_addr, e_addr = _slash30(etransit, 1)
        ext_net = _net(city.egress.external_cidr)
        e_ext = f"{_addr(ext_net, 1)}/{ext_net.prefixlen}"
        i_addr = f"{_addr(ext_net, 100)}/{ext_net.prefixlen}"
        site = city.egress.site
        links.append(Link(router_node(ext, site), "egress", EGRESS_HOST, "eth0", z_addr, e_addr))
        hosts.append(LabHost(EGRESS_HOST, "egress", ext.value, site.value, None, e_addr.split("/")[0],
                             router_node(ext, site), None, e_addr, None, bastion_name(ext)))
        hosts.append(LabHost(INTERNET_HOST, "internet", None, None, None, i_addr.split("/")[0], EGRESS_HOST, None,
                             i_addr, None, None))
        router(ext, site).routes.append(("default", e_addr.split("/")[0]))
        egress_routes = [(c, z_addr.split("/")[0]) for c in _zone_ranges(model, ext)]
        ports = ", ".join(str(p) for p in city.egress.allowed_ports)
        internal = ", ".join(_zone_ranges(model, ext))
        egress_nft = f"""table ip jiyue_egress {{
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "eth0" oifname "ext0" ip saddr {{ {internal} }} tcp dport {{ {ports} }} accept
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat;
    oifname "ext0" ip saddr {{ {internal} }} snat to {e_ext.split('/')[0]}
  }}
}}
"""
        protect.append(city.egress.external_cidr)

    probe_points: dict[str, tuple[str, str, int]] = {}
    for zone in Zone:
        for site in ([Site.primary, Site.dr] if with_dr else [Site.primary]):
            b = next(h for h in hosts if h.name == bastion_name(zone, site))
            probe_points[f"{zone.value}-{site.value}"] = (b.name, b.cidr.split("/")[0], 22)
    if ext is not None:
        probe_points["internet"] = (INTERNET_HOST, i_addr.split("/")[0], 80)
        # a port the egress does not open: the internet stub's sshd (destination only)
        probe_points["internet:22"] = (INTERNET_HOST, i_addr.split("/")[0], 22)

    return LabPlan(city=city.id, departments=deps, routers=list(routers.values()), hosts=hosts, links=links,
                   root_links=root_links, protect=list(dict.fromkeys(protect)), outputs=outputs,
                   egress_nft=egress_nft, egress_routes=egress_routes, probe_points=probe_points)


def _site_ranges(model: CityModel, zone: Zone, site: Site) -> list[str]:
    a = model.city.addressing
    mg = _net(getattr(a.management, site.value))
    k = list(Zone).index(zone)
    return [getattr(a.supernets[zone], site.value), f"{IPAddress(mg.first + k * 256)}/24"]


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


def seed_items(model: CityModel, plan: LabPlan) -> list[tuple[str, Any, Any]]:
    """What ``lab.seed.seed_hosts`` needs for the plan's legacy hosts: (host, system, legacy host)."""
    items = []
    for h in plan.hosts:
        if h.role == "legacy":
            system = model.systems[h.system]
            items.append((h.name, system, next(x for x in system.legacy_hosts if x.name == h.legacy_name)))
    return items


def write_outputs(plan: LabPlan, path: Path) -> None:
    """The lab's stack outputs: the same shape as ``pulumi stack output --json`` per stack."""
    path.write_text(json.dumps({"city": plan.city, "stacks": plan.outputs}, ensure_ascii=False, indent=2) + "\n")


def plan_as_json(plan: LabPlan) -> dict[str, Any]:
    return asdict(plan)


Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def build(lab: Any, plan: LabPlan, progress: Progress = _quiet) -> None:
    """Create everything ``plan`` describes in ``lab`` (a :class:`lab.Lab`)."""
    from lab import HostSpec

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
    (lab.dir / "plan.json").write_text(json.dumps(plan_as_json(plan), ensure_ascii=False, indent=1) + "\n")


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


def probe(lab: Any, plan: LabPlan, timeout: float = 1.5) -> dict[str, dict[str, bool]]:
    """Real TCP connects from every probe point to every other; returns the observed matrix."""
    from concurrent.futures import ThreadPoolExecutor

    def one(src: str) -> tuple[str, dict[str, bool]]:
        host = plan.probe_points[src][0]
        targets = [[dst, addr, port] for dst, (_, addr, port) in plan.probe_points.items()
                   if dst.split(":")[0] != src]
        proc = lab.exec(host, ["python3", "-c", _PROBE, json.dumps(targets), str(timeout)], check=True)
        return src, json.loads(proc.stdout)

    with ThreadPoolExecutor(max_workers=len(plan.probe_points)) as pool:
        return dict(pool.map(one, probe_sources(plan)))
