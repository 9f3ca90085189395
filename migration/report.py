"""The report of a wave (text and HTML): each system's state, its verification, time per step, the
file data copied."""

from __future__ import annotations

from typing import Any

from .state import Store


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
        rows.append({
            "system": sid, "department": st.department, "wave": st.wave, "state": st.state.value,
            "error": st.error, "seconds": times, "bytes_copied": copied,
            "verification": None if last is None else {
                "step": verifications[-1]["step"], "passed": last.get("passed", 0), "failed": last.get("failed", 0),
                "failures": last.get("failures", []), "compared": last.get("compared", {}),
                "suite": last.get("suite")},
            "transitions": [f"{t['from']} → {t['to']}" for t in store.transitions(sid)],
        })
    states: dict[str, int] = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    return {"title": title, "systems": rows, "states": states,
            "bytes_copied": sum(r["bytes_copied"] for r in rows)}
