"""Properties of the whole desired state: every stack of the sample city, run under mocks."""

from __future__ import annotations

from collections import Counter

from netaddr import IPNetwork

from infra import outputs as keys
from infra.labels import KEYS, parse_name
from infra.plan import ANYWHERE, DrMode, dr_mode, services
from infra.preview import stacks
from jiyue.flows import EndpointKind, FlowKind, flows
from jiyue.registry.schema import Classification, Service, Site, Zone
from jiyue.stacks import StackName

MAX_RESOURCES = 500


def _of(p, suffix):
    return [r for r in p.resources if r["type"].endswith(suffix)]


def _zone(p) -> Zone:
    return StackName.parse(p.stack).zone


def _labels(p, r) -> dict[str, str]:
    """A resource's labels: the ids in its name; the classification in its tags or metadata, else its
    nearest component's (a component's ``labels`` input)."""
    ids = parse_name(r["name"])
    assert ids is not None and set(ids) == {"department", "system"}, (p.stack, r["name"])
    by_urn = {x["urn"]: x for x in p.resources}
    node = r
    while node is not None:
        i = node["inputs"]
        tags = dict(t.split("=", 1) for t in i.get("tags") or ())
        cls = (i.get("metadata") or {}).get("classification") or tags.get("classification") \
            or (i.get("labels") or {}).get("classification")
        if cls:
            return {**ids, "classification": cls}
        node = by_urn.get(node["parent"])
    return ids


def test_every_stack_previews_and_none_is_too_large(previews, city):
    assert set(previews) == set(stacks(city))
    sizes = {s: len(p.resources) for s, p in previews.items()}
    assert max(sizes.values()) <= MAX_RESOURCES, max(sizes.items(), key=lambda kv: kv[1])


def test_intranet_has_no_floating_ip_no_gateway_no_external_port(previews, city):
    for p in previews.values():
        if _zone(p) is not Zone.intranet:
            continue
        assert not _of(p, "floatingIp:FloatingIp"), p.stack
        for r in _of(p, "router:Router"):
            assert not r["inputs"].get("externalNetworkId"), p.stack
            assert not r["inputs"].get("externalFixedIps"), p.stack
        assert not _of(p, "firewall/groupV2:GroupV2"), p.stack
        for r in _of(p, "network:Network"):
            assert not r["inputs"].get("external"), p.stack
        external = city.city.egress.external_network
        for r in _of(p, "port:Port"):
            assert r["inputs"].get("networkId") and external not in str(r["inputs"]["networkId"])


def test_extranet_has_one_gateway_router_per_site_in_its_foundation(previews, city):
    for site in Site:
        gateways = [(s, r) for s, p in previews.items() if s.startswith(f"extranet-{site.value}-")
                    for r in _of(p, "router:Router") if r["inputs"].get("externalNetworkId")]
        assert [s for s, _ in gateways] == [f"extranet-{site.value}-foundation"]
        assert gateways[0][1]["inputs"]["enableSnat"] is True
    # no department stack has a router at all, in either zone (T3.5)
    for s, p in previews.items():
        if not StackName.parse(s).is_foundation:
            assert not _of(p, "router:Router"), s


def test_the_egress_firewall_allows_only_the_allowed_ports_and_the_standby_is_closed(previews, city):
    egress = city.city.egress
    for site in Site:
        p = previews[f"extranet-{site.value}-foundation"]
        rules = _of(p, "firewall/ruleV2:RuleV2")
        assert rules
        assert {int(r["inputs"]["destinationPort"]) for r in rules} == set(egress.allowed_ports)
        assert all(r["inputs"]["action"] == "allow" for r in rules)
        active = site is egress.site
        assert all(r["inputs"]["enabled"] is active for r in rules), site
        assert len(_of(p, "firewall/groupV2:GroupV2")) == 1
        assert p.outputs[keys.EGRESS]["role"] == ("active" if active else "standby")
    for site in Site:
        assert previews[f"intranet-{site.value}-foundation"].outputs[keys.EGRESS] is None


def test_no_ingress_from_anywhere_except_web_on_public_facing_systems(previews, city, ip):
    opened = 0
    table = flows(city, ip)
    for p in previews.values():
        for r in _of(p, "secGroupRule:SecGroupRule"):
            i = r["inputs"]
            if i["direction"] == "egress":
                continue
            assert i["direction"] == "ingress"
            prefix = i.get("remoteIpPrefix")
            assert prefix or i.get("remoteGroupId"), f"{r['name']}: no source means anywhere"
            if prefix and IPNetwork(prefix).prefixlen == 0:
                assert prefix == ANYWHERE
                labels = parse_name(r["name"])
                assert labels is not None
                system = city.systems[labels["system"]]
                assert system.public_facing and int(i["portRangeMin"]) == int(i["portRangeMax"]) in (80, 443), r
                opened += 1
            if int(i["portRangeMin"]) in (22, 5432) and prefix:
                zone, site = StackName.parse(p.stack).zone, StackName.parse(p.stack).site
                mgmt = p.outputs[keys.SYSTEMS]
                assert any(prefix == rule["from"] for t in mgmt.values() for rule in t["ingress"])
                labels = parse_name(r["name"])
                replicas = {a.cidr for f in table.ingress_of(labels["system"], site)
                            if f.kind is FlowKind.replication for a in f.source.addresses}
                # from the management segment, or (at the primary site) from the system's own DR hosts
                assert IPNetwork(prefix) in IPNetwork(getattr(city.city.addressing.management, site.value)) \
                    or (site is Site.primary and prefix in replicas), (p.stack, zone, r["name"])
    assert opened > 0


def test_every_security_group_denies_egress_by_default_and_each_egress_rule_is_a_flow(previews, city, ip):
    """No group keeps OpenStack's default egress (all protocols, anywhere, IPv4 and IPv6): each egress
    rule is a flow of the city's table, IPv4, one port, and only the Internet egress goes to 0.0.0.0/0."""
    table = flows(city, ip)
    groups = rules = internet = 0
    for p in previews.values():
        for g in _of(p, "secGroup:SecGroup"):
            assert g["inputs"]["deleteDefaultRules"] is True, g["name"]
            groups += 1
        site = StackName.parse(p.stack).site
        for r in _of(p, "secGroupRule:SecGroupRule"):
            i = r["inputs"]
            if i["direction"] != "egress":
                continue
            system = parse_name(r["name"])["system"]
            assert i["ethertype"] == "IPv4" and i["portRangeMin"] == i["portRangeMax"], r["name"]
            assert "remoteGroupId" not in i, r["name"]
            matching = [f for f in table.egress_of(system, site) if f.protocol == i["protocol"]
                        and int(i["portRangeMin"]) in f.ports and i["remoteIpPrefix"] in f.destination.cidrs]
            assert matching, f"{p.stack}: {r['name']} is no flow of the table"
            if IPNetwork(i["remoteIpPrefix"]).prefixlen == 0:
                assert {f.kind for f in matching} == {FlowKind.internet}, r["name"]
                assert city.systems[system].zone is Zone.extranet
                assert int(i["portRangeMin"]) in city.city.egress.allowed_ports
                internet += 1
            assert not any(f.temporary for f in matching), f"{r['name']}: no system migrates in these stacks"
            rules += 1
    assert groups and rules and internet


def test_a_system_without_dependencies_or_internet_reaches_only_its_shared_services(previews, city, ip):
    s = next(s for s in city.systems.values() if s.zone is Zone.intranet and not s.depends_on
             and s.retirement is None and Service.postgresql not in services(s))
    p = previews[f"intranet-primary-{city.department_of[s.id]}"]
    egress = [r["inputs"] for r in _of(p, "secGroupRule:SecGroupRule")
              if r["inputs"]["direction"] == "egress" and parse_name(r["name"])["system"] == s.id]
    shared = {a.cidr for f in flows(city, ip).egress_of(s.id, Site.primary) if f.kind is FlowKind.shared
              and f.destination.kind in (EndpointKind.shared, EndpointKind.management, EndpointKind.system)
              for a in f.destination.addresses}
    assert egress and {i["remoteIpPrefix"] for i in egress} <= shared
    assert {(i["protocol"], int(i["portRangeMin"])) for i in egress} <= {
        ("udp", 53), ("tcp", 53), ("udp", 123), ("tcp", 80), ("tcp", 443), ("tcp", 514)}


def test_every_classified_volume_is_encrypted(previews, city):
    classes = city.city.volume_classes
    checked = 0
    for p in previews.values():
        for r in _of(p, "volume:Volume"):
            if r["inputs"]["metadata"]["classification"] == Classification.classified.value:
                assert classes[r["inputs"]["volumeType"]].encrypted, r["name"]
                checked += 1
        for r in _of(p, "instance:Instance"):
            if r["inputs"]["metadata"]["classification"] == Classification.classified.value:
                for bd in r["inputs"]["blockDevices"]:
                    assert classes[bd["volumeType"]].encrypted, r["name"]
    assert checked > 0


def test_every_resource_carries_department_system_and_classification(previews, city):
    tagged = Counter()
    for p in previews.values():
        for r in p.resources:
            if r["type"] == "pulumi:pulumi:Stack":
                continue
            labels = _labels(p, r)
            # what has no tags and no component (providers, the foundation's reference, the key pair)
            # carries the ids in its name; everything else a classification too
            assert set(labels) == set(KEYS) or r["parent"] == p.resources[0]["urn"], (p.stack, r["name"])
            dep = StackName.parse(p.stack).department
            assert labels["department"] == (dep or "datacenter"), r["name"]
            if labels["system"] not in ("*", "foundation"):
                assert city.department_of[labels["system"]] == dep
                assert city.systems[labels["system"]].classification.value == labels.get("classification")
            i = r["inputs"]
            if "tags" in i:
                assert {t.split("=", 1)[0] for t in i["tags"]} >= set(KEYS), r["name"]
                assert f"system={labels['system']}" in i["tags"]
                tagged[r["type"]] += 1
            if "metadata" in i:
                assert {k: i["metadata"][k] for k in KEYS} == labels
    assert tagged["openstack:compute/instance:Instance"] > 0


def test_every_system_with_an_rpo_has_its_dr_counterpart(previews, city):
    policy = city.city.dr_policy
    for dep_id, dep in city.departments.items():
        for s in dep.systems:
            primary = previews[f"{s.zone.value}-primary-{dep_id}"].outputs[keys.SYSTEMS][s.id]
            assert primary["drMode"] == (dr_mode(s, policy).value if s.dr else None)
            if s.dr is None:
                continue
            p = previews[f"{s.zone.value}-dr-{dep_id}"]
            target = p.outputs[keys.SYSTEMS][s.id]
            mode = dr_mode(s, policy)
            assert target["drMode"] == mode.value
            standby = [r for r in _of(p, "jiyue:dr:Standby") if parse_name(r["name"])["system"] == s.id]
            assert len(standby) == 1
            servers = [r for r in _of(p, "instance:Instance") if parse_name(r["name"])["system"] == s.id]
            if mode is DrMode.cold:  # one backup host, the smallest flavor, a volume sized from the data
                assert [r["inputs"]["name"] for r in servers] == [f"{s.id}-backup"]
                assert target["backup"]["intervalMinutes"] <= max(5, s.dr.rpo_minutes)
                assert [h["role"] for h in target["hosts"]] == ["backup"]
                small = min(city.city.flavors, key=lambda f: (city.city.flavors[f].vcpus, city.city.flavors[f].ram_gb))
                assert servers[0]["inputs"]["flavorName"] == small
                [volume] = [r for r in _of(p, "volume:Volume") if parse_name(r["name"])["system"] == s.id]
                assert volume["inputs"]["size"] == target["backup"]["volumeGb"] == \
                    2 * s.capacity.volume_gb * s.capacity.instances
            else:
                assert len(servers) == s.capacity.instances
                want = "active"  # a warm standby runs too (its application is stopped on the host)
                assert {r["inputs"]["powerState"] for r in servers} == {want}
                assert [h["address"] for h in target["hosts"]] == \
                    [r["inputs"]["fixedIps"][0]["ipAddress"] for r in _of(p, "port:Port")
                     if parse_name(r["name"])["system"] == s.id]


def test_every_subnet_matches_the_ip_plan(previews, ip):
    checked = 0
    for p in previews.values():
        name = StackName.parse(p.stack)
        for r in _of(p, "subnet:Subnet"):
            i = r["inputs"]
            if name.is_foundation:
                seg = ip.shared(name.zone, name.site) if "shared" in r["name"] else \
                    ip.management(name.zone, name.site)
            else:
                seg = ip.segment(name.department, name.zone, name.site)
            assert (i["cidr"], i["gatewayIp"], i["name"]) == (seg.cidr, seg.gateway, seg.name), r["name"]
            checked += 1
    assert checked == sum(1 for p in previews.values() for r in _of(p, "subnet:Subnet"))


def test_department_stacks_attach_to_their_foundation_router(previews):
    for s, p in previews.items():
        name = StackName.parse(s)
        if name.is_foundation:
            continue
        router = previews[str(name.foundation)].outputs[keys.ROUTER_ID]
        (iface,) = _of(p, "routerInterface:RouterInterface")
        assert iface["inputs"]["routerId"] == router
        (ref,) = _of(p, "pulumi:pulumi:StackReference")
        assert ref["inputs"]["name"].endswith("/jiyue/" + str(name.foundation))


def test_outputs_follow_the_contract_and_equal_the_pure_function(previews, city, ip):
    from infra.outputs import system_targets
    for s, p in previews.items():
        name = StackName.parse(s)
        if name.is_foundation:
            assert set(p.outputs) == set(keys.FOUNDATION_KEYS)
            continue
        assert set(p.outputs) == set(keys.DEPARTMENT_KEYS)
        assert p.outputs[keys.SYSTEMS] == system_targets(city, ip, name.department, name.zone, name.site)
        assert set(p.outputs[keys.SECURITY_GROUP_IDS]) == {
            g for t in p.outputs[keys.SYSTEMS].values() for g in t["securityGroups"]}


def test_shared_platforms_are_built_once_by_the_platform_department(previews, city):
    platform_dep = city.city.platform_department
    platforms = {s.id for s in city.systems.values() if s.platform}
    assert platforms
    for s, p in previews.items():
        for r in _of(p, "jiyue:system:SystemDeployment"):
            system = parse_name(r["name"])["system"]
            if system in platforms and StackName.parse(s).site is Site.primary:
                assert StackName.parse(s).department == platform_dep
    built = Counter(parse_name(r["name"])["system"] for s, p in previews.items() if "-primary-" in s
                    for r in _of(p, "jiyue:system:SystemDeployment"))
    assert all(built[x] == 1 for x in platforms)


def test_a_hot_public_system_has_its_public_addresses_reserved_at_the_dr_site(previews, city):
    """At the DR site a hot public-facing system gets one floating IP per standby, reserved on the
    external network and attached to nothing (a failover associates it); no other DR system gets one."""
    policy, seen = city.city.dr_policy, 0
    for dep_id, dep in city.departments.items():
        for s in dep.systems:
            if s.dr is None or s.retirement is not None or s.zone.value != "extranet":
                continue
            fips = [r for r in _of(previews[f"extranet-dr-{dep_id}"], "floatingIp:FloatingIp")
                    if parse_name(r["name"])["system"] == s.id]
            if s.public_facing and dr_mode(s, policy) is DrMode.hot:
                assert len(fips) == s.capacity.instances, s.id
                assert all(r["inputs"]["pool"] == city.city.egress.external_network and "portId" not in r["inputs"]
                           for r in fips), fips
                seen += 1
            else:
                assert fips == [], s.id
    assert seen, "no hot public system in the sample city"
