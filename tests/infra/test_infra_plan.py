"""The pure decisions (no Pulumi): stack names, addresses, rules, DR mode, volume classes, quotas."""

from __future__ import annotations

import pytest
from netaddr import IPAddress, IPNetwork

from infra.outputs import city_targets, system_targets
from infra.plan import (
    ANYWHERE,
    HOST_BLOCK,
    DrMode,
    PlanError,
    dhcp_pool,
    dr_mode,
    host_address,
    ingress_rules,
    quotas,
    volume_class,
)
from jiyue.registry.schema import Classification, DrNeed, Site, Zone
from jiyue.stacks import StackName, check, stacks


def test_stack_names_round_trip(city):
    names = stacks(city)
    assert names[:4] == ["intranet-primary-foundation", "intranet-dr-foundation",
                         "extranet-primary-foundation", "extranet-dr-foundation"]
    assert len(names) == len(set(names))
    for n in names:
        assert str(StackName.parse(n)) == n
    assert StackName.parse("organization/jiyue/extranet-dr-admin-service-center").department == "admin-service-center"


def test_every_department_zone_has_a_primary_stack_and_dr_only_where_needed(city):
    names = set(stacks(city))
    for dep_id, dep in city.departments.items():
        for zone in city.zones_of(dep_id):
            assert f"{zone.value}-primary-{dep_id}" in names
            has_dr = any(s.dr and s.zone is zone for s in dep.systems)
            assert (f"{zone.value}-dr-{dep_id}" in names) == has_dr


@pytest.mark.parametrize("bad", ["intranet", "internet-primary-finance", "intranet-east-finance",
                                 "intranet-primary-nobody"])
def test_unknown_stacks_are_refused(city, bad):
    with pytest.raises(ValueError):
        check(city, bad)


def test_dr_mode_follows_the_city_policy(city):
    policy = city.city.dr_policy
    system = next(s for s in city.systems.values() if s.dr)
    for rto, mode in ((policy.hot_max_rto_minutes, DrMode.hot), (policy.hot_max_rto_minutes + 1, DrMode.warm),
                      (policy.warm_max_rto_minutes, DrMode.warm), (policy.warm_max_rto_minutes + 1, DrMode.cold)):
        assert dr_mode(system.model_copy(update={"dr": DrNeed(rpo_minutes=5, rto_minutes=rto)}), policy) is mode
    assert dr_mode(system.model_copy(update={"dr": None}), policy) is None


def test_host_addresses_are_inside_the_segment_outside_the_dhcp_pool_and_unique(city, ip):
    for stack, systems in city_targets(city, ip).items():
        seen: set[str] = set()
        for target in systems.values():
            net = IPNetwork(target["segment"]["cidr"])
            pool = dhcp_pool(ip.segment(target["department"], target["zone"], target["site"]))
            for h in target["hosts"]:
                addr = IPAddress(h["address"])
                assert addr in net and addr < IPAddress(pool[0]), (stack, h)
                assert h["address"] != target["segment"]["gateway"]
                assert h["address"] not in seen, (stack, h)
                seen.add(h["address"])


def test_primary_and_dr_hosts_share_the_host_part(city, ip):
    """A system's DR host has the same last octet at the DR site: the address plan is one plan."""
    for dep_id, dep in city.departments.items():
        for s in dep.systems:
            if dr_mode(s, city.city.dr_policy) not in (DrMode.hot, DrMode.warm):
                continue
            prim = system_targets(city, ip, dep_id, s.zone, Site.primary)[s.id]["hosts"]
            dr = system_targets(city, ip, dep_id, s.zone, Site.dr)[s.id]["hosts"]
            assert [h["address"].rsplit(".", 1)[1] for h in prim] == [h["address"].rsplit(".", 1)[1] for h in dr]


def test_too_many_instances_is_a_plan_error(ip):
    seg = ip.segment("finance", Zone.extranet, Site.primary)
    with pytest.raises(PlanError):
        host_address(seg, 0, HOST_BLOCK)
    with pytest.raises(PlanError):
        host_address(seg, 40, 0)


def test_only_public_facing_systems_open_anything_to_anywhere(city, ip):
    for s in city.systems.values():
        for site in Site:
            for rule in ingress_rules(city, ip, s, site):
                if rule.remote_ip_prefix == ANYWHERE:
                    assert s.public_facing and rule.port in (80, 443), (s.id, rule)
                if rule.port in (22, 5432) and rule.remote_ip_prefix:
                    # from the management segment, or at the primary site from the system's own DR hosts
                    dr_hosts = {f"{h['address']}/32" for h in system_targets(city, ip, city.department_of[s.id],
                                                                             s.zone, Site.dr)
                                .get(s.id, {"hosts": []})["hosts"]} if site is Site.primary else set()
                    assert rule.remote_ip_prefix == ip.management(s.zone, site).cidr \
                        or rule.remote_ip_prefix in dr_hosts, (s.id, site, rule)


def test_classified_data_gets_an_encrypted_class_even_if_the_registry_forgets(city):
    s = next(s for s in city.systems.values() if s.classification is Classification.classified)
    careless = s.model_copy(update={"capacity": s.capacity.model_copy(update={"volume_class": "standard"})})
    for site in Site:
        assert city.city.volume_classes[volume_class(city, careless, site)].encrypted


def test_hot_and_warm_systems_get_replicated_volumes(city):
    for s in city.systems.values():
        if dr_mode(s, city.city.dr_policy) in (DrMode.hot, DrMode.warm):
            for site in Site:
                assert city.city.volume_classes[volume_class(city, s, site)].replicated, s.id


def test_quotas_cover_what_the_systems_need_and_forbid_routers(city):
    for dep_id, dep in city.departments.items():
        for zone in city.zones_of(dep_id):
            here = [s for s in dep.systems if s.zone is zone]
            q = quotas(city, dep_id, zone, Site.primary)
            assert q.routers == 0
            assert q.instances >= sum(s.capacity.instances for s in here)
            assert q.vcpus >= sum(city.city.flavors[s.capacity.flavor].vcpus * s.capacity.instances for s in here)
            assert q.gigabytes >= sum(s.capacity.volume_gb * s.capacity.instances for s in here)
            if zone is Zone.intranet:
                assert q.floating_ips == 0


def test_a_retired_system_is_built_nowhere_and_moves_no_other_address(city, ip, tmp_path, retirable, retire_in_copy):
    """A zombie whose retirement the registry records (T1.2) gets no stack resource, primary or
    DR; every other system keeps its addresses (positions in the department file stay)."""
    from infra.preview import preview
    from jiyue.ipam import plan as ip_plan
    from jiyue.registry import load_city

    from .conftest import SAMPLE_CITY

    victim = retirable(city, with_dr=True)
    dep = city.department_of[victim.id]
    retired = load_city(retire_in_copy(SAMPLE_CITY, tmp_path / "city", victim.id))

    before, after = city_targets(city, ip), city_targets(retired, ip_plan(retired))
    assert set(before) == set(after)
    for stack in before:
        assert victim.id not in after[stack]
        assert after[stack] == {k: v for k, v in before[stack].items() if k != victim.id}, stack
    assert any(victim.id in t for t in before.values())

    for site in ("primary", "dr"):
        stack = f"{victim.zone.value}-{site}-{dep}"

        def built(model, stack=stack):
            return [r["urn"] for r in preview(model, stack).resources if f"/{victim.id}/" in r["name"]]

        assert built(city), stack
        assert not built(retired), stack
