"""Several legacy hosts onto one target: the copy plan, what would be lost, what the target must
hold; and the registry's consolidation rules, refused when they cannot apply."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from jiyue.registry import DEFAULT_CITY, RegistryError, load_city
from jiyue.registry.schema import System
from migration import consolidate

F = ["d1", "0o644", 0, 0, 100, "", "root", "root"]  # one file's manifest entry
G = ["d2", "0o644", 0, 0, 100, "", "root", "root"]  # the same name, other contents


def farm(consolidation: dict | None = None, *, hosts: int = 2, instances: int = 1) -> System:
    """audit-ao of the sample city with ``hosts`` web hosts holding /var/www/audit-ao."""
    base = load_city(DEFAULT_CITY).systems["audit-ao"].model_dump(mode="json")
    web = base["legacy_hosts"][1]
    base["legacy_hosts"] = [dict(web, name=f"web{i}", address=f"192.168.1.{20 + i}") for i in range(1, hosts + 1)]
    base["consolidation"] = consolidation or {}
    base["capacity"]["instances"] = instances
    return System.model_validate(base)


AUTH = {"/var/www/audit-ao": {"mode": "authoritative", "source": "web2"}}
UNION = {"/var/www/audit-ao": {"mode": "union"}}
DISTINCT = {"/var/www/audit-ao": {"mode": "distinct", "targets": {"web1": "/srv/a", "web2": "/srv/b"}}}


def test_plan_copies_an_identical_tree_once_and_a_union_from_each_source() -> None:
    assert consolidate.copy_plan(farm(), ["t1"]) == {"t1": [consolidate.Copy("web1", "/var/www/audit-ao",
                                                                            "/var/www/audit-ao")]}
    union = consolidate.copy_plan(farm(UNION), ["t1"])["t1"]
    assert [(c.source, c.delete) for c in union] == [("web1", True), ("web2", False)]
    assert [(c.source, c.dest) for c in consolidate.copy_plan(farm(DISTINCT), ["t1"])["t1"]] == [
        ("web1", "/srv/a"), ("web2", "/srv/b")]
    assert [c.source for c in consolidate.copy_plan(farm(AUTH), ["t1"])["t1"]] == ["web2"]
    # one target per host: nothing is shared, every host copies its own tree
    two = consolidate.copy_plan(farm(), ["t1", "t2"])
    assert [c.source for c in two["t1"]] == ["web1"] and [c.source for c in two["t2"]] == ["web2"]
    assert consolidate.shared(farm(), ["t1", "t2"]) == []


def test_differing_trees_are_refused_unless_the_registry_says_how_they_combine() -> None:
    p = "/var/www/audit-ao"
    same = {("web1", p): {"a": F}, ("web2", p): {"a": F}}
    assert consolidate.problems(farm(), ["t1"], same) == []
    more = {("web1", p): {"a": F}, ("web2", p): {"a": F, "b": F}}
    (problem,) = consolidate.problems(farm(), ["t1"], more)
    assert "web1 and web2 hold different trees (1 file(s) differ, e.g. b)" in problem and "consolidation" in problem
    # union: every file of both; authoritative web2: web1's names are all in web2's tree
    assert consolidate.problems(farm(UNION), ["t1"], more) == []
    assert consolidate.problems(farm(AUTH), ["t1"], more) == []
    union, _ = consolidate.compose(consolidate.trees(farm(UNION), ["t1"])["t1"][0], more)
    assert set(union) == {"a", "b"}
    # authoritative web1 would lose web2's b
    auth1 = {"/var/www/audit-ao": {"mode": "authoritative", "source": "web1"}}
    (lost,) = consolidate.problems(farm(auth1), ["t1"], more)
    assert "1 file(s) of web2 are not in web1's tree and would be lost (e.g. b)" in lost
    # union with one file of two contents: refused
    clash = {("web1", p): {"a": F}, ("web2", p): {"a": G}}
    (conflict,) = consolidate.problems(farm(UNION), ["t1"], clash)
    assert "mode union, but 1 file(s) differ between hosts (e.g. a (web1 vs web2))" in conflict
    # an mtime alone is no difference of data
    touched = {("web1", p): {"a": F}, ("web2", p): {"a": [*F[:4], 999, *F[5:]]}}
    assert consolidate.problems(farm(), ["t1"], touched) == []
    # a source that lacks the tree altogether
    assert "missing on web2" in consolidate.problems(farm(), ["t1"], {("web1", p): {"a": F}, ("web2", p): None})[0]


def test_distinct_trees_compose_one_per_source() -> None:
    p = "/var/www/audit-ao"
    trees = consolidate.trees(farm(DISTINCT), ["t1"])["t1"]
    got = {t.dest: consolidate.compose(t, {("web1", p): {"a": F}, ("web2", p): {"a": G}}) for t in trees}
    assert got == {"/srv/a": ({"a": F}, []), "/srv/b": ({"a": G}, [])}


def test_two_databases_of_one_name_on_one_target_are_refused() -> None:
    base = farm().model_dump(mode="json")
    for h in base["legacy_hosts"]:
        h["databases"] = ["ao"]
    system = System.model_validate(base)
    (clash,) = consolidate.database_clashes(system, ["t1"])
    assert "database ao of web1 and of web2 would land on one target, t1" in clash
    assert consolidate.database_clashes(system, ["t1", "t2"]) == []


@pytest.mark.parametrize(("rule", "message"), [
    ({"/var/www/audit-ao": {"mode": "authoritative"}}, "mode authoritative needs `source: <host>`"),
    ({"/var/www/audit-ao": {"mode": "authoritative", "source": "audit-ao-web9"}},
     "audit-ao-web9 is not one of the hosts holding it (audit-ao-web1, audit-ao-web2)"),
    ({"/var/www/ao-static": {"mode": "union"}}, "/var/www/ao-static: 1 legacy host(s) hold it"),
    ({"/var/www/audit-ao": {"mode": "distinct", "targets": {"audit-ao-web1": "/srv/a"}}},
     "mode distinct needs a target path for each of audit-ao-web1, audit-ao-web2"),
    ({"/var/www/audit-ao": {"mode": "union", "source": "audit-ao-web1"}}, "`source` is for mode authoritative"),
    ({"/var/www/audit-ao": {"mode": "merge"}}, "consolidation"),
])
def test_bad_consolidation_rules_are_refused_with_the_line(tmp_path: Path, rule: dict, message: str) -> None:
    city = tmp_path / "city"
    shutil.copytree(DEFAULT_CITY, city)
    path = city / "departments" / "audit.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    next(s for s in data["systems"] if s["id"] == "audit-ao")["consolidation"] = rule
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(RegistryError) as exc:
        load_city(city)
    rendered = [d.render() for d in exc.value.diagnostics if d.severity.value == "error"]
    assert any(message in r and "audit.yaml:" in r and "consolidation" in r for r in rendered), rendered
