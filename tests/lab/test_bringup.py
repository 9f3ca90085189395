"""The one lab bring-up (lab.bringup.lab_up): plan, build, seed; down on failure, and on exit
unless kept. On a real lab of its own ("bringt": the culture department, unseeded)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.outputs import city_targets
from jiyue.ipam import IpPlan
from jiyue.ipam import plan as ip_plan
from jiyue.registry import DEFAULT_CITY, CityModel, load_city
from lab import Lab
from lab.bringup import lab_up, seed_items
from lab.topology import LabPlan, Targets, plan_lab, plan_text

DEPARTMENTS = ["culture"]


@pytest.fixture(scope="module")
def city() -> tuple[CityModel, IpPlan, Targets]:
    model = load_city(DEFAULT_CITY)
    ip = ip_plan(model)
    return model, ip, city_targets(model, ip)


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab("bringt", progress=lambda _: None)
    yield lab
    lab.down()


def test_seed_items_are_the_plans_legacy_hosts_with_their_registry_entries(city) -> None:
    model, ip, targets = city
    plan = plan_lab(model, ip, DEPARTMENTS, targets)
    items = seed_items(model, plan)
    assert [host for host, _, _ in items] == [h.name for h in plan.hosts if h.role == "legacy"]
    for host, system, legacy in items:
        assert legacy in system.legacy_hosts and legacy.name == host
        assert model.department_of[system.id] in DEPARTMENTS


@pytest.mark.lab
def test_an_error_inside_takes_the_lab_down_and_propagates(city, lab: Lab) -> None:
    model, ip, targets = city
    with pytest.raises(RuntimeError, match="inside"), lab_up(lab, model, ip, DEPARTMENTS, targets, seed=False) as up:
        assert {h.name for h in lab.status().hosts} == {h.name for h in up.plan.hosts}
        assert up.seeded == []
        raise RuntimeError("inside")
    assert not lab.status().hosts and not lab.dir.exists()


@pytest.mark.lab
def test_a_failing_bring_up_is_reported_then_taken_down(city, lab: Lab) -> None:
    model, ip, targets = city
    heard: list[BaseException] = []
    with (pytest.raises(KeyError, match="no-such-department"),
          lab_up(lab, model, ip, ["no-such-department"], targets, on_failure=heard.append)):
        pytest.fail("the body runs only when the lab is up")
    assert len(heard) == 1 and isinstance(heard[0], KeyError)
    assert not lab.status().hosts


@pytest.mark.lab
def test_a_kept_lab_stays_up_with_its_plan_and_a_normal_exit_takes_it_down(city, lab: Lab) -> None:
    model, ip, targets = city
    planned: list[LabPlan] = []
    steps: list[str] = []
    with lab_up(lab, model, ip, DEPARTMENTS, targets, seed=False, keep=True, on_plan=planned.append,
                progress=steps.append) as up:
        pass
    assert planned == [up.plan] and any("network wired" in s for s in steps)
    assert len(lab.status().hosts) == len(up.plan.hosts)
    assert (lab.dir / "plan.json").read_text(encoding="utf-8") == plan_text(up.plan)
    with lab_up(lab, model, ip, DEPARTMENTS, targets, seed=False):  # fresh: replaces what was kept
        assert len(lab.status().hosts) == len(up.plan.hosts)
    assert not lab.status().hosts


@pytest.mark.lab
def test_two_labs_brought_up_at_once_take_controller_links_of_their_own(city) -> None:
    """The controller's links live in the machine's namespace: two bring-ups at the same moment
    must not both pick the first free slot (the second would fail with an overlapping address)."""
    import threading

    model, ip, targets = city
    labs = [Lab(f"bringt{i}", progress=lambda _: None) for i in (1, 2)]
    roots: dict[str, set[str]] = {}
    errors: list[BaseException] = []
    go = threading.Barrier(2)

    def bring(lab: Lab) -> None:
        try:
            go.wait()
            with lab_up(lab, model, ip, DEPARTMENTS, targets, seed=False, keep=True) as up:
                roots[lab.name] = {link[3] for link in up.plan.root_links}
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=bring, args=(lab,)) for lab in labs]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not errors, errors
        assert set(roots) == {"bringt1", "bringt2"} and not roots["bringt1"] & roots["bringt2"], roots
    finally:
        for lab in labs:
            lab.down()
