"""A valid synthetic city of any size, for benchmarks and scale tests (``jiyue city generate``).

Deterministic for a seed: the same arguments write byte-identical files.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import yaml

from .. import creditcode
from .model import CITY_FILE, DEPARTMENTS_DIR

CITY_MODELINE = "# yaml-language-server: $schema=../../schemas/city.schema.json\n"
DEPARTMENT_MODELINE = "# yaml-language-server: $schema=../../../schemas/department.schema.json\n"

_FLAVORS = {"s1-small": (2, 4), "s1-medium": (4, 8), "s1-large": (8, 16)}
_FUNCTIONS = ["审批", "监管", "统计", "档案", "办公", "门户", "数据交换", "信用", "执法", "服务"]
_PLATFORMS = ["sharing-exchange", "sharing-portal", "open-data", "gov-service", "collab-office", "gov-website"]


def _dump(path: Path, modeline: str, data: dict[str, Any]) -> None:
    path.write_text(modeline + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100),
                    encoding="utf-8")


def city_context(departments: int, *, city_id: str = "gencity", platform: str = "d000",
                 pilots: list[str] | None = None) -> dict[str, Any]:
    bits = max(8, math.ceil(math.log2(departments + 16 + 1)))
    size = 2 ** (bits - 8)  # in /16s... counted in units of 256 segments

    def supernet(base_second_octet: int, k: int) -> str:
        return f"10.{base_second_octet + k * size}.0.0/{24 - bits}"

    return {
        "id": city_id,
        "names": {"zh": "生成市", "en": "Generated City"},
        "sites": {
            "primary": {"names": {"zh": "市政府数据中心", "en": "City Data Center"}, "location": "A区"},
            "dr": {"names": {"zh": "同城容灾备份中心", "en": "Same-city DR Center"}, "location": "B区"},
        },
        "zones": {
            "intranet": {"names": {"zh": "电子政务内网", "en": "Government Intranet"}, "internet": False},
            "extranet": {"names": {"zh": "电子政务外网", "en": "Government Extranet"}, "internet": True},
        },
        "addressing": {
            "supernets": {
                "intranet": {"primary": supernet(64, 0), "dr": supernet(64, 1)},
                "extranet": {"primary": supernet(128, 0), "dr": supernet(128, 1)},
            },
            "management": {"primary": "10.0.0.0/20", "dr": "10.0.16.0/20"},
            "segment_prefix": 24,
            "reserved_segments": 16,
        },
        "flavors": {k: {"vcpus": c, "ram_gb": r} for k, (c, r) in _FLAVORS.items()},
        "images": {"debian-12": {"os": "Debian", "version": "12", "name": "debian-12-genericcloud"}},
        "volume_classes": {
            "standard": {"encrypted": False},
            "encrypted": {"encrypted": True},
            "replicated": {"replicated": True},
        },
        "egress": {"site": "primary", "external_network": "internet", "external_cidr": "198.51.100.0/24",
                   "firewall": "fwaas-v2", "allowed_ports": [80, 443]},
        "platform_department": platform,
        "pilot_departments": pilots or [],
    }


def department(i: int, systems: int, rng: random.Random, all_systems: dict[str, list[str]]) -> dict[str, Any]:
    """One department; ``all_systems`` holds the ids of the earlier departments' systems per zone
    (dependencies point only at those of the same zone: no cycles, no route across zones)."""
    dep_id = f"d{i:03d}"
    syss = [_system(i, j, f"{dep_id}-s{j:02d}", rng, all_systems) for j in range(systems)]
    if i == 0:
        for j, kind in enumerate(_PLATFORMS[: len(syss)]):
            syss[j]["platform"] = kind
    for s in syss:
        all_systems[s["zone"]].append(s["id"])
    need = [sum(_FLAVORS[s["capacity"]["flavor"]][k] * s["capacity"]["instances"] for s in syss) for k in (0, 1)]
    return {
        "id": dep_id,
        "names": {"zh": f"第{i}局", "en": f"Bureau {i}"},
        "tier": "city" if i % 10 else "district",
        **({"district": f"第{i // 10}区"} if i % 10 == 0 else {}),
        "credit_code": creditcode.make("210299", f"{90000000 + i:08d}"),  # synthetic, valid by GB 32100
        "quotas": {"vcpus": need[0] + 8, "ram_gb": need[1] + 16,
                   "volume_gb": 100 * sum(s["capacity"]["instances"] for s in syss) + 500,
                   "instances": sum(s["capacity"]["instances"] for s in syss) + 4},
        "leased_lines": [{"id": "line1", "provider": "运营商", "bandwidth_mbps": 100, "annual_cost_wan": 6.0}]
        if i % 3 == 0 else [],
        "legacy_lans": [{"id": "lan1", "cidr": f"192.168.{i % 200}.0/24", "location": "本部机房"}],
        "systems": syss,
    }


def _system(i: int, j: int, sid: str, rng: random.Random, all_systems: dict[str, list[str]]) -> dict[str, Any]:
    """System ``j`` of department ``i``: one in ten a zombie (small, rarely used, O&M stopped)."""
    zone = rng.choice(["intranet", "extranet", "extranet"])
    classification = "classified" if zone == "intranet" and rng.random() < 0.2 else \
        rng.choice(["internal", "public"]) if zone == "extranet" else "internal"
    public = zone == "extranet" and classification == "public" and rng.random() < 0.6
    zombie = rng.random() < 0.1
    flavor = rng.choice(list(_FLAVORS))
    instances = rng.choice([1, 1, 2])
    earlier = all_systems[zone]
    deps = [d for d in rng.sample(earlier, k=min(2, len(earlier))) if rng.random() < 0.3]
    host = _legacy_host(i, j, sid, rng)
    system: dict[str, Any] = {
        "id": sid,
        "names": {"zh": f"系统{i}-{j}", "en": f"System {i}-{j}"},
        "function": rng.choice(_FUNCTIONS),
        "scope_of_use": "division" if zombie else rng.choice(["department", "city", "public"]),
        "users": 3 if zombie else rng.randint(20, 5000),
        "frequency_of_use": "rarely" if zombie else rng.choice(["daily", "weekly", "continuous"]),
        "approval": {"department": "市发展改革委", "date": f"20{rng.randint(10, 19)}-0{rng.randint(1, 9)}-15"},
        "funds": {"construction_wan": round(rng.uniform(10, 500), 1),
                  "om_wan_per_year": round(rng.uniform(1, 50), 1), "source": "fiscal"},
        "owner": {"division": "信息中心", "contact_role": "信息科科长"},
        "om": {"status": "stopped" if zombie else "active",
               "last_update": "2015-06-30" if zombie else "2026-06-30"},
        "classification": classification,
        "zone": zone,
        "public_facing": public,
        "depends_on": deps,
        "dr": {"rpo_minutes": 15, "rto_minutes": rng.choice([30, 120, 720])} if rng.random() < 0.4 else None,
        "legacy_hosts": [host],
        "capacity": {"flavor": flavor, "image": "debian-12", "instances": instances,
                     "volume_gb": 100, "volume_class": "encrypted" if classification == "classified"
                     else "standard", "ha": instances > 1},
    }
    system["data_resources"] = [{
        "id": f"{sid}-records", "name": f"系统{i}-{j}业务数据", "abstract": f"系统{i}-{j}的业务记录",
        "fields": [{"name": "编号", "type": "string"}, {"name": "名称", "type": "string"},
                   {"name": "日期", "type": "date"}],
        "library": "department", "update_frequency": "daily", "format": "database",
        **({"sharing": "not-shared", "legal_basis": "《中华人民共和国保守国家秘密法》", "classified": True}
           if classification == "classified" else {"sharing": "unconditional", "sharing_method": "exchange"}),
        "open": "unconditional" if public else "not-open", "published": "2019-03-01",
    }]
    system["data_needs"] = []
    system["filing"] = {"project_id": f"GEN-{i:03d}-{j:02d}", "funding_kind": "om",
                        "amount_wan": system["funds"]["om_wan_per_year"],
                        "approval_number": f"生发改〔2019〕{i * 100 + j}号", "date": "2019-03-01"}
    if system["dr"] is None:
        del system["dr"]
    return system


def _legacy_host(i: int, j: int, sid: str, rng: random.Random) -> dict[str, Any]:
    """The system's one legacy host on its department's LAN: a web, database or file server."""
    host: dict[str, Any] = {
        "name": f"{sid}-h1", "lan": "lan1", "address": f"192.168.{i % 200}.{10 + j}",
        "os": rng.choice(["CentOS 6.5", "Debian 8", "Windows Server 2008 R2"]),
        "role": rng.choice(["web", "db", "files"]),
    }
    host["services"] = {"web": ["nginx"], "db": ["postgresql"], "files": ["files"]}[host["role"]]
    if host["role"] == "db":
        host["databases"] = [f"db{j}"]
    else:
        host["data_paths"] = [f"/srv/{sid}"]
    host["data_gb"] = round(rng.uniform(0.5, 50), 1)
    return host


def generate(out: Path, departments: int, systems_per_department: int, seed: int = 0) -> Path:
    """Write a city of ``departments`` x ``systems_per_department`` into ``out``."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / DEPARTMENTS_DIR).mkdir(exist_ok=True)
    pilots = [f"d{i:03d}" for i in range(1, min(departments, 4))]
    _dump(out / CITY_FILE, CITY_MODELINE, city_context(departments, pilots=pilots))
    all_systems: dict[str, list[str]] = {"intranet": [], "extranet": []}
    for i in range(departments):
        dep = department(i, systems_per_department, rng, all_systems)
        _dump(out / DEPARTMENTS_DIR / f"{dep['id']}.yaml", DEPARTMENT_MODELINE, dep)
    return out
