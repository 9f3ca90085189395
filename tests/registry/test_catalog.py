"""The catalog (T5, T7, T8) and the filing gate (G6): cross-checks, gaps, the national layout's
exports read back, and the registry's validation of the core metadata.

The generated mini city holds the simple cases; tests/registry/test_catalog_codes.py holds the
hand-written city and the registry edits over time.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
import yaml

from jiyue.catalog import FilingContext, build_catalog, filing_gaps
from jiyue.catalog.layout import COLUMNS, NATIONAL, from_json, from_xlsx
from jiyue.registry import load_city
from jiyue.status import ExitStatus


def _res(key, sharing="unconditional", **kw):
    extra = {"sharing_method": "exchange"} if sharing in ("unconditional", "conditional") else {}
    return {"id": key, "name": key, "abstract": f"{key} 的摘要", "library": kw.pop("library", "department"),
            "fields": [{"name": "编号", "type": "string"}], "update_frequency": "daily", "format": "database",
            "sharing": sharing, "published": "2024-01-01", **extra, **kw}


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
    assert not [link for link in cat.sharing_matrix if link.provider == "d002" and link.consumer == "d003"]


def test_one_key_is_one_resource_with_its_copies_and_the_matrix_uses_the_named_holder(mini_city, edit_department):
    edit_department("d001", lambda d: d["systems"][0]["data_resources"].append(_res("enterprise-info")))
    edit_department("d002", lambda d: d["systems"][0]["data_resources"].append(
        _res("enterprise-info", copy_of="d001")))
    edit_department("d003", lambda d: d["systems"][1]["data_needs"].append(
        {"resource": "enterprise-info", "provider": "d002"}))
    cat = build_catalog(load_city(mini_city))
    (r,) = [r for r in cat.resources if r.key == "enterprise-info"]
    assert r.provider.department == "d001" and [c.department for c in r.copies] == ["d002"]
    several = [f for f in cat.findings if f.check == "held-by-several"]
    assert [(f.key, f.departments) for f in several] == [("enterprise-info", ["d001", "d002"])]
    assert "d001 provides it, copies in d002" in several[0].message
    links = {(link.provider, link.consumer): link.keys for link in cat.sharing_matrix}
    assert links[("d002", "d003")] == ["enterprise-info"]  # the need named d002, which holds a copy
    assert ("d001", "d003") not in links


def test_two_departments_claiming_one_resource_is_an_error_at_the_second(mini_city, edit_department, cli):
    for dep in ("d001", "d002"):
        path = edit_department(dep, lambda d: d["systems"][0]["data_resources"].append(_res("enterprise-info")))
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == ExitStatus.BAD_INPUT
    (line,) = [ln for ln in result.stderr.splitlines() if "enterprise-info is also provided by d001" in ln]
    assert f"{path.name}:" in line and ".data_resources[1].id:" in line and "this one copy_of: d001" in line


def test_two_systems_of_one_department_hold_one_resource(mini_city, edit_department):
    edit_department("d001", lambda d: [s["data_resources"].append(_res("enterprise-info")) for s in d["systems"][:2]])
    (r,) = [r for r in build_catalog(load_city(mini_city)).resources if r.key == "enterprise-info"]
    assert (r.provider.department, r.provider.system) == ("d001", "d001-s00")
    assert [(c.department, c.system) for c in r.copies] == [("d001", "d001-s01")]


def test_filing_gaps_each_kind(mini_city, edit_department, cli):
    def break_it(d):
        s0, s1, s2 = d["systems"]
        del s0["filing"]
        s1["filing"].pop("approval_number")
        s1["data_resources"].append(_res("x-cond", "conditional"))
        r = s2["data_resources"][0]
        for key in ("sharing", "sharing_method", "abstract", "published", "legal_basis"):
            r.pop(key, None)
        r["fields"] = []
        s2.pop("data_needs")
        d.pop("credit_code", None)

    edit_department("d001", break_it)
    model = load_city(mini_city)
    context = FilingContext.of(model)
    gaps = {s.id: [g.field for g in filing_gaps(s, context)] for s in model.departments["d001"].systems}
    assert gaps == {
        "d001-s00": ["filing", "credit_code"],
        "d001-s01": ["filing.approval_number", "credit_code", "data_resources[1].conditions"],
        "d001-s02": ["credit_code", "data_resources[0].abstract", "data_resources[0].fields",
                     "data_resources[0].published", "data_resources[0].sharing", "data_needs"],
    }
    result = cli("filing", "check", "--city", mini_city, "--department", "d001", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["complete"] is False and len(data["systems"]) == 3
    text = cli("filing", "check", "--city", mini_city)
    assert text.exit_code == 1
    assert "the filing record has no approval number" in text.stdout
    assert "has no unified social credit code" in text.stdout


def test_filing_check_unknown_department_is_bad_input(mini_city, cli):
    result = cli("filing", "check", "--city", mini_city, "--department", "nope")
    assert result.exit_code == 2 and "no department 'nope'" in result.stderr


def test_a_bare_item_name_is_an_error_with_the_form_to_write(mini_city, edit_department, cli):
    path = edit_department("d002", lambda d: d["systems"][1]["data_resources"][0]["fields"].insert(1, "姓名"))
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == ExitStatus.BAD_INPUT
    (line,) = [ln for ln in result.stderr.splitlines() if "has no data type" in ln]
    number = int(line.split(":")[1])
    assert line.startswith(f"{path.name}:") or f"/{path.name}:" in line
    assert path.read_text(encoding="utf-8").splitlines()[number - 1].strip() == "- 姓名"
    assert "systems[1].data_resources[0].fields[1]: item '姓名' has no data type" in line
    assert "write it as {name: 姓名, type: string}" in line and "datetime" in line


@pytest.mark.parametrize("change,says,field", [
    (lambda r: r.pop("sharing_method"), "is shared (unconditional) but names no sharing_method", "sharing"),
    (lambda r: r.update(library="base", subject="weather"), "a base resource names its base library as subject "
     "(got 'weather')", "subject"),
    (lambda r: r.update(subject="population"), "a department resource has no subject", "subject"),
    (lambda r: r.update(related=["d009-s00-records"]), "no resource 'd009-s00-records'", "related[0]"),
    (lambda r: r.update(copy_of="d001"), "is a copy of its own department's", "copy_of"),
])
def test_the_core_metadata_is_checked_at_its_line(mini_city, edit_department, cli, change, says, field):
    def edit(d):
        (r,) = [r for s in d["systems"] for r in s["data_resources"] if r.get("sharing") == "unconditional"][:1]
        change(r)

    edit_department("d001", edit)
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == ExitStatus.BAD_INPUT
    (line,) = [ln for ln in result.stderr.splitlines() if says in ln]
    assert "d001.yaml:" in line and f".data_resources[0].{field}: " in line


def test_json_and_xlsx_read_back_equal(mini_city, edit_department, cli, tmp_path):
    edit_department("d002", lambda d: d["systems"][0]["data_resources"].append(
        _res("case-files", "not-shared", legal_basis="法", related=["d001-s00-records"])))
    edit_department("d003", lambda d: d["systems"][0]["data_needs"].append({"resource": "case-files"}))
    catalog = build_catalog(load_city(mini_city))
    result = cli("catalog", "export", "--city", mini_city, "--format", "json")
    assert result.exit_code == 0
    exported = json.loads(result.stdout)
    assert from_json(exported) == catalog
    assert set(exported["信息资源目录"][0]) == set(COLUMNS)
    out = tmp_path / "catalog.xlsx"
    assert cli("catalog", "export", "--city", mini_city, "--format", "xlsx", "--output", out).exit_code == 0
    assert from_xlsx(out.read_bytes()) == catalog


def test_xlsx_needs_a_file(mini_city, cli):
    result = cli("catalog", "export", "--city", mini_city, "--format", "xlsx")
    assert result.exit_code == ExitStatus.BAD_INPUT and "name the file" in result.stderr


def test_csv_and_html_exports_in_the_national_layout(mini_city, cli, tmp_path):
    result = cli("catalog", "export", "--city", mini_city, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0])[:len(NATIONAL)] == list(NATIONAL)
    assert len(rows) == len(build_catalog(load_city(mini_city)).resources)
    assert rows[0]["信息项名称"] == "编号；名称；日期" and rows[0]["数据类型"] == "字符型；字符型；日期型"
    out = tmp_path / "catalog.html"
    result = cli("catalog", "export", "--city", mini_city, "--format", "html", "--output", out)
    assert result.exit_code == 0
    html = out.read_text(encoding="utf-8")
    assert "Sharing matrix (T8): providers (rows) × consumers (columns)" in html and "d000-s00-records" in html


def test_need_from_unknown_provider_is_a_registry_error(mini_city, edit_department, cli):
    edit_department("d001", lambda d: d["systems"][0]["data_needs"].append({"resource": "xx", "provider": "ghost"}))
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == 2
    assert "systems[0].data_needs[0].provider: no department 'ghost'" in result.stderr


def test_a_city_without_an_open_data_site_cannot_publish_dcat(mini_city, cli):
    result = cli("catalog", "export", "--city", mini_city, "--format", "dcat")
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "city.yaml: open_data: the city names no open-data site" in result.stderr


def test_the_migration_precheck_refuses_an_incomplete_filing():
    """G6 in the second place: the migration's precheck says what is missing (the policy pack's
    filing rule is tested in tests/policies)."""
    from jiyue.registry import DEFAULT_CITY
    from migration.engine import PrecheckFailed, precheck_gate

    model = load_city(DEFAULT_CITY)
    context = FilingContext.of(model)
    with pytest.raises(PrecheckFailed, match=r"filing gate \(G6\) is closed: the filing record has no amount"):
        precheck_gate(model.systems["cac-yuqing"], context)
    precheck_gate(model.systems["audit-website"], context)  # complete: passes


def test_the_sample_city_is_in_the_national_format():
    """Every resource of the sample city has its pinned code, typed items, an abstract, a
    publication date and its provider's code; the lock is current."""
    from jiyue.catalog import catalog_codes
    from jiyue.registry import DEFAULT_CITY

    model = load_city(DEFAULT_CITY)
    plan = catalog_codes(model)
    assert not plan.diagnostics and not plan.new and not plan.renumbered
    cat = build_catalog(model, plan)
    assert all(r.code and r.items and r.abstract and r.published and r.provider_code for r in cat.resources)
    assert len({r.code for r in cat.resources}) == len(cat.resources)
    lock = yaml.safe_load((DEFAULT_CITY / "catalog.lock.yaml").read_text(encoding="utf-8"))
    assert lock["resources"] == {r.key: r.code for r in cat.resources}
