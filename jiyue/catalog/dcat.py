"""The open catalog (T7) as DCAT in JSON-LD: what another site (a CKAN with its DCAT harvester, a
provincial or the national portal) harvests from the city's open-data site.

One ``dcat:Dataset`` per open resource that has its code (a classified entry is never in it,
whatever it says), with its publisher (the provider, identified by its unified social credit
code), issue date, update frequency (Dublin Core's frequency vocabulary), keywords, related data
sets and one ``dcat:Distribution`` (the data set's page on the site, its format and licence;
no media type is guessed: the site's page says how to get the data).
The ``@context`` is inline, so nothing is fetched when the document is read.
"""

from __future__ import annotations

from typing import Any

from ..registry.schema import OpenDataSite, OpenType, UpdateFrequency
from . import Catalog, Resource
from .layout import FORMAT, LIBRARY, SUBJECT, label

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
#: Dublin Core's collection frequencies (http://purl.org/cld/freq/), as DCAT's accrualPeriodicity
FREQUENCY = {
    UpdateFrequency.realtime: "continuous", UpdateFrequency.daily: "daily", UpdateFrequency.weekly: "weekly",
    UpdateFrequency.monthly: "monthly", UpdateFrequency.quarterly: "quarterly", UpdateFrequency.yearly: "annual",
    UpdateFrequency.irregular: "irregular",
}
ACCESS = "http://publications.europa.eu/resource/authority/access-right/"


def _zh(text: str) -> dict[str, str]:
    return {"@value": text, "@language": "zh"}


def published(catalog: Catalog) -> list[Resource]:
    """The resources the open catalog lists: open, not classified, coded."""
    return [r for r in catalog.resources
            if r.open != OpenType.not_open.value and not r.classified and r.code is not None]


def to_dcat(catalog: Catalog, site: OpenDataSite) -> dict[str, Any]:
    base = site.site
    codes = catalog.codes()
    listed = published(catalog)
    listed_keys = {r.key for r in listed}

    def dataset(r: Resource) -> dict[str, Any]:
        uri = f"{base}dataset/{r.code}"
        keywords = [label(LIBRARY, r.library), *([label(SUBJECT, r.subject)] if r.subject else []),
                    *(i.name for i in r.items)]
        out: dict[str, Any] = {
            "@id": uri, "@type": "dcat:Dataset",
            "dct:identifier": r.code, "dct:title": _zh(r.name), "dct:description": _zh(r.abstract or r.name),
            "dct:publisher": {"@id": f"{base}organization/{r.provider_code or r.provider.department}",
                              "@type": "foaf:Organization", "foaf:name": _zh(r.provider_name),
                              **({"dct:identifier": r.provider_code} if r.provider_code else {})},
            "dct:accrualPeriodicity": {"@id": f"http://purl.org/cld/freq/{FREQUENCY[UpdateFrequency(r.update_frequency)]}"},
            "dct:accessRights": {
                "@id": ACCESS + ("PUBLIC" if r.open == OpenType.unconditional.value else "RESTRICTED")},
            "dcat:keyword": [_zh(k) for k in keywords],
            "dcat:landingPage": {"@id": uri},
            "dcat:distribution": [{
                "@id": f"{uri}/distribution", "@type": "dcat:Distribution",
                "dct:title": _zh(f"{r.name}（{label(FORMAT, r.format)}）"),
                "dcat:accessURL": {"@id": uri},
                "dct:format": label(FORMAT, r.format),
                "dct:license": {"@id": site.licence},
            }],
        }
        if r.published:
            out["dct:issued"] = {"@value": r.published, "@type": "xsd:date"}
        related = [f"{base}dataset/{codes[k]}" for k in r.related if k in listed_keys and codes.get(k)]
        if related:
            out["dct:relation"] = [{"@id": u} for u in related]
        return out

    return {
        "@context": CONTEXT,
        "@id": f"{base}catalog",
        "@type": "dcat:Catalog",
        "dct:title": _zh(f"{catalog.city_name}公共数据开放目录"),
        "dct:description": _zh(f"{catalog.city_name}政务信息资源目录中向社会开放的数据集"),
        "dct:publisher": {"@id": f"{base}organization/{catalog.city}", "@type": "foaf:Organization",
                          "foaf:name": _zh(f"{catalog.city_name}人民政府")},
        "foaf:homepage": {"@id": base},
        "dct:license": {"@id": site.licence},
        "dcat:dataset": [dataset(r) for r in listed],
    }
