"""Zone foundations: one per zone and site (T3.1, T3.3–T3.5).

A foundation holds the zone's shared-service network (DNS, NTP, mirrors), its management/bastion
network, the zone router every department segment attaches to (departments never get a router or
a gateway of their own, T3.5), and the zone's DNS zone.

The intranet (电子政务内网) has no external network, no external gateway and no floating IP: its
router has interfaces on the zone's own segments only, and nothing is shared with the extranet.

The extranet (电子政务外网) router at each site is the city's Internet edge: external gateway and
SNAT, guarded by an FWaaS v2 firewall group (:class:`Egress`). At the egress site (``egress.site``)
it is the one active egress; at the other site it is a closed standby (its firewall rules exist but
are disabled, so the firewall denies everything) that a failover opens by enabling them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from jiyue.ipam import Segment
from jiyue.registry.schema import Site, Zone

from .labels import Labels
from .plan import dhcp_pool


@dataclass(frozen=True)
class EgressPlan:
    external_network: str  # the provider network toward the Internet (by name)
    external_cidr: str
    allowed_ports: tuple[int, ...]
    inside_cidrs: tuple[str, ...]  # the extranet supernet of the site: what may go out
    active: bool  # the egress site; False: closed standby


@dataclass
class EgressArgs:
    plan: EgressPlan
    router_id: pulumi.Input[str]
    external_network_id: pulumi.Input[str]
    labels: Labels


class Egress(pulumi.ComponentResource):
    """The city's single Internet egress at a site: an FWaaS v2 firewall group on the router's gateway port.

    Why FWaaS v2 and not security groups: security groups belong to ports of a project, and a
    department's project members can edit its groups; the egress policy must be one central rule
    set, owned by the platform (admin) project, applied where every department's traffic crosses
    the edge, and it must filter traffic the routers SNAT, which no port's security group sees.
    FWaaS v2 binds a firewall group to the router's gateway port: an egress policy (from the
    extranet out: only the allowed ports) and an ingress policy (from the Internet in: only the
    allowed ports, toward the floating IPs of public-facing systems); FWaaS denies whatever no
    rule allows. Standby: the same rules with ``enabled: false``, so everything is denied.
    """

    def __init__(self, name: str, args: EgressArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("jiyue:foundation:Egress", name, {"labels": args.labels.metadata}, opts)
        child = pulumi.ResourceOptions(parent=self)
        lab, plan = args.labels, args.plan
        state = "active" if plan.active else "standby (rules disabled until failover)"
        out_rules: list[pulumi.Output[str]] = []
        in_rules: list[pulumi.Output[str]] = []
        for port in plan.allowed_ports:
            for inside in plan.inside_cidrs:
                what = f"egress-out-{port}-{inside.replace('/', '_')}"
                r = openstack.firewall.RuleV2(
                    lab.name(what),
                    name=f"egress-out-{port}",
                    description=lab.description(f"{state}: extranet {inside} to the Internet on tcp/{port}"),
                    action="allow", protocol="tcp", ip_version=4, destination_port=str(port),
                    source_ip_address=inside, enabled=plan.active, opts=lab.opts(what, child))
                out_rules.append(r.id)
            r = openstack.firewall.RuleV2(
                lab.name(f"egress-in-{port}"),
                name=f"egress-in-{port}",
                description=lab.description(f"{state}: the Internet to public-facing floating IPs on tcp/{port}"),
                action="allow", protocol="tcp", ip_version=4, destination_port=str(port),
                destination_ip_address=plan.external_cidr, enabled=plan.active,
                opts=lab.opts(f"egress-in-{port}", child))
            in_rules.append(r.id)
        self.egress_policy = openstack.firewall.PolicyV2(
            lab.name("egress-policy-out"), name="egress-out", audited=True, rules=out_rules,
            description=lab.description("what the extranet may reach on the Internet"),
            opts=lab.opts("egress-policy-out", child))
        self.ingress_policy = openstack.firewall.PolicyV2(
            lab.name("egress-policy-in"), name="egress-in", audited=True, rules=in_rules,
            description=lab.description("what the Internet may reach"), opts=lab.opts("egress-policy-in", child))
        gateway_port = openstack.networking.get_port_output(
            device_id=args.router_id, network_id=args.external_network_id,
            device_owner="network:router_gateway", opts=pulumi.InvokeOutputOptions(parent=self))
        self.group = openstack.firewall.GroupV2(
            lab.name("egress-firewall"), name="egress",
            description=lab.description(f"the city's Internet egress, {state}"),
            ingress_firewall_policy_id=self.ingress_policy.id,
            egress_firewall_policy_id=self.egress_policy.id,
            ports=[gateway_port.id], admin_state_up=True, opts=lab.opts("egress-firewall", child))
        self.register_outputs({"firewallGroupId": self.group.id})


@dataclass
class ZoneFoundationArgs:
    zone: Zone
    site: Site
    shared: Segment
    management: Segment
    dns_zone_name: str
    dns_email: str
    labels: Labels
    egress: EgressPlan | None = None  # the extranet's Internet edge; None on the intranet


class ZoneFoundation(pulumi.ComponentResource):
    def __init__(self, name: str, args: ZoneFoundationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("jiyue:foundation:ZoneFoundation", name, {"labels": args.labels.metadata}, opts)
        child = pulumi.ResourceOptions(parent=self)
        lab = args.labels
        where = f"{args.zone.value}-{args.site.value}"

        def network(kind: str, seg: Segment, what: str) -> tuple[openstack.networking.Network,
                                                                openstack.networking.Subnet]:
            net = openstack.networking.Network(
                lab.name(f"{kind}-network"), name=seg.name, description=lab.description(what),
                admin_state_up=True, tags=lab.tags, opts=lab.opts(f"{kind}-network", child))
            start, end = dhcp_pool(seg)
            sub = openstack.networking.Subnet(
                lab.name(f"{kind}-subnet"), name=seg.name, network_id=net.id, cidr=seg.cidr,
                gateway_ip=seg.gateway, ip_version=4, enable_dhcp=True,
                allocation_pools=[openstack.networking.SubnetAllocationPoolArgs(start=start, end=end)],
                description=lab.description(what), tags=lab.tags, opts=lab.opts(f"{kind}-subnet", child))
            return net, sub

        self.shared_network, self.shared_subnet = network(
            "shared", args.shared, f"{where} shared services: DNS, NTP, mirrors")
        self.management_network, self.management_subnet = network(
            "management", args.management, f"{where} management and bastion hosts")

        external_network_id: pulumi.Output[str] | None = None
        if args.egress is not None:
            external_network_id = openstack.networking.get_network_output(
                name=args.egress.external_network, external=True,
                opts=pulumi.InvokeOutputOptions(parent=self)).id
        self.router = openstack.networking.Router(
            lab.name("router"), name=f"{where}-router",
            description=lab.description(f"the {where} zone router"
                                        + ("; the Internet edge (SNAT)" if args.egress else "; no external gateway")),
            admin_state_up=True, tags=lab.tags,
            external_network_id=external_network_id,
            enable_snat=True if args.egress is not None else None,
            opts=lab.opts("router", child))
        for kind, sub in (("shared", self.shared_subnet), ("management", self.management_subnet)):
            openstack.networking.RouterInterface(
                lab.name(f"{kind}-router-interface"), router_id=self.router.id, subnet_id=sub.id,
                opts=lab.opts(f"{kind}-router-interface", child))

        self.dns_zone = openstack.dns.Zone(
            lab.name("dns-zone"), name=args.dns_zone_name, email=args.dns_email, ttl=300, type="PRIMARY",
            description=lab.description(f"names of the {where} hosts"), opts=lab.opts("dns-zone", child, stateful=True))

        self.egress: Egress | None = None
        if args.egress is not None and external_network_id is not None:
            self.egress = Egress(lab.name("egress"), EgressArgs(
                plan=args.egress, router_id=self.router.id, external_network_id=external_network_id, labels=lab),
                opts=lab.opts("egress", child))
        self.register_outputs({"routerId": self.router.id, "dnsZoneId": self.dns_zone.id})
