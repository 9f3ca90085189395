"""Collecting the audit's evidence (T1.1, T1.2) from live hosts, through the bastion, with Ansible;
the evidence is kept in the state database, the scores are :mod:`jiyue.audit.score`'s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jiyue.registry import CityModel

from .runner import Runner
from .state import Store

COLLECTOR = Path(__file__).with_name("audit_collector.py")
DOWN = {"status": "down"}


def collect(model: CityModel, runner: Runner, hosts: dict[str, str], *, days: float = 30, window: float = 3
            ) -> dict[str, dict[str, Any] | None]:
    """Run the collector on ``hosts`` (legacy host -> system id); None for a host that is down.
    Read-only on the hosts; idempotent (running it again just adds newer evidence)."""
    if not hosts:
        return {}
    paths = {h: list(next(x for x in model.systems[s].legacy_hosts if x.name == h).data_paths)
             for h, s in hosts.items()}
    result = runner.run("audit_collect.yml", {
        "jiyue_audit_hosts": ":".join(sorted(hosts)), "jiyue_audit_collector": str(COLLECTOR),
        "jiyue_audit_days": days, "jiyue_audit_window": window, "jiyue_audit_paths": paths,
    }, label="audit-collect")
    out: dict[str, dict[str, Any] | None] = {}
    for h in hosts:
        facts = result.facts.get(h, {}).get("jiyue_audit")
        out[h] = facts if isinstance(facts, dict) else None
    return out


def store_evidence(store: Store, hosts: dict[str, str], evidence: dict[str, dict[str, Any] | None]) -> None:
    for h, data in evidence.items():
        store.add_evidence(hosts[h], f"host:{h}", data if data is not None else DOWN)


def latest_evidence(store: Store) -> dict[str, dict[str, Any] | None]:
    """The newest evidence per host (None when the newest says the host was down)."""
    out: dict[str, dict[str, Any] | None] = {}
    for row in store.evidence():
        if row["kind"].startswith("host:"):
            data = row["data"]
            out[row["kind"][5:]] = None if data.get("status") == "down" else data
    return out
