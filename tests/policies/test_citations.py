"""Every rule and host check cites something that exists and says what it enforces: an MLPS clause of
the level-3 table, a requirement of the city's plan, or (classified rules) the state-secret
framework and G8; docs/standards.md shows each one's heading as the table has it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from policies.citations import (
    MLPS_TABLE,
    PLAN_TABLE,
    Citation,
    control_points,
    mlps,
    mlps_headings,
    plan,
    plan_requirements,
    secrecy,
)
from policies.core import RuleMeta
from policies.findings import Finding, Report
from policies.hosts.rules import HOST_RULES
from policies.report import render
from policies.rules import ALL

from .conftest import REPO

DOC = REPO / "docs" / "standards.md"
METAS: list[RuleMeta] = [m.META for m in ALL] + list(HOST_RULES.values())


def is_classified_rule(m: RuleMeta) -> bool:
    return m.name.startswith("jiyue-classified-")


def rule_problems(m: RuleMeta) -> list[str]:
    """What is wrong with a rule's citation, against the tables (empty: it holds)."""
    c = m.citation
    out = [f"{m.name}: {p}" for p in c.problems()]
    if is_classified_rule(m) and c.basis != "secrecy":
        out.append(f"{m.name} is about classified systems: it cites 分级保护 and G8, not {c.text}")
    if c.basis == "secrecy" and not is_classified_rule(m):
        out.append(f"{m.name} cites 分级保护 but is not a rule about classified systems")
    if c.plan and c.plan not in m.requirements:
        out.append(f"{m.name} cites the plan's {c.plan} but does not list it in its requirements")
    return out


def doc_rows() -> dict[str, list[str]]:
    """docs/standards.md's table rows by rule name: [cites, heading, refuses, why]."""
    rows: dict[str, list[str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| `(jiyue-[a-z-]+)` \|(.*)\|$", line)
        if m:
            assert m[1] not in rows, f"{m[1]} has two rows in {DOC.name}"
            rows[m[1]] = [cell.strip() for cell in m[2].split("|")]
    return rows


def doc_problems(m: RuleMeta, rows: dict[str, list[str]]) -> list[str]:
    row = rows.get(m.name)
    if row is None:
        return [f"{m.name} has no row in docs/standards.md"]
    cites, heading = row[0], row[1]
    c = m.citation
    if c.basis == "mlps":
        h = c.heading
        want_cites, want_heading = c.reference, f"{h.zh} ({h.en})" if h else "(no such clause)"
    elif c.basis == "plan":
        want_cites, want_heading = f"plan {c.plan}", "not an MLPS control"
    else:
        want_cites, want_heading = f"分级保护, plan {c.plan}", "not an MLPS control"
    out = []
    if cites != want_cites:
        out.append(f"{m.name}: the doc says it cites {cites!r}, the rule cites {want_cites!r}")
    if heading != want_heading:
        out.append(f"{m.name}: the doc gives the heading {heading!r}, the table {want_heading!r}")
    return out


@pytest.mark.parametrize("meta", METAS, ids=lambda m: m.name)
def test_every_rule_cites_what_exists(meta: RuleMeta):
    assert rule_problems(meta) == []
    c = meta.citation
    if c.basis == "mlps":
        assert c.clause in control_points() and re.fullmatch(r"[a-z]", c.item)
        assert c.text == f"GB/T 22239-2019 {c.clause} {mlps_headings()[c.clause].zh} {c.item})" + (
            " (云计算扩展)" if c.clause.startswith("8.2.") else "")


@pytest.mark.parametrize("meta", METAS, ids=lambda m: m.name)
def test_the_doc_shows_every_rules_citation_and_heading(meta: RuleMeta):
    assert doc_problems(meta, doc_rows()) == []


def test_the_doc_lists_no_rule_that_does_not_exist():
    assert set(doc_rows()) == {m.name for m in METAS}


def test_classified_rules_cite_the_state_secret_framework_and_g8():
    classified = [m for m in METAS if is_classified_rule(m)]
    assert {m.name for m in classified} >= {"jiyue-classified-intranet-only", "jiyue-classified-volume-encrypted"}
    for m in classified:
        assert m.citation.basis == "secrecy" and m.citation.plan == "G8" and not m.citation.clause
        assert m.citation.text.startswith("分级保护") and "not MLPS" in m.citation.text


def test_plan_rules_name_a_requirement_of_the_plan():
    plan_rules = {m.name: m.citation.plan for m in METAS if m.citation.basis == "plan"}
    assert plan_rules == {"jiyue-filing-gate": "G6", "jiyue-platform-built-once": "T4.5", "jiyue-pack-context": "G8"}
    assert all(p in plan_requirements() for p in plan_rules.values())


# --------------------------------------------------------------------------- the tables


def test_the_standards_table_has_level_3_and_nothing_else():
    clauses = mlps_headings()
    assert all(re.fullmatch(r"8\.[12](\.\d+){0,2}", c) for c in clauses), "only 8.1.* and 8.2.*"
    for c in clauses:  # every clause sits under one that exists
        if c.count(".") > 1:
            assert c.rsplit(".", 1)[0] in clauses, c
    groups = {c for c in clauses if c.count(".") == 2}
    assert groups == {f"8.1.{i}" for i in range(1, 11)} | {f"8.2.{i}" for i in range(1, 8)}
    assert "8.1.11" not in clauses and not any(c.startswith("8.1.11.") for c in clauses)
    assert clauses["8.1.9.1"].zh == "定级和备案" and clauses["8.1.10.2"].zh == "资产管理"
    assert clauses["8.2.5.1"].zh == "集中管控" and clauses["8.1.5.4"].zh == "集中管控"
    assert all(h.zh and h.en for h in clauses.values())
    assert len(control_points()) == 87  # and 17 groups above them


def test_the_plans_ids_are_those_of_the_requirements_doc():
    text = (REPO / "docs" / "requirements.md").read_text(encoding="utf-8")
    ids = re.findall(r"^\| ([TG]\d+(?:\.\d+)?) \|", text, re.M)
    assert ids and list(plan_requirements()) == ids


def test_the_tables_ship_beside_the_pack():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"standards/*.yaml"' in pyproject
    for table in (MLPS_TABLE, PLAN_TABLE):
        assert table.parent == Path(REPO / "policies" / "standards") and yaml.safe_load(table.read_text())


# --------------------------------------------------------------------------- wrong citations fail


def planted(citation: Citation, name: str = "jiyue-planted-rule") -> RuleMeta:
    return RuleMeta(name=name, description="A rule built in the test.", severity="medium", enforcement="mandatory",
                    citation=citation, requirements=("G4",), remediation="none")


@pytest.mark.parametrize(("citation", "why"), [
    (mlps("8.1.11.2 a)", "编制并保存资产清单"), "no clause 8.1.11.2"),
    (mlps("8.1.12.1 a)", "x"), "no clause 8.1.12.1"),
    (mlps("8.2.8.1 a)", "x"), "no clause 8.2.8.1"),
    (mlps("8.1.3 a)", "边界"), "not a clause and a lettered item"),
    (mlps("8.1.3.2", "访问控制"), "not a clause and a lettered item"),
    (mlps("8.1.3.2 A)", "访问控制"), "not a clause and a lettered item"),
    (mlps("8.1.3.2 aa)", "访问控制"), "not a clause and a lettered item"),
    (mlps("8.3.1.1 a)", "x"), "not a clause and a lettered item"),
    (mlps("8.1.3.2 a)", " "), "says nothing"),
    (plan("G1", "x"), "no requirement 'G1'"),
    (plan("8.1.9.1", "x"), "no requirement '8.1.9.1'"),
    (Citation("secrecy", "G6", "x"), "cites the plan's G8"),
])
def test_a_planted_wrong_citation_fails(citation: Citation, why: str):
    problems = rule_problems(planted(citation))
    assert problems and any(why in p for p in problems), problems


def test_a_planted_classified_rule_citing_mlps_alone_fails():
    m = planted(mlps("8.1.4.8 b)", "采用密码技术保证重要数据在存储过程中的保密性"), "jiyue-classified-backup-encrypted")
    assert any("cites 分级保护 and G8" in p for p in rule_problems(m))
    assert rule_problems(planted(secrecy("涉密数据加密"), "jiyue-classified-backup-encrypted")) == [
        "jiyue-classified-backup-encrypted cites the plan's G8 but does not list it in its requirements"]


def test_a_planted_rule_with_the_wrong_heading_in_the_doc_fails():
    m = planted(mlps("8.1.10.2 a)", "应编制并保存与保护对象相关的资产清单"), "jiyue-tags-required")
    rows = {"jiyue-tags-required": ["8.1.10.2 a)", "定级和备案 (grading and filing)", "", ""]}
    assert any("the table '资产管理 (asset management)'" in p for p in doc_problems(m, rows))


# --------------------------------------------------------------------------- what reports show


def test_reports_show_each_kind_of_citation():
    findings = [Finding(rule="jiyue-filing-gate", message="system s has no complete filing", stack="s"),
                Finding(rule="jiyue-classified-volume-encrypted", message="volume v is not encrypted", stack="s"),
                Finding(rule="jiyue-ingress-public-web-only", message="tcp 22 from anywhere", stack="s"),
                Finding(rule="jiyue-quota-within-allowance", message="too many cores", stack="s")]
    report = Report(stacks=["s"], resources=4, findings=findings, mode="direct")
    text = render(report, "text")
    assert "cites the city's plan, G6 (not an MLPS control); fix:" in text
    assert "cites 分级保护 (state-secret classified protection, not MLPS) and the city's plan, G8; fix:" in text
    assert "cites GB/T 22239-2019 8.1.3.2 访问控制 c); fix:" in text
    assert "cites GB/T 22239-2019 8.2.5.1 集中管控 a) (云计算扩展); fix:" in text
    assert "8.1.11" not in text and "8.1.10.1" not in text
    html = render(report, "html")
    assert "the city&#39;s plan, G6 (not an MLPS control)" in html and "GB/T 22239-2019 8.1.3.2 访问控制 c)" in html
    doc = json.loads(render(report, "json"))
    filing = next(f for f in doc["findings"] if f["rule"] == "jiyue-filing-gate")
    assert filing["citation"]["basis"] == "plan" and filing["citation"]["plan"] == "G6"
    web = next(f for f in doc["findings"] if f["rule"] == "jiyue-ingress-public-web-only")
    assert (web["citation"]["clause"], web["citation"]["item"], web["citation"]["heading"],
            web["citation"]["heading_en"]) == ("8.1.3.2", "c", "访问控制", "access control")
    sarif = json.loads(render(report, "sarif"))
    rules = {r["id"]: r for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert "plan:G6" in rules["jiyue-filing-gate"]["properties"]["tags"]
    assert "secrecy:分级保护" in rules["jiyue-classified-intranet-only"]["properties"]["tags"]
    assert "mlps:8.1.3.2 c)" in rules["jiyue-ingress-public-web-only"]["properties"]["tags"]
