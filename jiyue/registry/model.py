"""The city model: the registry read, validated once, and indexed for every consumer.

``load_city(dir)`` reads ``city.yaml`` and ``departments/*.yaml``, checks every file against the
schema and the rules that span files, and returns a :class:`CityModel`, or raises
:class:`RegistryError` carrying **every** problem at once.
"""

from __future__ import annotations

import difflib
import gc
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from netaddr import IPAddress, IPNetwork
from pydantic import BaseModel, ValidationError

from ..paths import bundled
from .diagnostics import Diagnostic, RegistryError, Severity, relpath
from .schema import City, Department, System, Zone
from .yamlio import LineDict, ReadError, line_of, read_yaml

CITY_FILE = "city.yaml"
DEPARTMENTS_DIR = "departments"
DEFAULT_CITY = bundled(str(Path(__file__).parent), "inventories") / "dalian"


def _all_fields(*models: type[BaseModel]) -> set[str]:
    seen: set[str] = set()
    todo = list(models)
    done: set[type] = set()
    while todo:
        m = todo.pop()
        if m in done:
            continue
        done.add(m)
        for name, info in m.model_fields.items():
            seen.add(name)
            for arg in _model_args(info.annotation):
                todo.append(arg)
    return seen


def _model_args(tp: Any) -> Iterator[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        yield tp
    for arg in getattr(tp, "__args__", ()) or ():
        yield from _model_args(arg)


_KNOWN_FIELDS = _all_fields(City, Department)


def _hint(err: dict[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        name = str(err["loc"][-1])
        close = difflib.get_close_matches(name, _KNOWN_FIELDS, n=1, cutoff=0.75)
        return f"did you mean '{close[0]}'?" if close else "remove it; the schema has no such field"
    if kind == "missing":
        return "add it; see the JSON Schema in schemas/"
    if kind in ("enum", "literal_error"):
        return f"use one of: {ctx.get('expected', '')}"
    if kind.startswith(("date", "datetime")) or kind == "date_past":
        return "write a past date as YYYY-MM-DD"
    if kind.startswith(("int", "float", "greater_than", "less_than")):
        return "write a number in range"
    if kind == "string_pattern_mismatch":
        return "use lower-case ASCII letters, digits and single hyphens, starting with a letter"
    if kind.startswith("string_too"):
        return "shorten or fill in the value"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "write a mapping of key: value lines here"
    if kind == "list_type":
        return "write a list ('- item' lines) here"
    if kind in ("string_type", "bool_type", "bool_parsing"):
        return "quote text values; write true or false for yes/no fields"
    return "see the JSON Schema in schemas/"


def dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(err: dict[str, Any]) -> str:
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        return "unknown field"
    if err["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")
    inp = err.get("input")
    if err["type"] != "missing" and isinstance(inp, str | int | float) and not isinstance(inp, bool):
        return f"{msg[:1].lower()}{msg[1:]} (got {inp!r})" if repr(inp) not in msg else msg
    return msg[:1].lower() + msg[1:]


@dataclass
class Source:
    """Where a department or the city context came from."""

    path: Path
    data: Any

    @property
    def name(self) -> str:
        return relpath(self.path)

    def line(self, *loc: Any) -> int:
        return line_of(self.data, loc)


@dataclass
class CityModel:
    """The validated city: the context, the departments, and indexes over them."""

    root: Path
    city: City
    departments: dict[str, Department]
    sources: dict[str, Source] = field(repr=False)
    warnings: list[Diagnostic] = field(default_factory=list)

    @cached_property
    def systems(self) -> dict[str, System]:
        return {s.id: s for d in self.departments.values() for s in d.systems}

    @cached_property
    def department_of(self) -> dict[str, str]:
        """System id to department id."""
        return {s.id: d.id for d in self.departments.values() for s in d.systems}

    def zones_of(self, department_id: str) -> list[Zone]:
        return sorted({s.zone for s in self.departments[department_id].systems}, key=list(Zone).index)


# --------------------------------------------------------------------------- loading


def load_city(root: Path | str | None = None) -> CityModel:
    """Read and validate a city registry; raise :class:`RegistryError` with every problem.

    The cyclic garbage collector is paused while loading: the registry builds many small
    objects and no cycles, and full collections would make the cost per department grow with
    the city's size (measured in bench/registry.py).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_city(root)
    finally:
        if was_enabled:
            gc.enable()


def _load_city(root: Path | str | None) -> CityModel:
    root = Path(root) if root else DEFAULT_CITY
    diags: list[Diagnostic] = []
    if not root.is_dir():
        raise RegistryError(
            [Diagnostic(relpath(root), 0, "", "is not a directory",
                        f"pass --city a registry directory holding {CITY_FILE} and {DEPARTMENTS_DIR}/")]
        )
    city_path = root / CITY_FILE
    city: City | None = None
    city_src: Source | None = None
    if not city_path.is_file():
        diags.append(Diagnostic(relpath(city_path), 0, "", "the city context file is missing",
                                f"create {CITY_FILE} with sites, zones, addressing, flavors, images"))
    else:
        city, city_src = _parse(city_path, City, diags)

    dep_dir = root / DEPARTMENTS_DIR
    files = sorted(dep_dir.glob("*.yaml")) + sorted(dep_dir.glob("*.yml")) if dep_dir.is_dir() else []
    if not files:
        diags.append(Diagnostic(relpath(dep_dir), 0, "", "holds no department file",
                                "add one <department-id>.yaml per department"))
    departments: dict[str, Department] = {}
    sources: dict[str, Source] = {}
    # ids from files that failed the schema: still known, so one error does not cascade
    unparsed: set[str] = set()
    for path in files:
        dep, src = _parse(path, Department, diags)
        if dep is None or src is None:
            unparsed |= _raw_ids(src.data if src else None) | {path.stem}
            continue
        if path.stem != dep.id:
            diags.append(Diagnostic(src.name, src.line("id"), "id",
                                    f"department id {dep.id!r} differs from the file name {path.name!r}",
                                    f"rename the file to {dep.id}.yaml or change the id"))
        if dep.id in departments:
            first = sources[dep.id]
            diags.append(Diagnostic(src.name, src.line("id"), "id",
                                    f"duplicate department id {dep.id!r}, first in {first.name}:{first.line('id')}",
                                    "give every department its own id"))
            continue
        departments[dep.id] = dep
        sources[dep.id] = src

    if city is not None and city_src is not None:
        sources["__city__"] = city_src
        diags.extend(_cross_checks(city, departments, sources, unparsed))

    errors = [d for d in diags if d.severity is Severity.error]
    if errors or city is None:
        raise RegistryError(diags)
    return CityModel(root=root, city=city, departments=departments, sources=sources,
                     warnings=[d for d in diags if d.severity is Severity.warning])


def _parse(path: Path, model: type[BaseModel], diags: list[Diagnostic]) -> tuple[Any, Source | None]:
    name = relpath(path)
    try:
        data = read_yaml(path)
    except ReadError as exc:
        diags.append(Diagnostic(name, exc.line, "", exc.message, exc.hint))
        return None, None
    src = Source(path, data)
    if not isinstance(data, LineDict):
        diags.append(Diagnostic(name, 1, "", f"holds a {type(data).__name__}, not a mapping",
                                f"write the {model.__name__.lower()} as 'key: value' lines"))
        return None, None
    try:
        return model.model_validate(data), src
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            diags.append(Diagnostic(name, line_of(data, loc), dotted(loc), _message(err), _hint(err),
                                    code=err["type"]))
        return None, src


# --------------------------------------------------------------------------- rules across files


def _raw_ids(data: Any) -> set[str]:
    """Department and system ids of a file that failed the schema, as far as they can be read."""
    if not isinstance(data, dict):
        return set()
    ids = {data["id"]} if isinstance(data.get("id"), str) else set()
    systems = data.get("systems")
    if isinstance(systems, list):
        ids |= {s["id"] for s in systems if isinstance(s, dict) and isinstance(s.get("id"), str)}
    return ids


def _cross_checks(city: City, deps: dict[str, Department], src: dict[str, Source],
                  unparsed: set[str] = frozenset()) -> Iterator[Diagnostic]:  # type: ignore[assignment]
    def err(dep_id: str, loc: tuple[Any, ...], message: str, hint: str, code: str) -> Diagnostic:
        s = src[dep_id]
        return Diagnostic(s.name, s.line(*loc), dotted(loc), message, hint, code=code)

    def warn(dep_id: str, loc: tuple[Any, ...], message: str, hint: str, code: str) -> Diagnostic:
        s = src[dep_id]
        return Diagnostic(s.name, s.line(*loc), dotted(loc), message, hint, Severity.warning, code)

    city_src = src["__city__"]
    # ---- city-level references
    if city.platform_department not in deps and city.platform_department not in unparsed:
        yield Diagnostic(city_src.name, city_src.line("platform_department"), "platform_department",
                         f"no department {city.platform_department!r}",
                         "name the department file that runs the shared platforms", code="unknown-ref")
    for i, pid in enumerate(city.pilot_departments):
        if pid not in deps and pid not in unparsed:
            yield Diagnostic(city_src.name, city_src.line("pilot_departments", i), f"pilot_departments[{i}]",
                             f"no department {pid!r}", "use the id of an existing department file",
                             code="unknown-ref")

    # ---- unique ids across the city
    system_home: dict[str, tuple[str, int]] = {}
    host_home: dict[str, tuple[str, int, int]] = {}
    for dep in deps.values():
        for i, sys in enumerate(dep.systems):
            if sys.id in system_home:
                other, oi = system_home[sys.id]
                first = f"{src[other].name}:{src[other].line('systems', oi, 'id')}"
                yield err(dep.id, ("systems", i, "id"), f"duplicate system id {sys.id!r}, first in {first}",
                          "system ids are unique city-wide; prefix them with the department id",
                          "duplicate-id")
            else:
                system_home[sys.id] = (dep.id, i)
            for j, host in enumerate(sys.legacy_hosts):
                if host.name in host_home:
                    od, oi, oj = host_home[host.name]
                    yield err(dep.id, ("systems", i, "legacy_hosts", j, "name"),
                              f"duplicate legacy host name {host.name!r}, first in {src[od].name}:"
                              f"{src[od].line('systems', oi, 'legacy_hosts', oj, 'name')}",
                              "host names are unique city-wide; prefix them with the department id",
                              "duplicate-id")
                else:
                    host_home[host.name] = (dep.id, i, j)
        for label in ("private_networks", "leased_lines", "legacy_lans"):
            seen: dict[str, int] = {}
            for k, item in enumerate(getattr(dep, label)):
                if item.id in seen:
                    yield err(dep.id, (label, k, "id"), f"duplicate id {item.id!r} (also item {seen[item.id]})",
                              "give each its own id", "duplicate-id")
                seen.setdefault(item.id, k)

    platform_kinds: dict[str, tuple[str, int]] = {}
    for dep in deps.values():
        if dep.parent is not None and dep.parent not in deps and dep.parent not in unparsed:
            yield err(dep.id, ("parent",), f"no department {dep.parent!r}",
                      "use the id of an existing department, or remove parent", "unknown-ref")
        if dep.parent == dep.id:
            yield err(dep.id, ("parent",), "a department cannot be its own parent", "remove parent", "bad-ref")
        if dep.tier.value != "city" and not dep.district:
            yield err(dep.id, ("district",), f"a {dep.tier.value}-tier department needs its district",
                      "add district: <name of the district>", "missing-district")
        lans = {lan.id: lan for lan in dep.legacy_lans}
        totals = Counter[str]()
        for i, sys in enumerate(dep.systems):
            base = ("systems", i)
            for k, ref in enumerate(sys.depends_on):
                if ref in unparsed:
                    continue
                if ref not in system_home:
                    close = difflib.get_close_matches(ref, system_home, n=1)
                    yield err(dep.id, (*base, "depends_on", k), f"no system {ref!r}",
                              f"did you mean {close[0]!r}?" if close else "use the id of an existing system",
                              "unknown-ref")
                elif ref == sys.id:
                    yield err(dep.id, (*base, "depends_on", k), "a system cannot depend on itself",
                              "remove it", "bad-ref")
            if sys.replaceable_by == sys.id:
                yield err(dep.id, (*base, "replaceable_by"), "a system cannot be replaced by itself",
                          "name the system that covers its function, or remove replaceable_by", "bad-ref")
            elif sys.replaceable_by is not None and sys.replaceable_by not in system_home \
                    and sys.replaceable_by not in unparsed:
                yield err(dep.id, (*base, "replaceable_by"), f"no system {sys.replaceable_by!r}",
                          "use the id of an existing system", "unknown-ref")
            if sys.classification.value == "classified" and sys.zone is not Zone.intranet:
                yield err(dep.id, (*base, "zone"), "a classified (涉密) system must be on the intranet",
                          "set zone: intranet (T4.4, G8)", "classified-zone")
            if sys.public_facing and sys.zone is not Zone.extranet:
                yield err(dep.id, (*base, "public_facing"), "a public-facing system must be on the extranet",
                          "set zone: extranet, or public_facing: false (T3.3)", "public-zone")
            if sys.public_facing and sys.classification.value == "classified":
                yield err(dep.id, (*base, "classification"), "a classified system cannot face the public",
                          "split the public part into its own extranet system", "classified-public")
            if sys.platform is not None:
                if dep.id != city.platform_department:
                    yield err(dep.id, (*base, "platform"),
                              f"the {sys.platform.value} platform is built once by "
                              f"{city.platform_department!r}, not by each department",
                              "remove platform and use the city's (T4.5)", "duplicate-platform")
                elif sys.platform.value in platform_kinds:
                    yield err(dep.id, (*base, "platform"), f"a second {sys.platform.value} platform",
                              "keep one per city (T4.5)", "duplicate-platform")
                platform_kinds.setdefault(sys.platform.value, (dep.id, i))
            seen_res: dict[str, int] = {}
            for k, res in enumerate(sys.data_resources or []):
                if res.id in seen_res:
                    yield err(dep.id, (*base, "data_resources", k, "id"),
                              f"resource {res.id!r} listed twice (also item {seen_res[res.id]})",
                              "list each catalog entry once per system", "duplicate-id")
                seen_res.setdefault(res.id, k)
            for k, need in enumerate(sys.data_needs or []):
                if need.provider is not None and need.provider not in deps and need.provider not in unparsed:
                    yield err(dep.id, (*base, "data_needs", k, "provider"), f"no department {need.provider!r}",
                              "use the id of an existing department, or omit provider", "unknown-ref")
            cap = sys.capacity
            for key, table, what in ((cap.flavor, city.flavors, "flavor"), (cap.image, city.images, "image"),
                                     (cap.volume_class, city.volume_classes, "volume_class")):
                if key not in table:
                    yield err(dep.id, (*base, "capacity", what), f"no {what} {key!r} in the city context",
                              f"use one of: {', '.join(sorted(table))}", "unknown-ref")
            vc = city.volume_classes.get(cap.volume_class)
            if vc is not None and sys.classification.value == "classified" and not vc.encrypted:
                yield err(dep.id, (*base, "capacity", "volume_class"),
                          f"classified data on the unencrypted volume class {cap.volume_class!r}",
                          "use an encrypted volume class (G8)", "classified-unencrypted")
            fl = city.flavors.get(cap.flavor)
            if fl is not None:
                totals["vcpus"] += fl.vcpus * cap.instances
                totals["ram_gb"] += fl.ram_gb * cap.instances
            totals["volume_gb"] += cap.volume_gb * cap.instances
            totals["instances"] += cap.instances
            for j, host in enumerate(sys.legacy_hosts):
                hl = (*base, "legacy_hosts", j)
                lan = lans.get(host.lan)
                if lan is None:
                    yield err(dep.id, (*hl, "lan"), f"no legacy LAN {host.lan!r} in this department",
                              f"use one of: {', '.join(lans) or '(none: add legacy_lans)'}", "unknown-ref")
                elif IPAddress(host.address) not in IPNetwork(lan.cidr):
                    yield err(dep.id, (*hl, "address"), f"{host.address} is outside LAN {lan.id} ({lan.cidr})",
                              "fix the address or the host's lan", "address-outside")
                if "postgresql" in host.services and not host.databases:
                    yield warn(dep.id, (*hl, "databases"), "runs postgresql but lists no database",
                               "list the databases the migration must copy", "no-databases")
        # unique legacy addresses within one LAN, across all the department's systems
        by_addr: dict[tuple[str, str], tuple[int, int]] = {}
        for i, sys in enumerate(dep.systems):
            for j, host in enumerate(sys.legacy_hosts):
                key = (host.lan, host.address)
                if key in by_addr:
                    oi, oj = by_addr[key]
                    yield err(dep.id, ("systems", i, "legacy_hosts", j, "address"),
                              f"{host.address} on LAN {host.lan} is already host "
                              f"{dep.systems[oi].legacy_hosts[oj].name!r}",
                              "give every host on a LAN its own address", "duplicate-address")
                else:
                    by_addr[key] = (i, j)
        q = dep.quotas
        for what, limit in (("vcpus", q.vcpus), ("ram_gb", q.ram_gb), ("volume_gb", q.volume_gb),
                            ("instances", q.instances)):
            if totals[what] > limit:
                yield err(dep.id, ("quotas", what),
                          f"systems need {totals[what]} {what} but the quota is {limit}",
                          "raise the quota or shrink the systems' capacity", "over-quota")

    # ---- the intranet has no route to the extranet (T3.3): dependencies stay within a zone
    zone_of = {s.id: s.zone for d in deps.values() for s in d.systems}
    for dep in deps.values():
        for i, sys in enumerate(dep.systems):
            for k, ref in enumerate(sys.depends_on):
                if ref in zone_of and zone_of[ref] is not sys.zone:
                    yield err(dep.id, ("systems", i, "depends_on", k),
                              f"{sys.id} is on the {sys.zone.value} but {ref} is on the {zone_of[ref].value}, "
                              "and the two networks have no route between them",
                              "exchange the data through the sharing platform of the system's own zone "
                              "(T2.3, T3.3)", "cross-zone-dependency")

    # ---- nothing live may lean on a retired system (T1.2): it is not built in the data center
    retired = {s.id for d in deps.values() for s in d.systems if s.retirement is not None}
    for dep in deps.values():
        for i, sys in enumerate(dep.systems):
            if sys.retirement is not None:
                if sys.platform is not None:
                    yield err(dep.id, ("systems", i, "retirement"),
                              f"{sys.id} is the city's {sys.platform.value} platform and cannot be retired",
                              "move the platform to another system first (T4.5), or remove retirement",
                              "retired-platform")
                continue
            for k, ref in enumerate(sys.depends_on):
                if ref in retired:
                    yield err(dep.id, ("systems", i, "depends_on", k), f"{sys.id} depends on {ref}, which is retired",
                              f"move what {sys.id} needs to a live system (the one that replaces {ref}), "
                              "or reverse the retirement", "depends-on-retired")

    # ---- a dependency cycle makes a wave plan impossible
    graph = defaultdict(list)
    for dep in deps.values():
        for sys in dep.systems:
            graph[sys.id] = [d for d in sys.depends_on if d in system_home and d != sys.id]
    cycle = _find_cycle(graph)
    if cycle:
        dep_id, i = system_home[cycle[0]]
        yield err(dep_id, ("systems", i, "depends_on"), "dependency cycle: " + " -> ".join(cycle),
                  "break the cycle; migration waves need an order", "dependency-cycle")


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
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
