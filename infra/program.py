"""One stack's program: which components a stack holds and what it exports.

``run(model, ip, settings)`` is the whole program; ``infra/__main__.py`` only reads the settings
and the city, and :mod:`infra.preview` calls the same function under mocks.
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_openstack as openstack

from jiyue.flows import flows
from jiyue.ipam import IpPlan
from jiyue.registry import CityModel
from jiyue.registry.schema import Classification, Site, Zone

from . import outputs as keys
from .config import Settings
from .foundation import EgressPlan, ZoneFoundation, ZoneFoundationArgs
from .labels import Labels
from .outputs import foundation_plan, segment_dict, system_targets
from .plan import (
    DEPARTMENT_WIDE,
    FOUNDATION_OWNER,
    DrMode,
    PlanError,
    backup_schedule,
    backup_volume_gb,
    dns_zone_name,
    dr_mode,
    egress_rules,
    highest,
    ingress_rules,
    quotas,
    security_group_name,
    stack_systems,
)
from .system import Host, Standby, StandbyArgs, SystemArgs, SystemDeployment
from .tenant import DepartmentSegment, SegmentArgs, Tenant, TenantArgs


def run(model: CityModel, ip: IpPlan, settings: Settings) -> None:
    if ip.errors:
        raise PlanError("the IP plan has errors; run `jiyue validate`: " + ip.errors[0].render())
    if settings.stack.is_foundation:
        foundation(model, ip, settings)
    else:
        department(model, ip, settings)


def foundation(model: CityModel, ip: IpPlan, settings: Settings) -> ZoneFoundation:
    zone, site = settings.stack.zone, settings.stack.site
    city = model.city
    lab = Labels(FOUNDATION_OWNER, "foundation",
                 Classification.classified if zone is Zone.intranet else Classification.internal, settings.release)
    egress: EgressPlan | None = None
    if city.zones[zone].internet:
        if city.egress.firewall != "fwaas-v2":
            raise PlanError(f"egress.firewall {city.egress.firewall!r}: only fwaas-v2 is implemented "
                            "(infra/foundation.py, class Egress, says why)")
        egress = EgressPlan(
            external_network=city.egress.external_network, external_cidr=city.egress.external_cidr,
            allowed_ports=tuple(city.egress.allowed_ports),
            inside_cidrs=(getattr(city.addressing.supernets[zone], site.value),),
            active=site is city.egress.site)
    plan = foundation_plan(model, ip, zone, site)
    admin = openstack.Provider(lab.name("provider"), cloud=settings.cloud_name, opts=lab.opts("provider"))
    f = ZoneFoundation(lab.name("zone"), ZoneFoundationArgs(
        zone=zone, site=site, shared=ip.shared(zone, site), management=ip.management(zone, site),
        dns_zone_name=plan[keys.DNS_ZONE_NAME], dns_email=f"hostmaster@{city.id}.gov.internal",
        labels=lab, egress=egress), opts=lab.opts("zone", pulumi.ResourceOptions(providers=[admin])))
    pulumi.export(keys.ZONE, zone.value)
    pulumi.export(keys.SITE, site.value)
    pulumi.export(keys.ROUTER_ID, f.router.id)
    pulumi.export(keys.DNS_ZONE_ID, f.dns_zone.id)
    pulumi.export(keys.DNS_ZONE_NAME, plan[keys.DNS_ZONE_NAME])
    pulumi.export(keys.SHARED_SEGMENT, {**plan[keys.SHARED_SEGMENT], "networkId": f.shared_network.id,
                                        "subnetId": f.shared_subnet.id})
    pulumi.export(keys.MANAGEMENT_SEGMENT, {**plan[keys.MANAGEMENT_SEGMENT], "networkId": f.management_network.id,
                                            "subnetId": f.management_subnet.id})
    pulumi.export(keys.EGRESS, None if f.egress is None else
                  {**plan[keys.EGRESS], "routerId": f.router.id, "firewallGroupId": f.egress.group.id})
    return f


def department(model: CityModel, ip: IpPlan, settings: Settings) -> None:
    name = settings.stack
    assert name.department is not None
    dep = model.departments[name.department]
    zone, site, city = name.zone, name.site, model.city
    here = stack_systems(model, dep.id, zone, site)
    if not here:
        raise PlanError(f"{name}: {dep.id} has no system for this stack")
    lab = Labels(dep.id, DEPARTMENT_WIDE, highest([s.classification for _, s in here]), settings.release)
    table = flows(model, ip)
    where = f"{dep.id}-{zone.value}-{site.value}"

    admin = openstack.Provider(lab.name("provider"), cloud=settings.cloud_name, opts=lab.opts("provider"))
    admin_opts = pulumi.ResourceOptions(providers=[admin])
    foundation_ref = pulumi.StackReference(lab.name("foundation"), stack_name=settings.foundation_ref,
                                           opts=lab.opts("foundation"))
    tenant = Tenant(lab.name("tenant"), TenantArgs(
        project_name=where, description=f"{dep.names.zh} {dep.names.en}: {zone.value} {site.value}",
        quotas=quotas(model, dep.id, zone, site, table), department_group=f"{where}-operators",
        platform_group=settings.platform_group, member_role=settings.member_role, labels=lab),
        opts=lab.opts("tenant", admin_opts))
    seg = ip.segment(dep.id, zone, site)
    segment = DepartmentSegment(lab.name("segment"), SegmentArgs(
        segment=seg, project_id=tenant.project_id, router_id=foundation_ref.get_output(keys.ROUTER_ID),
        labels=lab), opts=lab.opts("segment", admin_opts))
    # everything a project member owns is created inside the project
    scoped = openstack.Provider(lab.name("project-provider"), cloud=settings.cloud_name,
                                tenant_id=tenant.project_id,
                                opts=lab.opts("project-provider",
                                              pulumi.ResourceOptions(depends_on=[tenant.platform_assignment])))
    scoped_opts = pulumi.ResourceOptions(providers=[scoped])
    keypair = openstack.compute.Keypair(lab.name("keypair"), name=where, public_key=settings.admin_public_key,
                                        opts=lab.opts("keypair", pulumi.ResourceOptions(provider=scoped)))
    images: dict[str, pulumi.Output[str]] = {}
    targets = system_targets(model, ip, dep.id, zone, site)
    dns_zone_id = foundation_ref.get_output(keys.DNS_ZONE_ID)
    security_groups: dict[str, pulumi.Output[str]] = {}
    for _, system in here:
        target = targets[system.id]
        slab = lab.for_system(system)
        cap = system.capacity
        image = city.images[cap.image].name
        if image not in images:
            images[image] = openstack.images.get_image_output(
                name=image, most_recent=True, opts=pulumi.InvokeOutputOptions(provider=scoped)).id
        mode = dr_mode(system, city.dr_policy)
        volume_metadata = {"drMode": mode.value} if mode else {}
        schedule = backup_schedule(system, city.dr_policy)
        if mode is DrMode.cold and schedule:
            volume_metadata["backupIntervalMinutes"] = str(schedule["intervalMinutes"])
        args = SystemArgs(
            labels=slab, hosts=[Host(h["name"], h["address"]) for h in target["hosts"]],
            security_group=security_group_name(system, site), rules=ingress_rules(model, ip, system, site),
            egress=egress_rules(table, system, site, migrating=system.id in settings.migrating),
            flavor=cap.flavor, image_id=images[image], boot_gb=city.flavors[cap.flavor].disk_gb,
            volume_gb=cap.volume_gb, volume_class=target["volumeClass"], ha=cap.ha,
            network_id=segment.network.id, subnet_id=segment.subnet.id, key_pair=keypair.name,
            dns_zone_id=dns_zone_id, dns_zone_name=dns_zone_name(model, zone, site), dns_provider=admin,
            running=all(h["state"] == "running" for h in target["hosts"]),
            floating_ip_pool=(city.egress.external_network
                              if system.public_facing and zone is Zone.extranet and site is city.egress.site
                              else None),
            volume_metadata=volume_metadata)
        if site is Site.primary:
            deployment = SystemDeployment(slab.name("system"), args, opts=slab.opts("system", scoped_opts))
        else:
            assert mode is not None and system.dr is not None
            if mode is DrMode.cold:  # its backup host: the smallest flavor, a volume for the backups
                small = min(city.flavors, key=lambda f: (city.flavors[f].vcpus, city.flavors[f].ram_gb))
                args = dataclasses.replace(args, flavor=small, boot_gb=city.flavors[small].disk_gb,
                                           volume_gb=backup_volume_gb(system), ha=False)
            elif mode is DrMode.hot and system.public_facing and zone is Zone.extranet:
                args.reserved_floating_ip_pool = city.egress.external_network
            standby = Standby(slab.name("standby"), StandbyArgs(
                labels=slab, mode=mode, rpo_minutes=system.dr.rpo_minutes, rto_minutes=system.dr.rto_minutes,
                backup=schedule, deployment=args if target["hosts"] else None),
                opts=slab.opts("standby", scoped_opts))
            deployment = standby.deployment
        if deployment is not None:
            security_groups[args.security_group] = deployment.security_group.id

    pulumi.export(keys.ZONE, zone.value)
    pulumi.export(keys.SITE, site.value)
    pulumi.export(keys.DEPARTMENT, dep.id)
    pulumi.export(keys.PROJECT_ID, tenant.project_id)
    pulumi.export(keys.SEGMENT, {**segment_dict(seg), "networkId": segment.network.id,
                                 "subnetId": segment.subnet.id})
    pulumi.export(keys.SYSTEMS, targets)
    pulumi.export(keys.SECURITY_GROUP_IDS, security_groups)
