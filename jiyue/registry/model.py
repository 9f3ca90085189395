"""The city model: the registry read, validated once, and indexed for every consumer.

``load_city(dir)`` reads ``city.yaml`` and ``departments/*.yaml``, checks every file against the
schema and the rules that span files, and returns a :class:`CityModel`, or raises
:class:`RegistryError` carrying **every** problem at once.
"""

from __future__ import annotations

import difflib
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..paths import bundled
from .checks import CITY_SOURCE, CityFiles, cross_checks
from .diagnostics import Diagnostic, RegistryError, Severity, Source, dotted, relpath
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
#: fields of a data resource that the national format renamed: what to write instead
_RENAMED = {"open_data": "a resource's open attribute is open: unconditional, conditional or not-open "
                         "(open_data: true is open: unconditional)"}


def _hint(err: dict[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if "hint" in ctx:  # a custom error of the schema that says what to do
        return str(ctx["hint"])
    if kind == "extra_forbidden":
        name = str(err["loc"][-1])
        if name in _RENAMED:
            return _RENAMED[name]
        close = difflib.get_close_matches(name, _KNOWN_FIELDS, n=1, cutoff=0.75)
        return f"did you mean '{close[0]}'?" if close else "remove it; the schema has no such field"
    if kind == "missing":
        return "add it; see the JSON Schema in schemas/"
    if kind in ("enum", "literal_error"):
        return f"use one of: {ctx.get('expected', '')}"
    if kind.startswith(("date", "datetime")) or kind == "date_past":
        return "write a past date as YYYY-MM-DD"
    if kind.startswith(("int", "float", "greater_than", "less_than")) or kind == "finite_number":
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
    files, diags = read_files(root)
    if files is not None:
        diags.extend(cross_checks(files))
    errors = [d for d in diags if d.severity is Severity.error]
    if errors or files is None:
        raise RegistryError(diags)
    return CityModel(root=files.root, city=files.city, departments=files.departments, sources=files.sources,
                     warnings=[d for d in diags if d.severity is Severity.warning])


def read_files(root: Path | str | None = None) -> tuple[CityFiles | None, list[Diagnostic]]:
    """Read every file of a registry and check each against the schema, before the rules across files.

    Returns the files that passed (None when the city context did not) and the diagnostics so far;
    raises :class:`RegistryError` when ``root`` is not a directory.
    """
    root = Path(root) if root else DEFAULT_CITY
    if not root.is_dir():
        raise RegistryError(
            [Diagnostic(relpath(root), 0, "", "is not a directory",
                        f"pass --city a registry directory holding {CITY_FILE} and {DEPARTMENTS_DIR}/")]
        )
    diags: list[Diagnostic] = []
    city_path = root / CITY_FILE
    city: City | None = None
    city_src: Source | None = None
    if not city_path.is_file():
        diags.append(Diagnostic(relpath(city_path), 0, "", "the city context file is missing",
                                f"create {CITY_FILE} with sites, zones, addressing, flavors, images"))
    else:
        city, city_src = _parse(city_path, City, diags)
    departments, sources, unparsed = _read_departments(root / DEPARTMENTS_DIR, diags)
    if city is None or city_src is None:
        return None, diags
    sources[CITY_SOURCE] = city_src
    return CityFiles(root, city, departments, sources, unparsed), diags


def _read_departments(dep_dir: Path, diags: list[Diagnostic]
                      ) -> tuple[dict[str, Department], dict[str, Source], set[str]]:
    """The departments that passed the schema, their files, and the ids of the files that did not
    (still known, so one error does not cascade into unknown references)."""
    paths = sorted(dep_dir.glob("*.yaml")) + sorted(dep_dir.glob("*.yml")) if dep_dir.is_dir() else []
    if not paths:
        diags.append(Diagnostic(relpath(dep_dir), 0, "", "holds no department file",
                                "add one <department-id>.yaml per department"))
    departments: dict[str, Department] = {}
    sources: dict[str, Source] = {}
    unparsed: set[str] = set()
    for path in paths:
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
    return departments, sources, unparsed


def _parse(path: Path, model: type[BaseModel], diags: list[Diagnostic]) -> tuple[Any, Source | None]:
    name = relpath(path)
    try:
        data = read_yaml(path)
    except ReadError as exc:
        diags.append(Diagnostic(name, exc.line, exc.field, exc.message, exc.hint))
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


def _raw_ids(data: Any) -> set[str]:
    """Department and system ids of a file that failed the schema, as far as they can be read."""
    if not isinstance(data, dict):
        return set()
    ids = {data["id"]} if isinstance(data.get("id"), str) else set()
    systems = data.get("systems")
    if isinstance(systems, list):
        ids |= {s["id"] for s in systems if isinstance(s, dict) and isinstance(s.get("id"), str)}
    return ids
