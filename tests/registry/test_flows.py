"""The table of allowed flows (jiyue/flows.py): derived from the registry and the IP plan, one source for
the program's security groups, the lab's firewalls and probe, and the pack."""

from __future__ import annotations

import pytest
from netaddr import IPAddress, IPNetwork

from jiyue.flows import (
    SSH_PORT,
    EndpointKind,
    FlowKind,
    FlowTable,
    flows,
    ingress_flows,
    serves_web,
)
from jiyue.ipam import IpPlan
from jiyue.ipam import plan as ip_plan
from jiyue.placement import has_hosts, site_hosts
from jiyue.registry import DEFAULT_CITY, CityModel, load_city
from jiyue.registry.schema import Site, Zone


@pytest.fixture(scope="module")
def city() -> CityModel:
    return load_city(DEFAULT_CITY)


@pytest.fixture(scope="module")
def ip(city: CityModel) -> IpPlan:
    return ip_plan(city)


@pytest.fixture(scope="module")
def table(city: CityModel, ip: IpPlan) -> FlowTable:
    return flows(city, ip)


def _host(endpoint) -> str:
    return str(IPNetwork(endpoint.addresses[0].cidr).ip)


def test_every_system_with_hosts_reaches_its_zones_shared_services_and_nothing_of_the_other_zone(city, ip, table):
    for s in city.systems.values():
        for site in Site:
            out = table.egress_of(s.id, site)
            if not site_hosts(city, s, site):
                assert out == [], (s.id, site)
                continue
            if not has_hosts(city, s, site):  # a cold system's backup host: names, time and logs only
                assert {f.kind for f in out} == {FlowKind.replication, FlowKind.shared}, (s.id, site)
            shared = {(f.destination.name, f.protocol, f.ports) for f in out if f.kind is FlowKind.shared}
            seg, mgmt = ip.shared(s.zone, site).name, ip.management(s.zone, site).name
            assert {(seg, "udp", (53,)), (seg, "tcp", (53,)), (seg, "udp", (123,)),
                    (mgmt, "tcp", (514,))} <= shared, (s.id, site)
            for f in out:
                assert f.source.site is site and f.destination.zone in (s.zone, None), (s.id, f)


def test_the_internet_only_where_the_registry_allows_it_and_only_on_the_egress_ports(city, table):
    internet = table.of_kind(FlowKind.internet)
    assert internet
    for f in internet:
        assert city.city.zones[f.source.zone].internet and f.source.zone is Zone.extranet
        assert f.destination.kind is EndpointKind.internet and f.destination.cidrs == ("0.0.0.0/0",)
        assert (f.protocol, f.ports) == ("tcp", tuple(city.city.egress.allowed_ports))
    intranet = [s for s in city.systems.values() if s.zone is Zone.intranet]
    assert intranet and not any(f.destination.kind is EndpointKind.internet
                                for s in intranet for f in table.egress_of(s.id))


def test_a_dependency_is_reached_on_the_ports_its_ingress_opens_to_the_system(city, ip, table):
    pairs = 0
    for s in city.systems.values():
        if s.retirement is not None:
            continue
        for ref in s.depends_on:
            dep_flows = [f for f in table.egress_of(s.id, Site.primary)
                         if f.kind is FlowKind.dependency and f.destination.name == ref]
            if not serves_web(city.systems[ref]):
                assert not dep_flows and (s.id, ref) in table.unreachable
                continue
            assert {p for f in dep_flows for p in f.ports} == {80, 443}, (s.id, ref)
            for f in dep_flows:  # what the dependency's own ingress admits
                src, dst = _host(f.source), _host(f.destination)
                opened = [g for g in ingress_flows(city, ip, city.systems[ref], f.destination.site)
                          if g.admits(src, dst, f.protocol, f.ports[0])]
                assert opened and all(g.kind is FlowKind.web for g in opened), f
            pairs += 1
    assert pairs > 50


def test_the_table_holds_each_systems_ingress_as_the_program_builds_it(city, ip, table):
    for s in list(city.systems.values())[::7]:
        for site in Site:
            got = [f for f in table.ingress_of(s.id, site)
                   if f.kind in (FlowKind.web, FlowKind.admin, FlowKind.peer, FlowKind.replication)]
            assert got == ingress_flows(city, ip, s, site), (s.id, site)
            for f in table.ingress_of(s.id, site):  # what a dependent or a platform's client opens, the web opens
                if f.kind in (FlowKind.dependency, FlowKind.shared):
                    assert any(g.kind is FlowKind.web and g.source.covers(f.source) and g.ports == f.ports
                               for g in got), f


def test_a_dr_copy_reaches_its_primary_only_on_what_it_replicates(city, table):
    """Hot and warm systems: each DR host to each primary host, ssh (the file sync) and PostgreSQL when
    the system runs it; a cold system: its backup host to each primary host, ssh only (files and
    dumps); a system with no DR need and the DR site: none."""
    seen, cold = set(), 0
    for s in city.systems.values():
        got = [f for site in Site for f in table.ingress_of(s.id, site) if f.kind is FlowKind.replication]
        if s.retirement is not None or not site_hosts(city, s, Site.dr):
            assert got == [], s.id
            continue
        if not has_hosts(city, s, Site.dr):
            assert [(f.protocol, f.ports, f.source.cidrs, f.destination.site) for f in got] == \
                [("tcp", (SSH_PORT,), (got[0].source.addresses[0].cidr,), Site.primary)], s.id
            assert got[0].source.addresses[0].name == f"{s.id}-backup"
            cold += 1
            continue
        runs_pg = any(x.value == "postgresql" for h in s.legacy_hosts for x in h.services)
        want = {("tcp", (SSH_PORT,))} | ({("tcp", (5432,))} if runs_pg else set())
        assert {(f.protocol, f.ports) for f in got} == want
        for f in got:
            assert (f.source.name, f.source.site, f.destination.name, f.destination.site) == \
                (s.id, Site.dr, s.id, Site.primary)
            assert len(f.source.cidrs) == len(f.destination.cidrs) == s.capacity.instances
        seen.add(runs_pg)
    assert True in seen, "no DR system with a database in the sample city"
    assert cold, "no cold system in the sample city"


def test_migration_flows_pull_from_the_systems_own_legacy_hosts_over_ssh_and_are_temporary(city, ip, table):
    system = next(s for s in city.systems.values() if s.legacy_hosts and s.retirement is None)
    dep = city.department_of[system.id]
    got = table.migration_of(system.id)
    want = {f"{ip.mapped_address(dep, h.lan, h.address)}/32" for h in system.legacy_hosts}
    assert {f.destination.cidrs[0] for f in got} == want
    assert all(f.temporary and (f.protocol, f.ports) == ("tcp", (SSH_PORT,)) and f.source.site is Site.primary
               for f in got)
    src, dst = _host(got[0].source), _host(got[0].destination)
    assert table.allowed(src, dst, "tcp", 22) == got[0]
    assert table.allowed(src, dst, "tcp", 22, temporary=False) is None
    assert table.allowed(dst, src, "tcp", 22) is None  # the sources never open anything to the targets


def test_allowed_answers_for_addresses(city, ip, table):
    extranet = next(s for s in city.systems.values() if s.zone is Zone.extranet and s.retirement is None)
    intranet = next(s for s in city.systems.values() if s.zone is Zone.intranet and s.retirement is None)
    ext = _host(next(f.source for f in table.egress_of(extranet.id, Site.primary)))
    itr = _host(next(f.source for f in table.egress_of(intranet.id, Site.primary)))
    bastion = str(IPNetwork(ip.management(Zone.intranet, Site.primary).cidr)[10])
    assert table.allowed(bastion, itr, "tcp", 22).kind is FlowKind.admin
    assert table.allowed(bastion, itr, "tcp", 3389) is None
    assert table.allowed(ext, "203.0.113.7", "tcp", 443).kind is FlowKind.internet
    assert table.allowed(ext, "203.0.113.7", "tcp", 22) is None
    assert table.allowed(itr, "203.0.113.7", "tcp", 443) is None
    assert table.allowed(ext, itr, "tcp", 443) is None  # the Internet is not the city's own ranges
    dns = str(IPAddress(ip.shared(Zone.intranet, Site.primary).gateway) + 2)
    assert table.allowed(itr, dns, "udp", 53).kind is FlowKind.shared


def test_egress_rules_are_one_per_address_and_port_and_leave_the_migration_out_unless_asked(city, table):
    system = next(s for s in city.systems.values() if s.legacy_hosts and s.depends_on and s.retirement is None)
    rules = table.egress_rules(system.id, Site.primary)
    keys = [(r.protocol, r.port, r.to.cidr) for r in rules]
    assert len(keys) == len(set(keys)) and not any(r.temporary for r in rules)
    with_migration = table.egress_rules(system.id, Site.primary, temporary=True)
    assert len(with_migration) == len(rules) + len(system.legacy_hosts)
    assert all(r.to.cidr != "0.0.0.0/0" or (system.zone is Zone.extranet and r.port in (80, 443)) for r in rules)


def test_the_table_as_json_names_each_endpoint_once(table):
    doc = table.as_dict()
    assert len(doc["flows"]) == len(table)
    assert {r["source"] for r in doc["flows"]} | {r["destination"] for r in doc["flows"]} == set(doc["endpoints"])
