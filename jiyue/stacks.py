"""Stack names: how the city is split so that no stack is large and one department stands alone.

- ``<zone>-<site>-foundation``: the zone's networks, router, DNS zone and (extranet) egress at a
  site. Four of them: intranet/extranet x primary/dr.
- ``<zone>-<site>-<department>``: one department's tenant in one zone and site. A department has a
  primary stack in every zone its systems use, and a DR stack in a zone where at least one of its
  systems declares an RPO/RTO (T3.1). It reads its foundation through a ``StackReference``.
  Only live systems count: a stack whose every system is retired (T1.2) is not built; it is
  listed to destroy (:func:`stacks_to_destroy`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .registry import CityModel
from .registry.schema import Site, Zone

FOUNDATION = "foundation"


@dataclass(frozen=True, slots=True)
class StackName:
    zone: Zone
    site: Site
    department: str | None = None  # None for the zone's foundation

    def __str__(self) -> str:
        return f"{self.zone.value}-{self.site.value}-{self.department or FOUNDATION}"

    @property
    def is_foundation(self) -> bool:
        return self.department is None

    @property
    def foundation(self) -> StackName:
        """The foundation stack this stack reads."""
        return StackName(self.zone, self.site)

    @property
    def cloud(self) -> str:
        """The clouds.yaml entry of the zone and site (one OpenStack deployment each)."""
        return f"{self.zone.value}-{self.site.value}"

    @classmethod
    def parse(cls, name: str) -> StackName:
        """``intranet-primary-finance`` -> StackName(intranet, primary, "finance"); ValueError if not a stack name.

        A fully qualified name (``organization/jiyue/intranet-primary-finance``) is accepted too.
        """
        short = name.rsplit("/", 1)[-1]
        parts = short.split("-", 2)
        zones, sites = [z.value for z in Zone], [s.value for s in Site]
        if len(parts) != 3 or parts[0] not in zones or parts[1] not in sites or not parts[2]:
            raise ValueError(
                f"{name!r} is not a stack name: use <zone>-<site>-foundation or <zone>-<site>-<department>, "
                f"zone one of {', '.join(zones)}, site one of {', '.join(sites)}"
            )
        dep = None if parts[2] == FOUNDATION else parts[2]
        return cls(Zone(parts[0]), Site(parts[1]), dep)


def _names(model: CityModel, *, live: bool) -> list[StackName]:
    names: list[StackName] = []
    for dep_id in sorted(model.departments):
        systems = [s for s in model.departments[dep_id].systems if not live or s.retirement is None]
        for zone in sorted({s.zone for s in systems}, key=list(Zone).index):
            names.append(StackName(zone, Site.primary, dep_id))
            if any(s.dr is not None and s.zone is zone for s in systems):
                names.append(StackName(zone, Site.dr, dep_id))
    return names


def stack_names(model: CityModel) -> list[StackName]:
    """Every stack the city builds: the four foundations, then each department's stacks, those
    where it has a live system (a retired one, T1.2, is built nowhere)."""
    return [StackName(z, s) for z in Zone for s in Site] + _names(model, live=True)


def stacks_to_destroy(model: CityModel) -> list[StackName]:
    """The department stacks whose every system is retired: not built, and to destroy where they
    were (``pulumi destroy``, then ``pulumi stack rm``)."""
    built = set(_names(model, live=True))
    return [n for n in _names(model, live=False) if n not in built]


def stacks(model: CityModel) -> list[str]:
    return [str(n) for n in stack_names(model)]


def check(model: CityModel, name: str) -> StackName:
    """Parse ``name`` and check that the city has that stack; ValueError naming what exists if not."""
    parsed = StackName.parse(name)
    if str(parsed) in set(stacks(model)):
        return parsed
    if parsed.department is not None and parsed.department not in model.departments:
        raise ValueError(f"no department {parsed.department!r} in the city")
    if parsed in stacks_to_destroy(model):
        raise ValueError(
            f"{str(parsed)!r} is to destroy: every system of {parsed.department} there is retired, so the city "
            "builds nothing in it; destroy it where it was built (`pulumi destroy`), and `jiyue infra stacks` "
            "lists the stacks")
    raise ValueError(
        f"the city has no stack {str(parsed)!r}: the department has no system "
        + ("with DR needs " if parsed.site is Site.dr else "")
        + f"on the {parsed.zone.value}; `jiyue infra stacks` lists the stacks"
    )
