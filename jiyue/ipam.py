"""The IP plan: every department's segments per zone and site, from the city's supernets.

Decision record: ``docs/adr/0001-ip-plan.md``. In short: each department owns one *slot*
number, pinned in ``ipam.lock.yaml`` beside the registry; slot ``k`` is segment
``reserved_segments + k`` of every zone-and-site supernet, so a department has the same
third octet everywhere, and adding or removing a department never moves another one. Each
system owns a slot within its department, pinned in the same file (``systems``): its block of
host addresses (:mod:`jiyue.placement`), so deleting, reordering or retiring an entry of a
department file moves no other system's servers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from netaddr import IPNetwork

from .registry.checks import HOST_BASE, HOST_BLOCK
from .registry.diagnostics import Diagnostic, Severity, relpath
from .registry.model import CityModel, dotted
from .registry.schema import Site, Zone
from .registry.yamlio import LineDict, ReadError, read_yaml

LOCK_FILE = "ipam.lock.yaml"
LOCK_HEADER = """\
# yaml-language-server: $schema=../../schemas/ipam-lock.schema.json
# The IP plan's pinned slots: department id -> slot (its segments), and
# per department, system id -> slot (its block of host addresses).
# Written by `jiyue ipam --update-lock`; review it like code.
# A slot is never reused while it is listed here: deleting a department
# or a system keeps its addresses reserved until
# `jiyue ipam --update-lock --prune`.
---
"""
SHARED_SEGMENTS = ("shared",)  # reserved segment 0 of every zone and site: DNS, NTP, mirrors


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    department: str | None  # None for the zone's shared and management segments
    zone: Zone
    site: Site
    cidr: str
    gateway: str
    slot: int | None = None

    @property
    def kind(self) -> str:
        return "department" if self.department else ("management" if self.name.startswith("mgmt") else "shared")


@dataclass
class IpPlan:
    segments: list[Segment]
    slots: dict[str, int]
    new_slots: dict[str, int]  # allocated now, not yet pinned in the lock file
    stale_slots: dict[str, int]  # pinned for departments that no longer exist
    diagnostics: list[Diagnostic] = field(default_factory=list)
    system_slots: dict[str, dict[str, int]] = field(default_factory=dict)  # department -> system -> slot
    new_system_slots: dict[str, dict[str, int]] = field(default_factory=dict)  # not yet pinned
    stale_system_slots: dict[str, dict[str, int]] = field(default_factory=dict)  # pinned, no longer listed

    def system_slot(self, department: str, system: str) -> int:
        """The system's slot in its department: its block of host addresses (jiyue.placement)."""
        return self.system_slots[department][system]

    def segment(self, department: str, zone: Zone | str, site: Site | str) -> Segment:
        return self._index[(department, Zone(zone), Site(site))]

    def management(self, zone: Zone | str, site: Site | str) -> Segment:
        return self._index[("mgmt", Zone(zone), Site(site))]

    def shared(self, zone: Zone | str, site: Site | str) -> Segment:
        return self._index[("shared", Zone(zone), Site(site))]

    def __post_init__(self) -> None:
        self._lan_nets: dict[tuple[str, str], IPNetwork] = {}
        self._index = {}
        for s in self.segments:
            key = s.department or ("mgmt" if s.kind == "management" else "shared")
            self._index[(key, s.zone, s.site)] = s

    # ---- addresses that exist only during migration (the department edge, NAT)
    legacy_blocks: dict[tuple[str, str], str] = field(default_factory=dict)  # (department, lan) -> cidr

    def legacy_block(self, department: str, lan: str) -> str:
        """The block a department's legacy LAN is mapped to (1:1) while it is migrated."""
        return self.legacy_blocks[(department, lan)]

    def mapped_address(self, department: str, lan: str, address: str) -> str:
        """Where the data center reaches a legacy host: its address mapped into its LAN's block."""
        block = IPNetwork(self.legacy_blocks[(department, lan)])
        lan_net = self._lan_nets[(department, lan)]
        return _ip(block.first + (int(IPNetwork(address + "/32").first) - lan_net.first))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.error]


Lock = tuple[dict[str, int], dict[str, int], dict[str, dict[str, int]], list[Diagnostic]]


def read_lock(root: Path) -> Lock:
    """The pinned department slots, the line of each in the lock file, the pinned system slots
    (department -> system -> slot), and what is wrong with the file."""
    path = root / LOCK_FILE
    if not path.exists():
        return {}, {}, {}, []
    name = relpath(path)
    try:
        data = read_yaml(path)
    except ReadError as exc:
        return {}, {}, {}, [Diagnostic(name, exc.line, exc.field, exc.message, exc.hint, code="lock")]
    slots = data.get("slots") if isinstance(data, dict) else None
    if not isinstance(slots, LineDict):
        return {}, {}, {}, [Diagnostic(name, 1, "slots", "missing or not a mapping",
                                       "regenerate it with `jiyue ipam --update-lock`", code="lock")]
    out: dict[str, int] = {}
    diags: list[Diagnostic] = []
    owner: dict[int, str] = {}
    for dep, slot in slots.items():
        line = slots.key_lines.get(dep, 1)
        if not isinstance(slot, int) or isinstance(slot, bool) or slot < 0:
            diags.append(Diagnostic(name, line, f"slots.{dep}", f"slot {slot!r} is not a whole number >= 0",
                                    "fix it, or remove the line and run `jiyue ipam --update-lock`", code="lock"))
            continue
        if slot in owner:
            diags.append(Diagnostic(name, line, f"slots.{dep}", f"slot {slot} already belongs to {owner[slot]!r}",
                                    "two departments cannot share addresses; remove one line and run "
                                    "`jiyue ipam --update-lock`", code="lock"))
            continue
        owner[slot] = str(dep)
        out[str(dep)] = slot
    systems, system_diags = _read_system_slots(name, data.get("systems"))
    return out, {str(d): slots.key_lines.get(d, 1) for d in out}, systems, diags + system_diags


def _read_system_slots(name: str, section: object) -> tuple[dict[str, dict[str, int]], list[Diagnostic]]:
    """The lock file's ``systems``: department -> system -> slot (absent: nothing pinned yet)."""
    if section is None:
        return {}, []
    if not isinstance(section, LineDict):
        return {}, [Diagnostic(name, 1, "systems", "not a mapping of department -> system -> slot",
                               "regenerate it with `jiyue ipam --update-lock`", code="lock")]
    out: dict[str, dict[str, int]] = {}
    diags: list[Diagnostic] = []
    for dep, systems in section.items():
        if not isinstance(systems, LineDict):
            diags.append(Diagnostic(name, section.key_lines.get(dep, 1), f"systems.{dep}",
                                    "not a mapping of system -> slot",
                                    "fix it, or remove it and run `jiyue ipam --update-lock`", code="lock"))
            continue
        owner: dict[int, str] = {}
        for sid, slot in systems.items():
            line, where = systems.key_lines.get(sid, 1), f"systems.{dep}.{sid}"
            if not isinstance(slot, int) or isinstance(slot, bool) or slot < 0:
                diags.append(Diagnostic(name, line, where, f"slot {slot!r} is not a whole number >= 0",
                                        "fix it, or remove the line and run `jiyue ipam --update-lock`",
                                        code="lock"))
                continue
            if slot in owner:
                diags.append(Diagnostic(name, line, where, f"slot {slot} already belongs to {owner[slot]!r}",
                                        "two systems cannot share addresses; remove one line and run "
                                        "`jiyue ipam --update-lock`", code="lock"))
                continue
            owner[slot] = str(sid)
            out.setdefault(str(dep), {})[str(sid)] = slot
    return out, diags


def _room(model: CityModel) -> int:
    """How many department slots the city's addressing holds: the fewest segments a zone-and-site
    supernet has after its reserved ones, and the legacy map's blocks when a department has
    legacy LANs."""
    a = model.city.addressing
    room = []
    for nets in a.supernets.values():
        for site in Site:
            prefix = IPNetwork(getattr(nets, site.value)).prefixlen
            if a.segment_prefix >= prefix:
                room.append(2 ** (a.segment_prefix - prefix) - a.reserved_segments)
    if any(d.legacy_lans for d in model.departments.values()):
        space = IPNetwork(a.legacy_map)
        if a.legacy_map_prefix >= space.prefixlen:
            room.append(2 ** (a.legacy_map_prefix - space.prefixlen))
    return max(min(room, default=0), 0)


def _beyond_room(model: CityModel, lock: dict[str, int], lines: dict[str, int]) -> dict[str, Diagnostic]:
    """A pinned slot the addressing cannot hold although the city's departments would fit: the
    lock file's number is wrong, not city.yaml's ranges (those are blamed when the departments
    themselves are too many)."""
    room = _room(model)
    if len(model.departments) > room:
        return {}
    name = relpath(model.root / LOCK_FILE)
    return {dep: Diagnostic(name, lines.get(dep, 1), f"slots.{dep}",
                            f"slot {slot} is beyond the {room} slots the city's addressing holds (0 to {room - 1})",
                            "fix the number, or remove the line and run `jiyue ipam --update-lock`", code="lock")
            for dep, slot in lock.items() if dep in model.departments and slot >= room}


def write_lock(root: Path, slots: dict[str, int], systems: dict[str, dict[str, int]] | None = None) -> Path:
    path = root / LOCK_FILE
    data: dict[str, object] = {"slots": dict(sorted(slots.items(), key=lambda kv: kv[1]))}
    if systems:
        data["systems"] = {dep: dict(sorted(systems[dep].items(), key=lambda kv: kv[1]))
                           for dep in sorted(systems, key=lambda d: (slots.get(d, len(slots)), d)) if systems[dep]}
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(LOCK_HEADER + body, encoding="utf-8")
    tmp.replace(path)
    return path


def plan(model: CityModel, *, prune: bool = False) -> IpPlan:
    """Allocate every department's segments; report overlaps; never raise on a bad plan."""
    root = model.root
    lock, lock_lines, system_lock, diags = read_lock(root)
    beyond = _beyond_room(model, lock, lock_lines)  # planned for none of their departments
    diags.extend(beyond.values())
    lock = {d: s for d, s in lock.items() if d not in beyond}
    stale = {d: s for d, s in lock.items() if d not in model.departments}
    slots = {d: s for d, s in lock.items() if d in model.departments or not prune}
    used = set(slots.values())
    new: dict[str, int] = {}
    nxt = 0
    for dep in sorted(model.departments):
        if dep in slots or dep in beyond:
            continue
        while nxt in used:
            nxt += 1
        slots[dep] = new[dep] = nxt
        used.add(nxt)
    if new and (root / LOCK_FILE).exists():
        diags.append(Diagnostic(relpath(root / LOCK_FILE), 0, "slots",
                                f"{len(new)} department(s) not pinned yet: {', '.join(sorted(new)[:5])}"
                                + (" ..." if len(new) > 5 else ""),
                                "run `jiyue ipam --update-lock` and commit the lock file",
                                Severity.warning, "lock"))
    system_slots, new_systems, stale_systems = _system_slots(model, system_lock, prune=prune)
    if new_systems and (root / LOCK_FILE).exists():
        fresh = sorted(f"{d}/{s}" for d, got in new_systems.items() for s in got)
        diags.append(Diagnostic(relpath(root / LOCK_FILE), 0, "systems",
                                f"{len(fresh)} system(s) not pinned yet: {', '.join(fresh[:5])}"
                                + (" ..." if len(fresh) > 5 else ""),
                                "run `jiyue ipam --update-lock` and commit the lock file",
                                Severity.warning, "lock"))

    a = model.city.addressing
    city_name = relpath(root / "city.yaml")
    segments: list[Segment] = []
    for zone in Zone:
        for site in Site:
            supernet = IPNetwork(getattr(a.supernets[zone], site.value))
            if a.segment_prefix < supernet.prefixlen:
                diags.append(Diagnostic(city_name, model.sources["__city__"].line("addressing", "segment_prefix"),
                                        "addressing.segment_prefix",
                                        f"/{a.segment_prefix} segments do not fit in {supernet}",
                                        "use a longer prefix or a larger supernet", code="ipam-size"))
                continue
            capacity = 2 ** (a.segment_prefix - supernet.prefixlen)
            first = supernet.first
            size = 2**(32 - a.segment_prefix)

            def nth(i: int, first: int = first, size: int = size) -> IPNetwork:
                return IPNetwork(f"{_ip(first + i * size)}/{a.segment_prefix}")

            for k, name in enumerate(SHARED_SEGMENTS):
                net = nth(k)
                segments.append(Segment(f"{zone.value}-{site.value}-{name}", None, zone, site, str(net),
                                        _ip(net.first + 1)))
            needs_slots = max(slots.values(), default=-1) + 1 + a.reserved_segments
            if needs_slots > capacity:
                line = model.sources["__city__"].line("addressing", "supernets", zone.value)
                diags.append(Diagnostic(city_name, line,
                                        f"addressing.supernets.{zone.value}.{site.value}",
                                        f"{supernet} holds {capacity} segments of /{a.segment_prefix} but "
                                        f"{needs_slots} are needed",
                                        "give the zone a larger supernet", code="ipam-size"))
                continue
            for dep, slot in slots.items():
                if dep not in model.departments:
                    continue
                net = nth(a.reserved_segments + slot)
                segments.append(Segment(f"{dep}-{zone.value}-{site.value}", dep, zone, site, str(net),
                                        _ip(net.first + 1), slot))
    for site in Site:
        mgmt = IPNetwork(getattr(a.management, site.value))
        for k, zone in enumerate(Zone):
            net = IPNetwork(f"{_ip(mgmt.first + k * 256)}/24") if mgmt.prefixlen <= 23 else mgmt
            segments.append(Segment(f"mgmt-{zone.value}-{site.value}", None, zone, site, str(net),
                                    _ip(net.first + 1)))
    diags.extend(_systems_beyond_segment(model, system_slots))
    result = IpPlan(segments=segments, slots=slots, new_slots=new, stale_slots=stale, diagnostics=diags,
                    system_slots=system_slots, new_system_slots=new_systems, stale_system_slots=stale_systems)
    _legacy_blocks(model, result, city_name)
    result.diagnostics.extend(_overlaps(model))
    return result


def pool_offset(prefix: int) -> int:
    """Where a segment's DHCP pool starts, from its first address: its last quarter is the pool."""
    return (2 ** (32 - prefix) * 3) // 4


def _systems_beyond_segment(model: CityModel, system_slots: dict[str, dict[str, int]]) -> list[Diagnostic]:
    """Every live system's instances have planned addresses in its slot of the department's segment
    (the slot pinned in the lock, or the next free one; jiyue.placement lays hosts out by slot)."""
    prefix = model.city.addressing.segment_prefix
    pool = pool_offset(prefix)
    room = max((pool - HOST_BASE) // HOST_BLOCK, 0)
    out = []
    for dep_id, dep in sorted(model.departments.items()):
        for k, system in enumerate(dep.systems):
            slot = system_slots.get(dep_id, {}).get(system.id)
            n = min(system.capacity.instances, HOST_BLOCK)  # more is the schema checks' to refuse
            if system.retirement is not None or slot is None or HOST_BASE + HOST_BLOCK * slot + n <= pool:
                continue
            src = model.sources[dep_id]
            out.append(Diagnostic(
                src.name, src.line("systems", k, "id"), f"systems[{k}].id",
                f"{system.id} is in address slot {slot} of its department, but a /{prefix} segment holds "
                f"{room} systems (slots 0 to {room - 1})",
                "free the slots of deleted systems (`jiyue ipam --update-lock --prune`), use a shorter "
                "addressing.segment_prefix in city.yaml, or move systems to another department", code="segment-full"))
    return out


def _system_slots(model: CityModel, lock: dict[str, dict[str, int]], *, prune: bool
                  ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Every system's slot in its department: (all, new ones, pinned ones no longer listed).

    A pinned system keeps its slot; a system not pinned yet takes the lowest slot free in its
    department, in the order of the department file (with nothing pinned: its position there,
    retired systems and the other zone's counted). A slot pinned for a system, or a department,
    that is no longer listed stays taken until ``prune``.
    """
    out: dict[str, dict[str, int]] = {}
    new: dict[str, dict[str, int]] = {}
    stale: dict[str, dict[str, int]] = {}
    for dep_id in sorted(set(model.departments) | set(lock)):
        pinned = lock.get(dep_id, {})
        dep = model.departments.get(dep_id)
        listed = [s.id for s in dep.systems] if dep is not None else []
        gone = {s: k for s, k in pinned.items() if s not in listed}
        if gone:
            stale[dep_id] = gone
        mine = {s: k for s, k in pinned.items() if s in listed or not prune}
        if dep is None:
            if mine:
                out[dep_id] = mine
            continue
        used, nxt = set(mine.values()), 0
        for sid in listed:
            if sid in mine:
                continue
            while nxt in used:
                nxt += 1
            mine[sid] = new.setdefault(dep_id, {})[sid] = nxt
            used.add(nxt)
        out[dep_id] = mine
    return out, new, stale


def _legacy_blocks(model: CityModel, ip: IpPlan, city_name: str) -> None:
    """Pack each department's legacy LANs, in order, into the department's block of legacy_map."""
    a = model.city.addressing
    space = IPNetwork(a.legacy_map)
    size = 2 ** (32 - a.legacy_map_prefix)
    capacity = 2 ** (a.legacy_map_prefix - space.prefixlen) if a.legacy_map_prefix >= space.prefixlen else 0
    for dep_id, slot in ip.slots.items():
        dep = model.departments.get(dep_id)
        if dep is None or not dep.legacy_lans:
            continue
        if slot >= capacity:
            ip.diagnostics.append(Diagnostic(city_name, 0, "addressing.legacy_map",
                                             f"{space} holds {capacity} department blocks of /{a.legacy_map_prefix}, "
                                             f"but slot {slot} ({dep_id}) needs one more",
                                             "use a larger legacy_map or a longer legacy_map_prefix",
                                             code="ipam-size"))
            continue
        base = space.first + slot * size
        offset = 0
        for k, lan in enumerate(dep.legacy_lans):
            net = IPNetwork(lan.cidr)
            offset = -(-offset // net.size) * net.size  # align to the LAN's own size
            if offset + net.size > size:
                src = model.sources[dep_id]
                ip.diagnostics.append(Diagnostic(src.name, src.line("legacy_lans", k, "cidr"), f"legacy_lans[{k}].cidr",
                                                 "the department's legacy LANs need more than its "
                                                 f"/{a.legacy_map_prefix} block of the legacy map",
                                                 "use a shorter legacy_map_prefix in city.yaml", code="ipam-size"))
                break
            ip.legacy_blocks[(dep_id, lan.id)] = f"{_ip(base + offset)}/{net.prefixlen}"
            ip._lan_nets[(dep_id, lan.id)] = net
            offset += net.size


def _ip(value: int) -> str:
    return f"{value >> 24 & 255}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def _overlaps(model: CityModel) -> list[Diagnostic]:
    """Ranges that must coexist during migration may not overlap the planned ones.

    Planned ranges (supernets, management) against each other and against every legacy LAN and
    private network: an error. Legacy LANs and private networks of *different* departments
    against each other: a warning (they are isolated today; the lab and the migration reach
    each department's LAN through its own router, so both can keep their addresses).
    """
    a = model.city.addressing
    city_src = model.sources["__city__"]
    planned: list[tuple[int, int, str, tuple]] = []
    for zone, nets in a.supernets.items():
        for site in Site:
            n = IPNetwork(getattr(nets, site.value))
            planned.append((n.first, n.last, f"the {zone.value} {site.value} supernet {n}",
                            ("addressing", "supernets", zone.value, site.value)))
    for site in Site:
        n = IPNetwork(getattr(a.management, site.value))
        planned.append((n.first, n.last, f"the {site.value} management range {n}",
                        ("addressing", "management", site.value)))
    lm = IPNetwork(a.legacy_map)
    planned.append((lm.first, lm.last, f"the legacy map {lm}", ("addressing", "legacy_map")))
    egress = IPNetwork(model.city.egress.external_cidr)
    planned.append((egress.first, egress.last, f"the egress network {egress}", ("egress", "external_cidr")))

    diags: list[Diagnostic] = []
    planned.sort()
    for i, (_, last1, what1, loc1) in enumerate(planned):
        for first2, _, what2, _ in planned[i + 1:]:
            if first2 > last1:
                break
            diags.append(Diagnostic(city_src.name, city_src.line(*loc1), ".".join(loc1),
                                    f"{what1} overlaps {what2}", "give each its own range",
                                    code="ipam-overlap"))

    legacy: list[tuple[int, int, str, str, tuple]] = []
    for dep in model.departments.values():
        for label in ("legacy_lans", "private_networks"):
            for k, item in enumerate(getattr(dep, label)):
                n = IPNetwork(item.cidr)
                legacy.append((n.first, n.last, dep.id, f"{label[:-1].replace('_', ' ')} {item.id} ({n})",
                               (label, k, "cidr")))
    legacy.sort()
    for first, last, dep_id, what, loc in legacy:
        src = model.sources[dep_id]
        for pf, pl, pwhat, _ in planned:
            if pf <= last and first <= pl:
                diags.append(Diagnostic(src.name, src.line(*loc), dotted(loc),
                                        f"{what} overlaps {pwhat}; both must coexist during migration",
                                        "renumber the legacy range before migrating, or move the supernet",
                                        code="ipam-overlap"))
    # within one department, LANs may use the same private range (several buildings): every host
    # names its LAN, and the department's edge maps each LAN to a block of its own (_legacy_blocks)

    # overlaps between departments: group identical ranges, sweep the distinct ones (n log n)
    buckets: dict[tuple[int, int], list[tuple[int, int, str, str, tuple]]] = {}
    for item in legacy:
        buckets.setdefault((item[0], item[1]), []).append(item)
    distinct = sorted(buckets)
    neighbours: dict[tuple[int, int], list[tuple[int, int]]] = {k: [k] for k in distinct}
    active: list[tuple[int, int]] = []
    for key in distinct:
        active = [x for x in active if x[1] >= key[0]]
        for other in active:
            neighbours[key].append(other)
            neighbours[other].append(key)
        active.append(key)
    for key in distinct:
        near = {x[2] for k in neighbours[key] for x in buckets[k]}
        names_pool = sorted(near)[:4]
        for _, _, dep_id, what, loc in buckets[key]:
            total = len(near) - (dep_id in near)
            if not total:
                continue
            src = model.sources[dep_id]
            shown = [n for n in names_pool if n != dep_id][:3]
            names = ", ".join(shown) + (f" and {total - len(shown)} more" if total > len(shown) else "")
            diags.append(Diagnostic(src.name, src.line(*loc), dotted(loc),
                                    f"{what} overlaps ranges of {names}",
                                    "fine while each stays behind its own router; the lab and the "
                                    "migration reach each department's LAN separately",
                                    Severity.warning, "legacy-overlap"))
    return diags
