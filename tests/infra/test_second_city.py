"""A second city, written by hand (tests/data/xiacheng): four bureaus and a district office, with
two LANs of one bureau on the same range, a bureau whose every system is retired, a classified
system that may lose nothing (RPO 0), a sharing platform on each network. It validates, every
stack previews, the pack judges every stack without stopping, and the lab's plan builds it.
The same legitimate shapes in the generated city are accepted too."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.outputs import city_targets
from infra.preview import preview, preview_all, stacks
from jiyue.ipam import plan as ip_plan
from jiyue.registry import load_city
from jiyue.registry.schema import Site
from jiyue.stacks import stacks_to_destroy
from jiyue.status import ExitStatus
from lab.topology import plan_lab

XIACHENG = Path(__file__).resolve().parents[1] / "data" / "xiacheng"


RETIREMENT = {"decided": "2026-11-20", "approved_by": "programme office", "evidence": "jiyue audit score: 85 points"}


@pytest.fixture(scope="module")
def model():
    return load_city(XIACHENG)


def test_it_validates(cli):
    r = cli("validate", "--city", XIACHENG, "--strict")
    assert r.exit_code == ExitStatus.OK, r.output


def test_the_retired_bureaus_stacks_are_to_destroy(model, cli):
    gone = [str(n) for n in stacks_to_destroy(model)]
    assert gone == ["intranet-primary-archive", "intranet-dr-archive", "extranet-primary-archive"]
    assert not set(gone) & set(stacks(model))
    r = cli("infra", "stacks", "--city", XIACHENG)
    assert "extranet-primary-archive  (to destroy: every system there is retired)" in r.output
    with pytest.raises(ValueError, match="is to destroy"):
        preview(model, "extranet-primary-archive")


def test_every_stack_previews(model, cli):
    previews = {p.stack: p for p in preview_all(model)}
    assert set(previews) == set(stacks(model))
    vault = previews["intranet-dr-secrecy"].outputs["systems"]["secrecy-vault"]
    assert vault["drMode"] == "hot" and vault["backup"] is None  # RPO 0: replicated, no backup schedule
    assert model.city.volume_classes[vault["volumeClass"]].replicated
    assert {s["system"] for p in previews.values() for s in p.outputs.get("systems", {}).values()} >= {
        "xc-exchange", "xc-exchange-in", "water-billing", "water-scada", "dongshan-service"}
    r = cli("infra", "preview", "--all", "--summary", "--city", XIACHENG)
    assert r.exit_code == ExitStatus.OK, r.output


def test_the_pack_judges_every_stack(cli):
    r = cli("policy", "check", "--all", "--city", XIACHENG)
    assert r.exit_code in (ExitStatus.OK, ExitStatus.FINDINGS), r.output


def test_the_lab_plan_builds_it(model):
    ip = ip_plan(model)
    assert ip.legacy_block("water", "north") != ip.legacy_block("water", "south")
    plan = plan_lab(model, ip, sorted(model.departments), city_targets(model, ip))
    legacy = {h.name: h for h in plan.hosts if h.role == "legacy"}
    billing, scada = legacy["water-billing-web"], legacy["water-scada-db"]
    assert billing.cidr == scada.cidr == "192.168.10.11/24"  # the same address in both buildings
    assert billing.address != scada.address and billing.node != scada.node
    assert {r.node for r in plan.routers} >= {"d-water", "d-water--1"}
    assert {f.node for f in plan.migrations["water-scada"]} == {"d-water--1"}
    assert "intranet-primary-archive" not in plan.outputs


# --------------------------------------------------------------------------- the same shapes in the generated city


def _city_after(edit_department, mini_city, dep, change):
    edit_department(dep, change)
    return load_city(mini_city)


def test_a_sharing_platform_on_the_intranet_too(edit_department, mini_city, cli):
    model = _city_after(edit_department, mini_city, "d000",
                        lambda d: d["systems"][1].__setitem__("platform", "sharing-exchange"))
    assert cli("validate", "--city", mini_city).exit_code == ExitStatus.OK
    assert preview(model, "intranet-primary-d000").outputs["systems"]["d000-s01"]["zone"] == "intranet"


def test_several_lans_of_one_department_on_the_same_range(edit_department, mini_city, cli):
    def two_buildings(d):
        d["legacy_lans"].append({**d["legacy_lans"][0], "id": "lan2", "location": "second building"})
        d["systems"][1]["legacy_hosts"][0]["lan"] = "lan2"

    model = _city_after(edit_department, mini_city, "d001", two_buildings)
    assert cli("validate", "--city", mini_city).exit_code == ExitStatus.OK
    ip = ip_plan(model)
    assert not ip.errors and ip.legacy_block("d001", "lan1") != ip.legacy_block("d001", "lan2")
    plan = plan_lab(model, ip, ["d001"], city_targets(model, ip))
    assert len({h.node for h in plan.hosts if h.role == "legacy"}) == 2


def test_a_retired_system_takes_no_quota(edit_department, mini_city, cli):
    model = load_city(mini_city)
    needed = {ref for s in model.systems.values() for ref in s.depends_on}
    k = next(k for k, s in enumerate(model.departments["d001"].systems) if s.id not in needed)

    def big_zombie(d):
        d["systems"][k]["capacity"] = {**d["systems"][k]["capacity"], "flavor": "s1-large", "instances": 8}

    edit_department("d001", big_zombie)
    assert cli("validate", "--city", mini_city).exit_code == ExitStatus.BAD_INPUT
    edit_department("d001", lambda d: d["systems"][k].__setitem__("retirement", dict(RETIREMENT)))
    assert cli("validate", "--city", mini_city).exit_code == ExitStatus.OK


def test_retiring_every_system_of_a_zone_leaves_the_other_stacks_whole(edit_department, mini_city, cli):
    model = load_city(mini_city)
    dep = next(d for d in sorted(model.departments) if d != model.city.platform_department
               and not any(s.id in o.depends_on for o in model.systems.values()
                           for s in model.departments[d].systems))
    edit_department(dep, lambda d: [s.__setitem__("retirement", dict(RETIREMENT)) for s in d["systems"]])
    model = load_city(mini_city)
    assert {n.department for n in stacks_to_destroy(model)} == {dep}
    assert all(n.site in (Site.primary, Site.dr) for n in stacks_to_destroy(model))
    assert cli("infra", "preview", "--all", "--summary", "--city", mini_city).exit_code == ExitStatus.OK
    r = cli("policy", "check", "--all", "--city", mini_city)
    assert r.exit_code in (ExitStatus.OK, ExitStatus.FINDINGS), r.output
