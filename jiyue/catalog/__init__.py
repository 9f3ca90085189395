"""The city's information-resource catalog (T5, T7, T8) and the filing gate (G6).

``build_catalog(model)`` turns every live system's ``data_resources`` and ``data_needs`` into one
catalog in the national format (docs/catalog.md): one resource per key with its code
(:mod:`.codes`), its authoritative provider and the copies other departments hold, the sharing
matrix (who provides what to whom), the open catalog (T7) and the cross-checks a catalog office
runs. ``filing_gaps(system, context)`` says what a system still has to file before it may get
money, be deployed (policy pack) or be migrated (precheck).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..registry.model import CityModel
from ..registry.schema import OpenType, SharingType, System
from .codes import CodePlan, Wanted, plan_codes


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


@dataclass(frozen=True)
class FilingContext:
    """What the gate reads beyond the system itself: its department's provider code and the
    catalog's pinned codes."""

    credit_code: dict[str, str | None]  # department id -> its unified social credit code
    department_of: dict[str, str]  # system id -> department id
    codes: CodePlan

    @classmethod
    def of(cls, model: CityModel, codes: CodePlan | None = None) -> FilingContext:
        return cls(credit_code={d.id: d.credit_code for d in model.departments.values()},
                   department_of=dict(model.department_of), codes=codes or catalog_codes(model))


def filing_gaps(system: System, context: FilingContext | None = None) -> list[Gap]:
    """Everything G6 asks for that this system has not filed: the filing record, the resource
    catalog in the national format, the requirement list and the sharing list. With ``context``
    (every caller but a test of one system has it) also the provider code and the pinned codes."""
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
        department = context.department_of.get(system.id) if context else None
        if system.data_resources and context and department and not context.credit_code.get(department):
            gaps.append(Gap(field="credit_code", message=f"department {department} has no unified social credit "
                                                         "code, the catalog's provider code (信息资源提供方代码)"))
        for i, r in enumerate(system.data_resources):
            where = f"data_resources[{i}]"
            if not r.abstract:
                gaps.append(Gap(field=f"{where}.abstract", message=f"resource {r.id} has no abstract (信息资源摘要)"))
            if not r.fields:
                gaps.append(Gap(field=f"{where}.fields",
                                message=f"resource {r.id} lists no information items (信息项)"))
            if r.published is None and r.copy_of is None:
                gaps.append(Gap(field=f"{where}.published",
                                message=f"resource {r.id} has no publication date (发布日期)"))
            if r.sharing is None:
                gaps.append(Gap(field=f"{where}.sharing",
                                message=f"resource {r.id} has no sharing type (the sharing list, 共享清单)"))
            elif r.sharing is SharingType.conditional and not r.conditions:
                gaps.append(Gap(field=f"{where}.conditions",
                                message=f"resource {r.id} is shared on conditions but states none"))
            elif r.sharing is SharingType.not_shared and not r.legal_basis:
                gaps.append(Gap(field=f"{where}.legal_basis",
                                message=f"resource {r.id} is not shared but cites no legal basis"))
            if context and r.copy_of is None and system.retirement is None and context.codes.current(r.id) is None:
                why = ("its classification changed since its code was pinned"
                       if r.id in context.codes.renumbered else "no code is pinned for it yet")
                gaps.append(Gap(field=f"{where}.code", message=f"resource {r.id} has no resource code (信息资源代码): "
                                                               f"{why}; run `jiyue catalog codes --update-lock`"))
    if system.data_needs is None:
        gaps.append(Gap(field="data_needs", message="the requirement list (需求清单) is not filed "
                                                    "(write data_needs: [] if the system needs nothing)"))
    return gaps


def filing_status(model: CityModel, department: str | None = None,
                  context: FilingContext | None = None) -> list[FilingStatus]:
    context = context or FilingContext.of(model)
    out = []
    for dep in model.departments.values():
        if department and dep.id != department:
            continue
        for s in dep.systems:
            gaps = filing_gaps(s, context)
            out.append(FilingStatus(system=s.id, department=dep.id, in_scope=in_scope(s),
                                    complete=not gaps, gaps=gaps))
    return out


# --------------------------------------------------------------------------- the catalog


class Item(BaseModel):
    """An information item (信息项): its name and data type."""

    model_config = ConfigDict(frozen=True)
    name: str
    type: str


class Holding(BaseModel):
    """Where a department keeps a resource: the authoritative provider's system, or a copy."""

    model_config = ConfigDict(frozen=True)
    department: str
    system: str
    zone: str


class Resource(BaseModel):
    """One resource of the city catalog with its core metadata (GB/T 21063.3)."""

    model_config = ConfigDict(frozen=True)
    key: str
    code: str | None  # the pinned code (信息资源代码); None until `jiyue catalog codes --update-lock`
    name: str
    abstract: str
    library: str
    subject: str | None
    subclass: int
    provider: Holding  # the authoritative provider (信息资源提供方)
    provider_name: str
    provider_code: str | None  # the department's unified social credit code (GB 32100)
    format: str
    items: list[Item]
    update_frequency: str
    sharing: str | None
    conditions: str
    sharing_method: str | None
    legal_basis: str
    open: str
    published: str | None  # ISO date
    related: list[str]  # keys
    classified: bool
    copies: list[Holding]  # other departments' copies

    @property
    def holdings(self) -> list[Holding]:
        return [self.provider, *self.copies]


class Need(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: str
    department: str
    system: str
    zone: str
    provider: str | None
    purpose: str


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)
    #: unprovided-need | not-shared-but-needed | provider-mismatch | cross-zone-need | held-by-several
    #: | classified-open
    check: str
    key: str
    departments: list[str]
    message: str


class Link(BaseModel):
    """A cell of the sharing matrix: what a provider shares with a consumer."""

    model_config = ConfigDict(frozen=True)
    provider: str
    consumer: str
    keys: list[str]
    cross_zone: list[str]  # of those, the keys that cross between the intranet and the extranet


class Catalog(BaseModel):
    city: str
    city_name: str
    resources: list[Resource]
    needs: list[Need]
    # derived from resources and needs
    by_library: dict[str, list[str]]
    sharing_matrix: list[Link]
    open_data: list[str]
    findings: list[Finding]

    def codes(self) -> dict[str, str | None]:
        return {r.key: r.code for r in self.resources}

    def related_codes(self, resource: Resource) -> list[str]:
        """The codes of a resource's related resources (关联资源代码), in its order; a related
        resource without a pinned code yet is left out."""
        codes = self.codes()
        return [c for c in (codes.get(k) for k in resource.related) if c]

    def providers(self) -> list[str]:
        return sorted({link.provider for link in self.sharing_matrix})

    def consumers(self) -> list[str]:
        return sorted({link.consumer for link in self.sharing_matrix})


def _wanted(model: CityModel) -> list[Wanted]:
    """The resources the catalog lists, each once, by its authoritative provider."""
    return [Wanted(key=key, department=dep.id, library=r.library, subject=r.subject, tier=dep.tier,
                   subclass=r.subclass)
            for key, (dep, _system, r) in ((k, _authority(held)) for k, held in _holders(model).items())]


def _holders(model: CityModel) -> dict[str, list[tuple[Any, System, Any]]]:
    """Key -> every (department, system, resource) of a live system listing it, in file order."""
    held: dict[str, list[tuple[Any, System, Any]]] = defaultdict(list)
    for dep in model.departments.values():
        for s in dep.systems:
            if s.retirement is not None:
                continue
            for r in s.data_resources or []:
                held[r.id].append((dep, s, r))
    return held


def _authority(held: list[tuple[Any, System, Any]]) -> tuple[Any, System, Any]:
    """The authoritative provider of a key: its first entry that is not a copy (validate makes
    sure one department alone has such entries)."""
    return next((h for h in held if h[2].copy_of is None), held[0])


def catalog_codes(model: CityModel) -> CodePlan:
    """The code of every resource the registry lists (pinned, new or renumbered)."""
    return plan_codes(model.root, _wanted(model), model.departments)


def build_catalog(model: CityModel, codes: CodePlan | None = None) -> Catalog:
    codes = codes or catalog_codes(model)
    resources: list[Resource] = []
    for key, held in _holders(model).items():
        dep, s, r = _authority(held)
        resources.append(Resource(
            key=key, code=codes.current(key), name=r.name, abstract=r.abstract, library=r.library.value,
            subject=r.subject, subclass=r.subclass, provider=Holding(department=dep.id, system=s.id, zone=s.zone.value),
            provider_name=dep.names.zh, provider_code=dep.credit_code, format=r.format.value,
            items=[Item(name=i.name, type=i.type.value) for i in r.fields], update_frequency=r.update_frequency.value,
            sharing=r.sharing.value if r.sharing else None, conditions=r.conditions,
            sharing_method=r.sharing_method.value if r.sharing_method else None, legal_basis=r.legal_basis,
            open=r.open.value, published=r.published.isoformat() if r.published else None, related=list(r.related),
            classified=r.classified,
            copies=[Holding(department=d.id, system=x.id, zone=x.zone.value) for d, x, _ in held if x is not s]))
    needs = [Need(key=n.resource, department=dep.id, system=s.id, zone=s.zone.value, provider=n.provider,
                  purpose=n.purpose)
             for dep in model.departments.values() for s in dep.systems if s.retirement is None
             for n in s.data_needs or []]
    return derive(model.city.id, model.city.names.zh, resources, needs)


def derive(city: str, city_name: str, resources: list[Resource], needs: list[Need]) -> Catalog:
    """Everything the catalog says that follows from its resources and needs."""
    by_key = {r.key: r for r in resources}
    by_library: dict[str, set[str]] = defaultdict(set)
    for r in resources:
        by_library[r.library].add(r.key)
    matrix: dict[tuple[str, str], set[str]] = defaultdict(set)
    crossing: dict[tuple[str, str], set[str]] = defaultdict(set)
    findings: list[Finding] = []

    def find(check: str, key: str, departments: set[str], message: str) -> None:
        findings.append(Finding(check=check, key=key, departments=sorted(departments), message=message))

    for n in needs:
        r = by_key.get(n.key)
        holders = [h for h in (r.holdings if r else []) if h.department != n.department]
        if not holders:
            find("unprovided-need", n.key, {n.department}, f"{n.department} ({n.system}) needs {n.key}"
                 + (f" from {n.provider}" if n.provider else "") + ", and no other department provides it")
            continue
        assert r is not None
        named = [h for h in holders if h.department == n.provider]
        if n.provider and not named:
            find("provider-mismatch", n.key, {n.department, n.provider, *(h.department for h in holders)},
                 f"{n.department} expects {n.key} from {n.provider}, but it is held by "
                 + ", ".join(sorted({h.department for h in holders})))
        serving = (named or [h for h in holders if h == r.provider] or holders)[0]
        if r.sharing == SharingType.not_shared.value:
            find("not-shared-but-needed", n.key, {n.department, *(h.department for h in holders)},
                 f"{n.department} ({n.system}) needs {n.key}, which {serving.department} does not share "
                 f"(legal basis: {r.legal_basis or 'none stated'})")
            continue
        matrix[(serving.department, n.department)].add(n.key)
        if serving.zone != n.zone:
            crossing[(serving.department, n.department)].add(n.key)
            find("cross-zone-need", n.key, {n.department, serving.department},
                 f"{n.department} ({n.system}, {n.zone}) needs {n.key} from {serving.department} ({serving.system}, "
                 f"{serving.zone}): it crosses between the zones only through the sharing-exchange platform (T6), "
                 "never over a direct link")
    for r in resources:
        deps = sorted({h.department for h in r.holdings})
        if len(deps) > 1:
            copies = ", ".join(sorted({f"{h.department} ({h.system})" for h in r.copies}))
            find("held-by-several", r.key, set(deps),
                 f"{r.key} is held by {len(deps)} departments: {r.provider.department} provides it, "
                 f"copies in {copies} (a candidate for the sharing platform instead of copies)")
        if r.classified and r.open != OpenType.not_open.value:
            find("classified-open", r.key, {r.provider.department},
                 f"{r.key} is a classified entry (涉密) but marked open ({r.open}): a classified resource is "
                 "never published on the open-data site (T7)")
    findings.sort(key=lambda f: (f.check, f.key, f.departments))
    return Catalog(
        city=city, city_name=city_name, resources=resources, needs=needs,
        by_library={lib: sorted(keys) for lib, keys in sorted(by_library.items())},
        sharing_matrix=[Link(provider=p, consumer=c, keys=sorted(keys), cross_zone=sorted(crossing.get((p, c), ())))
                        for (p, c), keys in sorted(matrix.items())],
        open_data=sorted(r.key for r in resources if r.open != OpenType.not_open.value and not r.classified),
        findings=findings,
    )
