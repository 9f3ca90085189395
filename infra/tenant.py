"""A department's tenant in one zone and site: its project, quotas, groups and roles, and its segment.

Each zone and site is its own OpenStack deployment (its own clouds.yaml entry), so a department has
one project per stack. The segment is the department's network and subnet from the IP plan, attached
to the zone router of the foundation: a router interface, never a router or gateway of its own
(T3.5), which the project's router quota of 0 also enforces.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from jiyue.ipam import Segment

from .labels import Labels
from .plan import QuotaPlan, dhcp_pool


@dataclass
class TenantArgs:
    project_name: str
    description: str
    quotas: QuotaPlan
    department_group: str  # created here: the department's operators
    platform_group: str  # exists already: the platform engineers, who deploy into the project
    member_role: str
    labels: Labels


class Tenant(pulumi.ComponentResource):
    def __init__(self, name: str, args: TenantArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("jiyue:department:Tenant", name, {"labels": args.labels.metadata}, opts)
        child = pulumi.ResourceOptions(parent=self)
        lab, q = args.labels, args.quotas
        invoke = pulumi.InvokeOutputOptions(parent=self)
        self.project = openstack.identity.Project(
            lab.name("project"), name=args.project_name, description=lab.description(args.description),
            enabled=True, tags=lab.tags, opts=lab.opts("project", child, stateful=True))
        project_id = self.project.id
        openstack.compute.QuotaSetV2(
            lab.name("compute-quota"), project_id=project_id, cores=q.vcpus, ram=q.ram_mb,
            instances=q.instances, server_groups=max(q.server_groups, 1),
            server_group_members=max(q.instances, 1), key_pairs=4, opts=lab.opts("compute-quota", child))
        openstack.networking.QuotaV2(
            lab.name("network-quota"), project_id=project_id, network=q.networks, subnet=q.subnets,
            port=q.ports, router=q.routers, floatingip=q.floating_ips, security_group=q.security_groups,
            security_group_rule=q.security_group_rules, opts=lab.opts("network-quota", child))
        openstack.blockstorage.QuoteSetV3(
            lab.name("volume-quota"), project_id=project_id, gigabytes=q.gigabytes, volumes=q.volumes,
            snapshots=q.volumes, backups=q.volumes, backup_gigabytes=q.gigabytes, opts=lab.opts("volume-quota", child))
        self.group = openstack.identity.GroupV3(
            lab.name("operators"), name=args.department_group,
            description=lab.description(f"operators of {args.project_name}"), opts=lab.opts("operators", child))
        role = openstack.identity.get_role_output(name=args.member_role, opts=invoke)
        platform = openstack.identity.get_group_output(name=args.platform_group, opts=invoke)
        openstack.identity.RoleAssignment(
            lab.name("operators-member"), project_id=project_id, group_id=self.group.id, role_id=role.id,
            opts=lab.opts("operators-member", child))
        self.platform_assignment = openstack.identity.RoleAssignment(
            lab.name("platform-member"), project_id=project_id, group_id=platform.id, role_id=role.id,
            opts=lab.opts("platform-member", child))
        self.project_id: pulumi.Output[str] = project_id
        self.register_outputs({"projectId": project_id})


@dataclass
class SegmentArgs:
    segment: Segment
    project_id: pulumi.Input[str]
    router_id: pulumi.Input[str]  # the zone router, from the foundation
    labels: Labels


class DepartmentSegment(pulumi.ComponentResource):
    def __init__(self, name: str, args: SegmentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("jiyue:department:Segment", name, {"labels": args.labels.metadata}, opts)
        child = pulumi.ResourceOptions(parent=self)
        lab, seg = args.labels, args.segment
        self.network = openstack.networking.Network(
            lab.name("network"), name=seg.name, tenant_id=args.project_id, admin_state_up=True,
            description=lab.description(f"segment {seg.name}"), tags=lab.tags, opts=lab.opts("network", child))
        start, end = dhcp_pool(seg)
        self.subnet = openstack.networking.Subnet(
            lab.name("subnet"), name=seg.name, tenant_id=args.project_id, network_id=self.network.id,
            cidr=seg.cidr, gateway_ip=seg.gateway, ip_version=4, enable_dhcp=True,
            allocation_pools=[openstack.networking.SubnetAllocationPoolArgs(start=start, end=end)],
            description=lab.description(f"segment {seg.name}"), tags=lab.tags, opts=lab.opts("subnet", child))
        self.interface = openstack.networking.RouterInterface(
            lab.name("router-interface"), router_id=args.router_id, subnet_id=self.subnet.id,
            opts=lab.opts("router-interface", child))
        self.register_outputs({"networkId": self.network.id, "subnetId": self.subnet.id})
