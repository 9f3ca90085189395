"""What every kind of seeding shares: the fixed accounts, deterministic randomness and dates,
and running a script or a small program inside a host."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import random
import re
from typing import Any

from lab.errors import LabError
from lab.lab import Lab

MIB = 1 << 20
DAY = 86400
#: How far back the activity of a system in use reaches.
ACTIVITY_DAYS = 30

#: Accounts seeding creates: name -> (uid, primary group). Groups: name -> gid. Fixed ids so
#: that a migration that keeps numeric owners can be checked.
GROUPS: dict[str, int] = {"archive": 2100}
ACCOUNTS: dict[str, tuple[int, str]] = {"archivist": (2101, "archive"), "clerk": (2102, "archive"), "ops": (2110, "")}
#: uid of the account named after the system (also its PostgreSQL role, for peer auth).
SYSTEM_UID = 2001

_WORDS = (
    "预算", "决算", "审计", "档案", "公告", "通知", "政策", "法规", "项目", "报告", "统计", "年度",
    "专项", "资金", "管理", "办法", "实施", "意见", "工作", "动态", "采购", "合同", "收缴", "凭证",
    "目录", "清单", "备案", "整改", "检查", "会议", "纪要", "批复", "申请", "材料", "数据", "共享",
)


class SeedError(LabError):
    """Seeding a host failed or was refused; the message says which host and why."""


def sanitize(name: str, limit: int = 32) -> str:
    """An identifier usable as OS account and PostgreSQL role: ``audit-online`` -> ``audit_online``."""
    out = re.sub(r"[^a-z0-9_]", "_", name.lower())
    if not out or not out[0].isalpha():
        out = "s_" + out
    return out[:limit]


def seeded_rng(seed: int, *parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def epoch(day: dt.date, seconds: int = 0) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) + seconds


def past_mtime(rng: random.Random, last_update: dt.date, years: float = 3.0) -> int:
    """A deterministic time in the ``years`` before the end of ``last_update`` (office hours)."""
    day = last_update - dt.timedelta(days=rng.randrange(int(365 * years)))
    return epoch(day, rng.randrange(8 * 3600, 18 * 3600) - 8 * 3600)  # 08:00-18:00 Beijing


def zh_text(rng: random.Random, words: int) -> str:
    return "".join(rng.choice(_WORDS) for _ in range(words))


def sh(lab: Lab, host: str, script: str, data: bytes | None = None) -> str:
    """Run ``script`` with ``sh -e`` inside ``host``; ``data`` arrives on its stdin (sent base64)."""
    if data is None:
        return lab.exec(host, ["sh", "-ec", script]).stdout
    payload = base64.b64encode(data).decode("ascii")
    return lab.exec(host, ["sh", "-ec", f"base64 -d | {{\n{script}\n}}"], input=payload).stdout


def run_python(lab: Lab, host: str, program: str, arg: Any) -> str:
    """Run a small python3 ``program`` inside ``host``; ``arg`` is JSON in ``sys.argv[1]``."""
    return lab.exec(host, ["python3", "-c", program, json.dumps(arg)]).stdout


def binary_blob(rng: random.Random, kind: str, size: int) -> bytes:
    head = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "tif": b"II*\x00"}[kind]
    return (head + rng.randbytes(max(size - len(head), 0)))[: max(size, len(head))]


def share_of(budget: int, parts: int) -> int:
    return max(budget // max(parts, 1), 16 * 1024)


def service_on(lab: Lab, host: str, service: str, reload: bool = False) -> None:
    lab.service(host, "enable", service)
    running = lab.service(host, "status", service).returncode == 0
    if not running:
        lab.service(host, "start", service)
    elif reload:
        lab.service(host, "restart", service)


def lan_client(rng: random.Random, address: str) -> str:
    a, b, c, _ = address.split(".")
    return f"{a}.{b}.{c}.{rng.randint(100, 199)}"
