"""The zombie score (T1.2): five criteria of the plan, each 0–20 points, with the evidence.

1. detached from the business process (长期脱离业务): no logins, web requests, database writes or
   new data files in the audit window;
2. replaceable by another system (功能可替代): the registry names the system that covers it;
3. resources idle (资源长期闲置): no CPU used by its processes over the sampling window and no client
   connection;
4. O&M stopped, no updates (运维停止、无更新): the registry's O&M status and last update, and the
   host's own package history;
5. small scope and low frequency of use (使用范围小、频率低): scope, frequency and users.

Criteria 1, 3 and part of 4 need live evidence; without it (host down, never collected) a
system is "review", never "retire". Thresholds are configurable (:class:`Thresholds`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from jiyue.registry import CityModel
from jiyue.registry.schema import System


@dataclass(frozen=True)
class Thresholds:
    retire: int = 70  # at or above: retire (with live evidence behind at least two criteria)
    keep: int = 40  # below: keep
    stale_years: float = 2.0  # no update for this long counts as O&M stopped
    idle_cpu_seconds: float = 0.05  # over the sampling window, all of the host's processes
    few_users: int = 50


@dataclass
class Criterion:
    name: str
    points: int
    live: bool  # backed by evidence collected from the host
    evidence: list[str]


@dataclass
class Score:
    system: str
    department: str
    score: int
    verdict: str  # retire | review | keep
    criteria: list[Criterion]
    hosts: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["evidence"] = [f"{c['name']} ({c['points']}): {e}" for c in d["criteria"] for e in c["evidence"]]
        d["id"] = d.pop("system")
        return d


def _age_days(ts: float | None, now: float) -> float | None:
    return None if ts is None else (now - ts) / 86400


def score_system(system: System, department: str, evidence: dict[str, dict[str, Any] | None],
                 th: Thresholds = Thresholds(), today: dt.date | None = None) -> Score:
    """``evidence``: per legacy host, the collector's JSON, or None when the host was down."""
    today = today or dt.date.today()
    hosts = [{"name": h, "status": "down" if e is None else "collected"} for h, e in evidence.items()]
    live = [e for e in evidence.values() if e is not None]
    missing = [h for h, e in evidence.items() if e is None]
    crit: list[Criterion] = []

    # 1. detached
    if live:
        acts = []
        for e in live:
            name = e.get("hostname", "?")
            if e["logins"].get("available"):
                acts.append((e["logins"]["recent"], f"{name}: {e['logins']['recent']} logins in {e['days']:.0f} days"))
            if e["web"].get("available"):
                acts.append((e["web"]["recent"], f"{name}: {e['web']['recent']} web requests in {e['days']:.0f} days"))
            if e["database"].get("available"):
                writes = sum(e["database"]["writes"].values())
                last = e["database"].get("last_commit")
                recent = last is not None and _age_days(last, e["collected_at"]) < e["days"]
                acts.append((writes if recent else 0, f"{name}: {writes} row writes, last commit "
                             + (f"{_age_days(last, e['collected_at']):.0f} days ago" if last else "never recorded")))
            if e["data"].get("available"):
                acts.append((e["data"]["recent"], f"{name}: {e['data']['recent']} of {e['data']['files']} data "
                             f"files changed in {e['days']:.0f} days"))
        total = sum(n for n, _ in acts)
        pts = 20 if total == 0 else 10 if total <= 3 else 0
        crit.append(Criterion("detached", pts, True, [t for _, t in acts] or ["no activity source on the host"]))
    else:
        crit.append(Criterion("detached", 0, False, ["no live evidence: " + (", ".join(missing) or "not collected")]))

    # 2. replaceable
    if system.replaceable_by:
        crit.append(Criterion("replaceable", 20, False, [f"registry: {system.replaceable_by} covers its function"]))
    else:
        crit.append(Criterion("replaceable", 0, False, ["registry: no other system covers it"]))

    # 3. idle
    if live:
        cpu = sum(e["cpu_seconds"] for e in live)
        conns = sum(e["sockets"]["established_clients"] for e in live)
        window = max(e["window"] for e in live)
        pts = 20 if cpu <= th.idle_cpu_seconds and conns == 0 else 10 if conns == 0 else 0
        crit.append(Criterion("idle", pts, True, [f"{cpu:.2f} CPU seconds in a {window:.0f} s window",
                                                  f"{conns} client connections"]))
    else:
        crit.append(Criterion("idle", 0, False, ["no live evidence"]))

    # 4. O&M stopped
    stale_days = (today - system.om.last_update).days
    ev = [f"registry: O&M {system.om.status.value}, last update {system.om.last_update} ({stale_days} days ago)"]
    pts = 0
    if system.om.status.value == "stopped":
        pts += 10
    if stale_days > th.stale_years * 365:
        pts += 5
    pkg_live = False
    for e in live:
        day = e["packages"].get("last_dpkg_day")
        if day:
            age = (today - dt.date.fromisoformat(day)).days
            ev.append(f"{e.get('hostname', '?')}: packages last changed {day} ({age} days ago)")
            pkg_live = True
            if age > th.stale_years * 365:
                pts = max(pts, 10) + 5
                break
    crit.append(Criterion("om-stopped", min(pts, 20), pkg_live, ev))

    # 5. small scope, low frequency
    small = system.scope_of_use.value in ("division", "department")
    rare = system.frequency_of_use.value in ("rarely", "yearly", "monthly")
    few = system.users < th.few_users
    pts = 20 if small and rare and few else 10 if sum((small, rare, few)) == 2 else 0
    crit.append(Criterion("small-scope", pts, False, [
        f"registry: scope {system.scope_of_use.value}, used {system.frequency_of_use.value}, {system.users} users"]))

    total = sum(c.points for c in crit)
    backed = [c for c in crit if c.live and c.points > 0]
    if missing and not live:
        verdict, reason = "review", "hosts down or not collected: the evidence is missing"
    elif total >= th.retire and len(backed) >= 2:
        verdict, reason = "retire", f"{total} points, live evidence behind {', '.join(c.name for c in backed)}"
    elif total >= th.retire:
        verdict, reason = "review", f"{total} points but live evidence behind fewer than two criteria"
    elif total >= th.keep:
        verdict, reason = "review", f"{total} points"
    else:
        verdict, reason = "keep", f"{total} points"
    if missing and live and verdict == "retire":
        verdict, reason = "review", f"{total} points, but {', '.join(missing)} could not be reached"
    return Score(system.id, department, total, verdict, crit, hosts, reason)


def score_city(model: CityModel, evidence: dict[str, dict[str, Any] | None],
               th: Thresholds = Thresholds(), systems: list[str] | None = None) -> list[Score]:
    """Every system (or ``systems``); a host with no entry in ``evidence`` was never collected."""
    out = []
    for sid in systems or list(model.systems):
        s = model.systems[sid]
        per_host = {h.name: evidence.get(h.name) for h in s.legacy_hosts}
        out.append(score_system(s, model.department_of[sid], per_host, th))
    return out
