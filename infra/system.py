"""One system's servers at a site, and its DR counterpart.

:class:`SystemDeployment`: a security group that opens only what the city's flow table allows
(:mod:`jiyue.flows`): created without OpenStack's default egress rules, so nothing goes in or out
but the table's flows (no rule, no traffic: deny by default, both ways), an anti-affinity server
group when the system needs HA, and per instance a port with the planned fixed address, a server
booting from a volume, a data volume of the system's class (encrypted for classified data)
attached to it, and a DNS record. Public-facing systems at the egress site also get a floating IP
on the external network (never on the intranet); a hot public-facing one's standbys get theirs
reserved at the DR site's egress, unattached until a failover.

:class:`Standby`: the DR counterpart of a system with an RPO/RTO (T3.1): hot and warm, the same
servers running (the DR hosts a standby database and a file sync keep current, ``jiyue dr
protect``; a warm one's application services stay stopped); cold, one backup host (the city's
smallest flavor, a volume of :func:`infra.plan.backup_volume_gb`) that ``jiyue dr protect`` makes
pull the primaries' backups on the schedule its outputs record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_openstack as openstack

from .labels import Labels
from .plan import DrMode, EgressRule, IngressRule


@dataclass(frozen=True)
class Host:
    name: str
    address: str


@dataclass
class SystemArgs:
    labels: Labels
    hosts: list[Host]
    security_group: str
    rules: list[IngressRule]
    egress: list[EgressRule]
    flavor: str
    image_id: pulumi.Input[str]
    boot_gb: int
    volume_gb: int
    volume_class: str
    ha: bool
    network_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    key_pair: pulumi.Input[str]
    dns_zone_id: pulumi.Input[str]
    dns_zone_name: str
    dns_provider: pulumi.ProviderResource  # the DNS zone is the foundation's (admin project)
    running: bool = True  # False: servers defined but shut off
    floating_ip_pool: str | None = None  # public-facing at the egress site
    # a hot public-facing system at the DR site: its public address there, reserved (not attached)
    # at the DR site's egress, so a failover only associates it
    reserved_floating_ip_pool: str | None = None
    volume_metadata: dict[str, str] = field(default_factory=dict)


class SystemDeployment(pulumi.ComponentResource):
    def __init__(self, name: str, args: SystemArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("jiyue:system:SystemDeployment", name, {"labels": args.labels.metadata}, opts)
        child = pulumi.ResourceOptions(parent=self)
        lab = args.labels
        self.security_group = openstack.networking.SecGroup(
            lab.name("security-group"), name=args.security_group,
            description=lab.description("deny by default, both ways; opens only the city's allowed flows"),
            delete_default_rules=True, tags=lab.tags, opts=lab.opts("security-group", child))
        sg_id = self.security_group.id
        # Neutron cannot change a rule in place: a new description would replace the rule, and the
        # new rule would collide with the old one; the description documents, it never replaces
        rule = pulumi.ResourceOptions(parent=self, ignore_changes=["description"])
        for r in args.rules:
            source = r.remote_ip_prefix.replace("/", "_") if r.remote_ip_prefix else "self"
            what = f"ingress-{r.protocol}-{r.port}-{source}"
            openstack.networking.SecGroupRule(
                lab.name(what), security_group_id=sg_id,
                direction="ingress", ethertype="IPv4", protocol=r.protocol,
                port_range_min=r.port, port_range_max=r.port,
                remote_ip_prefix=r.remote_ip_prefix, remote_group_id=None if r.remote_ip_prefix else sg_id,
                description=lab.id_description(r.why), opts=lab.opts(what, rule))
        for e in args.egress:  # named by the destination's stable name (a host, a segment, the Internet)
            what = f"egress-{e.protocol}-{e.port}-{e.to.name}"
            openstack.networking.SecGroupRule(
                lab.name(what), security_group_id=sg_id,
                direction="egress", ethertype="IPv4", protocol=e.protocol,
                port_range_min=e.port, port_range_max=e.port, remote_ip_prefix=e.to.cidr,
                description=lab.id_description(("temporary, while the system migrates: " if e.temporary else "")
                                               + e.why),
                opts=lab.opts(what, rule))
        hints = None
        if args.ha:
            group = openstack.compute.ServerGroup(
                lab.name("anti-affinity"), name=args.security_group, policies="anti-affinity",
                opts=lab.opts("anti-affinity", child))
            hints = [openstack.compute.InstanceSchedulerHintArgs(group=group.id)]
        meta = lab.metadata
        self.addresses = {h.name: h.address for h in args.hosts}  # planned, so known before any port exists
        for h in args.hosts:
            port = openstack.networking.Port(
                lab.name(f"{h.name}-port"), name=h.name, network_id=args.network_id,
                fixed_ips=[openstack.networking.PortFixedIpArgs(subnet_id=args.subnet_id, ip_address=h.address)],
                security_group_ids=[sg_id], admin_state_up=True, description=lab.description(h.name),
                tags=lab.tags, opts=lab.opts(f"{h.name}-port", child))
            server = openstack.compute.Instance(
                lab.name(f"{h.name}-server"), name=h.name, flavor_name=args.flavor,
                block_devices=[openstack.compute.InstanceBlockDeviceArgs(
                    source_type="image", uuid=args.image_id, destination_type="volume",
                    volume_size=args.boot_gb, volume_type=args.volume_class, boot_index=0,
                    delete_on_termination=False)],
                networks=[openstack.compute.InstanceNetworkArgs(port=port.id)],
                key_pair=args.key_pair, scheduler_hints=hints, metadata=meta, tags=lab.tags,
                power_state="active" if args.running else "shutoff", stop_before_destroy=True,
                opts=lab.opts(f"{h.name}-server", child, stateful=True))
            volume = openstack.blockstorage.Volume(
                lab.name(f"{h.name}-data"), name=f"{h.name}-data", size=args.volume_gb,
                volume_type=args.volume_class, description=lab.description(f"data of {h.name}"),
                metadata={**meta, **args.volume_metadata}, opts=lab.opts(f"{h.name}-data", child, stateful=True))
            openstack.compute.VolumeAttach(
                lab.name(f"{h.name}-data-attach"), instance_id=server.id, volume_id=volume.id,
                opts=lab.opts(f"{h.name}-data-attach", child))
            openstack.dns.RecordSet(
                lab.name(f"{h.name}-dns"), zone_id=args.dns_zone_id, name=f"{h.name}.{args.dns_zone_name}",
                type="A", ttl=300, records=[h.address], description=lab.description(h.name),
                opts=lab.opts(f"{h.name}-dns", pulumi.ResourceOptions(parent=self, provider=args.dns_provider)))
            if args.floating_ip_pool:
                openstack.networking.FloatingIp(
                    lab.name(f"{h.name}-floating-ip"), pool=args.floating_ip_pool, port_id=port.id,
                    description=lab.description(f"public address of {h.name}"), tags=lab.tags,
                    opts=lab.opts(f"{h.name}-floating-ip", child))
            if args.reserved_floating_ip_pool:
                openstack.networking.FloatingIp(
                    lab.name(f"{h.name}-floating-ip"), pool=args.reserved_floating_ip_pool,
                    description=lab.description(f"public address of {h.name}, reserved for a failover"),
                    tags=lab.tags, opts=lab.opts(f"{h.name}-floating-ip", child, stateful=True))
        self.register_outputs({"securityGroupId": sg_id, "addresses": self.addresses})


@dataclass
class StandbyArgs:
    labels: Labels
    mode: DrMode
    rpo_minutes: int
    rto_minutes: int
    backup: dict[str, int] | None
    deployment: SystemArgs | None  # hot and warm: the standby servers; cold: its backup host


class Standby(pulumi.ComponentResource):
    """The DR counterpart of one system; its outputs record the mode and the backup schedule."""

    def __init__(self, name: str, args: StandbyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("jiyue:dr:Standby", name, {"labels": args.labels.metadata}, opts)
        self.deployment: SystemDeployment | None = None
        if args.deployment is not None:
            what = "backup" if args.mode is DrMode.cold else "standby"
            self.deployment = SystemDeployment(args.labels.name(what), args.deployment,
                                               opts=args.labels.opts(what, pulumi.ResourceOptions(parent=self)))
        self.mode = args.mode
        self.register_outputs({"drMode": args.mode.value, "rpoMinutes": args.rpo_minutes,
                               "rtoMinutes": args.rto_minutes, "backup": args.backup})
