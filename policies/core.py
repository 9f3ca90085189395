"""What every rule shares: its metadata, the view of one resource, and the context it is judged in.

A rule module (``rules/<area>_<rule>.py``) holds one ``META`` and either ``check(resource, ctx)``
(a resource rule, yielding violation messages) or ``check_stack(resources, ctx)`` (a stack rule,
yielding ``(message, urn or None)``). The rules are plain functions over :class:`Resource`, so the
same code runs inside the pack (under ``pulumi preview`` or the offline driver) and when tests or
the benchmark call it directly.

What the rules judge by is the city's facts (``city.py``: the JSON document ``jiyue policy facts``
writes), found through the pack config ``facts`` of the rule, else the environment variable
``JIYUE_FACTS``; a relative path is looked up from the working directory, the repository and the
pack's directory.

Where a resource belongs is read from what the engine gives the pack, in this order:

1. the stack name inside the resource's URN (``urn:pulumi:<stack>::<project>::<type>::<name>``),
   looked up in the facts' stack table (``<zone>-<site>-foundation``, ``<zone>-<site>-<department>``);
2. the stack named in ``ConfigureStack`` (recorded by ``pack.py``), or ``pulumi.get_stack()`` (the
   engine sets ``PULUMI_STACK`` when it starts the pack);
3. the resource's own labels (``tags`` entries ``key=value`` and/or the ``metadata`` map).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pulumi

from .citations import Citation
from .city import CityError, CityFacts, StackInfo, load_facts, unknown_stack

PACK_DIR = Path(__file__).resolve().parent
FACTS_ENV = "JIYUE_FACTS"
ZONES = ("intranet", "extranet")
LABEL_KEYS = ("department", "system", "classification")

Kind = Literal["resource", "stack"]
Level = Literal["mandatory", "advisory"]
SeverityName = Literal["low", "medium", "high", "critical"]


# --------------------------------------------------------------------------- rule metadata


@dataclass(frozen=True)
class RuleMeta:
    """One rule's metadata: what the pack reports, the reports show and the docs list."""

    name: str  # stable: jiyue-<area>-<rule>
    description: str
    severity: SeverityName
    enforcement: Level
    citation: Citation  # its authority: an MLPS clause and item, the city's plan, or 分级保护 (citations.py)
    requirements: tuple[str, ...]  # ids in docs/requirements.md
    remediation: str
    kind: Kind = "resource"

    @property
    def tags(self) -> list[str]:
        return [*self.requirements, *self.citation.tags]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "severity": self.severity,
                "enforcement": self.enforcement, "citation": self.citation.as_dict(),
                "requirements": list(self.requirements),
                "remediation": self.remediation, "kind": self.kind}


# --------------------------------------------------------------------------- URNs


def stack_of_urn(urn: str) -> str | None:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> stack."""
    if not urn.startswith("urn:pulumi:"):
        return None
    head = urn[len("urn:pulumi:"):]
    stack, sep, _ = head.partition("::")
    return stack if sep else None


def name_of_urn(urn: str | None) -> str | None:
    if not urn:
        return None
    return urn.rsplit("::", 1)[-1] or None


# --------------------------------------------------------------------------- one resource


CLASSIFICATIONS = ("classified", "internal", "public")
_DESC_LABELS = re.compile(r"\b(department|system|classification)=([^\s\]]+)")


def name_labels(name: str) -> dict[str, str]:
    """Labels a logical name carries: the ids of ``<department>/<system>/<what>`` (infra/labels.py), and
    the classification too in a former name ``<department>/<system>/<classification>/<what>``."""
    parts = name.split("/")
    if len(parts) >= 4 and parts[2] in CLASSIFICATIONS:
        return dict(zip(LABEL_KEYS, parts[:3], strict=True))
    if len(parts) >= 3 and all(parts[:3]):
        return dict(zip(LABEL_KEYS[:2], parts[:2], strict=True))
    return {}


def parse_labels(props: Mapping[str, Any], name: str = "") -> dict[str, str]:
    """Labels of a resource: its tags and metadata, then its description, then its logical name."""
    out = tag_labels(props)
    desc = props.get("description")
    if isinstance(desc, str) and "=" in desc:
        for k, v in _DESC_LABELS.findall(desc):
            out.setdefault(k, v)
    for k, v in name_labels(name).items():
        out.setdefault(k, v)
    return out


def tag_labels(props: Mapping[str, Any]) -> dict[str, str]:
    """Labels in ``metadata`` map entries, then ``tags`` entries ``key=value``/``key:value``."""
    out: dict[str, str] = {}
    meta = props.get("metadata")
    if isinstance(meta, Mapping):
        for k in meta:
            v = meta.get(k)
            if isinstance(v, str):
                out[str(k)] = v
    tags = props.get("tags")
    if isinstance(tags, Iterable) and not isinstance(tags, str | bytes | Mapping):
        for t in tags:
            if isinstance(t, str):
                for sep in ("=", ":"):
                    if sep in t:
                        k, v = t.split(sep, 1)
                        out.setdefault(k.strip(), v.strip())
                        break
    elif isinstance(tags, Mapping):  # some providers take a map of tags
        for k in tags:
            v = tags.get(k)
            if isinstance(v, str):
                out.setdefault(str(k), v)
    return out


_LABELS: dict[int, tuple[Any, str, dict[str, str]]] = {}  # id(props) -> (props, name, labels)


@dataclass
class Resource:
    """A resource as the engine gives it: type token, name, URN, properties, parent URN and, to a
    stack policy, each property's dependencies (the URNs its value came from)."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    parent: str | None = None
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    _labels: dict[str, str] | None = field(default=None, repr=False)

    @property
    def labels(self) -> dict[str, str]:
        if self._labels is None:
            key = id(self.props)
            hit = _LABELS.get(key)
            if hit is not None and hit[0] is self.props and hit[1] == self.name:
                self._labels = hit[2]
            else:
                self._labels = parse_labels(self.props, self.name)
                if len(_LABELS) > 8192:
                    _LABELS.clear()
                _LABELS[key] = (self.props, self.name, self._labels)
        return self._labels

    @property
    def short_type(self) -> str:
        """``openstack:networking/router:Router`` -> ``networking/router:Router``."""
        return self.type.split(":", 1)[-1]

    def get(self, key: str, default: Any = None) -> Any:
        return self.props.get(key, default)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Resource:
        """From the preview's ``{"urn", "type", "name", "parent", "inputs"}`` with, when recorded, the
        ``outputs`` a read returned (a StackReference's) and the inputs' ``dependencies``."""
        props = d.get("inputs") or d.get("props") or {}
        if d.get("outputs"):
            props = {**props, **d["outputs"]}
        return cls(type=d["type"], name=d.get("name") or name_of_urn(d.get("urn")) or "", urn=d.get("urn") or "",
                   props=props, parent=d.get("parent") or None,
                   dependencies={k: tuple(v) for k, v in (d.get("dependencies") or {}).items()})


# --------------------------------------------------------------------------- context


class _Runtime:
    """What the engine told the running pack in ``ConfigureStack``: the stack it judges."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stack: str | None = None
        self.generation = 0

    def configure_stack(self, stack: str) -> None:
        with self.lock:
            self.stack = stack or None
            self.generation += 1


RUNTIME = _Runtime()


def _engine_stack() -> str | None:
    if RUNTIME.stack:
        return RUNTIME.stack
    try:
        return pulumi.get_stack() or None
    except Exception:  # noqa: BLE001 - the SDK is not configured: no stack known
        return os.environ.get("PULUMI_STACK") or None


def facts_path(policy_config: Mapping[str, Any] | None = None) -> Path | None:
    """The facts file: the rule's pack config ``facts``, else ``$JIYUE_FACTS``; None if neither is set."""
    raw = (policy_config or {}).get("facts") or os.environ.get(FACTS_ENV)
    return _resolve(str(raw)) if raw else None


def _resolve(raw: str) -> Path:
    p = Path(raw).expanduser()
    if p.is_absolute():
        return p
    for base in (Path.cwd(), PACK_DIR.parent, PACK_DIR):
        if (base / p).is_file():
            return (base / p).resolve()
    return p


_FACTS_CACHE: dict[Path, tuple[float, float, CityFacts | CityError]] = {}
RECHECK_SECONDS = 2.0


def city_for(policy_config: Mapping[str, Any] | None = None) -> CityFacts | None:
    """The city's facts, read once per file (again when the file changes)."""
    got = city_or_error(policy_config)
    return got if isinstance(got, CityFacts) else None


def city_or_error(policy_config: Mapping[str, Any] | None = None) -> CityFacts | CityError:
    path = facts_path(policy_config)
    if path is None:
        return CityError(f"no city facts: write them with `jiyue policy facts --out FILE` and give FILE as the "
                         f"pack config facts or in ${FACTS_ENV}")
    now = time.monotonic()
    hit = _FACTS_CACHE.get(path)
    if hit is not None and now - hit[0] < RECHECK_SECONDS:
        return hit[2]
    try:
        stamp = path.stat().st_mtime
    except OSError:
        stamp = -1.0
    if hit is not None and hit[1] == stamp:
        _FACTS_CACHE[path] = (now, stamp, hit[2])
        return hit[2]
    try:
        value: CityFacts | CityError = load_facts(path)
    except CityError as exc:
        value = exc
    _FACTS_CACHE[path] = (now, stamp, value)
    return value


@dataclass
class Context:
    """Where a resource is judged: its stack, the city's facts, the rule's pack config."""

    stack: StackInfo
    city: CityFacts | None
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def zone(self) -> str | None:
        return self.stack.zone

    def zone_of(self, r: Resource) -> str | None:
        return self.stack.zone or r.labels.get("zone")

    def department_of(self, r: Resource) -> str | None:
        return self.stack.department or r.labels.get("department")

    def system_of(self, r: Resource) -> str | None:
        """The system a resource belongs to: its label, its parent's name, or its name's prefix."""
        sid = r.labels.get("system")
        if sid:
            return sid
        if self.city is None:
            return None
        parent = name_of_urn(r.parent)
        if parent and parent in self.city.systems:
            return parent
        dep = self.department_of(r)
        candidates = self.city.systems_of_department.get(dep, ()) if dep else self.city.systems
        best = None
        for sid in candidates:
            if (r.name == sid or r.name.startswith(sid + "-")) and (best is None or len(sid) > len(best)):
                best = sid
        return best

    def classification_of(self, r: Resource) -> str | None:
        c = r.labels.get("classification")
        if c:
            return c
        sid = self.system_of(r)
        if sid and self.city and sid in self.city.systems:
            return self.city.systems[sid].classification
        return None


def stack_info(name: str, city: CityFacts | None) -> StackInfo:
    """The stack ``name`` as the facts' stack table places it; unknown without facts or in another city."""
    return city.stack(name) if city is not None else unknown_stack(name)


_CTX_CACHE: dict[tuple[Any, ...], tuple[float, Context]] = {}


def context_for(urn: str, policy_config: Mapping[str, Any] | None = None,
                resource: Resource | None = None) -> Context:
    """The context of a resource (cached per stack and config for a second: rules run per resource)."""
    stack = stack_of_urn(urn) or _engine_stack() or ""
    cfg = policy_config or {}
    key = (stack, RUNTIME.generation, tuple(sorted((k, repr(v)) for k, v in cfg.items())))
    now = time.monotonic()
    hit = _CTX_CACHE.get(key)
    if hit is not None and now - hit[0] < RECHECK_SECONDS:
        ctx = hit[1]
    else:
        if len(_CTX_CACHE) > 1024:
            _CTX_CACHE.clear()
        city = city_for(cfg)
        ctx = Context(stack=stack_info(stack, city), city=city, config=cfg)
        _CTX_CACHE[key] = (now, ctx)
    if ctx.stack.known or resource is None or resource.labels.get("zone") not in ZONES:
        return ctx
    labels = resource.labels
    return Context(StackInfo(stack, labels["zone"], labels.get("site"), labels.get("department")), ctx.city, cfg)


# --------------------------------------------------------------------------- small helpers


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1", "yes"))
