"""Shared fixtures: a small valid city written by the generator, and the CLI runner."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from cli import app
from infra.outputs import city_targets
from jiyue.ipam import IpPlan
from jiyue.ipam import plan as ip_plan
from jiyue.registry import CityModel, load_city
from jiyue.registry.generate import DEPARTMENT_MODELINE, generate
from jiyue.registry.schema import System
from lab import ImageRecipe, Lab
from lab.bringup import lab_up
from lab.topology import LabPlan

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CITY = REPO / "inventories" / "dalian"


#: a recorded retirement decision (T1.2), as the programme office writes it into the registry
RETIREMENT = {"decided": "2026-11-20", "approved_by": "programme office", "evidence": "jiyue audit score: 85 points"}


def _retirable(model: CityModel, *, with_dr: bool = False) -> System:
    needed = {d for s in model.systems.values() for d in s.depends_on}
    return next(s for s in model.systems.values()
                if s.id not in needed and s.platform is None and (s.dr is not None or not with_dr)
                and len(model.departments[model.department_of[s.id]].systems) > 2)


def _retire_in_copy(city: Path, dest: Path, system: str) -> Path:
    shutil.copytree(city, dest)
    for path in sorted((dest / "departments").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for s in data.get("systems") or []:
            if s["id"] == system:
                s["retirement"] = dict(RETIREMENT)
                path.write_text(DEPARTMENT_MODELINE + yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
                                encoding="utf-8")
                return dest
    raise AssertionError(f"no system {system} in {city}")


@pytest.fixture
def retirable() -> Callable[..., System]:
    """``retirable(model, with_dr=False)``: a system that can be retired (nothing depends on it,
    no shared platform, in a department of more than two systems)."""
    return _retirable


@pytest.fixture
def retire_in_copy() -> Callable[[Path, Path, str], Path]:
    """``retire_in_copy(city, dest, system)``: a copy of the registry at ``dest`` recording the
    system's retirement."""
    return _retire_in_copy


@pytest.fixture
def mini_city(tmp_path: Path) -> Path:
    """A valid city of 4 departments with 3 systems each (d000 runs the shared platforms)."""
    return generate(tmp_path / "city", departments=4, systems_per_department=3, seed=7)


@pytest.fixture
def edit_department(mini_city: Path) -> Callable[[str, Callable[[dict[str, Any]], None]], Path]:
    """Load a department file, let the test change the data, write it back."""

    def edit(dep_id: str, change: Callable[[dict[str, Any]], None]) -> Path:
        path = mini_city / "departments" / f"{dep_id}.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(DEPARTMENT_MODELINE + yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
                        encoding="utf-8")
        return path

    return edit


@pytest.fixture(scope="session")
def cli() -> Callable[..., Result]:
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run


# --------------------------------------------------------------------------- the rehearsal lab


def lab_skip_reason() -> str | None:
    """Why tests marked ``lab`` cannot run here, or None (they need root and the lab's tools)."""
    if os.geteuid() != 0:
        return "the rehearsal lab needs root (network namespaces, overlay mounts, routes)"
    image_cached = (ImageRecipe().path() / "etc/jiyue/image.json").is_file()
    if not image_cached and shutil.which("debootstrap") is None:
        return "the lab's golden image is not built and debootstrap is missing (apt-get install -y debootstrap)"
    for tool in ("ip", "unshare", "nsenter", "ssh", "ssh-keygen", "rsync"):
        if shutil.which(tool) is None:
            return f"the lab needs {tool}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = lab_skip_reason()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("lab") is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


CITY_LAB = "jtest"
#: the pilot departments, plus two small ones with zombies for the audit (T1.2)
AUDIT_DEPARTMENTS = ("culture", "overseas-chinese")


@pytest.fixture(scope="session")
def city_lab() -> Iterator[CityLab]:
    """The sample city's pilot departments in a lab of their own (name "jtest"), brought up once
    per test run with seeded legacy hosts, torn down at the end (also when tests fail)."""
    model = load_city(SAMPLE_CITY)
    ip = ip_plan(model)
    departments = [*model.city.pilot_departments, *AUDIT_DEPARTMENTS]
    with lab_up(Lab(CITY_LAB, progress=lambda _: None), model, ip, departments, city_targets(model, ip)) as up:
        yield CityLab(lab=up.lab, model=model, ip=ip, plan=up.plan)


@dataclass(frozen=True)
class CityLab:
    lab: Lab
    model: CityModel
    ip: IpPlan
    plan: LabPlan
