"""JSON Schemas of the registry files, for editors (the yaml-language-server modeline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .schema import City, Department


class IpamLock(BaseModel):
    """ipam.lock.yaml: department id -> slot, and per department system id -> slot (see docs/adr/0001-ip-plan.md)."""

    model_config = ConfigDict(extra="forbid", title="IpamLock")
    slots: dict[str, int] = Field(description="Department id to its pinned slot number")
    systems: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="Department id to its systems' pinned slots (system id to slot): each system's block of host "
                    "addresses in the department's segments")


class CatalogLock(BaseModel):
    """catalog.lock.yaml: department id -> its number (the code's 目), resource key -> its code
    (信息资源代码), and the withdrawn codes (code -> the key it had), never given again."""

    model_config = ConfigDict(extra="forbid", title="CatalogLock")
    departments: dict[str, int] = Field(default_factory=dict, description="Department id to its number, 1 to 999")
    resources: dict[str, Annotated[str, StringConstraints(pattern=r"^[1-3][0-9]{11}$")]] = Field(
        default_factory=dict, description="Resource key to its 12-digit code: 类 1, 项 2, 目 3, 细目 2, 顺序码 4")
    withdrawn: dict[str, str] = Field(default_factory=dict,
                                      description="A withdrawn code to the key it had; never given again")


SCHEMAS: dict[str, type[BaseModel]] = {
    "city.schema.json": City,
    "department.schema.json": Department,
    "ipam-lock.schema.json": IpamLock,
    "catalog-lock.schema.json": CatalogLock,
}


def render(model: type[BaseModel]) -> str:
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def export(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMAS.items():
        path = out / name
        path.write_text(render(model), encoding="utf-8")
        written.append(path)
    return written
