"""The city's facts the rules judge by, read from the JSON document ``jiyue`` exports (jiyue/facts.py).

The pack runs in its own virtualenv under ``pulumi preview`` (``requirements.txt``) and does not
import ``jiyue``: the registry is read, validated and computed on (IP plan, filing gaps, stacks)
by ``jiyue`` alone, which writes the result as one file (``jiyue policy facts --out FILE``). This
module only reads that file with the standard library, checks its format version, and checks
that the registry files it was built from (when they are there to see) have not changed since.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netaddr import IPNetwork

FORMAT = "jiyue-city-facts"
VERSION = 3  # the version of jiyue/facts.py this reader understands


class CityError(Exception):
    """The city's facts cannot be read, are of another version, or are older than the registry."""


@dataclass(frozen=True)
class StackInfo:
    """Where a stack sits: its zone and site, and its department (None for a foundation)."""

    name: str
    zone: str | None
    site: str | None
    department: str | None  # None for a foundation stack and for an unknown stack

    @property
    def foundation(self) -> bool:
        return self.zone is not None and self.department is None

    @property
    def known(self) -> bool:
        return self.zone is not None


def unknown_stack(name: str) -> StackInfo:
    return StackInfo(name, None, None, None)


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
    dr_mode: str | None  # hot, warm or cold by the city's DR table (jiyue/dr.py); None without DR needs
    volume_class: str
    flavor: str  # at the primary site, which a hot or warm standby must equal
    instances: int
    volume_gb: int
    backup_interval_minutes: int | None  # cold: the DR table's backup interval
    backup_volume_gb: int | None  # cold: what its backup host's volume must hold (jiyue/dr.py)
    retired: bool  # its retirement is recorded (T1.2): no stack builds it
    needs_dr: bool  # an RPO/RTO and not retired
    filing_gaps: tuple[str, ...]  # what G6 still asks of it (jiyue.catalog), empty when out of scope


@dataclass(frozen=True)
class AllowedEgress:
    """A flow of the city's table (jiyue/flows.py) as a system's security group may open it."""

    kind: str
    protocol: str
    ports: frozenset[int]
    to: tuple[IPNetwork, ...]
    to_self: bool  # the system's own servers (a security group may name itself instead of addresses)
    temporary: bool

    def admits(self, protocol: str, lo: int, hi: int, remote: IPNetwork | None) -> bool:
        """Whether a rule (``remote`` None: the group's own members) opens no more than this flow."""
        if protocol != self.protocol or not self.ports.issuperset(range(lo, hi + 1)):
            return False
        if remote is None:
            return self.to_self
        return any(remote in net for net in self.to)


@dataclass(frozen=True)
class AllowedReplication:
    """A replication flow of the city's table: what a system's DR hosts may open to its primary hosts."""

    protocol: str
    ports: frozenset[int]
    sources: tuple[IPNetwork, ...]  # the system's DR hosts

    def admits(self, protocol: str | None, port: int, remote: IPNetwork) -> bool:
        return protocol == self.protocol and port in self.ports and any(remote in net for net in self.sources)


@dataclass(frozen=True)
class PlanSegment:
    """A segment of the city's IP plan and the stack that builds it."""

    name: str
    stack: str  # <zone>-<site>-<department>, or <zone>-<site>-foundation for the shared and management ones
    net: IPNetwork


@dataclass
class CityFacts:
    path: Path | None  # the facts file
    root: Path | None  # the registry they were built from
    city: str
    platform_department: str
    management: dict[str, IPNetwork]  # site -> range
    supernets: dict[tuple[str, str], IPNetwork]  # (zone, site) -> range
    egress_network: str
    egress_cidr: IPNetwork | None
    allowed_ports: frozenset[int]
    flavors: dict[str, dict[str, int]]
    volume_classes: dict[str, dict[str, bool]]
    quotas: dict[str, dict[str, int]]  # department -> vcpus, ram_gb, volume_gb, instances
    systems: dict[str, SystemFacts]
    systems_of_department: dict[str, list[str]]
    stacks: dict[str, StackInfo]
    filing_recorded: bool  # some system files something (filing, catalog or needs): the gate judges
    registry_files: dict[str, str] = field(default_factory=dict, repr=False)  # path under root -> SHA-256
    #: (system, site) -> what its security group may open (the flow table's egress of the system)
    egress: dict[tuple[str, str], list[AllowedEgress]] = field(default_factory=dict, repr=False)
    segments: list[PlanSegment] = field(default_factory=list, repr=False)
    #: (system, site) -> what its DR hosts may open to it there (the flow table's replication flows)
    replication: dict[tuple[str, str], list[AllowedReplication]] = field(default_factory=dict, repr=False)

    def encrypted(self, volume_class: str) -> bool:
        vc = self.volume_classes.get(volume_class)
        return bool(vc and vc.get("encrypted"))

    def in_management(self, net: IPNetwork) -> bool:
        return any(net in m for m in self.management.values())

    def stack(self, name: str) -> StackInfo:
        """The stack ``name`` (or ``<organization>/<project>/<name>``) of the city; unknown if it has none."""
        got = self.stacks.get(name.rsplit("/", 1)[-1])
        return StackInfo(name, got.zone, got.site, got.department) if got else unknown_stack(name)

    def changed_files(self) -> list[str]:
        """Registry files that differ from (or are missing since) the facts; none when the registry
        is not there to see (the facts were carried elsewhere)."""
        if self.root is None or not self.root.is_dir():
            return []
        out = []
        for rel, digest in sorted(self.registry_files.items()):
            try:
                now = hashlib.sha256((self.root / rel).read_bytes()).hexdigest()
            except OSError:
                now = ""
            if now != digest:
                out.append(rel)
        return out

    # ------------------------------------------------------------------ reading

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], path: Path | None = None) -> CityFacts:
        where = f"{path}: " if path else ""
        if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
            raise CityError(f"{where}not a city facts file (format {FORMAT!r}); write one with `jiyue policy facts`")
        if doc.get("version") != VERSION:
            raise CityError(f"{where}facts of version {doc.get('version')!r}, the pack reads version {VERSION}: "
                            "write them again with the jiyue of this pack (`jiyue policy facts`)")
        try:
            plan = doc["ip_plan"]
            egress = doc["egress"]
            systems = {sid: SystemFacts(
                id=sid, department=s["department"], zone=s["zone"], classification=s["classification"],
                public_facing=bool(s["public_facing"]), platform=s["platform"],
                rpo_minutes=(s["dr"] or {}).get("rpo_minutes"), rto_minutes=(s["dr"] or {}).get("rto_minutes"),
                dr_mode=(s["dr"] or {}).get("mode"),
                volume_class=s["volume_class"], flavor=str(s["capacity"]["flavor"]),
                instances=int(s["capacity"]["instances"]), volume_gb=int(s["capacity"]["volume_gb"]),
                backup_interval_minutes=(s["dr"] or {}).get("backup_interval_minutes"),
                backup_volume_gb=(s["dr"] or {}).get("backup_volume_gb"),
                retired=bool(s["retired"]), needs_dr=bool(s["needs_dr"]),
                filing_gaps=tuple(s["filing_gaps"])) for sid, s in doc["systems"].items()}
            registry = doc.get("registry") or {}
            return cls(
                path=path,
                root=Path(registry["root"]) if registry.get("root") else None,
                city=str(doc["city"]),
                platform_department=str(doc["platform_department"]),
                management={site: IPNetwork(cidr) for site, cidr in plan["management"].items()},
                supernets={(zone, site): IPNetwork(cidr)
                           for zone, sites in plan["supernets"].items() for site, cidr in sites.items()},
                egress_network=str(egress["external_network"]),
                egress_cidr=IPNetwork(egress["external_cidr"]) if egress.get("external_cidr") else None,
                allowed_ports=frozenset(int(p) for p in egress["allowed_ports"]),
                flavors={k: {kk: int(vv) for kk, vv in v.items()} for k, v in doc["flavors"].items()},
                volume_classes={k: {kk: bool(vv) for kk, vv in v.items()} for k, v in doc["volume_classes"].items()},
                quotas={d: {k: int(v) for k, v in dep["quotas"].items()} for d, dep in doc["departments"].items()},
                systems=systems,
                systems_of_department={d: list(dep["systems"]) for d, dep in doc["departments"].items()},
                stacks={name: StackInfo(name, st["zone"], st["site"], st["department"])
                        for name, st in doc["stacks"].items()},
                filing_recorded=bool(doc["filing_recorded"]),
                registry_files=dict(registry.get("files") or {}),
                egress=_egress(doc["flows"]),
                replication=_replication(doc["flows"]),
                segments=[PlanSegment(g["name"], f"{g['zone']}-{g['site']}-{g['department'] or 'foundation'}",
                                      IPNetwork(g["cidr"])) for g in plan["segments"]],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CityError(f"{where}the facts are not in the expected shape: {exc!r}") from exc


def _egress(table: Mapping[str, Any]) -> dict[tuple[str, str], list[AllowedEgress]]:
    ends = table["endpoints"]
    out: dict[tuple[str, str], list[AllowedEgress]] = {}
    for f in table["flows"]:
        src, dst = ends[f["source"]], ends[f["destination"]]
        if src["kind"] != "system":
            continue
        out.setdefault((src["name"], src["site"]), []).append(AllowedEgress(
            kind=str(f["kind"]), protocol=str(f["protocol"]), ports=frozenset(int(p) for p in f["ports"]),
            to=tuple(IPNetwork(a["cidr"]) for a in dst["addresses"]), to_self=f["source"] == f["destination"],
            temporary=bool(f["temporary"])))
    return out


def _replication(table: Mapping[str, Any]) -> dict[tuple[str, str], list[AllowedReplication]]:
    ends = table["endpoints"]
    out: dict[tuple[str, str], list[AllowedReplication]] = {}
    for f in table["flows"]:
        if f["kind"] != "replication":
            continue
        src, dst = ends[f["source"]], ends[f["destination"]]
        out.setdefault((dst["name"], dst["site"]), []).append(AllowedReplication(
            protocol=str(f["protocol"]), ports=frozenset(int(p) for p in f["ports"]),
            sources=tuple(IPNetwork(a["cidr"]) for a in src["addresses"])))
    return out


def load_facts(path: Path) -> CityFacts:
    """Read the facts file at ``path``; :class:`CityError` if it cannot be read, is of another
    version, or is older than the registry it was built from."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CityError(f"cannot read the city facts at {path}: {exc.strerror or exc}; write them with "
                        f"`jiyue policy facts --out {path}`") from exc
    except ValueError as exc:
        raise CityError(f"{path}: not JSON: {exc}") from exc
    facts = CityFacts.from_json(doc, path)
    changed = facts.changed_files()
    if changed:
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        raise CityError(f"the city facts at {path} are older than the registry at {facts.root} ({shown} changed "
                        f"since): write them again with `jiyue policy facts --city {facts.root} --out {path}`")
    return facts
