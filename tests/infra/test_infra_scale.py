"""No stack holds more than 500 resources, for a generated city of 100 departments x 10 systems.

Previewing all ~370 stacks takes half a minute (bench/infra_preview.py does it); here the largest
department stacks by planned size are previewed, plus one department alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.plan import stack_systems
from infra.preview import preview, stacks
from jiyue.registry import load_city
from jiyue.registry.generate import generate
from jiyue.stacks import StackName

MAX_RESOURCES = 500


@pytest.fixture(scope="module")
def big_city(tmp_path_factory):
    return load_city(generate(Path(tmp_path_factory.mktemp("city100")), 100, 10, seed=1))


def _planned(model, name: StackName) -> int:
    here = stack_systems(model, name.department, name.zone, name.site)
    return sum(8 + 6 * s.capacity.instances for _, s in here)


def test_largest_stacks_of_a_100_department_city_stay_under_500(big_city):
    names = [StackName.parse(s) for s in stacks(big_city)]
    deps = sorted((n for n in names if not n.is_foundation), key=lambda n: -_planned(big_city, n))
    for n in [*names[:4], *deps[:6]]:
        p = preview(big_city, str(n))
        assert len(p.resources) <= MAX_RESOURCES, (str(n), len(p.resources))


def test_one_department_previews_alone(big_city):
    p = preview(big_city, "extranet-primary-d042") if "extranet-primary-d042" in stacks(big_city) else None
    name = p.stack if p else next(s for s in stacks(big_city) if s.endswith("-d042"))
    p = p or preview(big_city, name)
    assert p.resources and all(r["urn"].startswith(f"urn:pulumi:{name}::jiyue::") for r in p.resources)
