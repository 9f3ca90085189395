"""A compliant resource graph of a whole city, built from the registry the way ``infra/`` builds it.

For the pack's tests and the benchmark: the same type tokens, camelCase inputs, labels (tags,
metadata, ``<department>/<system>/<classification>/<what>`` names) and stack names as
``infra.preview`` produces, without running the Pulumi program. Tests break one resource of it to
show that the right rule fires. Needs the ``jiyue`` package (the registry and the IP plan).
"""

from __future__ import annotations

from typing import Any

from jiyue.ipam import plan as ip_plan
from jiyue.registry import CityModel

PROJECT = "jiyue"
T = {
    "project": "openstack:identity/project:Project",
    "cquota": "openstack:compute/quotaSetV2:QuotaSetV2",
    "vquota": "openstack:blockstorage/quoteSetV3:QuoteSetV3",
    "network": "openstack:networking/network:Network",
    "subnet": "openstack:networking/subnet:Subnet",
    "router": "openstack:networking/router:Router",
    "rif": "openstack:networking/routerInterface:RouterInterface",
    "sg": "openstack:networking/secGroup:SecGroup",
    "rule": "openstack:networking/secGroupRule:SecGroupRule",
    "port": "openstack:networking/port:Port",
    "fip": "openstack:networking/floatingIp:FloatingIp",
    "instance": "openstack:compute/instance:Instance",
    "volume": "openstack:blockstorage/volume:Volume",
    "attach": "openstack:compute/volumeAttach:VolumeAttach",
}


class _Stack:
    def __init__(self, name: str) -> None:
        self.name = name
        self.resources: list[dict[str, Any]] = []

    def add(self, kind: str, name: str, inputs: dict[str, Any], parent: str | None = None) -> str:
        typ = T.get(kind, kind)
        urn = f"urn:pulumi:{self.name}::{PROJECT}::{typ}::{name}"
        self.resources.append({"urn": urn, "type": typ, "name": name, "parent": parent, "inputs": inputs})
        return urn


def _labels(dep: str, system: str, cls: str) -> tuple[dict[str, str], list[str]]:
    meta = {"department": dep, "system": system, "classification": cls}
    return meta, [f"{k}={v}" for k, v in meta.items()]


def city_graph(model: CityModel) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every stack of the city with its resources, compliant with every rule of the pack."""
    ip = ip_plan(model)
    city = model.city
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for zone in ("intranet", "extranet"):
        for site in ("primary", "dr"):
            st = _Stack(f"{zone}-{site}-foundation")
            meta, tags = _labels("datacenter", "*", "internal")
            gw = {"externalNetworkId": f"{city.egress.external_network}-id", "enableSnat": True} \
                if zone == "extranet" else {}
            router = st.add("router", "datacenter/*/internal/router",
                            {"name": f"{zone}-{site}-router", "adminStateUp": True, "tags": tags, **gw})
            for kind, seg in (("shared", ip.shared(zone, site)), ("management", ip.management(zone, site))):
                st.add("network", f"datacenter/*/internal/{kind}-network", {"name": seg.name, "tags": tags})
                sub = st.add("subnet", f"datacenter/*/internal/{kind}-subnet",
                             {"name": seg.name, "cidr": seg.cidr, "gatewayIp": seg.gateway, "ipVersion": 4,
                              "tags": tags, "networkId": f"{seg.name}-id"})
                st.add("rif", f"datacenter/*/internal/{kind}-router-interface",
                       {"routerId": router, "subnetId": sub})
            out.append((st.name, st.resources))
    mgmt = {site: ip.management("intranet", site).cidr for site in ("primary", "dr")}
    for dep_id in sorted(model.departments):
        dep = model.departments[dep_id]
        for zone in model.zones_of(dep_id):
            systems = [s for s in dep.systems if s.zone is zone]
            sites = ["primary"] + (["dr"] if any(s.dr for s in systems) else [])
            for site in sites:
                st = _Stack(f"{zone.value}-{site}-{dep_id}")
                top = max((s.classification.value for s in systems),
                          key=["public", "internal", "classified"].index)
                meta, tags = _labels(dep_id, "*", top)
                q = dep.quotas
                st.add("project", f"{dep_id}/*/{top}/project", {"name": f"{dep_id}-{zone.value}", "tags": tags})
                st.add("cquota", f"{dep_id}/*/{top}/compute-quota",
                       {"projectId": "p", "cores": q.vcpus, "ram": q.ram_gb * 1024, "instances": q.instances})
                st.add("vquota", f"{dep_id}/*/{top}/volume-quota", {"projectId": "p", "gigabytes": q.volume_gb})
                seg = ip.segment(dep_id, zone, site)
                st.add("network", f"{dep_id}/*/{top}/network", {"name": seg.name, "tags": tags})
                sub = st.add("subnet", f"{dep_id}/*/{top}/subnet",
                              {"name": seg.name, "cidr": seg.cidr, "gatewayIp": seg.gateway, "tags": tags,
                               "networkId": f"{seg.name}-id"})
                st.add("rif", f"{dep_id}/*/{top}/router-interface", {"routerId": "zone-router", "subnetId": sub})
                for s in systems:
                    if s.retirement is not None or (site == "dr" and s.dr is None):
                        continue  # retired (T1.2): built nowhere, as infra.plan.stack_systems
                    cls = s.classification.value
                    meta, tags = _labels(dep_id, s.id, cls)
                    pre = f"{dep_id}/{s.id}/{cls}"
                    parent = f"urn:pulumi:{st.name}::{PROJECT}::jiyue:system:SystemDeployment::{pre}/deployment"
                    st.resources.append({"urn": parent, "type": "jiyue:system:SystemDeployment",
                                         "name": f"{pre}/deployment", "parent": None, "inputs": {}})
                    sg = st.add("sg", f"{pre}/security-group", {"name": s.id, "tags": tags}, parent)
                    rules = [("tcp", 22, mgmt[site])]
                    if s.public_facing:
                        rules += [("tcp", 80, "0.0.0.0/0"), ("tcp", 443, "0.0.0.0/0")]
                    rules += [("tcp", 5432, None), ("tcp", 8080, None)]
                    for proto, port, prefix in rules:
                        src = prefix.replace("/", "_") if prefix else "self"
                        st.add("rule", f"{pre}/ingress-{proto}-{port}-{src}",
                               {"direction": "ingress", "ethertype": "IPv4", "protocol": proto,
                                "portRangeMin": port, "portRangeMax": port, "securityGroupId": sg,
                                **({"remoteIpPrefix": prefix} if prefix else {"remoteGroupId": sg})}, parent)
                    flavor = city.flavors[s.capacity.flavor]
                    for i in range(s.capacity.instances):
                        host = f"{s.id}-{i + 1}"
                        port = st.add("port", f"{pre}/{host}-port",
                                      {"name": host, "networkId": f"{seg.name}-id", "tags": tags,
                                       "securityGroupIds": [sg]}, parent)
                        inst = st.add("instance", f"{pre}/{host}-server",
                                      {"name": host, "flavorName": s.capacity.flavor, "metadata": meta,
                                       "tags": tags, "networks": [{"port": port}],
                                       "blockDevices": [{"sourceType": "image", "destinationType": "volume",
                                                         "volumeSize": flavor.disk_gb,
                                                         "volumeType": s.capacity.volume_class,
                                                         "bootIndex": 0}]}, parent)
                        vol = st.add("volume", f"{pre}/{host}-data",
                                     {"name": f"{host}-data", "size": s.capacity.volume_gb,
                                      "volumeType": s.capacity.volume_class, "metadata": meta}, parent)
                        st.add("attach", f"{pre}/{host}-data-attach", {"instanceId": inst, "volumeId": vol}, parent)
                        if s.public_facing and site == "primary" and zone.value == "extranet":
                            st.add("fip", f"{pre}/{host}-floating-ip",
                                   {"pool": city.egress.external_network, "portId": port, "tags": tags}, parent)
                out.append((st.name, st.resources))
    return out
