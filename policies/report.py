"""Reports of a policy check: text for a terminal, JSON for tools, SARIF 2.1.0 for code-scanning
tools, HTML for security staff (summary by severity and department, then every finding with its
resource, rule, citation, remediation and waiver; waived findings apart)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from .findings import SEVERITY_ORDER, Finding, Report
from .rules import ALL

TEMPLATES = Path(__file__).resolve().parent / "templates"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "": "5.0"}


def _order(f: Finding) -> tuple:
    sev = f.severity if f.severity in SEVERITY_ORDER else ""
    return (f.enforcement != "mandatory", SEVERITY_ORDER.index(sev), f.department, f.rule, f.urn)


def _cited(f: Finding) -> str:
    c = f.meta["citation"]
    return c["text"] if c else "(no rule of this name)"


def render_text(report: Report) -> str:
    lines: list[str] = []
    for f in sorted(report.active, key=_order):
        where = f.urn or f"stack {f.stack}"
        lines.append(f"[{f.enforcement} {f.severity}] {f.rule}: {f.message}")
        lines.append(f"    at {where}")
        lines.append(f"    cites {_cited(f)}; fix: {f.meta['remediation']}")
        if f.expired_waiver:
            lines.append(f"    waiver expired {f.expired_waiver.expires} (approved by {f.expired_waiver.approver})")
    if report.waived:
        lines.append("")
        lines.append(f"Waived ({len(report.waived)}):")
        for f in sorted(report.waived, key=_order):
            w = f.waiver
            assert w is not None
            lines.append(f"  {f.rule}: {f.message}")
            lines.append(f"    at {f.urn or 'stack ' + f.stack}; waived until {w.expires} by {w.approver}: "
                         f"{w.justification}")
    d = report.as_dict()["summary"]
    lines.append("")
    what = (f"{len(report.stacks)} host(s) checked with the {report.mode}" if report.mode.startswith("testinfra")
            else f"{len(report.stacks)} stack(s), {report.resources} resources judged through the {report.mode}")
    lines.append(f"{what} in {report.seconds:.2f}s: {d['blocking']} blocking (mandatory), {d['advisory']} advisory, "
                 f"{d['waived']} waived")
    lines.append("PASS: no mandatory violation" if not report.blocking else "FAIL: mandatory violations")
    return "\n".join(lines) + "\n"


def render_json(report: Report) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n"


def _sarif_rule(mod: Any) -> dict[str, Any]:
    m = mod.META
    c = m.citation
    return {
        "id": m.name, "name": m.name,
        "shortDescription": {"text": m.description},
        "fullDescription": {"text": f"{m.description} ({c.text}: {c.says})"},
        "help": {"text": m.remediation, "markdown": f"**Remediation**: {m.remediation}\n\n"
                                                    f"**Cites**: {c.text}: {c.says}"},
        "defaultConfiguration": {"level": "error" if m.enforcement == "mandatory" else "warning"},
        "properties": {"tags": ["security", *m.tags], "severity": m.severity, "enforcement": m.enforcement,
                       "security-severity": _SECURITY_SEVERITY.get(m.severity, "5.0"),
                       "citation": c.as_dict(), "requirements": list(m.requirements)},
    }


def render_sarif(report: Report, repo_root: Path | None = None) -> str:
    rules = [_sarif_rule(m) for m in ALL]
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for f in sorted(report.findings, key=_order):
        res: dict[str, Any] = {
            "ruleId": f.rule,
            "level": "error" if f.enforcement == "mandatory" else "warning",
            "message": {"text": f.message},
            "locations": [{
                "logicalLocations": [{"fullyQualifiedName": f.urn or f"stack:{f.stack}",
                                      "name": f.resource_name or f.stack, "kind": "resource"}],
            }],
            "properties": {"stack": f.stack, "department": f.department, "zone": f.zone, "site": f.site,
                           "severity": f.severity, "resourceType": f.resource_type},
        }
        if f.rule in index:
            res["ruleIndex"] = index[f.rule]
        if f.department and f.department != "datacenter" and report.city:
            dep_file = Path(report.city) / "departments" / f"{f.department}.yaml"
            uri = str(dep_file.relative_to(repo_root)) if repo_root and dep_file.is_relative_to(repo_root) \
                else dep_file.as_posix()
            res["locations"][0]["physicalLocation"] = {"artifactLocation": {"uri": uri},
                                                       "region": {"startLine": 1}}
        if f.waiver:
            res["suppressions"] = [{"kind": "external", "status": "accepted",
                                    "justification": f"{f.waiver.justification} (approved by {f.waiver.approver}, "
                                                     f"expires {f.waiver.expires})"}]
        results.append(res)
    doc = {
        "$schema": SARIF_SCHEMA, "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "jiyue-policy", "version": str(report.pack.get("version", "")),
                                "informationUri": "https://www.pulumi.com/docs/iac/crossguard/",
                                "rules": rules}},
            "invocations": [{"executionSuccessful": True,
                             "properties": {"mode": report.mode, "stacks": len(report.stacks),
                                            "resources": report.resources}}],
            "results": results,
        }],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def render_html(report: Report) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    tpl = env.get_template("report.html.j2")
    return tpl.render(r=report, d=report.as_dict(), active=sorted(report.active, key=_order),
                      waived=sorted(report.waived, key=_order),
                      rules=[m.META for m in ALL])


def render(report: Report, fmt: str, repo_root: Path | None = None) -> str:
    if fmt == "json":
        return render_json(report)
    if fmt == "sarif":
        return render_sarif(report, repo_root)
    if fmt == "html":
        return render_html(report)
    return render_text(report)
