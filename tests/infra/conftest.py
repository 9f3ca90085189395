"""Fixtures for the Pulumi program's tests: the sample city, and every stack of it previewed once."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

# pulumi_openstack warns about its own deprecated resources when imported; none of them is used here
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_openstack\..*")

from infra.preview import StackPreview, preview_all  # noqa: E402 (after the warnings filter)
from jiyue.ipam import IpPlan, plan  # noqa: E402 (after the warnings filter)
from jiyue.registry import CityModel, load_city  # noqa: E402 (after the warnings filter)

SAMPLE_CITY = Path(__file__).resolve().parents[2] / "inventories" / "dalian"


@pytest.fixture(scope="session")
def city() -> CityModel:
    return load_city(SAMPLE_CITY)


@pytest.fixture(scope="session")
def ip(city: CityModel) -> IpPlan:
    return plan(city)


@pytest.fixture(scope="session")
def previews(city: CityModel) -> dict[str, StackPreview]:
    """Every stack of the sample city, run under mocks (about 10 s, once per session)."""
    return {p.stack: p for p in preview_all(city)}
