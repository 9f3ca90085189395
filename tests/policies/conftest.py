"""Fixtures of the policy pack's tests: the sample city's facts, its recorded preview graph, resource
builders, a running pack.

``data/<stack>.json`` is what ``jiyue infra preview --format json --stack <stack>`` prints for a few
stacks of the sample city (the four foundations; finance: intranet, extranet and its DR stack;
secrecy: classified and public systems and a DR stack). ``test_recorded.py`` previews them again
and fails when a recording no longer matches the program; re-record with::

    for f in tests/policies/data/*.json; do
        .venv/bin/jiyue infra preview --format json --stack "$(basename "$f" .json)" > "$f"; done
"""

from __future__ import annotations

import json
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


DATA = Path(__file__).resolve().parent / "data"
Graph = list[tuple[str, list[dict[str, Any]]]]


def recorded_files() -> list[Path]:
    return sorted(DATA.glob("*.json"))


def read_graph(path: Path) -> Graph:
    return [(s["stack"], s["resources"]) for s in json.loads(path.read_text(encoding="utf-8"))]


@pytest.fixture(scope="session")
def recorded_graph() -> Graph:
    """The recorded stacks of the sample city, as the program previews them (tests change a copy)."""
    return [g for path in recorded_files() for g in read_graph(path)]


@pytest.fixture(scope="module")
def pack(facts_file: Path) -> Iterator[PackProcess]:
    """The policy pack, started as the engine starts it, configured with the sample city's facts."""
    with PackProcess(policy_config={"all": {"facts": str(facts_file)}}) as p:
        yield p
