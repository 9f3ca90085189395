"""The lab's firewalls, written from the city's flow table (:func:`jiyue.flows.flows`, G8).

The lab filters where the city has a gate between networks:

- each department edge, between the data center and the department's machine room, forwards into
  its legacy LANs only the flows of the table that end at one of its legacy hosts; the
  ``migration`` flows (a system's targets to its own legacy sources, tcp/22) are the elements of
  the edge's named set ``migrating`` (``target . source . port``, the source at the address the
  data center reaches it by), empty at bring-up and filled only while the system migrates
  (:mod:`lab.migrations`). Nothing leaves a legacy LAN but replies: no flow of the table starts
  there;
- the egress host forwards to the Internet only from the hosts the table's ``internet`` flows
  start at, on their ports, and accepts for itself nothing but loopback, replies and ssh from the
  zone's management segment.

Inside a zone the lab's routers forward everything: in the data center the security groups the
Pulumi program writes from the same table are the filter, and the lab has none.

The table speaks of the data center. :func:`lab_table` adds what the lab itself needs to be run
(:data:`LAB_FLOW` names it in every reason): the zone's management segment at the primary site
(the bastion, where the lab's operators and the migration's stand-in clients sit) reaches each
legacy host on ssh and on what it serves (web, PostgreSQL), and the egress host on ssh; the
management segments of a zone reach each other on ssh (the DR site's management host is reached
through the primary bastion).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from netaddr import IPAddress, IPNetwork

from jiyue.flows import (
    POSTGRESQL_PORT,
    SSH_PORT,
    TCP,
    WEB_PORTS,
    Address,
    Endpoint,
    EndpointKind,
    Flow,
    FlowKind,
    FlowTable,
)
from jiyue.ipam import IpPlan
from jiyue.registry import CityModel
from jiyue.registry.schema import Service, Site, Zone

EDGE_TABLE = "jiyue_edge"
EGRESS_TABLE = "jiyue_egress"
MIGRATING_SET = "migrating"
#: how the reasons of the lab's own flows begin
LAB_FLOW = "the lab"


def _segment(ip: IpPlan, zone: Zone, site: Site) -> Endpoint:
    seg = ip.management(zone, site)
    return Endpoint(EndpointKind.management, seg.name, zone, site, (Address(seg.name, seg.cidr),))


def legacy_endpoint(name: str, zone: Zone, mapped: str) -> Endpoint:
    """A legacy host as the data center reaches it (the department edge's 1:1 NAT)."""
    return Endpoint(EndpointKind.legacy, name, zone, None, (Address(name, f"{mapped}/32"),))


def _own_flows(model: CityModel, ip: IpPlan, egress: Sequence[str], egress_zone: Zone | None) -> list[Flow]:
    out: list[Flow] = []
    for zone in Zone:
        primary, dr = _segment(ip, zone, Site.primary), _segment(ip, zone, Site.dr)
        for a, b in ((primary, dr), (dr, primary)):
            out.append(Flow(FlowKind.admin, a, b, TCP, (SSH_PORT,), f"{LAB_FLOW}: the management segments meet"))
    for dep_id, dep in sorted(model.departments.items()):
        for s in dep.systems:
            mgmt = _segment(ip, s.zone, Site.primary)
            for h in s.legacy_hosts:
                try:
                    there = legacy_endpoint(h.name, s.zone, ip.mapped_address(dep_id, h.lan, h.address))
                except KeyError:  # a LAN the IP plan could not map; `jiyue validate` says why
                    continue
                out.append(Flow(FlowKind.admin, mgmt, there, TCP, (SSH_PORT,), f"{LAB_FLOW}: ssh from the bastion"))
                if Service.nginx in h.services or s.public_facing:
                    out.append(Flow(FlowKind.web, mgmt, there, TCP, WEB_PORTS,
                                    f"{LAB_FLOW}: the migration's clients sit on the bastion"))
                if Service.postgresql in h.services:
                    out.append(Flow(FlowKind.admin, mgmt, there, TCP, (POSTGRESQL_PORT,),
                                    f"{LAB_FLOW}: postgresql admin from the bastion"))
    if egress and egress_zone is not None:
        gate = Endpoint(EndpointKind.shared, "egress", egress_zone, model.city.egress.site,
                        tuple(Address("egress", f"{a}/32") for a in egress))
        out.append(Flow(FlowKind.admin, _segment(ip, egress_zone, model.city.egress.site), gate, TCP, (SSH_PORT,),
                        f"{LAB_FLOW}: ssh to the egress host from its management segment"))
    return out


def lab_table(model: CityModel, ip: IpPlan, city: FlowTable, egress: Sequence[str] = (),
              egress_zone: Zone | None = None) -> FlowTable:
    """The city's table and the lab's own flows after it; ``egress`` the egress host's addresses."""
    return FlowTable(city.flows + tuple(_own_flows(model, ip, egress, egress_zone)), city.unreachable)


def _ports(ports: Iterable[int]) -> str:
    ps = sorted(set(ports))
    return str(ps[0]) if len(ps) == 1 else "{ " + ", ".join(map(str, ps)) + " }"


def _addrs(cidrs: Iterable[str]) -> str:
    cs = sorted(set(cidrs))
    return cs[0] if len(cs) == 1 else "{ " + ", ".join(cs) + " }"


def edge_forward_rules(table: FlowTable, lans: Sequence[tuple[str, Zone, str, str]]) -> list[str]:
    """The edge's forward rules into its LANs: ``lans`` is (bridge, zone, uplink to that zone,
    mapped block) per LAN and zone; one rule per flow's source, destination host and protocol,
    the destination matched at the address the data center dials (before the edge's NAT)."""
    rules: dict[tuple[str, str, str, str, str], set[int]] = {}
    for f in table:
        if f.destination.kind is not EndpointKind.legacy or f.temporary:
            continue
        dst = f.destination.cidrs[0].split("/")[0]
        for bridge, zone, uplink, block in lans:
            if f.source.zone is zone and IPAddress(dst) in IPNetwork(block):
                key = (uplink, bridge, _addrs(f.source.cidrs), dst, f.protocol)
                rules.setdefault(key, set()).update(f.ports)
    return [f'iifname "{up}" oifname "{br}" ip saddr {src} ct original ip daddr {dst} {proto} dport {_ports(ps)} '
            f"accept" for (up, br, src, dst, proto), ps in rules.items()]


def edge_ruleset(dnat: list[str], snat: list[str], forward: list[str]) -> str:
    """The department edge: the LANs' 1:1 NAT, the table's flows into them, and the ``migrating``
    set the migration's flows are added to while a system migrates."""
    nl = "\n    "
    return f"""table ip {EDGE_TABLE} {{
  set {MIGRATING_SET} {{
    type ipv4_addr . ipv4_addr . inet_service
    comment "a target . its legacy source as the data center reaches it . port: open while its system migrates"
  }}
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
    {nl.join(forward)}
    ip saddr . ct original ip daddr . tcp dport @{MIGRATING_SET} accept
  }}
}}
"""


def egress_ruleset(table: FlowTable, lab_hosts: Iterable[str], internal_ranges: Sequence[str], snat_to: str) -> str:
    """The egress host: forwarding to the Internet only for the table's ``internet`` flows of the
    lab's hosts (``lab_hosts``, their addresses), SNAT to its external address; for itself only
    loopback, replies and the table's flows to it (ssh from its management segment)."""
    here = set(lab_hosts)
    out: dict[tuple[str, tuple[int, ...]], set[str]] = {}
    inbound: dict[tuple[str, str], set[int]] = {}
    for f in table:
        if f.kind is FlowKind.internet:
            srcs = {c.split("/")[0] for c in f.source.cidrs} & here
            if srcs:
                out.setdefault((f.protocol, tuple(sorted(f.ports))), set()).update(srcs)
        elif f.destination.kind is EndpointKind.shared and f.destination.name == "egress":
            inbound.setdefault((_addrs(f.source.cidrs), f.protocol), set()).update(f.ports)
    nl = "\n    "
    accept_in = [f'iifname "eth0" ip saddr {src} {proto} dport {_ports(ps)} accept'
                 for (src, proto), ps in inbound.items()]
    forward = [f'iifname "eth0" oifname "ext0" ip saddr {_addrs(srcs)} {proto} dport {_ports(ports)} accept'
               for (proto, ports), srcs in out.items()]
    return f"""table ip {EGRESS_TABLE} {{
  chain input {{
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    {nl.join(accept_in)}
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    {nl.join(forward)}
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat;
    oifname "ext0" ip saddr {{ {", ".join(internal_ranges)} }} snat to {snat_to}
  }}
}}
"""
