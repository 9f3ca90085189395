"""The catalog of a second, hand-written city (tests/data/xiacheng with a catalog filed here): its
resource codes by the guide's structure, its open catalog as DCAT read back as RDF, and a series
of registry edits in git (add, reorder, retire, reclassify, add again, bring back), each pinned
and compared with `jiyue catalog diff --base HEAD~1`: no code ever moves or is given twice.

Xiacheng's awkward parts: a district department holding a copy of a city bureau's data, needs
across the intranet and the extranet, a classified entry marked open, a retired system's data,
a subdivided base resource, related resources.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from openpyxl import load_workbook
from rdflib import RDF, XSD, Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF

from jiyue.catalog import build_catalog, catalog_codes
from jiyue.catalog.codes import LOCK_FILE, parts
from jiyue.catalog.layout import from_json, from_xlsx
from jiyue.registry import load_city
from jiyue.status import ExitStatus

XIACHENG = Path(__file__).resolve().parents[1] / "data" / "xiacheng"
CODES = {"archive": "11210200481749871M", "dongshan": "11210202612193034L", "secrecy": "11210203661057725C",
         "water": "112102112173384082", "xc-data": "11210213714328956Q"}


def _items(*pairs: str) -> list[dict[str, str]]:
    return [{"name": n, "type": t} for n, t in (p.split(":") for p in pairs)]


def _res(key: str, name: str, library: str, subject: str | None = None, **kw: Any) -> dict[str, Any]:
    out = {"id": key, "name": name, "abstract": f"{name}：{key}", "library": library,
           **({"subject": subject} if subject else {}), "update_frequency": kw.pop("update_frequency", "monthly"),
           "format": kw.pop("format", "database"), "published": "2024-03-01", **kw}
    out.setdefault("fields", _items("编号:string", "日期:date"))
    return out


#: system id -> (its data resources, its data needs)
FILED: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
    "water-billing": ([
        _res("water-accounts", "用水户信息", "thematic", "public-service", sharing="unconditional",
             sharing_method="api", open="unconditional", related=["water-quality"],
             fields=_items("户号:string", "户名:string", "用水量:number", "抄表日期:date")),
        _res("water-quality", "供水水质", "thematic", "environment", sharing="unconditional",
             sharing_method="exchange", open="conditional", update_frequency="daily",
             fields=_items("监测点:string", "浊度:number", "采样时间:datetime")),
    ], []),
    "water-scada": ([
        _res("pipe-network", "供水管网", "base", "geography", subclass=3, format="spatial", sharing="conditional",
             conditions="仅限规划和应急部门", sharing_method="file",
             fields=_items("管段编号:string", "管径:integer", "走向:binary")),
    ], []),
    "water-office": ([
        _res("water-permits", "取水许可", "department", sharing="not-shared",
             legal_basis="《取水许可和水资源费征收管理条例》"),
    ], []),
    "secrecy-vault": ([
        _res("classified-docs", "涉密文件目录", "department", sharing="not-shared", legal_basis="《保守国家秘密法》",
             classified=True, open="unconditional"),
    ], []),
    "dongshan-service": ([
        _res("water-accounts", "用水户信息", "thematic", "public-service", sharing="unconditional",
             sharing_method="api", copy_of="water"),
        _res("district-residents", "辖区居民", "base", "population", sharing="conditional", conditions="脱敏后共享",
             sharing_method="query", fields=_items("姓名:string", "住址:string", "出生日期:date")),
        _res("district-notices", "辖区公告", "department", sharing="unconditional", sharing_method="file",
             open="unconditional", format="document", fields=_items("标题:string", "正文:text")),
    ], [{"resource": "marriage-registration", "purpose": "救助审核"}]),
    "xc-exchange": ([], [{"resource": "water-permits", "provider": "water", "purpose": "共享交换"}]),
    "xc-exchange-in": ([], [{"resource": "water-accounts", "purpose": "内网业务"}]),
    "archive-catalog": ([_res("archive-index", "档案目录", "thematic", "public-service", sharing="unconditional",
                              sharing_method="query")], []),
}


def _edit(city: Path, dep: str, change: Any) -> None:
    path = city / "departments" / f"{dep}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _system(data: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in data["systems"] if s["id"] == sid)


@pytest.fixture
def xiacheng(tmp_path: Path) -> Path:
    """Xiacheng with its catalog filed, an open-data site, and its codes pinned."""
    city = tmp_path / "xiacheng"
    shutil.copytree(XIACHENG, city)
    for dep, code in CODES.items():
        def file(data: dict[str, Any], code: str = code) -> None:
            data["credit_code"] = code
            for s in data["systems"]:
                resources, needs = FILED.get(s["id"], ([], []))
                s["data_resources"], s["data_needs"] = resources, needs
        _edit(city, dep, file)
    with (city / "city.yaml").open("a", encoding="utf-8") as f:
        f.write("open_data:\n  site: https://data.xiacheng.example/\n  licence: https://data.xiacheng.example/licence\n")
    return city


def test_codes_follow_the_guides_structure(xiacheng, cli):
    assert cli("catalog", "codes", "--city", xiacheng, "--update-lock").exit_code == 0
    cat = build_catalog(load_city(xiacheng))
    codes = {r.key: r.code for r in cat.resources}
    # 类 项 目 细目 顺序码, worked out by hand from docs/catalog.md: the department numbers are the
    # files' order (archive 1, dongshan 2, secrecy 3, water 4, xc-data 5)
    assert codes == {
        "water-accounts": "201004000001",  # thematic, public service (01), water
        "water-quality": "211004000001",  # thematic, environment (11), water
        "pipe-network": "103004030001",  # base, geography (03), water, 细目 03
        "water-permits": "301004000001",  # department, a city bureau (01), water
        "classified-docs": "301003000001",  # department, city, secrecy
        "district-residents": "101002000001",  # base, population (01), dongshan
        "district-notices": "302002000001",  # department, a district (02), dongshan
    }  # archive-index is not listed: its system is retired
    assert parts(codes["pipe-network"]) == {"类": "1", "项": "03", "目": "004", "细目": "03", "顺序码": "0001"}
    (accounts,) = [r for r in cat.resources if r.key == "water-accounts"]
    assert accounts.provider.department == "water" and [c.department for c in accounts.copies] == ["dongshan"]
    assert accounts.provider_code == CODES["water"]


def test_cross_checks_of_the_catalog_office(xiacheng):
    cat = build_catalog(load_city(xiacheng))
    found = {(f.check, f.key) for f in cat.findings}
    assert found == {
        ("unprovided-need", "marriage-registration"),
        ("not-shared-but-needed", "water-permits"),
        ("cross-zone-need", "water-accounts"),  # xc-exchange-in (intranet) from water-billing (extranet)
        ("held-by-several", "water-accounts"),
        ("classified-open", "classified-docs"),
    }
    link = next(x for x in cat.sharing_matrix if x.consumer == "xc-data")
    assert (link.provider, link.keys, link.cross_zone) == ("water", ["water-accounts"], ["water-accounts"])
    assert "classified-docs" not in cat.open_data


def test_the_open_catalog_is_dcat_read_back_as_rdf(xiacheng, cli, tmp_path):
    assert cli("catalog", "codes", "--city", xiacheng, "--update-lock").exit_code == 0
    out = tmp_path / "open.jsonld"
    result = cli("catalog", "export", "--city", xiacheng, "--format", "dcat", "--output", out)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(doc["@context"], dict)  # inline: nothing fetched at read time
    g = Graph().parse(data=out.read_text(encoding="utf-8"), format="json-ld")
    for _s, p, o in g:
        for term in (p, o) if p == RDF.type else (p,):
            for ns in (DCAT, DCTERMS, FOAF):
                if str(term).startswith(str(ns)):
                    assert term in ns, f"{term} is not a term of {ns}"
    (catalog,) = g.subjects(RDF.type, DCAT.Catalog)
    datasets = set(g.objects(catalog, DCAT.dataset))
    assert datasets == set(g.subjects(RDF.type, DCAT.Dataset))
    site = "https://data.xiacheng.example/dataset/"
    # open, coded, not classified: the district's notices and the water bureau's two (the copy is
    # the same resource; the classified entry marked open is left out)
    assert datasets == {URIRef(site + c) for c in ("201004000001", "211004000001", "302002000001")}
    accounts = URIRef(site + "201004000001")
    assert g.value(accounts, DCTERMS.identifier) == Literal("201004000001")
    assert g.value(accounts, DCTERMS.issued) == Literal("2024-03-01", datatype=XSD.date)
    assert (accounts, DCTERMS.relation, URIRef(site + "211004000001")) in g
    publisher = g.value(accounts, DCTERMS.publisher)
    assert (publisher, RDF.type, FOAF.Organization) in g
    assert g.value(publisher, DCTERMS.identifier) == Literal(CODES["water"])
    assert str(g.value(publisher, FOAF.name)) == "市水务局"
    assert g.value(accounts, DCTERMS.accrualPeriodicity) == URIRef("http://purl.org/cld/freq/monthly")
    dist = g.value(accounts, DCAT.distribution)
    assert (dist, RDF.type, DCAT.Distribution) in g and g.value(dist, DCAT.accessURL) == accounts
    assert g.value(dist, DCTERMS.license) == URIRef("https://data.xiacheng.example/licence")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin", "HOME": str(repo)})
    return done.stdout


#: every code ever pinned in the edit series, with the one key it names
EVER: dict[str, str] = {}


def _remember(city: Path) -> None:
    """Record the lock's codes and assert none names another key than it ever did."""
    lock = _lock(city)
    for code, key in [*((c, k) for k, c in lock["resources"].items()), *lock.get("withdrawn", {}).items()]:
        assert EVER.setdefault(code, key) == key, f"code {code} named {EVER[code]}, now {key}"


def _step(repo: Path, city: Path, cli, message: str) -> dict[str, Any]:
    """Pin the codes of this edit, commit it, and return the catalog diff with the version before."""
    assert cli("catalog", "codes", "--city", city, "--update-lock").exit_code == 0
    _remember(city)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    result = cli("catalog", "diff", "--base", "HEAD~1", "--city", city, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _lock(city: Path) -> dict[str, Any]:
    return yaml.safe_load((city / LOCK_FILE).read_text(encoding="utf-8"))


def test_registry_edits_over_time_never_move_or_reuse_a_code(xiacheng, cli, tmp_path):
    repo = xiacheng.parent
    _git(repo, "init", "-q")
    assert cli("catalog", "codes", "--city", xiacheng, "--update-lock").exit_code == 0
    EVER.clear()
    _remember(xiacheng)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "xiacheng files its catalog")
    first = _lock(xiacheng)["resources"]

    def codes() -> dict[str, str]:
        return _lock(xiacheng)["resources"]

    # add: a new resource takes the next number of its classification; nothing else changes
    _edit(xiacheng, "water", lambda d: _system(d, "water-scada")["data_resources"].append(
        _res("water-leaks", "漏损事件", "thematic", "emergency", sharing="unconditional", sharing_method="api")))
    d = _step(repo, xiacheng, cli, "add water-leaks")
    assert [(e["key"], e["code"]) for e in d["added"]] == [("water-leaks", "212004000001")]
    assert not d["changed"] and not d["withdrawn"]
    assert {k: v for k, v in codes().items() if k in first} == first

    # reorder the water bureau's systems and every system's resources: nothing moves
    def reorder(data: dict[str, Any]) -> None:
        data["systems"].reverse()
        for s in data["systems"]:
            (s.get("data_resources") or []).reverse()
    _edit(xiacheng, "water", reorder)
    d = _step(repo, xiacheng, cli, "reorder the water bureau")
    assert d == {"added": [], "withdrawn": [], "changed": [], "reused": [], "lost": []}
    after_add = codes()

    # retire (and the website stops depending on it): the system's resources are withdrawn, their codes kept
    def retire(data: dict[str, Any]) -> None:
        _system(data, "water-scada")["retirement"] = {"decided": "2026-11-01", "approved_by": "programme office",
                                                      "evidence": "audit 85"}
        _system(data, "water-billing")["depends_on"] = []
    _edit(xiacheng, "water", retire)
    d = _step(repo, xiacheng, cli, "retire water-scada")
    assert sorted((e["key"], e["code"]) for e in d["withdrawn"]) == [("pipe-network", "103004030001"),
                                                                    ("water-leaks", "212004000001")]
    assert _lock(xiacheng)["withdrawn"] == {"103004030001": "pipe-network", "212004000001": "water-leaks"}

    # reclassify: a new theme is a new code; the old one is withdrawn
    _edit(xiacheng, "water", lambda d: next(r for r in _system(d, "water-billing")["data_resources"]
                                            if r["id"] == "water-quality").update(subject="health"))
    d = _step(repo, xiacheng, cli, "water quality is a health theme")
    changed = {c["key"]: {x["field"]: (x["before"], x["after"]) for x in c["changes"]} for c in d["changed"]}
    assert changed["water-quality"]["信息资源代码"] == ("211004000001", "202004000001")
    assert changed["water-quality"]["信息资源分类"] == ("主题信息资源/生态环保", "主题信息资源/健康保障")
    # water-accounts relates to water-quality: its 关联资源代码 follows the new code, nothing else of it
    assert changed["water-accounts"] == {"关联资源代码": (["211004000001"], ["202004000001"])}
    assert sorted(changed) == ["water-accounts", "water-quality"]
    assert "211004000001" in _lock(xiacheng)["withdrawn"]

    # add again in a classification that had a withdrawn code: the number is not reused
    _edit(xiacheng, "water", lambda d: _system(d, "water-office")["data_resources"].append(
        _res("flood-alerts", "防汛预警", "thematic", "emergency", sharing="unconditional", sharing_method="api")))
    d = _step(repo, xiacheng, cli, "add flood-alerts")
    assert [(e["key"], e["code"]) for e in d["added"]] == [("flood-alerts", "212004000002")]

    # bring the retired system back: its resources get their own codes again
    _edit(xiacheng, "water", lambda d: _system(d, "water-scada").pop("retirement"))
    d = _step(repo, xiacheng, cli, "water-scada is back")
    assert sorted((e["key"], e["code"]) for e in d["added"]) == [("pipe-network", "103004030001"),
                                                                 ("water-leaks", "212004000001")]
    # the theme back to environment: water-quality gets its first code again, not a third
    _edit(xiacheng, "water", lambda d: next(r for r in _system(d, "water-billing")["data_resources"]
                                            if r["id"] == "water-quality").update(subject="environment"))
    d = _step(repo, xiacheng, cli, "water quality is an environment theme again")
    assert codes()["water-quality"] == "211004000001"
    assert "202004000001" in _lock(xiacheng)["withdrawn"]

    final = codes()
    assert {k: final[k] for k in after_add if k != "water-quality"} == \
        {k: v for k, v in after_add.items() if k != "water-quality"}
    assert len(set(final.values()) | set(_lock(xiacheng).get("withdrawn", {}))) == \
        len(final) + len(_lock(xiacheng).get("withdrawn", {}))  # no code names two resources, ever

    # the whole record from the first version, by a directory base, in text
    first_dir = tmp_path / "first"
    _git(repo, "worktree", "add", "-q", str(first_dir), "HEAD~7")
    text = cli("catalog", "diff", "--base", first_dir / "xiacheng", "--city", xiacheng)
    assert text.exit_code == 0
    assert text.stdout.splitlines()[0] == "2 added, 0 changed, 0 withdrawn"
    assert "+ 212004000002  flood-alerts  防汛预警  (water)" in text.stdout

    # a lock edited by hand (a merge gone wrong) loses a line: the diff with the committed version
    # says so, exit 1; and once a new resource of the same classification takes the lost code
    lock = (xiacheng / LOCK_FILE).read_text(encoding="utf-8")
    assert "  water-quality: '211004000001'\n" in lock
    (xiacheng / LOCK_FILE).write_text(lock.replace("  water-quality: '211004000001'\n", ""), encoding="utf-8")
    lost = cli("catalog", "diff", "--base", "HEAD", "--city", xiacheng)
    assert lost.exit_code == ExitStatus.FINDINGS
    assert "code 211004000001 (water-quality) is in the base's lock and nowhere in this one" in lost.stdout
    _edit(xiacheng, "water", lambda d: _system(d, "water-billing")["data_resources"].insert(
        0, _res("water-sources", "水源地", "thematic", "environment", sharing="unconditional", sharing_method="api")))
    assert cli("catalog", "codes", "--city", xiacheng, "--update-lock").exit_code == 0
    bad = cli("catalog", "diff", "--base", "HEAD", "--city", xiacheng)
    assert bad.exit_code == ExitStatus.FINDINGS
    assert "code 211004000001 named water-quality in the base and names water-sources now" in bad.stdout


def test_an_unpinned_or_reclassified_resource_is_a_filing_gap(xiacheng, cli):
    assert cli("catalog", "codes", "--city", xiacheng, "--update-lock").exit_code == 0
    _edit(xiacheng, "water", lambda d: next(r for r in _system(d, "water-billing")["data_resources"]
                                            if r["id"] == "water-quality").update(subject="health"))
    _edit(xiacheng, "water", lambda d: _system(d, "water-billing")["data_resources"].append(
        _res("water-prices", "水价", "thematic", "prices", sharing="unconditional", sharing_method="api")))
    result = cli("filing", "check", "--city", xiacheng, "--department", "water", "--format", "json")
    data = json.loads(result.stdout)
    gaps = {g["field"]: g["message"] for s in data["systems"] if s["system"] == "water-billing" for g in s["gaps"]}
    assert "its classification changed since its code was pinned" in gaps["data_resources[1].code"]
    assert "no code is pinned for it yet" in gaps["data_resources[2].code"]
    valid = cli("validate", "--city", xiacheng, "--show-warnings")
    assert valid.exit_code == 0
    assert "1 resource(s) whose classification no longer matches their pinned code: water-quality" in valid.stderr
    assert "1 resource(s) without a pinned code: water-prices" in valid.stderr


@pytest.mark.parametrize("lock,says", [
    ("resources:\n  water-accounts: '201004000001'\n  water-quality: '201004000001'\n",
     "resources.water-quality: code 201004000001 is already the code of 'water-accounts'"),
    ("resources:\n  water-accounts: 2010040001\n", "resources.water-accounts: code 2010040001 is not 12 digits"),
    ("departments:\n  water: 4\n  archive: 4\n", "departments.archive: number 4 already belongs to 'water'"),
    ("resources:\n  water-accounts: '401004000001'\n", "类 is 1, 2 or 3"),
    ("withdrawn:\n  '201004000001': old-key\nresources:\n  water-accounts: '201004000001'\n",
     "is already withdrawn (old-key)"),
])
def test_a_broken_lock_is_bad_input_at_its_line(xiacheng, cli, lock, says):
    (xiacheng / LOCK_FILE).write_text("---\n" + lock, encoding="utf-8")
    before = (xiacheng / LOCK_FILE).read_text(encoding="utf-8")
    for args in (("validate",), ("catalog", "codes", "--update-lock")):
        result = cli(*args, "--city", xiacheng)
        assert result.exit_code == ExitStatus.BAD_INPUT, result.stdout
        (line,) = [ln for ln in result.stderr.splitlines() if says in ln]
        assert f"{LOCK_FILE}:" in line
    assert (xiacheng / LOCK_FILE).read_text(encoding="utf-8") == before  # nothing was written


def test_the_generated_city_without_a_lock_says_so(mini_city):
    plan = catalog_codes(load_city(mini_city))
    assert not plan.locked and plan.current(next(iter(plan.codes))) is not None
    assert any("codes are computed from the registry's order, not pinned" in d.message for d in plan.diagnostics)


def test_json_and_xlsx_read_back_equal_with_copies_subjects_and_awkward_text(xiacheng, cli, tmp_path):
    awkward = "=HYPERLINK(\"x\")；含/斜线；和\n换行"
    _edit(xiacheng, "water", lambda d: _system(d, "water-billing")["data_resources"][0].update(abstract=awkward))
    cli("catalog", "codes", "--city", xiacheng, "--update-lock")
    catalog = build_catalog(load_city(xiacheng))
    assert {r.key for r in catalog.resources if r.copies} == {"water-accounts"}
    out = tmp_path / "catalog.json"
    assert cli("catalog", "export", "--city", xiacheng, "--format", "json", "--output", out).exit_code == 0
    assert from_json(json.loads(out.read_text(encoding="utf-8"))) == catalog
    book = tmp_path / "catalog.xlsx"
    assert cli("catalog", "export", "--city", xiacheng, "--format", "xlsx", "--output", book).exit_code == 0
    assert from_xlsx(book.read_bytes()) == catalog
    sheet = load_workbook(book)["信息资源目录"]
    cell = next(c for c in sheet["F"] if c.value == awkward)
    assert cell.data_type == "s"  # text, never a formula


def test_a_control_character_is_refused_at_its_line(xiacheng, cli):
    _edit(xiacheng, "water", lambda d: _system(d, "water-billing")["data_resources"][0].update(abstract="坏\x07字"))
    result = cli("validate", "--city", xiacheng)
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "data_resources[0].abstract: contains the control character(s) U+0007" in result.stderr


def test_a_copy_of_a_retired_provider_is_an_error(xiacheng, cli):
    def retire(data: dict[str, Any]) -> None:
        _system(data, "water-billing")["retirement"] = {"decided": "2026-11-01", "approved_by": "programme office",
                                                        "evidence": "audit 85"}
    _edit(xiacheng, "water", retire)
    result = cli("validate", "--city", xiacheng)
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "copy_of: water does not list water-accounts as its own in a live system (nobody provides it)" \
        in result.stderr


@pytest.mark.parametrize("args", [("catalog", "export", "--format", "json"), ("catalog", "export", "--format", "dcat"),
                                  ("filing", "check"), ("catalog", "diff", "--base", XIACHENG)])
def test_nothing_is_published_from_a_broken_lock(xiacheng, cli, args):
    (xiacheng / LOCK_FILE).write_text("---\nresources:\n  water-accounts: '201004000001'\n"
                                      "  water-quality: '201004000001'\n", encoding="utf-8")
    result = cli(*args, "--city", xiacheng)
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "resources.water-quality: code 201004000001 is already the code of 'water-accounts'" in result.stderr
    assert not result.stdout.strip()


def test_the_open_catalog_needs_pinned_codes(xiacheng, cli):
    result = cli("catalog", "export", "--city", xiacheng, "--format", "dcat")
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "catalog.lock.yaml: no such file: the open catalog publishes pinned codes only" in result.stderr


def test_a_city_without_a_lock_has_no_codes_to_keep(xiacheng, cli, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(xiacheng, base)
    _edit(xiacheng, "water", lambda d: _system(d, "water-billing")["data_resources"].insert(
        0, _res("water-sources", "水源地", "thematic", "environment", sharing="unconditional", sharing_method="api")))
    result = cli("catalog", "diff", "--base", base, "--city", xiacheng, "--format", "json")
    assert result.exit_code == 0, result.stdout  # computed codes moved: nothing was published
    d = json.loads(result.stdout)
    assert [e["key"] for e in d["added"]] == ["water-sources"] and not d["reused"] and not d["lost"]


def test_the_second_claimant_is_told_both_ways_to_mark_a_copy(xiacheng, cli):
    _edit(xiacheng, "dongshan", lambda d: _system(d, "dongshan-service")["data_resources"][0].pop("copy_of"))
    result = cli("validate", "--city", xiacheng)
    assert result.exit_code == ExitStatus.BAD_INPUT
    (line,) = [ln for ln in result.stderr.splitlines() if "also provided by" in ln]
    assert "this one copy_of: dongshan, or dongshan's copy_of: water" in line
    assert "ask `jiyue catalog codes` which one has it" in line


@pytest.mark.parametrize("dep,change,field", [
    ("dongshan", lambda d: _system(d, "dongshan-service")["data_needs"][0].update(purpose="救助\x07审核"),
     "data_needs[0].purpose"),
    ("water", lambda d: d["names"].update(zh="市水务局\ufffe"), "names.zh"),
])
def test_text_a_workbook_cannot_hold_is_refused_at_its_line(xiacheng, cli, dep, change, field):
    _edit(xiacheng, dep, change)
    result = cli("validate", "--city", xiacheng)
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert f"{field}: contains the control character(s)" in result.stderr
