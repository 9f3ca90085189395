"""A readable account of a city: who is in it, what runs where, what gets cancelled (T3.5, T3.6)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .model import CityModel
from .schema import Classification, PrivateNetworkDisposition, Zone


def summarize(model: CityModel) -> dict[str, Any]:
    deps = model.departments.values()
    systems = list(model.systems.values())
    by_zone_class = Counter((s.zone.value, s.classification.value) for s in systems)
    cancelled_lines = [
        {"department": d.id, "id": line.id, "provider": line.provider, "bandwidth_mbps": line.bandwidth_mbps,
         "annual_cost_wan": line.annual_cost_wan}
        for d in deps for line in d.leased_lines
    ]
    private = [
        {"department": d.id, "id": n.id, "name": n.names.zh, "cidr": n.cidr, "carrier": n.carrier,
         "disposition": n.disposition.value, "annual_cost_wan": n.annual_cost_wan}
        for d in deps for n in d.private_networks
    ]
    merged = [p for p in private if p["disposition"] != PrivateNetworkDisposition.national.value]
    return {
        "city": model.city.id,
        "name": model.city.names.zh,
        "departments": len(model.departments),
        "departments_by_tier": dict(Counter(d.tier.value for d in deps)),
        "systems": len(systems),
        "systems_by_zone_and_classification": {
            z.value: {c.value: by_zone_class[(z.value, c.value)] for c in Classification} for z in Zone
        },
        "public_facing": sum(s.public_facing for s in systems),
        "with_dr": sum(s.dr is not None for s in systems),
        "legacy_hosts": sum(len(s.legacy_hosts) for s in systems),
        "shared_platforms": sorted(s.platform.value for s in systems if s.platform),
        "pilot_departments": list(model.city.pilot_departments),
        "leased_lines_cancelled": cancelled_lines,
        "leased_lines_annual_saving_wan": round(sum(x["annual_cost_wan"] for x in cancelled_lines), 2),
        "private_networks": private,
        "private_networks_merged": len(merged),
        "private_networks_annual_saving_wan": round(sum(x["annual_cost_wan"] for x in merged), 2),
        "warnings": len(model.warnings),
    }
