"""The city's information-resource catalog (T5, T7, T8) and the filing gate (G6).

``build_catalog(model)`` turns every system's ``data_resources`` and ``data_needs`` into one
catalog: entries by library, the sharing matrix (who provides what to whom), the open-data list,
and the cross-checks a catalog office runs. ``filing_gaps(system)`` says what a system still has
to file before it may get money, be deployed (policy pack) or be migrated (precheck).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ConfigDict

from .registry.model import CityModel
from .registry.schema import SharingType, System


class Gap(BaseModel):
    """One thing missing from a system's filing."""

    model_config = ConfigDict(frozen=True)
    field: str
    message: str


class FilingStatus(BaseModel):
    system: str
    department: str
    in_scope: bool
    complete: bool
    gaps: list[Gap]


def in_scope(system: System) -> bool:
    """G6 applies to projects that ask for money: O&M money every year, or construction money
    (a filing of the construction kind). A stopped system that draws nothing is out of scope, and
    so is a retired one (T1.2): it is funded no more."""
    if system.retirement is not None:
        return False
    asks_construction = system.filing is not None and system.filing.funding_kind is not None \
        and system.filing.funding_kind.value == "construction"
    return system.funds.om_wan_per_year > 0 or asks_construction


def filing_gaps(system: System) -> list[Gap]:
    """Everything G6 asks for that this system has not filed: the filing record, the resource
    catalog, the requirement list and the sharing list."""
    gaps: list[Gap] = []
    f = system.filing
    if f is None:
        gaps.append(Gap(field="filing", message="no filing record (备案): project id, funding kind, amount, "
                                                "approval number and date"))
    else:
        for name, label in (("project_id", "project id"), ("funding_kind", "funding kind"),
                            ("amount_wan", "amount"), ("approval_number", "approval number"), ("date", "date")):
            if getattr(f, name) in (None, ""):
                gaps.append(Gap(field=f"filing.{name}", message=f"the filing record has no {label}"))
    if system.data_resources is None:
        gaps.append(Gap(field="data_resources", message="the resource catalog (资源目录) is not filed"))
    else:
        for i, r in enumerate(system.data_resources):
            where = f"data_resources[{i}]"
            if r.sharing is None:
                gaps.append(Gap(field=f"{where}.sharing",
                                message=f"resource {r.id} has no sharing type (the sharing list, 共享清单)"))
            elif r.sharing is SharingType.conditional and not r.conditions:
                gaps.append(Gap(field=f"{where}.conditions",
                                message=f"resource {r.id} is shared on conditions but states none"))
            elif r.sharing is SharingType.not_shared and not r.legal_basis:
                gaps.append(Gap(field=f"{where}.legal_basis",
                                message=f"resource {r.id} is not shared but cites no legal basis"))
    if system.data_needs is None:
        gaps.append(Gap(field="data_needs", message="the requirement list (需求清单) is not filed "
                                                    "(write data_needs: [] if the system needs nothing)"))
    return gaps


def filing_status(model: CityModel, department: str | None = None) -> list[FilingStatus]:
    out = []
    for dep in model.departments.values():
        if department and dep.id != department:
            continue
        for s in dep.systems:
            gaps = filing_gaps(s)
            out.append(FilingStatus(system=s.id, department=dep.id, in_scope=in_scope(s),
                                    complete=not gaps, gaps=gaps))
    return out


# --------------------------------------------------------------------------- the catalog


class Entry(BaseModel):
    """A data resource as the city catalog lists it."""

    model_config = ConfigDict(frozen=True)
    key: str
    name: str
    department: str
    provider_code: str | None  # the department's unified social credit code (GB 32100), when recorded
    system: str
    library: str
    update_frequency: str
    format: str
    fields: list[str]
    sharing: str | None
    conditions: str
    legal_basis: str
    open_data: bool


class Need(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: str
    department: str
    system: str
    provider: str | None
    purpose: str


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)
    check: str  # unprovided-need | not-shared-but-needed | held-by-several | provider-mismatch
    key: str
    departments: list[str]
    message: str


class Catalog(BaseModel):
    city: str
    entries: list[Entry]
    needs: list[Need]
    # derived from entries and needs
    by_library: dict[str, list[str]]
    sharing_matrix: dict[str, dict[str, list[str]]]  # provider -> consumer -> keys
    open_data: list[str]
    findings: list[Finding]


def build_catalog(model: CityModel) -> Catalog:
    entries: list[Entry] = []
    needs: list[Need] = []
    for dep in model.departments.values():
        for s in dep.systems:
            for r in s.data_resources or []:
                entries.append(Entry(key=r.id, name=r.name, department=dep.id, provider_code=dep.credit_code,
                                     system=s.id, library=r.library.value,
                                     update_frequency=r.update_frequency.value, format=r.format.value,
                                     fields=list(r.fields), sharing=r.sharing.value if r.sharing else None,
                                     conditions=r.conditions, legal_basis=r.legal_basis, open_data=r.open_data))
            for n in s.data_needs or []:
                needs.append(Need(key=n.resource, department=dep.id, system=s.id, provider=n.provider,
                                  purpose=n.purpose))
    return derive(model.city.id, entries, needs)


def derive(city: str, entries: list[Entry], needs: list[Need]) -> Catalog:
    """Everything the catalog says that follows from its entries and needs."""
    by_key: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        by_key[e.key].append(e)
    by_library: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        by_library[e.library].add(e.key)
    matrix: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    findings: list[Finding] = []
    for n in needs:
        holders = [e for e in by_key.get(n.key, []) if e.department != n.department]
        if n.provider:
            holders = [e for e in holders if e.department == n.provider] or holders
        if not holders:
            findings.append(Finding(check="unprovided-need", key=n.key, departments=[n.department],
                                    message=f"{n.department} ({n.system}) needs {n.key}"
                                            + (f" from {n.provider}" if n.provider else "")
                                            + ", and no other department provides it"))
            continue
        if n.provider and all(e.department != n.provider for e in holders):
            findings.append(Finding(check="provider-mismatch", key=n.key,
                                    departments=sorted({n.department, n.provider, *(e.department for e in holders)}),
                                    message=f"{n.department} expects {n.key} from {n.provider}, but it is held by "
                                            + ", ".join(sorted({e.department for e in holders}))))
        shared = [e for e in holders if e.sharing != SharingType.not_shared.value]
        if not shared:
            findings.append(Finding(check="not-shared-but-needed", key=n.key,
                                    departments=sorted({n.department, *(e.department for e in holders)}),
                                    message=f"{n.department} ({n.system}) needs {n.key}, which "
                                            + ", ".join(sorted({e.department for e in holders}))
                                            + " does not share (legal basis: "
                                            + ("; ".join(sorted({e.legal_basis for e in holders if e.legal_basis}))
                                               or "none stated") + ")"))
            continue
        for e in shared:
            matrix[e.department][n.department].add(n.key)
    for key, held in sorted(by_key.items()):
        deps = sorted({e.department for e in held})
        if len(deps) > 1:
            findings.append(Finding(check="held-by-several", key=key, departments=deps,
                                    message=f"{key} is held by {len(deps)} departments ({', '.join(deps)}): "
                                            "a candidate for one base library"))
    findings.sort(key=lambda f: (f.check, f.key, f.departments))
    return Catalog(
        city=city, entries=entries, needs=needs,
        by_library={lib: sorted(keys) for lib, keys in sorted(by_library.items())},
        sharing_matrix={p: {c: sorted(k) for c, k in sorted(cs.items())} for p, cs in sorted(matrix.items())},
        open_data=sorted({e.key for e in entries if e.open_data}),
        findings=findings,
    )


def catalog_from_export(data: dict[str, Any]) -> Catalog:
    """A catalog back from its JSON export (the raw entries and needs; the rest is derived)."""
    return derive(data["city"], [Entry.model_validate(e) for e in data["entries"]],
                  [Need.model_validate(n) for n in data["needs"]])


def to_csv(catalog: Catalog) -> str:
    buf = io.StringIO()
    cols = list(Entry.model_fields)
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for e in catalog.entries:
        row = e.model_dump()
        row["fields"] = ";".join(row["fields"])
        w.writerow(row)
    return buf.getvalue()
