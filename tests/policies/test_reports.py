"""Waivers, and the reports: text, JSON, SARIF 2.1.0, HTML."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from policies.check import check_graphs
from policies.report import render
from policies.rules import BY_NAME
from policies.waivers import WaiverError, load_waivers

STACK = "intranet-primary-finance"
FIP = "finance/finance-budget/internal/fip"


def graph():
    urn = f"urn:pulumi:{STACK}::jiyue::openstack:networking/floatingIp:FloatingIp::{FIP}"
    return [(STACK, [{"urn": urn, "type": "openstack:networking/floatingIp:FloatingIp", "name": FIP,
                      "parent": None, "inputs": {"pool": "internet", "tags": ["department=finance",
                                                 "system=finance-budget", "classification=internal"]}}])]


def waiver_file(tmp_path, expires: str, rule: str = "jiyue-intranet-no-floating-ip"):
    p = tmp_path / "waivers.yaml"
    p.write_text(f"""waivers:
  - rule: {rule}
    resource: "*::finance/finance-budget/*"
    justification: migration rehearsal only, removed at cut-over
    approver: 市大数据中心 security office
    expires: {expires}
""", encoding="utf-8")
    return p


def test_an_active_waiver_moves_the_finding_apart(tmp_path, facts_file):
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    w = load_waivers(waiver_file(tmp_path, future), set(BY_NAME))
    report = check_graphs(graph(), facts=facts_file, waivers=w, mode="direct")
    assert not report.blocking and len(report.waived) == 1
    d = report.as_dict()
    assert d["passed"] and d["findings"] == [] and d["waived"][0]["waiver"]["approver"]


def test_an_expired_waiver_stops_counting(tmp_path, facts_file):
    past = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    w = load_waivers(waiver_file(tmp_path, past), set(BY_NAME))
    report = check_graphs(graph(), facts=facts_file, waivers=w, mode="direct")
    assert report.blocking and not report.waived
    assert report.blocking[0].expired_waiver is not None
    assert "waiver expired" in render(report, "text")


@pytest.mark.parametrize("text,needle", [
    ("waivers:\n  - rule: jiyue-intranet-no-floating-ip\n    resource: x\n", "missing justification, approver"),
    ("waivers:\n  - {rule: jiyue-nope, resource: x, justification: j, approver: a, expires: 2030-01-01}\n",
     "no rule 'jiyue-nope'"),
    ("waivers:\n  - {rule: jiyue-intranet-no-floating-ip, resource: x, justification: j, approver: a, "
     "expires: someday}\n", "not a date"),
])
def test_a_bad_waiver_file_is_refused_with_its_line(tmp_path, text, needle):
    p = tmp_path / "w.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(WaiverError, match=needle) as exc:
        load_waivers(p, set(BY_NAME))
    assert ":2: waivers[0]" in str(exc.value)


def test_sarif_is_2_1_0_with_rules_results_and_suppressions(tmp_path, facts_file):
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    report = check_graphs(graph(), facts=facts_file, mode="direct")
    doc = json.loads(render(report, "sarif"))
    assert doc["version"] == "2.1.0" and "sarif" in doc["$schema"]
    run = doc["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    res = run["results"][0]
    assert res["ruleId"] == "jiyue-intranet-no-floating-ip" and ids[res["ruleIndex"]] == res["ruleId"]
    assert res["level"] == "error" and res["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].endswith(FIP)
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("departments/finance.yaml")
    w = load_waivers(waiver_file(tmp_path, future), set(BY_NAME))
    waived = json.loads(render(check_graphs(graph(), facts=facts_file, waivers=w, mode="direct"), "sarif"))
    assert waived["runs"][0]["results"][0]["suppressions"][0]["status"] == "accepted"


def test_html_shows_summaries_findings_and_waivers(facts_file):
    report = check_graphs(graph(), facts=facts_file, mode="direct")
    html = render(report, "html")
    for needle in ("Summary by severity", "Summary by department", "finance", "jiyue-intranet-no-floating-ip",
                   "GB/T 22239-2019 8.1.3.1 边界防护 c)", "Delete the floating IP", "Waived findings", "FAIL"):
        assert needle in html
