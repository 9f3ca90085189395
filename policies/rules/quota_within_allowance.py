"""jiyue-quota-within-allowance: a department's quota sets and what its stack builds stay within the
quotas the registry allows it. At the DR site the allowance's storage also holds the backup
volumes of the department's cold systems there (the facts' ``backup_volume_gb``): the DR
centre's backup service, sized from the system's data, not the department's own storage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from ..citations import mlps
from ..core import Context, Resource, RuleMeta, as_int

META = RuleMeta(
    name="jiyue-quota-within-allowance",
    description="Quota sets and the servers and volumes of a department stack stay within the "
                "department's quotas in the registry.",
    severity="medium",
    enforcement="mandatory",
    citation=mlps("8.2.5.1 a)", "应能对物理资源和虚拟资源按照策略做统一管理调度与分配"),
    requirements=("T3.2", "G5"),
    remediation="Shrink the systems' capacity or raise the department's quotas in its registry file "
                "(reviewed like code), then preview again.",
    kind="stack",
)
COMPUTE_QUOTA = "openstack:compute/quotaSetV2:QuotaSetV2"
VOLUME_QUOTA = "openstack:blockstorage/quoteSetV3:QuoteSetV3"  # sic: the provider's token
INSTANCE = "openstack:compute/instance:Instance"
VOLUME = "openstack:blockstorage/volume:Volume"
# quota input -> (allowance key, factor from registry units to the input's units)
QUOTA_INPUTS = {
    COMPUTE_QUOTA: {"cores": ("vcpus", 1), "ram": ("ram_gb", 1024), "instances": ("instances", 1)},
    VOLUME_QUOTA: {"gigabytes": ("storage_gb", 1)},
}


def allowance_of(ctx: Context, dep: str) -> dict[str, int] | None:
    """The registry's quotas plus ``storage_gb``: data volumes and one boot disk per allowed instance
    (the registry's volume_gb counts data volumes only)."""
    city = ctx.city
    if city is None or dep not in city.quotas:
        return None
    q = dict(city.quotas[dep])
    boot = max((f.get("disk_gb", 0) for f in city.flavors.values()), default=0)
    q["storage_gb"] = q.get("volume_gb", 0) + q.get("instances", 0) * boot
    return q


def check_stack(resources: list[Resource], ctx: Context) -> Iterator[tuple[str, str | None]]:
    dep, city = ctx.stack.department, ctx.city
    if not dep or city is None:
        return
    allowance = allowance_of(ctx, dep)
    if allowance is None:
        return  # jiyue-tags-required / the registry say the department is unknown
    if ctx.stack.site == "dr":
        backups = sum(s.backup_volume_gb or 0 for s in map(city.systems.get, city.systems_of_department.get(dep, ()))
                      if s is not None and s.zone == ctx.stack.zone and s.needs_dr)
        allowance["volume_gb"] = allowance.get("volume_gb", 0) + backups
        allowance["storage_gb"] += backups
    used: Counter[str] = Counter()
    for r in resources:
        limits = QUOTA_INPUTS.get(r.type)
        if limits:
            for key, (quota, factor) in limits.items():
                v = as_int(r.get(key))
                if v is not None and quota in allowance and v > allowance[quota] * factor:
                    yield (f"{r.short_type} {r.name} sets {key}={v} above the allowance of {dep} "
                           f"({allowance[quota] * factor})"), r.urn
        elif r.type == INSTANCE:
            used["instances"] += 1
            flavor = city.flavors.get(r.get("flavorName") or "")
            if flavor:
                used["vcpus"] += flavor["vcpus"]
                used["ram_gb"] += flavor["ram_gb"]
            for bd in r.get("blockDevices") or []:
                if bd.get("destinationType") == "volume" and bd.get("sourceType") != "volume":
                    used["storage_gb"] += as_int(bd.get("volumeSize")) or 0
        elif r.type == VOLUME:
            size = as_int(r.get("size")) or 0
            used["volume_gb"] += size
            used["storage_gb"] += size
    for quota in ("instances", "vcpus", "ram_gb", "volume_gb", "storage_gb"):
        if quota in allowance and used[quota] > allowance[quota]:
            yield (f"stack {ctx.stack.name} needs {used[quota]} {quota} but {dep} is allowed "
                   f"{allowance[quota]}"), None
