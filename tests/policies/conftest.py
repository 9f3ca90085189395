"""Fixtures of the policy pack's tests: the sample city's facts, resource builders, a running pack."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jiyue.facts import write_facts
from jiyue.registry import load_city
from policies.analyzer import PackProcess
from policies.city import CityFacts, load_facts
from policies.core import Context, Resource

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CITY = REPO / "inventories" / "dalian"


@pytest.fixture(scope="session")
def facts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample city's facts, as `jiyue policy facts` writes them."""
    return write_facts(load_city(SAMPLE_CITY), tmp_path_factory.mktemp("facts") / "facts.json")


@pytest.fixture(scope="session")
def facts(facts_file: Path) -> CityFacts:
    return load_facts(facts_file)


def urn(stack: str, typ: str, name: str) -> str:
    return f"urn:pulumi:{stack}::jiyue::{typ}::{name}"


def res(stack: str, typ: str, name: str, inputs: dict[str, Any] | None = None,
        parent: str | None = None) -> Resource:
    full = typ if typ.startswith(("openstack:", "jiyue:", "pulumi:")) else f"openstack:{typ}"
    return Resource(full, name, urn(stack, full, name), inputs or {}, parent)


def labels(dep: str, system: str, cls: str) -> dict[str, Any]:
    meta = {"department": dep, "system": system, "classification": cls}
    return {"tags": [f"{k}={v}" for k, v in meta.items()], "metadata": meta}


@pytest.fixture
def ctx(facts: CityFacts, facts_file: Path) -> Callable[[str], Context]:
    def make(stack: str, **config: Any) -> Context:
        return Context(stack=facts.stack(stack), city=facts, config={"facts": str(facts_file), **config})

    return make


@pytest.fixture(scope="session")
def sample_graph() -> list[tuple[str, list[dict[str, Any]]]]:
    from policies.synthetic import city_graph

    return city_graph(load_city(SAMPLE_CITY))


@pytest.fixture(scope="module")
def pack(facts_file: Path) -> Iterator[PackProcess]:
    """The policy pack, started as the engine starts it, configured with the sample city's facts."""
    with PackProcess(policy_config={"all": {"facts": str(facts_file)}}) as p:
        yield p
