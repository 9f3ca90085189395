"""The embedded sample city: valid, the size the plan describes, and the story the demo tells."""

from __future__ import annotations

import json
from collections import Counter

from jiyue.ipam import plan
from jiyue.registry import DEFAULT_CITY as SAMPLE_CITY
from jiyue.registry import load_city


def test_sample_city_is_valid_and_city_sized():
    model = load_city(SAMPLE_CITY)
    tiers = Counter(d.tier.value for d in model.departments.values())
    assert tiers["city"] >= 40 and tiers["district"] >= 1
    assert 150 <= len(model.systems) <= 300
    assert not plan(model).errors
    # the departments the plan names are there
    names = {d.names.zh for d in model.departments.values()}
    for required in ("市委办公厅", "市政府办公厅", "市审计局", "市发展改革委", "市财政局", "市保密局"):
        assert required in names
    systems = model.systems.values()
    assert any(s.classification.value == "classified" for s in systems)
    assert any(s.public_facing for s in systems)
    assert any(s.om.status.value == "stopped" for s in systems)  # zombies for the audit to find
    assert {s.platform.value for s in systems if s.platform} == {
        "sharing-exchange", "sharing-portal", "open-data", "gov-service", "collab-office", "gov-website"}
    assert set(model.city.pilot_departments) <= set(model.departments)


def test_every_sample_file_carries_the_schema_modeline():
    for path in [SAMPLE_CITY / "city.yaml", *sorted((SAMPLE_CITY / "departments").glob("*.yaml"))]:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        schema = (path.parent / first.split("=", 1)[1]).resolve()
        assert schema.is_file(), f"{path}: modeline points at a missing {schema}"


def test_sample_ip_plan_is_pinned():
    ip = plan(load_city(SAMPLE_CITY))
    assert not ip.new_slots and not ip.new_system_slots, "run `jiyue ipam --update-lock` and commit the lock"


def test_summary_json_matches_the_model(cli):
    result = cli("city", "summary", "--city", SAMPLE_CITY, "--format", "json")
    assert result.exit_code == 0
    s = json.loads(result.stdout)
    model = load_city(SAMPLE_CITY)
    assert s["systems"] == len(model.systems)
    by = s["systems_by_zone_and_classification"]
    assert sum(sum(v.values()) for v in by.values()) == len(model.systems)
    assert by["extranet"]["classified"] == 0  # classified systems only on the intranet
    lines = [ln for d in model.departments.values() for ln in d.leased_lines]
    assert len(s["leased_lines_cancelled"]) == len(lines)
    assert s["leased_lines_annual_saving_wan"] == round(sum(ln.annual_cost_wan for ln in lines), 2)


def test_summary_text_is_readable(cli):
    result = cli("city", "summary", "--city", SAMPLE_CITY)
    assert result.exit_code == 0
    for heading in ("Systems by zone and classification", "IP plan", "Self-leased Internet lines cancelled",
                    "Private networks (专网, T3.6)"):
        assert heading in result.stdout


def test_schemas_are_current(tmp_path):
    """schemas/ is generated from the pydantic models: regenerate with `make schemas`."""
    from jiyue.registry.schemas import SCHEMAS, render

    for name, model in SCHEMAS.items():
        committed = (SAMPLE_CITY.parents[1] / "schemas" / name).read_text(encoding="utf-8")
        assert committed == render(model), f"schemas/{name} is stale: run `make schemas`"
