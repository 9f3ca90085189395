"""The city's facts as the policy pack reads them: one JSON document built from the loaded registry.

The pack (``policies/``) runs in a virtualenv of its own under ``pulumi preview`` and cannot import
``jiyue``; it reads this document with the standard library instead of parsing the registry a
second time. Everything in it is computed here, by the code every other part uses: the systems
from the :class:`CityModel`, the filing gaps by :mod:`jiyue.catalog`, the address ranges and
segments by :mod:`jiyue.ipam`, the stacks by :mod:`jiyue.stacks`.

``jiyue policy check`` writes it for its packs; ``jiyue policy facts --out FILE`` writes it for a
real ``pulumi preview --policy-pack policies/`` (docs/security-staff.md). The document records the
digest of every registry file it was built from, so the pack can tell when the registry changed
after the facts were written.

Shape (``version`` changes whenever a key changes meaning or goes away)::

    {"format": "jiyue-city-facts", "version": 3, "city": "dalian",
     "registry": {"root": "/abs/path", "files": {"city.yaml": "<sha256>", ...}},
     "platform_department": "bigdata",
     "egress": {"external_network", "external_cidr", "allowed_ports"},
     "flavors": {name: {"vcpus", "ram_gb", "disk_gb"}},
     "volume_classes": {name: {"encrypted", "replicated"}},
     "ip_plan": {"supernets": {zone: {site: cidr}}, "management": {site: cidr},
                 "segments": [{"name", "kind", "department", "zone", "site", "cidr", "gateway"}]},
     "departments": {id: {"quotas": {"vcpus", "ram_gb", "volume_gb", "instances"}, "systems": [id, ...]}},
     "systems": {id: {"department", "zone", "classification", "public_facing", "platform",
                      "volume_class", "retired", "capacity": {"flavor", "instances", "volume_gb"},
                      "dr": {"rpo_minutes", "rto_minutes", "mode", "replication", "backup_interval_minutes",
                             "backup_volume_gb"} | null,
                      "needs_dr", "filing_gaps": [field, ...]}},
     "filing_recorded": bool,
     "stacks": {name: {"zone", "site", "department" | null}},
     "flows": {"endpoints": {key: {"kind", "name", "zone", "site", "addresses": [{"name", "cidr"}], "excludes"}},
               "flows": [{"kind", "source": key, "destination": key, "protocol", "ports", "why", "temporary"}],
               "unreachable": [[system, dependency], ...]}}

Version 2 added ``flows``: the city's table of allowed flows (:mod:`jiyue.flows`), by which the pack
judges every security group's egress. A system's ``dr`` carries the DR table's row (:mod:`jiyue.dr`:
hot, warm or cold, the replication, the backup interval), by which the pack judges its DR stack.
Version 3 added a system's ``capacity`` at the primary site, which its hot or warm standby must
equal.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .catalog import FilingContext, filing_gaps, in_scope
from .dr import DrMode, backup_volume_gb, dr_plan
from .flows import flows
from .ipam import LOCK_FILE, IpPlan
from .ipam import plan as ip_plan
from .registry import CityModel
from .registry.schema import Site, System, Zone
from .stacks import stack_names

FORMAT = "jiyue-city-facts"
VERSION = 3


def registry_files(model: CityModel) -> dict[str, str]:
    """Every file the registry was read from (and the IP plan's lock), relative to its root -> SHA-256."""
    root = model.root.resolve()
    paths = sorted({src.path.resolve() for src in model.sources.values()} |
                   ({root / LOCK_FILE} if (root / LOCK_FILE).is_file() else set()))
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _dr(s: System, model: CityModel) -> dict[str, Any] | None:
    """The system's RPO/RTO and the DR table's row for them (:mod:`jiyue.dr`)."""
    if s.dr is None:
        return None
    row = dr_plan(s.dr.rpo_minutes, s.dr.rto_minutes, model.city.dr_policy)
    return {"rpo_minutes": s.dr.rpo_minutes, "rto_minutes": s.dr.rto_minutes, "mode": row.mode.value,
            "replication": row.replication.value if row.replication else None,
            "backup_interval_minutes": row.backup_interval_minutes,
            "backup_volume_gb": (backup_volume_gb(s.capacity.volume_gb, s.capacity.instances)
                                 if row.mode is DrMode.cold else None)}


def _system(department: str, s: System, model: CityModel, filing: FilingContext) -> dict[str, Any]:
    return {
        "department": department,
        "zone": s.zone.value,
        "classification": s.classification.value,
        "public_facing": s.public_facing,
        "platform": s.platform.value if s.platform else None,
        "volume_class": s.capacity.volume_class,
        "capacity": {"flavor": s.capacity.flavor, "instances": s.capacity.instances,
                     "volume_gb": s.capacity.volume_gb},
        "retired": s.retirement is not None,
        "dr": _dr(s, model),
        "needs_dr": s.dr is not None and s.retirement is None,
        # the filing gate (G6) of a system in its scope; none for one out of scope
        "filing_gaps": [g.field for g in filing_gaps(s, filing)] if in_scope(s) else [],
    }


def _filed_anything(s: System) -> bool:
    return s.filing is not None or s.data_resources is not None or s.data_needs is not None


def city_facts(model: CityModel, ip: IpPlan | None = None) -> dict[str, Any]:
    """The facts document of ``model`` (a plain dict, ready for ``json.dump``)."""
    ip = ip or ip_plan(model)
    filing = FilingContext.of(model)
    city = model.city
    a = city.addressing
    return {
        "format": FORMAT,
        "version": VERSION,
        "city": city.id,
        "registry": {"root": str(model.root.resolve()), "files": registry_files(model)},
        "platform_department": city.platform_department,
        "egress": {"external_network": city.egress.external_network, "external_cidr": city.egress.external_cidr,
                   "allowed_ports": list(city.egress.allowed_ports)},
        "flavors": {k: {"vcpus": f.vcpus, "ram_gb": f.ram_gb, "disk_gb": f.disk_gb} for k, f in city.flavors.items()},
        "volume_classes": {k: {"encrypted": v.encrypted, "replicated": v.replicated}
                           for k, v in city.volume_classes.items()},
        "ip_plan": {
            "supernets": {z.value: {s.value: getattr(a.supernets[z], s.value) for s in Site} for z in Zone},
            "management": {s.value: getattr(a.management, s.value) for s in Site},
            "segments": [{"name": g.name, "kind": g.kind, "department": g.department, "zone": g.zone.value,
                          "site": g.site.value, "cidr": g.cidr, "gateway": g.gateway} for g in ip.segments],
        },
        "departments": {dep_id: {"quotas": dep.quotas.model_dump(), "systems": [s.id for s in dep.systems]}
                        for dep_id, dep in sorted(model.departments.items())},
        "systems": {s.id: _system(dep_id, s, model, filing)
                    for dep_id, dep in sorted(model.departments.items()) for s in dep.systems},
        # until some system files anything (filing, data_resources or data_needs) the gate has nothing to judge
        "filing_recorded": any(_filed_anything(s) for s in model.systems.values()),
        "stacks": {str(n): {"zone": n.zone.value, "site": n.site.value, "department": n.department}
                   for n in stack_names(model)},
        "flows": flows(model, ip).as_dict(),
    }


def write_facts(model: CityModel, path: Path, ip: IpPlan | None = None) -> Path:
    """Write the facts document of ``model`` to ``path`` (its directory is made); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(city_facts(model, ip), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path
