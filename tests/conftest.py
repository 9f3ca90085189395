"""Shared fixtures: a small valid city written by the generator, and the CLI runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from jiyue.cli import app
from jiyue.registry.generate import DEPARTMENT_MODELINE, generate

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CITY = REPO / "inventories" / "dalian"


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


@pytest.fixture
def cli() -> Callable[..., Any]:
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run
