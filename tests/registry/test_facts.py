"""The city's facts (jiyue/facts.py): what the policy pack reads is what the registry's own code computes."""

from __future__ import annotations

import hashlib
import json

from jiyue.catalog import filing_gaps, in_scope
from jiyue.facts import FORMAT, VERSION, city_facts, write_facts
from jiyue.flows import flows
from jiyue.ipam import plan as ip_plan
from jiyue.registry import DEFAULT_CITY, load_city
from jiyue.stacks import stack_names


def test_the_facts_are_the_models_own():
    model = load_city(DEFAULT_CITY)
    doc = city_facts(model)
    assert (doc["format"], doc["version"], doc["city"]) == (FORMAT, VERSION, model.city.id)
    assert set(doc["systems"]) == set(model.systems)
    for sid, s in model.systems.items():
        f = doc["systems"][sid]
        assert f["department"] == model.department_of[sid] and f["zone"] == s.zone.value
        assert f["classification"] == s.classification.value and f["public_facing"] is s.public_facing
        assert f["needs_dr"] is (s.dr is not None and s.retirement is None)
    assert {d: v["quotas"] for d, v in doc["departments"].items()} == {
        d: dep.quotas.model_dump() for d, dep in model.departments.items()}
    assert doc["stacks"] == {str(n): {"zone": n.zone.value, "site": n.site.value, "department": n.department}
                             for n in stack_names(model)}
    ip = ip_plan(model)
    assert [(g["name"], g["cidr"]) for g in doc["ip_plan"]["segments"]] == [(g.name, g.cidr) for g in ip.segments]
    assert doc["ip_plan"]["supernets"]["intranet"]["primary"] == model.city.addressing.supernets["intranet"].primary


def test_the_facts_filing_gaps_are_the_catalogs():
    """The filing gate's input: jiyue.catalog's gaps of every system in G6's scope, none out of it."""
    model = load_city(DEFAULT_CITY)
    doc = city_facts(model)
    for sid, s in model.systems.items():
        assert doc["systems"][sid]["filing_gaps"] == ([g.field for g in filing_gaps(s)] if in_scope(s) else []), sid
    assert doc["filing_recorded"] is True


def test_the_facts_name_the_registry_files_they_come_from(tmp_path):
    model = load_city(DEFAULT_CITY)
    path = write_facts(model, tmp_path / "out" / "facts.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    files = doc["registry"]["files"]
    assert {"city.yaml", "ipam.lock.yaml", "departments/finance.yaml"} <= set(files)
    assert len([f for f in files if f.startswith("departments/")]) == len(model.departments)
    root = model.root.resolve()
    assert doc["registry"]["root"] == str(root)
    assert all(hashlib.sha256((root / f).read_bytes()).hexdigest() == digest for f, digest in files.items())


def test_the_facts_carry_the_flow_table():
    """The pack judges every security group's egress by the city's flow table (jiyue.flows)."""
    model = load_city(DEFAULT_CITY)
    ip = ip_plan(model)
    doc = city_facts(model, ip)
    assert doc["version"] == VERSION and doc["flows"] == flows(model, ip).as_dict()
    assert json.loads(json.dumps(doc))["flows"] == doc["flows"]
