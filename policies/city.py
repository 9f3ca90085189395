"""The facts of the city registry the rules need, read straight from its YAML files.

The pack runs in its own virtualenv under ``pulumi preview`` (``requirements.txt``), so it reads
the registry with PyYAML and netaddr only and does not import ``jiyue``. The registry is
validated by ``jiyue validate``; this reader is tolerant: it takes what it needs and keeps every
system's raw mapping, so fields added later (the filing record of issue 8) reach the rules
without a change here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from netaddr import IPNetwork

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CityError(Exception):
    """The registry cannot be read."""


@dataclass(frozen=True)
class SystemFacts:
    id: str
    department: str
    zone: str
    classification: str
    public_facing: bool
    platform: str | None
    rpo_minutes: int | None
    rto_minutes: int | None
    volume_class: str | None
    raw: Mapping[str, Any] = field(repr=False, hash=False, compare=False)
    retired: bool = False  # its retirement is recorded (T1.2): no stack builds it

    @property
    def needs_dr(self) -> bool:
        return self.rto_minutes is not None and not self.retired


@dataclass
class CityFacts:
    root: Path | None
    platform_department: str
    management: dict[str, IPNetwork]  # site -> range
    supernets: dict[tuple[str, str], IPNetwork]  # (zone, site) -> range
    egress_site: str
    egress_network: str
    egress_cidr: IPNetwork | None
    allowed_ports: frozenset[int]
    flavors: dict[str, dict[str, int]]
    volume_classes: dict[str, dict[str, bool]]
    quotas: dict[str, dict[str, int]]  # department -> vcpus, ram_gb, volume_gb, instances
    systems: dict[str, SystemFacts]
    systems_of_department: dict[str, list[str]]
    departments_raw: dict[str, Mapping[str, Any]] = field(repr=False)

    @property
    def filing_enabled(self) -> bool:
        """True once the registry carries any filing record (issue 8: ``filing``, ``data_resources``
        or ``data_needs``); until then the filing gate passes."""
        keys = ("filing", "data_resources", "data_needs")
        return any(k in s.raw for s in self.systems.values() for k in keys)

    def encrypted(self, volume_class: str) -> bool:
        vc = self.volume_classes.get(volume_class)
        return bool(vc and vc.get("encrypted"))

    def replicated(self, volume_class: str) -> bool:
        vc = self.volume_classes.get(volume_class)
        return bool(vc and vc.get("replicated"))

    def in_management(self, net: IPNetwork) -> bool:
        return any(net in m for m in self.management.values())

    # ------------------------------------------------------------------ building

    @classmethod
    def from_dicts(cls, city: Mapping[str, Any], departments: list[Mapping[str, Any]],
                   root: Path | None = None) -> CityFacts:
        try:
            addressing = city.get("addressing") or {}
            management = {site: IPNetwork(str(cidr)) for site, cidr in (addressing.get("management") or {}).items()}
            supernets = {(zone, site): IPNetwork(str(cidr))
                         for zone, nets in (addressing.get("supernets") or {}).items()
                         for site, cidr in (nets or {}).items()}
            egress = city.get("egress") or {}
            systems: dict[str, SystemFacts] = {}
            by_dep: dict[str, list[str]] = {}
            quotas: dict[str, dict[str, int]] = {}
            raw_deps: dict[str, Mapping[str, Any]] = {}
            for dep in departments:
                dep_id = str(dep["id"])
                raw_deps[dep_id] = dep
                quotas[dep_id] = {k: int(v) for k, v in (dep.get("quotas") or {}).items()}
                for s in dep.get("systems") or []:
                    dr = s.get("dr") or {}
                    cap = s.get("capacity") or {}
                    systems[s["id"]] = SystemFacts(
                        id=s["id"], department=dep_id, zone=s.get("zone", ""),
                        classification=s.get("classification", ""), public_facing=bool(s.get("public_facing")),
                        platform=s.get("platform"), rpo_minutes=dr.get("rpo_minutes"),
                        rto_minutes=dr.get("rto_minutes"), volume_class=cap.get("volume_class", "standard"),
                        raw=s, retired=s.get("retirement") is not None)
                    by_dep.setdefault(dep_id, []).append(s["id"])
            return cls(
                root=root,
                platform_department=str(city.get("platform_department", "")),
                management=management,
                supernets=supernets,
                egress_site=str(egress.get("site", "primary")),
                egress_network=str(egress.get("external_network", "")),
                egress_cidr=IPNetwork(str(egress["external_cidr"])) if egress.get("external_cidr") else None,
                allowed_ports=frozenset(int(p) for p in egress.get("allowed_ports", [80, 443])),
                flavors={k: {"vcpus": int(v.get("vcpus", 0)), "ram_gb": int(v.get("ram_gb", 0)),
                              "disk_gb": int(v.get("disk_gb", 20))}
                         for k, v in (city.get("flavors") or {}).items()},
                volume_classes={k: {"encrypted": bool((v or {}).get("encrypted")),
                                    "replicated": bool((v or {}).get("replicated"))}
                                for k, v in (city.get("volume_classes") or {}).items()},
                quotas=quotas,
                systems=systems,
                systems_of_department=by_dep,
                departments_raw=raw_deps,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CityError(f"the registry is not in the expected shape: {exc!r}") from exc


def load_city_facts(root: Path) -> CityFacts:
    city_file = root / "city.yaml"
    if not city_file.is_file():
        raise CityError(f"no city registry at {root} (city.yaml missing)")
    try:
        files = [city_file, *sorted((root / "departments").glob("*.y*ml"))]
        texts = [f.read_bytes() for f in files]
    except OSError as exc:
        raise CityError(f"cannot read the registry at {root}: {exc}") from exc
    digest = hashlib.sha256()
    for f, text in zip(files, texts, strict=True):
        digest.update(f"{f.name}\0{len(text)}\0".encode())
        digest.update(text)
    docs = _cached(digest.hexdigest())
    if docs is None:
        try:
            docs = [yaml.load(t.decode("utf-8"), Loader=_Loader) for t in texts]  # noqa: S506 - safe loader
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            raise CityError(f"cannot read the registry at {root}: {exc}") from exc
        _store(digest.hexdigest(), docs)
    city, deps = docs[0], docs[1:]
    if not isinstance(city, Mapping) or not all(isinstance(d, Mapping) for d in deps):
        raise CityError(f"the registry at {root} does not hold mappings; run `jiyue validate --city {root}`")
    return CityFacts.from_dicts(city, deps, root)


# --------------------------------------------------------------------------- parsed-registry cache
#
# Every pack process reads the whole registry on its first request: for a city of 120 departments
# that is 0.4-0.9 s of YAML, paid again by each of ``jiyue policy check``'s pack processes and by
# every ``pulumi preview``. The parsed documents are kept as JSON, named by the SHA-256 of the
# files' names and bytes: a changed registry is a different name, so a stale entry can never be
# read, and JSON (unlike pickle) cannot run code whoever wrote the file. Any problem with the
# cache (unwritable, corrupt) falls back to parsing; the newest 16 entries are kept.
# JIYUE_PACK_CACHE=0 turns it off.


def _cache_dir() -> Path | None:
    if os.environ.get("JIYUE_PACK_CACHE", "1") == "0":
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jiyue" / "policy-pack"


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    raise TypeError(f"not in a registry: {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$date" in obj:
            return dt.date.fromisoformat(obj["$date"])
        if "$datetime" in obj:
            return dt.datetime.fromisoformat(obj["$datetime"])
    return obj


def _cached(key: str) -> list[Any] | None:
    d = _cache_dir()
    if d is None:
        return None
    try:
        docs = json.loads((d / f"{key}.json").read_text(encoding="utf-8"), object_hook=_decode)
    except (OSError, ValueError):
        return None
    return docs if isinstance(docs, list) and docs else None


def _store(key: str, docs: list[Any]) -> None:
    d = _cache_dir()
    if d is None:
        return
    tmp = None
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=d, suffix=".tmp", delete=False) as f:
            tmp = f.name
            json.dump(docs, f, default=_encode, ensure_ascii=False)
        os.replace(tmp, d / f"{key}.json")
        _prune(d)
    except (OSError, TypeError, ValueError):
        if tmp:
            Path(tmp).unlink(missing_ok=True)


CACHE_ENTRIES = 16


def _prune(d: Path) -> None:
    """Keep the newest CACHE_ENTRIES entries (each registry edit makes a new one)."""
    entries = sorted(d.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[CACHE_ENTRIES:]:
        old.unlink(missing_ok=True)
