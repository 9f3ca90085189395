"""The catalog (T5, T7, T8) and the filing gate (G6): cross-checks, gaps, exports."""

from __future__ import annotations

import csv
import io
import json

from jiyue.catalog import build_catalog, catalog_from_export, filing_gaps
from jiyue.registry import load_city


def _res(key, sharing="unconditional", **kw):
    return {"id": key, "name": key, "library": kw.pop("library", "department"), "update_frequency": "daily",
            "format": "database", "sharing": sharing, **kw}


def test_generated_city_files_completely(mini_city, cli):
    result = cli("filing", "check", "--city", mini_city)
    assert result.exit_code == 0, result.stdout
    assert "gate passed" in result.stdout


def test_unprovided_need(mini_city, edit_department):
    edit_department("d001", lambda d: d["systems"][0]["data_needs"].append(
        {"resource": "marriage-registration", "provider": "d002", "purpose": "公积金提取审核"}))
    cat = build_catalog(load_city(mini_city))
    f = [f for f in cat.findings if f.check == "unprovided-need"]
    assert [(x.key, x.departments) for x in f] == [("marriage-registration", ["d001"])]
    assert "no other department provides it" in f[0].message


def test_not_shared_but_needed(mini_city, edit_department):
    edit_department("d002", lambda d: d["systems"][0]["data_resources"].append(
        _res("case-files", "not-shared", legal_basis="《保守国家秘密法》")))
    edit_department("d003", lambda d: d["systems"][0]["data_needs"].append({"resource": "case-files"}))
    cat = build_catalog(load_city(mini_city))
    f = [f for f in cat.findings if f.check == "not-shared-but-needed"]
    assert len(f) == 1 and f[0].departments == ["d002", "d003"]
    assert "《保守国家秘密法》" in f[0].message
    assert "case-files" not in cat.sharing_matrix.get("d002", {}).get("d003", [])


def test_held_by_several_and_sharing_matrix(mini_city, edit_department):
    for dep in ("d001", "d002"):
        edit_department(dep, lambda d: d["systems"][0]["data_resources"].append(_res("enterprise-info")))
    edit_department("d003", lambda d: d["systems"][1]["data_needs"].append(
        {"resource": "enterprise-info", "provider": "d002"}))
    cat = build_catalog(load_city(mini_city))
    several = [f for f in cat.findings if f.check == "held-by-several"]
    assert [(f.key, f.departments) for f in several] == [("enterprise-info", ["d001", "d002"])]
    assert cat.sharing_matrix["d002"]["d003"] == ["enterprise-info"]
    assert "d003" not in cat.sharing_matrix.get("d001", {})  # the named provider is the one used


def test_filing_gaps_each_kind(mini_city, edit_department, cli):
    def break_it(d):
        s0, s1, s2 = d["systems"]
        del s0["filing"]
        s1["filing"].pop("approval_number")
        s1["data_resources"].append(_res("x-cond", "conditional"))
        s2["data_resources"][0].pop("sharing")
        s2.pop("data_needs")

    edit_department("d001", break_it)
    model = load_city(mini_city)
    gaps = {s.id: [g.field for g in filing_gaps(s)] for s in model.departments["d001"].systems}
    assert gaps == {
        "d001-s00": ["filing"],
        "d001-s01": ["filing.approval_number", "data_resources[1].conditions"],
        "d001-s02": ["data_resources[0].sharing", "data_needs"],
    }
    result = cli("filing", "check", "--city", mini_city, "--department", "d001", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["complete"] is False and len(data["systems"]) == 3
    text = cli("filing", "check", "--city", mini_city)
    assert text.exit_code == 1
    assert "the filing record has no approval number" in text.stdout
    assert "3 in scope are incomplete" in text.stdout


def test_filing_check_unknown_department_is_bad_input(mini_city, cli):
    result = cli("filing", "check", "--city", mini_city, "--department", "nope")
    assert result.exit_code == 2 and "no department 'nope'" in result.stderr


def test_json_export_round_trips(mini_city, edit_department, cli):
    edit_department("d002", lambda d: d["systems"][0]["data_resources"].append(
        _res("case-files", "not-shared", legal_basis="法")))
    edit_department("d003", lambda d: d["systems"][0]["data_needs"].append({"resource": "case-files"}))
    result = cli("catalog", "export", "--city", mini_city, "--format", "json")
    assert result.exit_code == 0
    exported = json.loads(result.stdout)
    again = catalog_from_export(exported)
    assert again == build_catalog(load_city(mini_city))
    assert again.model_dump() == exported


def test_csv_and_html_exports(mini_city, cli, tmp_path):
    result = cli("catalog", "export", "--city", mini_city, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(build_catalog(load_city(mini_city)).entries)
    assert rows[0]["fields"] == "编号;名称;日期"
    out = tmp_path / "catalog.html"
    result = cli("catalog", "export", "--city", mini_city, "--format", "html", "--output", out)
    assert result.exit_code == 0
    html = out.read_text(encoding="utf-8")
    assert "<h2>Sharing matrix (T8)" in html and "d000-s00-records" in html


def test_need_from_unknown_provider_is_a_registry_error(mini_city, edit_department, cli):
    edit_department("d001", lambda d: d["systems"][0]["data_needs"].append({"resource": "xx", "provider": "ghost"}))
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == 2
    assert "systems[0].data_needs[0].provider: no department 'ghost'" in result.stderr


def test_the_migration_precheck_refuses_an_incomplete_filing():
    """G6 in the second place: the migration's precheck says what is missing (the policy pack's
    filing rule is tested in tests/policies)."""
    import pytest

    from jiyue.registry import DEFAULT_CITY
    from migration.engine import PrecheckFailed, precheck_gate

    model = load_city(DEFAULT_CITY)
    with pytest.raises(PrecheckFailed, match=r"filing gate \(G6\) is closed: the filing record has no amount"):
        precheck_gate(model.systems["cac-yuqing"])
    precheck_gate(model.systems["audit-website"])  # complete: passes
