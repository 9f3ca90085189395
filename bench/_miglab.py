"""Shared by the migration benchmarks: a lab of some departments of a city, seeded, and an
engine over it set up exactly as ``jiyue migrate run`` sets it up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.outputs import city_targets
from jiyue.ipam import IpPlan
from jiyue.ipam import plan as ip_plan
from jiyue.registry import CityModel, load_city
from lab import Lab
from lab.bringup import lab_up
from lab.gate import LabFlows
from lab.topology import LabPlan
from migration.engine import Engine
from migration.inventory import Connection, read_outputs
from migration.run import Sources, run_systems
from migration.runner import RunnerSettings

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CITY = REPO / "inventories" / "dalian"


@dataclass
class MigLab:
    lab: Lab
    model: CityModel
    ip: IpPlan
    plan: LabPlan
    outputs: dict[str, Any]
    conn: Connection
    seconds_up: float

    def sh(self, host: str, script: str) -> str:
        proc = self.lab.exec(host, ["sh", "-c", script], check=False)
        if proc.returncode:
            raise RuntimeError(f"{host}: {script}: {proc.stderr}")
        return proc.stdout


@contextmanager
def miglab(name: str, departments: list[str], city: Path = SAMPLE_CITY, seed: bool = True) -> Iterator[MigLab]:
    """Bring the lab up (seeded), yield it, always tear it down."""
    model = load_city(city)
    ip = ip_plan(model)
    with lab_up(Lab(name, progress=lambda _: None), model, ip, departments, city_targets(model, ip), seed=seed) as up:
        yield MigLab(up.lab, model, ip, up.plan, read_outputs(up.lab.dir / "outputs.json"),
                     Connection.from_lab(up.lab.dir), up.seconds)


@contextmanager
def engine(ml: MigLab, state: Path, systems: list[str], settings: RunnerSettings | None = None) -> Iterator[Engine]:
    """An engine over a fresh or existing state, the systems registered and planned."""
    with run_systems(ml.model, Sources(ml.outputs, ml.conn, LabFlows(ml.lab)), state, systems, argv=["bench"],
                     ip=ml.ip, settings=settings) as run:
        yield run.engine
