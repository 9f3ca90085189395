"""Findings: a violation with everything security staff need beside it (citation, remediation,
department, waiver), and the result of judging one or more stacks."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .city import StackInfo
from .core import name_labels, name_of_urn
from .hosts.rules import HOST_RULES
from .rules import BY_NAME
from .waivers import Waiver

SEVERITY_ORDER = ("critical", "high", "medium", "low", "")


@dataclass
class Finding:
    rule: str
    message: str
    stack: str
    urn: str = ""
    resource_type: str = ""
    resource_name: str = ""
    department: str = ""
    zone: str = ""
    site: str = ""
    enforcement: str = "mandatory"
    severity: str = ""
    waiver: Waiver | None = None  # an active waiver covering it
    expired_waiver: Waiver | None = None  # a waiver that would cover it but has expired

    @property
    def waived(self) -> bool:
        return self.waiver is not None

    @property
    def blocking(self) -> bool:
        return self.enforcement == "mandatory" and not self.waived

    @property
    def meta(self) -> dict[str, Any]:
        m = BY_NAME.get(self.rule)
        if m is None and self.rule in HOST_RULES:
            return HOST_RULES[self.rule].as_dict()
        return m.META.as_dict() if m else {"name": self.rule, "citation": None, "requirements": [],
                                            "remediation": ""}

    def as_dict(self) -> dict[str, Any]:
        m = self.meta
        return {
            "rule": self.rule, "message": self.message, "stack": self.stack, "urn": self.urn,
            "resource_type": self.resource_type, "resource_name": self.resource_name,
            "department": self.department, "zone": self.zone, "site": self.site,
            "enforcement": self.enforcement, "severity": self.severity,
            "citation": m["citation"],
            "requirements": m["requirements"], "remediation": m["remediation"],
            "waived": self.waived, "waiver": self.waiver.as_dict() if self.waiver else None,
            "expired_waiver": self.expired_waiver.as_dict() if self.expired_waiver else None,
        }


def make_finding(rule: str, message: str, st: StackInfo, urn: str, types: dict[str, str],
                 enforcement: str | None = None, severity: str | None = None) -> Finding:
    """A finding of ``rule`` at ``urn`` in the stack ``st`` (as the city's facts place it)."""
    name = name_of_urn(urn) or ""
    m = BY_NAME.get(rule)
    department = st.department or name_labels(name).get("department") or ("datacenter" if st.foundation else "")
    return Finding(rule=rule, message=message, stack=st.name, urn=urn, resource_type=types.get(urn, ""),
                   resource_name=name, department=department, zone=st.zone or "", site=st.site or "",
                   enforcement=enforcement or (m.META.enforcement if m else "mandatory"),
                   severity=severity or (m.META.severity if m else ""))


def apply_waivers(findings: list[Finding], waivers: list[Waiver], today: dt.date | None = None) -> None:
    today = today or dt.date.today()
    for f in findings:
        for w in waivers:
            if w.matches(f.rule, f.urn or f"stack:{f.stack}", f.resource_name):
                if w.expired(today):
                    f.expired_waiver = f.expired_waiver or w
                else:
                    f.waiver = w
                    break


@dataclass
class Report:
    """The outcome of judging stacks: findings, and how they were judged."""

    stacks: list[str]
    resources: int
    findings: list[Finding]
    mode: str  # "analyzer gRPC" or "direct"
    pack: dict[str, Any] = field(default_factory=dict)
    policies: list[dict[str, Any]] = field(default_factory=list)
    city: str = ""
    seconds: float = 0.0
    generated: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if not f.waived]

    @property
    def waived(self) -> list[Finding]:
        return [f for f in self.findings if f.waived]

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    def by_severity(self) -> dict[str, dict[str, int]]:
        out = {s or "unspecified": {"mandatory": 0, "advisory": 0, "waived": 0} for s in SEVERITY_ORDER}
        for f in self.findings:
            row = out[f.severity or "unspecified"]
            row["waived" if f.waived else ("mandatory" if f.enforcement == "mandatory" else "advisory")] += 1
        return {k: v for k, v in out.items() if any(v.values())}

    def by_department(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        for f in self.findings:
            c = out.setdefault(f.department or "(none)", Counter())
            c["waived" if f.waived else ("mandatory" if f.enforcement == "mandatory" else "advisory")] += 1
        return {k: {"mandatory": v["mandatory"], "advisory": v["advisory"], "waived": v["waived"]}
                for k, v in sorted(out.items(), key=lambda kv: (-kv[1]["mandatory"], kv[0]))}

    def by_rule(self) -> dict[str, int]:
        return dict(Counter(f.rule for f in self.active).most_common())

    def as_dict(self) -> dict[str, Any]:
        return {
            "generated": self.generated, "mode": self.mode, "pack": self.pack, "city": self.city,
            "stacks": self.stacks, "resources": self.resources, "seconds": round(self.seconds, 3),
            "passed": not self.blocking,
            "summary": {"findings": len(self.findings), "blocking": len(self.blocking),
                        "advisory": sum(1 for f in self.active if f.enforcement != "mandatory"),
                        "waived": len(self.waived), "by_severity": self.by_severity(),
                        "by_department": self.by_department(), "by_rule": self.by_rule()},
            "findings": [f.as_dict() for f in self.active],
            "waived": [f.as_dict() for f in self.waived],
            "rules": self.policies,
        }
