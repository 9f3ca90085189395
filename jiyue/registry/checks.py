"""The rules that span files: one function per rule, run in the order of :data:`CHECKS`.

The schema checks each file on its own; these rules check what only the whole city shows
(references between files, ids unique city-wide, zones, quotas, the dependency graph). Each rule
takes the :class:`CityFiles` of a registry whose files all passed the schema and yields its
diagnostics; its docstring says what it enforces and which requirement of docs/requirements.md
it serves. Diagnostics come out rule by rule, in the order of ``CHECKS``.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from netaddr import IPAddress, IPNetwork

from .. import creditcode
from ..dr import BACKUP_MIN_INTERVAL, cold_by_rto_only
from .diagnostics import Diagnostic, Severity, Source
from .schema import (
    BaseLibrary,
    City,
    Department,
    LegacyHost,
    Library,
    SharedPlatform,
    SharingMethod,
    SharingType,
    Site,
    System,
    Theme,
    Zone,
)

CITY_SOURCE = "__city__"
#: the host layout of a department segment (jiyue.placement): the k-th system of a department file
#: has addresses HOST_BASE + HOST_BLOCK*k + i, below the DHCP pool of the segment's last quarter
HOST_BASE = 10
HOST_BLOCK = 8  # addresses per system; a system has at most this many instances


@dataclass
class CityFiles:
    """A registry's city context and the departments that passed the schema, with their files.

    ``unparsed`` holds the ids (department and system) of files that failed the schema: they
    still exist, so a reference to them is not reported as unknown and one error does not cascade.
    """

    root: Path
    city: City
    departments: dict[str, Department]
    sources: dict[str, Source]
    unparsed: set[str] = field(default_factory=set)

    def err(self, dep_id: str, loc: tuple[Any, ...], message: str, hint: str, code: str) -> Diagnostic:
        return self.sources[dep_id].diagnostic(loc, message, hint, code)

    def warn(self, dep_id: str, loc: tuple[Any, ...], message: str, hint: str, code: str) -> Diagnostic:
        return self.sources[dep_id].diagnostic(loc, message, hint, code, Severity.warning)

    def known_department(self, dep_id: str) -> bool:
        return dep_id in self.departments or dep_id in self.unparsed

    def systems(self) -> Iterator[tuple[Department, int, System]]:
        """Every system with its department and its position there, in file order."""
        for dep in self.departments.values():
            for i, sys in enumerate(dep.systems):
                yield dep, i, sys

    def legacy_hosts(self) -> Iterator[tuple[Department, tuple[Any, ...], System, LegacyHost]]:
        """Every legacy host with its department, its location (``systems[i].legacy_hosts[j]``) and system."""
        for dep, i, sys in self.systems():
            for j, host in enumerate(sys.legacy_hosts):
                yield dep, ("systems", i, "legacy_hosts", j), sys, host

    @cached_property
    def system_home(self) -> dict[str, tuple[str, int]]:
        """System id to the department and position of its first definition."""
        home: dict[str, tuple[str, int]] = {}
        for dep, i, sys in self.systems():
            home.setdefault(sys.id, (dep.id, i))
        return home

    @cached_property
    def zone_of(self) -> dict[str, Zone]:
        """System id to its zone (the last definition of a duplicated id)."""
        return {sys.id: sys.zone for _, _, sys in self.systems()}

    @cached_property
    def retired(self) -> set[str]:
        return {sys.id for _, _, sys in self.systems() if sys.retirement is not None}


Check = Callable[[CityFiles], Iterator[Diagnostic]]


# --------------------------------------------------------------------------- the city context


def city_departments_exist(f: CityFiles) -> Iterator[Diagnostic]:
    """The platform department (T4.5) and the pilot departments (T4.2) of city.yaml are department files."""
    city, src = f.city, f.sources[CITY_SOURCE]
    if not f.known_department(city.platform_department):
        yield src.diagnostic(("platform_department",), f"no department {city.platform_department!r}",
                             "name the department file that runs the shared platforms", "unknown-ref")
    for i, pid in enumerate(city.pilot_departments):
        if not f.known_department(pid):
            yield src.diagnostic(("pilot_departments", i), f"no department {pid!r}",
                                 "use the id of an existing department file", "unknown-ref")


def intranet_off_the_internet(f: CityFiles) -> Iterator[Diagnostic]:
    """The intranet never reaches the Internet (T3.3, T3.5): only the extranet does, through the
    central egress; the program would give the intranet's routers an external gateway."""
    src = f.sources[CITY_SOURCE]
    if f.city.zones[Zone.intranet].internet:
        yield src.diagnostic(("zones", "intranet", "internet"), "the intranet may not reach the Internet",
                             "set internet: false; only the extranet reaches it, through the one egress (T3.5)",
                             "intranet-internet")


def management_per_zone(f: CityFiles) -> Iterator[Diagnostic]:
    """Each site's management range holds a /24 for each zone (jiyue/ipam.py): a /24 or smaller range
    would give the intranet and the extranet the same management subnet (T3.3: the zones are apart)."""
    src = f.sources[CITY_SOURCE]
    for site in Site:
        net = IPNetwork(getattr(f.city.addressing.management, site.value))
        if net.prefixlen > 23:
            yield src.diagnostic(("addressing", "management", site.value),
                                 f"{net} gives the intranet and the extranet the same management subnet",
                                 "give the site a /23 or larger range: a /24 for each zone", "management-shared")


def egress_at_primary(f: CityFiles) -> Iterator[Diagnostic]:
    """The Internet egress is at the primary site (T3.5): public-facing systems run there, and a
    floating IP comes only from the egress's site; at the DR site they would have none."""
    if f.city.egress.site is not Site.primary:
        yield f.sources[CITY_SOURCE].diagnostic(
            ("egress", "site"), "public-facing systems run at the primary site, and at the "
            f"{f.city.egress.site.value} site the egress leaves them without a floating IP",
            "set site: primary", "egress-site")


# --------------------------------------------------------------------------- unique ids


def system_ids_unique(f: CityFiles) -> Iterator[Diagnostic]:
    """A system id names one system city-wide (T1.1: the audit counts each system once); every
    reference to a system relies on it."""
    for dep, i, sys in f.systems():
        other, oi = f.system_home[sys.id]
        if (other, oi) != (dep.id, i):
            first = f"{f.sources[other].name}:{f.sources[other].line('systems', oi, 'id')}"
            yield f.err(dep.id, ("systems", i, "id"), f"duplicate system id {sys.id!r}, first in {first}",
                        "system ids are unique city-wide; prefix them with the department id", "duplicate-id")


def legacy_host_names_unique(f: CityFiles) -> Iterator[Diagnostic]:
    """A legacy host name names one host city-wide: the migration's inventory (T4.1) is keyed by it."""
    home: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for dep, loc, _, host in f.legacy_hosts():
        if host.name in home:
            other, oloc = home[host.name]
            yield f.err(dep.id, (*loc, "name"),
                        f"duplicate legacy host name {host.name!r}, first in {f.sources[other].name}:"
                        f"{f.sources[other].line(*oloc, 'name')}",
                        "host names are unique city-wide; prefix them with the department id", "duplicate-id")
        else:
            home[host.name] = (dep.id, loc)


def credit_codes_valid(f: CityFiles) -> Iterator[Diagnostic]:
    """A department's unified social credit code (its provider code in the catalog, T5) is well
    formed by GB 32100's check characters and names one department city-wide."""
    home: dict[str, str] = {}
    for dep in f.departments.values():
        code = dep.credit_code
        if code is None:
            continue
        wrong = creditcode.problem(code)
        if wrong:
            yield f.err(dep.id, ("credit_code",), f"{code!r} {wrong}",
                        "copy the code from the department's registration certificate (统一社会信用代码证书)",
                        "credit-code")
        elif code in home:
            yield f.err(dep.id, ("credit_code",), f"{code} is already the code of {home[code]} "
                        f"({f.sources[home[code]].name}:{f.sources[home[code]].line('credit_code')})",
                        "each department has its own code: check which of the two files holds the wrong one",
                        "duplicate-id")
        else:
            home[code] = dep.id


def department_item_ids_unique(f: CityFiles) -> Iterator[Diagnostic]:
    """Within a department, each private network, leased line (T3.5, T3.6) and legacy LAN has its own id."""
    for dep in f.departments.values():
        for label in ("private_networks", "leased_lines", "legacy_lans"):
            seen: dict[str, int] = {}
            for k, item in enumerate(getattr(dep, label)):
                if item.id in seen:
                    yield f.err(dep.id, (label, k, "id"), f"duplicate id {item.id!r} (also item {seen[item.id]})",
                                "give each its own id", "duplicate-id")
                seen.setdefault(item.id, k)


# --------------------------------------------------------------------------- departments


def parent_exists(f: CityFiles) -> Iterator[Diagnostic]:
    """A subordinate unit's parent is another department of the city (T2.2: its systems merge into
    the parent's)."""
    for dep in f.departments.values():
        if dep.parent is not None and not f.known_department(dep.parent):
            yield f.err(dep.id, ("parent",), f"no department {dep.parent!r}",
                        "use the id of an existing department, or remove parent", "unknown-ref")
        if dep.parent == dep.id:
            yield f.err(dep.id, ("parent",), "a department cannot be its own parent", "remove parent", "bad-ref")


def district_named(f: CityFiles) -> Iterator[Diagnostic]:
    """A district- or street-tier department names its district (T3.4: the extranet's three tiers)."""
    for dep in f.departments.values():
        if dep.tier.value != "city" and not dep.district:
            yield f.err(dep.id, ("district",), f"a {dep.tier.value}-tier department needs its district",
                        "add district: <name of the district>", "missing-district")


# --------------------------------------------------------------------------- references between systems


def dependencies_exist(f: CityFiles) -> Iterator[Diagnostic]:
    """Each ``depends_on`` names another system of the city (T4.1: the waves follow the dependencies)."""
    for dep, i, sys in f.systems():
        for k, ref in enumerate(sys.depends_on):
            if ref in f.unparsed:
                continue
            if ref not in f.system_home:
                close = difflib.get_close_matches(ref, f.system_home, n=1)
                yield f.err(dep.id, ("systems", i, "depends_on", k), f"no system {ref!r}",
                            f"did you mean {close[0]!r}?" if close else "use the id of an existing system",
                            "unknown-ref")
            elif ref == sys.id:
                yield f.err(dep.id, ("systems", i, "depends_on", k), "a system cannot depend on itself",
                            "remove it", "bad-ref")


def replacement_exists(f: CityFiles) -> Iterator[Diagnostic]:
    """``replaceable_by`` (a zombie's sign, T1.2) names another system of the city."""
    for dep, i, sys in f.systems():
        loc = ("systems", i, "replaceable_by")
        if sys.replaceable_by == sys.id:
            yield f.err(dep.id, loc, "a system cannot be replaced by itself",
                        "name the system that covers its function, or remove replaceable_by", "bad-ref")
        elif sys.replaceable_by is not None and sys.replaceable_by not in f.system_home \
                and sys.replaceable_by not in f.unparsed:
            yield f.err(dep.id, loc, f"no system {sys.replaceable_by!r}", "use the id of an existing system",
                        "unknown-ref")


# --------------------------------------------------------------------------- zones and classification


def classified_on_intranet(f: CityFiles) -> Iterator[Diagnostic]:
    """A classified (涉密) system is on the intranet (T4.4, G8)."""
    for dep, i, sys in f.systems():
        if sys.classification.value == "classified" and sys.zone is not Zone.intranet:
            yield f.err(dep.id, ("systems", i, "zone"), "a classified (涉密) system must be on the intranet",
                        "set zone: intranet (T4.4, G8)", "classified-zone")


def public_facing_on_extranet(f: CityFiles) -> Iterator[Diagnostic]:
    """A public-facing system is on the extranet, the only zone that reaches the Internet (T3.3, T3.5)."""
    for dep, i, sys in f.systems():
        if sys.public_facing and sys.zone is not Zone.extranet:
            yield f.err(dep.id, ("systems", i, "public_facing"), "a public-facing system must be on the extranet",
                        "set zone: extranet, or public_facing: false (T3.3)", "public-zone")


def classified_not_public(f: CityFiles) -> Iterator[Diagnostic]:
    """A classified system does not face the public (G8: classified information follows the secrecy laws)."""
    for dep, i, sys in f.systems():
        if sys.public_facing and sys.classification.value == "classified":
            yield f.err(dep.id, ("systems", i, "classification"), "a classified system cannot face the public",
                        "split the public part into its own extranet system", "classified-public")


# --------------------------------------------------------------------------- shared platforms


def platform_built_once(f: CityFiles) -> Iterator[Diagnostic]:
    """Each shared platform is one system of the platform department, once per city (T4.5); the
    sharing and exchange platform once per zone, the intranet's and the extranet's (T2.3), since
    the two networks have no route between them."""
    first: set[tuple[str, Zone | None]] = set()
    platform_department = f.city.platform_department
    for dep, i, sys in f.systems():
        if sys.platform is None:
            continue
        kind = sys.platform.value
        per_zone = sys.platform is SharedPlatform.sharing_exchange
        key = (kind, sys.zone if per_zone else None)
        if dep.id != platform_department:
            yield f.err(dep.id, ("systems", i, "platform"),
                        f"the {kind} platform is built once by {platform_department!r}, not by each department",
                        "remove platform and use the city's (T4.5)", "duplicate-platform")
        elif key in first:
            where = f" on the {sys.zone.value}" if per_zone else ""
            yield f.err(dep.id, ("systems", i, "platform"), f"a second {kind} platform{where}",
                        "keep one per zone (T2.3, T4.5)" if per_zone else "keep one per city (T4.5)",
                        "duplicate-platform")
        first.add(key)


# --------------------------------------------------------------------------- catalog and filing


def data_resources_listed_once(f: CityFiles) -> Iterator[Diagnostic]:
    """A system lists each entry of its resource catalog once (T5)."""
    for dep, i, sys in f.systems():
        seen: dict[str, int] = {}
        for k, res in enumerate(sys.data_resources or []):
            if res.id in seen:
                yield f.err(dep.id, ("systems", i, "data_resources", k, "id"),
                            f"resource {res.id!r} listed twice (also item {seen[res.id]})",
                            "list each catalog entry once per system", "duplicate-id")
            seen.setdefault(res.id, k)


def data_resources_classified(f: CityFiles) -> Iterator[Diagnostic]:
    """A resource's subject fits its library (the code's 类 and 项: a base library for a base
    resource, a theme for a thematic one, none for a department's), and a shared resource says
    how it is shared (共享方式, T6)."""
    for dep, i, sys in f.systems():
        for k, res in enumerate(sys.data_resources or []):
            at = ("systems", i, "data_resources", k)
            if res.library is Library.department:
                if res.subject is not None:
                    yield f.err(dep.id, (*at, "subject"), f"a department resource has no subject (got {res.subject!r})",
                                "remove subject, or make the resource base or thematic", "catalog")
            else:
                allowed = [x.value for x in (BaseLibrary if res.library is Library.base else Theme)]
                if res.subject not in allowed:
                    kind = "base library" if res.library is Library.base else "theme"
                    yield f.err(dep.id, (*at, "subject") if res.subject else at,
                                f"a {res.library.value} resource names its {kind} as subject"
                                + (f" (got {res.subject!r})" if res.subject else ""),
                                f"write subject: one of {', '.join(allowed)}", "catalog")
            if res.sharing in (SharingType.unconditional, SharingType.conditional) and res.sharing_method is None:
                yield f.err(dep.id, (*at, "sharing"), f"resource {res.id} is shared ({res.sharing.value}) but names "
                            "no sharing_method",
                            f"add sharing_method: one of {', '.join(m.value for m in SharingMethod)}",
                            "catalog")


def data_resources_related(f: CityFiles) -> Iterator[Diagnostic]:
    """A resource's related resources (关联资源) are resources of the catalog, other than itself."""
    keys = {r.id for _, _, sys in f.systems() for r in sys.data_resources or []}
    for dep, i, sys in f.systems():
        for k, res in enumerate(sys.data_resources or []):
            for m, other in enumerate(res.related):
                at = ("systems", i, "data_resources", k, "related", m)
                if other == res.id:
                    yield f.err(dep.id, at, f"resource {res.id} lists itself as related", "remove it", "catalog")
                elif other not in keys:
                    close = difflib.get_close_matches(other, keys, n=1)
                    yield f.err(dep.id, at, f"no resource {other!r} in the catalog",
                                f"did you mean {close[0]!r}?" if close else "use the key of a resource some system "
                                "lists in data_resources", "unknown-ref")


def data_copies_name_their_provider(f: CityFiles) -> Iterator[Diagnostic]:
    """One key is one resource with one authoritative provider (T5): one department lists it as
    its own in a live system, and every other department's entry says ``copy_of`` that one."""
    originals: dict[str, dict[str, tuple[str, int, int]]] = {}  # key -> department -> its first entry
    for dep, i, sys in f.systems():
        if sys.retirement is not None:
            continue
        for k, res in enumerate(sys.data_resources or []):
            if res.copy_of is None:
                originals.setdefault(res.id, {}).setdefault(dep.id, (dep.id, i, k))
    for key, holders in originals.items():
        first, *others = holders.values()
        for dep_id, i, k in others:
            yield f.err(dep_id, ("systems", i, "data_resources", k, "id"),
                        f"{key} is also provided by {first[0]} ({f.sources[first[0]].name}:"
                        f"{f.sources[first[0]].line('systems', first[1], 'data_resources', first[2], 'id')})",
                        f"one department provides a resource: mark one entry copy_of the other department (this "
                        f"one copy_of: {first[0]}, or {first[0]}'s copy_of: {dep_id}); the provider keeps the "
                        "published code, so ask `jiyue catalog codes` which one has it", "catalog")
    for dep, i, sys in f.systems():
        if sys.retirement is not None:
            continue
        for k, res in enumerate(sys.data_resources or []):
            if res.copy_of is None:
                continue
            at = ("systems", i, "data_resources", k, "copy_of")
            provider = next(iter(originals.get(res.id, {})), None)
            if res.copy_of == dep.id:
                yield f.err(dep.id, at, f"resource {res.id} is a copy of its own department's",
                            "remove copy_of: the department provides it", "catalog")
            elif not f.known_department(res.copy_of):
                yield f.err(dep.id, at, f"no department {res.copy_of!r}", "use the id of the providing department",
                            "unknown-ref")
            elif res.copy_of in f.departments and res.copy_of not in originals.get(res.id, {}):
                yield f.err(dep.id, at, f"{res.copy_of} does not list {res.id} as its own in a live system"
                            + (f" (it is provided by {provider})" if provider else " (nobody provides it)"),
                            f"write copy_of: {provider}" if provider else
                            f"list {res.id} in one of {res.copy_of}'s live systems without copy_of, or make this "
                            "entry the original (remove copy_of)", "unknown-ref")


def data_providers_exist(f: CityFiles) -> Iterator[Diagnostic]:
    """The provider of a data need (the requirement list filed under G6) is a department of the city."""
    for dep, i, sys in f.systems():
        for k, need in enumerate(sys.data_needs or []):
            if need.provider is not None and not f.known_department(need.provider):
                yield f.err(dep.id, ("systems", i, "data_needs", k, "provider"), f"no department {need.provider!r}",
                            "use the id of an existing department, or omit provider", "unknown-ref")


# --------------------------------------------------------------------------- capacity


def capacity_in_city_context(f: CityFiles) -> Iterator[Diagnostic]:
    """A system's flavor, image and volume class are ones the data center offers (T3.2)."""
    city = f.city
    for dep, i, sys in f.systems():
        cap = sys.capacity
        for key, table, what in ((cap.flavor, city.flavors, "flavor"), (cap.image, city.images, "image"),
                                 (cap.volume_class, city.volume_classes, "volume_class")):
            if key not in table:
                yield f.err(dep.id, ("systems", i, "capacity", what), f"no {what} {key!r} in the city context",
                            f"use one of: {', '.join(sorted(table))}", "unknown-ref")


def classified_volume_encrypted(f: CityFiles) -> Iterator[Diagnostic]:
    """A classified system's data sits on an encrypted volume class (G8)."""
    for dep, i, sys in f.systems():
        vc = f.city.volume_classes.get(sys.capacity.volume_class)
        if vc is not None and sys.classification.value == "classified" and not vc.encrypted:
            yield f.err(dep.id, ("systems", i, "capacity", "volume_class"),
                        f"classified data on the unencrypted volume class {sys.capacity.volume_class!r}",
                        "use an encrypted volume class (G8)", "classified-unencrypted")


def within_quota(f: CityFiles) -> Iterator[Diagnostic]:
    """A department's live systems fit its quotas of the shared data center (T3.2, G5); a retired
    system (T1.2) is not built and takes nothing."""
    for dep in f.departments.values():
        totals = Counter[str]()
        for sys in dep.systems:
            if sys.retirement is not None:
                continue
            cap = sys.capacity
            fl = f.city.flavors.get(cap.flavor)
            if fl is not None:
                totals["vcpus"] += fl.vcpus * cap.instances
                totals["ram_gb"] += fl.ram_gb * cap.instances
            totals["volume_gb"] += cap.volume_gb * cap.instances
            totals["instances"] += cap.instances
        q = dep.quotas
        for what, limit in (("vcpus", q.vcpus), ("ram_gb", q.ram_gb), ("volume_gb", q.volume_gb),
                            ("instances", q.instances)):
            if totals[what] > limit:
                yield f.err(dep.id, ("quotas", what), f"systems need {totals[what]} {what} but the quota is {limit}",
                            "raise the quota or shrink the systems' capacity", "over-quota")


def systems_fit_segment(f: CityFiles) -> Iterator[Diagnostic]:
    """No live system has more instances than a system's block of planned addresses. Whether its
    block lies inside the segment depends on its address slot, which the IP plan knows
    (``jiyue.ipam``: pinned in ipam.lock.yaml, else the next free), and checks there."""
    for dep, k, sys in f.systems():
        if sys.retirement is not None:
            continue
        n = sys.capacity.instances
        if n > HOST_BLOCK:
            yield f.err(dep.id, ("systems", k, "capacity", "instances"),
                        f"{n} instances, but a system has at most {HOST_BLOCK} planned addresses",
                        f"split the system, or run at most {HOST_BLOCK} instances", "segment-full")


# --------------------------------------------------------------------------- disaster recovery


def dr_rpo_within_rto(f: CityFiles) -> Iterator[Diagnostic]:
    """An RPO below the shortest backup interval (0 included) is met only by replication, hot or warm
    at the DR site (T3.1, jiyue/dr.py); an RTO beyond the city's warm limit asks for cold, which would
    lose up to a backup interval of data."""
    policy = f.city.dr_policy
    for dep, i, sys in f.systems():
        if sys.dr is None or sys.retirement is not None:
            continue
        if cold_by_rto_only(sys.dr.rpo_minutes, sys.dr.rto_minutes, policy):
            yield f.err(dep.id, ("systems", i, "dr", "rto_minutes"),
                        f"an RPO of {sys.dr.rpo_minutes} minutes needs replication (hot or warm), but an RTO of "
                        f"{sys.dr.rto_minutes} minutes is beyond the warm limit of "
                        f"{policy.warm_max_rto_minutes} and would be planned cold, backed up every "
                        f"{BACKUP_MIN_INTERVAL} minutes at best",
                        f"set rto_minutes to at most {policy.warm_max_rto_minutes}, or rpo_minutes to at least "
                        f"{BACKUP_MIN_INTERVAL} if that much may be lost", "dr-rpo-rto")


# --------------------------------------------------------------------------- legacy hosts


def legacy_host_on_its_lan(f: CityFiles) -> Iterator[Diagnostic]:
    """A legacy host sits on one of its department's legacy LANs, at an address inside it: the lab
    and the migration reach it there (T4.1)."""
    for dep, loc, _, host in f.legacy_hosts():
        lans = {lan.id: lan for lan in dep.legacy_lans}
        lan = lans.get(host.lan)
        if lan is None:
            yield f.err(dep.id, (*loc, "lan"), f"no legacy LAN {host.lan!r} in this department",
                        f"use one of: {', '.join(lans) or '(none: add legacy_lans)'}", "unknown-ref")
        elif IPAddress(host.address) not in IPNetwork(lan.cidr):
            yield f.err(dep.id, (*loc, "address"), f"{host.address} is outside LAN {lan.id} ({lan.cidr})",
                        "fix the address or the host's lan", "address-outside")


def postgresql_lists_databases(f: CityFiles) -> Iterator[Diagnostic]:
    """Warns when a host runs PostgreSQL but lists no database: the migration (T4.1) copies only those listed."""
    for dep, loc, _, host in f.legacy_hosts():
        if "postgresql" in host.services and not host.databases:
            yield f.warn(dep.id, (*loc, "databases"), "runs postgresql but lists no database",
                         "list the databases the migration must copy", "no-databases")


def legacy_addresses_unique(f: CityFiles) -> Iterator[Diagnostic]:
    """Two hosts of a department do not share an address on one LAN, across all its systems (T4.1)."""
    for dep in f.departments.values():
        by_addr: dict[tuple[str, str], tuple[int, int]] = {}
        for i, sys in enumerate(dep.systems):
            for j, host in enumerate(sys.legacy_hosts):
                key = (host.lan, host.address)
                if key in by_addr:
                    oi, oj = by_addr[key]
                    yield f.err(dep.id, ("systems", i, "legacy_hosts", j, "address"),
                                f"{host.address} on LAN {host.lan} is already host "
                                f"{dep.systems[oi].legacy_hosts[oj].name!r}",
                                "give every host on a LAN its own address", "duplicate-address")
                else:
                    by_addr[key] = (i, j)


# --------------------------------------------------------------------------- the dependency graph


def dependencies_within_zone(f: CityFiles) -> Iterator[Diagnostic]:
    """A system depends only on systems of its own zone: the intranet has no route to the extranet
    (T3.3); data crosses through each zone's sharing platform (T2.3)."""
    zone_of = f.zone_of
    for dep, i, sys in f.systems():
        for k, ref in enumerate(sys.depends_on):
            if ref in zone_of and zone_of[ref] is not sys.zone:
                yield f.err(dep.id, ("systems", i, "depends_on", k),
                            f"{sys.id} is on the {sys.zone.value} but {ref} is on the {zone_of[ref].value}, "
                            "and the two networks have no route between them",
                            "exchange the data through the sharing platform of the system's own zone "
                            "(T2.3, T3.3)", "cross-zone-dependency")


def platform_not_retired(f: CityFiles) -> Iterator[Diagnostic]:
    """A shared platform is not retired (T1.2): the city builds it once and every department uses it (T4.5)."""
    for dep, i, sys in f.systems():
        if sys.retirement is not None and sys.platform is not None:
            yield f.err(dep.id, ("systems", i, "retirement"),
                        f"{sys.id} is the city's {sys.platform.value} platform and cannot be retired",
                        "move the platform to another system first (T4.5), or remove retirement",
                        "retired-platform")


def nothing_depends_on_retired(f: CityFiles) -> Iterator[Diagnostic]:
    """No live system depends on a retired one (T1.2): a retired system is not built in the data center."""
    for dep, i, sys in f.systems():
        if sys.retirement is not None:
            continue
        for k, ref in enumerate(sys.depends_on):
            if ref in f.retired:
                yield f.err(dep.id, ("systems", i, "depends_on", k), f"{sys.id} depends on {ref}, which is retired",
                            f"move what {sys.id} needs to a live system (the one that replaces {ref}), "
                            "or reverse the retirement", "depends-on-retired")


def no_dependency_cycle(f: CityFiles) -> Iterator[Diagnostic]:
    """The dependencies have no cycle: migration waves (T4.1) need an order. Reports the first cycle found."""
    graph = {sys.id: [d for d in sys.depends_on if d in f.system_home and d != sys.id] for _, _, sys in f.systems()}
    cycle = find_cycle(graph)
    if cycle:
        dep_id, i = f.system_home[cycle[0]]
        yield f.err(dep_id, ("systems", i, "depends_on"), "dependency cycle: " + " -> ".join(cycle),
                    "break the cycle; migration waves need an order", "dependency-cycle")


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle of ``graph`` (node to successors) as a path that ends where it starts, or None.

    Depth-first from each node in sorted order, without recursion (chains can be long).
    """
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(graph, WHITE)
    for start in sorted(graph):
        if color[start] != WHITE:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(graph[start]))]
        path = [start]
        color[start] = GREY
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = BLACK
                stack.pop()
                path.pop()
            elif color.get(nxt, BLACK) == GREY:
                return path[path.index(nxt):] + [nxt]
            elif color.get(nxt) == WHITE:
                color[nxt] = GREY
                stack.append((nxt, iter(graph[nxt])))
                path.append(nxt)
    return None


CHECKS: tuple[Check, ...] = (
    city_departments_exist,
    intranet_off_the_internet,
    management_per_zone,
    egress_at_primary,
    system_ids_unique,
    legacy_host_names_unique,
    credit_codes_valid,
    department_item_ids_unique,
    parent_exists,
    district_named,
    dependencies_exist,
    replacement_exists,
    classified_on_intranet,
    public_facing_on_extranet,
    classified_not_public,
    platform_built_once,
    data_resources_listed_once,
    data_resources_classified,
    data_resources_related,
    data_copies_name_their_provider,
    data_providers_exist,
    capacity_in_city_context,
    classified_volume_encrypted,
    legacy_host_on_its_lan,
    postgresql_lists_databases,
    legacy_addresses_unique,
    within_quota,
    systems_fit_segment,
    dr_rpo_within_rto,
    dependencies_within_zone,
    platform_not_retired,
    nothing_depends_on_retired,
    no_dependency_cycle,
)
"""Every rule across files, in the order their diagnostics are reported."""


def cross_checks(files: CityFiles) -> Iterator[Diagnostic]:
    """The diagnostics of every rule in :data:`CHECKS`, rule by rule."""
    for check in CHECKS:
        yield from check(files)
