"""jiyue-tags-required: every resource carries department, system and classification: in its tags or
metadata where its OpenStack type has them. A resource of a type without tags carries the ids
(department, system) in its logical name ``<department>/<system>/<what>`` or its description, else
inherits them from the component it belongs to (its parent's name); its classification is its
system's in the registry, else its description's. Names hold no classification (a reclassification
would rename, so replace, the resource); a former name that does is still read."""

from __future__ import annotations

from collections.abc import Iterator

from ..citations import mlps
from ..core import CLASSIFICATIONS, Context, Resource, RuleMeta, name_labels, name_of_urn, tag_labels

META = RuleMeta(
    name="jiyue-tags-required",
    description="Every OpenStack resource carries department, system and classification: as tags "
                "('key=value') or metadata where its type has them; else the ids in its logical name "
                "<department>/<system>/<what> (or its component's) and the classification of its system; "
                "consistent with its stack and the registry.",
    severity="medium",
    enforcement="mandatory",
    citation=mlps("8.1.10.2 a)", "应编制并保存与保护对象相关的资产清单，包括资产责任部门、重要程度和所处位置等内容"),
    requirements=("G4", "G8"),
    remediation="Label the resource from the registry: tags department=<id>, system=<id> ('*' for what "
                "serves all the department's systems) and classification=<classified|internal|public>; "
                "name untaggable resources <department>/<system>/<what> (infra/labels.py), under the "
                "component of their system.",
)
KEYS = ("department", "system", "classification")
# Types whose inputs take tags or metadata (pulumi-openstack 5.x).
TAGGABLE = frozenset({
    "openstack:networking/router:Router", "openstack:networking/network:Network",
    "openstack:networking/subnet:Subnet", "openstack:networking/port:Port",
    "openstack:networking/secGroup:SecGroup", "openstack:networking/floatingIp:FloatingIp",
    "openstack:networking/subnetPool:SubnetPool", "openstack:networking/trunk:Trunk",
    "openstack:networking/qosPolicy:QosPolicy", "openstack:compute/instance:Instance",
    "openstack:blockstorage/volume:Volume", "openstack:identity/project:Project",
})


def check(r: Resource, ctx: Context) -> Iterator[str]:
    if not r.type.startswith("openstack:"):
        return
    if r.type in TAGGABLE:
        labels, where, required = tag_labels(r.props), "tags/metadata", KEYS
    else:
        (labels, required), where = inherited_labels(r, ctx), "its name, its description or its component"
    missing = [k for k in required if not labels.get(k)]
    if missing:
        yield f"{r.short_type} {r.name} lacks {', '.join(missing)} in {where}"
    dep = labels.get("department")
    if dep and ctx.stack.department and dep != ctx.stack.department:
        yield f"{r.short_type} {r.name} is labelled department={dep} in the stack of {ctx.stack.department}"
    cls = labels.get("classification")
    if cls and cls not in CLASSIFICATIONS:
        yield f"{r.short_type} {r.name} has classification={cls}; use one of {', '.join(CLASSIFICATIONS)}"
    sid = labels.get("system")
    city = ctx.city
    if sid and city is not None and sid in city.systems:
        s = city.systems[sid]
        if dep and s.department != dep:
            yield f"{r.short_type} {r.name}: system {sid} belongs to {s.department}, not {dep}"
        if cls and cls != s.classification:
            yield f"{r.short_type} {r.name}: classification={cls} but the registry says {s.classification}"


def inherited_labels(r: Resource, ctx: Context) -> tuple[dict[str, str], tuple[str, ...]]:
    """An untaggable resource's labels (its own: description, name; the ids of its component's name;
    the classification of its system in the registry, over its description's, which an engine that
    ignores description changes keeps as first written) and the keys it must have: the ids always,
    the classification when its system is one of the registry's or its description gives one (what
    serves a whole department or the zone has it on its component's tagged resources)."""
    labels = dict(r.labels)
    if not (labels.get("department") and labels.get("system")):
        for k, v in name_labels(name_of_urn(r.parent) or "").items():
            labels.setdefault(k, v)
    sid, city = labels.get("system"), ctx.city
    if sid and city is not None and sid in city.systems:  # the registry's, over a description written before
        labels["classification"] = city.systems[sid].classification
        return labels, KEYS
    return labels, KEYS if labels.get("classification") else KEYS[:2]
