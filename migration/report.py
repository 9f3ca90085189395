"""The report of a wave (text and HTML): each system's state, its verification, time per step, the
file data copied."""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any

from .state import Store


def downtime(steps: list[dict[str, Any]]) -> dict[str, float] | None:
    """How long the system was unavailable at its cutover, from its recorded steps: the source
    frozen (the cutover starts with the freeze) → the target serving (the cutover done: services
    up, the name moved) → verified; of the latest verified cutover. None until one was verified."""
    cut, last = None, None
    for s in steps:
        if s["step"] == "cutover" and s["outcome"] == "ok":
            cut = s
        elif s["step"] == "verify" and s["outcome"] == "ok" and cut is not None:
            frozen = dt.datetime.fromisoformat(cut["started_at"])
            serving = dt.datetime.fromisoformat(cut["finished_at"])
            verified = dt.datetime.fromisoformat(s["finished_at"])
            last = {"downtime_seconds": round((verified - frozen).total_seconds(), 1),
                    "serving_after_seconds": round((serving - frozen).total_seconds(), 1)}
            cut = None
    return last


def discovered(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the latest successful precheck discovered the system runs on, per source host (the
    scripts by digest and mode: their contents stay in the state)."""
    for s in reversed(steps):
        found = (s["detail"] or {}).get("discovered") if s["step"] == "precheck" and s["outcome"] == "ok" else None
        if found:
            out = {}
            for host, d in found.items():
                cron = dict(d.get("cron") or {})
                cron["scripts"] = {p: {k: v for k, v in x.items() if k != "content"} if isinstance(x, dict) else x
                                   for p, x in (cron.get("scripts") or {}).items()}
                out[host] = {**d, "cron": cron}
            return out
    return None


def wave_report(store: Store, systems: list[str], title: str) -> dict[str, Any]:
    rows = []
    for sid in systems:
        st = store.get(sid)
        if st is None:
            continue
        steps = store.steps(sid)
        times: dict[str, float] = {}
        copied = 0
        for s in steps:
            if s["seconds"] is not None:
                times[s["step"]] = round(times.get(s["step"], 0.0) + s["seconds"], 1)
            copied += int((s["detail"] or {}).get("bytes_copied", 0) or 0)
        verifications = [s for s in steps if s["step"] in ("verify-test", "verify") and s["detail"]]
        last = verifications[-1]["detail"] if verifications else None
        down = downtime(steps)
        rows.append({
            "system": sid, "department": st.department, "wave": st.wave, "state": st.state.value,
            "error": st.error, "seconds": times, "bytes_copied": copied,
            "downtime_seconds": down["downtime_seconds"] if down else None,
            "serving_after_seconds": down["serving_after_seconds"] if down else None,
            "verification": None if last is None else {
                "step": verifications[-1]["step"], "passed": last.get("passed", 0), "failed": last.get("failed", 0),
                "failures": last.get("failures", []), "compared": last.get("compared", {}),
                "suite": last.get("suite")},
            "transitions": [f"{t['from']} → {t['to']}" for t in store.transitions(sid)],
        })
    states: dict[str, int] = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    downs = [r["downtime_seconds"] for r in rows if r["downtime_seconds"] is not None]
    return {"title": title, "systems": rows, "states": states,
            "bytes_copied": sum(r["bytes_copied"] for r in rows),
            "downtime": {"systems": len(downs), "median_seconds": round(statistics.median(downs), 1),
                         "max_seconds": max(downs)} if downs else None}
