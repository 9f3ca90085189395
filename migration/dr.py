"""Protection at the same-city DR site (T3.1): each verified system's copy there, kept by services
on the hosts, and how far behind its primary it is.

What a system gets is :func:`jiyue.dr.dr_plan`'s row (by its RPO and RTO): hot or warm, a DR host
per primary target (the DR stack's hosts, in the same order) that follows it — PostgreSQL as a
streaming standby, files pulled by a sync service every :func:`sync_interval` seconds, and a
heartbeat written on the primary every second, whose newest copy at the DR site gives the lag;
hot runs the application's services there, warm keeps them stopped. The playbooks are
``dr_protect.yml`` and ``dr_status.yml`` (roles ``dr_primary``, ``dr_standby``, ``dr_lag``).

Protection is a lifecycle of its own, recorded in the state beside the migration's::

    unprotected -> protecting -> protected  (-> failed-over -> failing-back -> protected)

A protect that fails or is killed leaves the system ``protecting``; the same command finishes it
(the roles are idempotent). Failover and failback are not built yet: nothing moves a system out
of ``protected``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jiyue.dr import DrMode, DrPlan, dr_plan
from jiyue.registry import CityModel
from jiyue.registry.schema import Site, System
from jiyue.stacks import StackName

from . import verify
from .engine import PrecheckFailed
from .run import Run
from .state import State


class Protection(StrEnum):
    unprotected = "unprotected"
    protecting = "protecting"
    protected = "protected"
    failed_over = "failed-over"
    failing_back = "failing-back"


#: the migration states from which a system's copy may be made: it serves from its target
PROTECTABLE = {State.verified, State.finalized}
#: a protect may start (or resume) from these protection states
_PROTECT_FROM: set[str | None] = {None, Protection.unprotected, Protection.protecting, Protection.protected}


class DrError(ValueError):
    """A DR command asked for something that cannot be (exit 2): the message says what to do."""


@dataclass(frozen=True)
class DrSystem:
    system: System
    plan: DrPlan

    @property
    def id(self) -> str:
        return self.system.id

    @property
    def rpo_minutes(self) -> int:
        assert self.system.dr is not None
        return self.system.dr.rpo_minutes

    @property
    def rto_minutes(self) -> int:
        assert self.system.dr is not None
        return self.system.dr.rto_minutes


def cold_note(d: DrSystem) -> str:
    """Why a cold system is not protected: its copy is a backup schedule, not made here."""
    return (f"{d.id}: cold (RTO {d.rto_minutes} min): its copy is a backup schedule, "
            "which `dr protect` does not make yet")


def sync_interval(rpo_minutes: int) -> int:
    """Seconds between two file-sync passes: a tenth of the RPO, from 2 s to 60 s."""
    return max(2, min(60, rpo_minutes * 6))


def dr_system(model: CityModel, system_id: str) -> DrSystem:
    """The system and its row of the DR table, or :class:`DrError` if it has no DR need."""
    system = model.systems.get(system_id)
    if system is None:
        raise DrError(f"--system: no system {system_id!r} (`jiyue city summary` lists them)")
    if system.retirement is not None:
        raise DrError(f"{system_id}: retired ({system.retirement.decided}); it has no DR copy")
    if system.dr is None:
        raise DrError(f"{system_id}: the registry gives it no DR need (no `dr:` with rpo_minutes and rto_minutes), "
                      "so it has no copy at the DR site")
    return DrSystem(system, dr_plan(system.dr.rpo_minutes, system.dr.rto_minutes, model.city.dr_policy))


def dr_systems(model: CityModel, systems: list[str]) -> list[DrSystem]:
    """Those of ``systems`` that have a DR need (the others are left out)."""
    return [dr_system(model, s) for s in systems if model.systems[s].dr is not None
            and model.systems[s].retirement is None]


class Protector:
    """Protect systems and read their lag, within one driver run (:func:`migration.run.open_run`)."""

    def __init__(self, run: Run, model: CityModel) -> None:
        self.run, self.model, self.engine = run, model, run.engine

    def standbys(self, d: DrSystem) -> list[dict[str, Any]]:
        dep = self.model.department_of[d.id]
        stack = str(StackName(d.system.zone, Site.dr, dep))
        data = (self.engine.outputs.get(stack, {}).get("systems") or {}).get(d.id) or {}
        return [h for h in data.get("hosts", []) if h.get("state") == "running"]

    def pairs(self, d: DrSystem, *, accounts: bool = True) -> list[dict[str, Any]]:
        """Per primary target: the DR host that follows it and what it copies (the target's data
        paths, databases and services, as the migration laid them down; with ``accounts``, the
        accounts owning the data, read on the target)."""
        if d.plan.mode is DrMode.cold:
            raise DrError(cold_note(d) + "; only hot and warm systems can be protected")
        try:
            primaries = self.engine.targets(d.system)
            migration_pairs = self.engine.pairs(d.system)
        except PrecheckFailed as exc:
            raise DrError(str(exc)) from exc
        standbys = self.standbys(d)
        dep = self.model.department_of[d.id]
        if len(standbys) < len(primaries):
            stack = StackName(d.system.zone, Site.dr, dep)
            raise DrError(f"{d.id}: the DR stack {stack} has {len(standbys)} running host(s) for "
                          f"{len(primaries)} primary target(s); deploy it (`pulumi up --stack {stack}`), "
                          f"or bring the lab up again for {dep}")
        out = []
        for p, s in zip(primaries, standbys, strict=False):
            mine = [m for m in migration_pairs if m["target"] == p["name"]]
            out.append({
                "primary": p["name"], "primary_address": p["address"],
                "primary_host_key": self.engine._host_key(p["name"], p["address"]),
                "standby": s["name"], "standby_address": s["address"],
                "services": sorted({x for m in mine for x in m["services"]}),
                "data_paths": sorted({c["dest"] for m in mine for c in m["copies"]}),
                "databases": sorted({db for m in mine for db in m["databases"]}),
            })
        if not accounts:
            return out
        found = verify.discover(d.id, {p["primary"]: (p["data_paths"], p["services"]) for p in out if p["data_paths"]},
                                self.engine.inventory_for(d.system))
        for p in out:
            f = found.get(p["primary"]) or {}
            p["accounts"] = f.get("accounts", [])
            p["groups"] = [{"name": n, "gid": g} for n, g in sorted((f.get("groups") or {}).items())]
        return out

    def extravars(self, d: DrSystem, pairs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "jiyue_run_id": self.run.id,
            "jiyue_system": {"id": d.id, "department": self.model.department_of[d.id], "zone": d.system.zone.value},
            "jiyue_dr": {"mode": d.plan.mode.value,
                         "replication": d.plan.replication.value if d.plan.replication else None,
                         "rpo_minutes": d.rpo_minutes, "sync_interval_seconds": sync_interval(d.rpo_minutes)},
            "jiyue_dr_pairs": pairs,
        }

    def protect_all(self, systems: list[DrSystem], *, max_parallel: int = 4,
                    on_done: Callable[[DrSystem, dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        """:meth:`protect` each of ``systems``, ``max_parallel`` at once; the outcomes in their order."""
        def one(d: DrSystem) -> dict[str, Any]:
            res = self.protect(d)
            if on_done is not None:
                on_done(d, res)
            return res

        with ThreadPoolExecutor(max_workers=max(1, max_parallel)) as pool:
            return list(pool.map(one, systems))

    def check_protectable(self, d: DrSystem) -> None:
        st = self.run.store.get(d.id)
        if st is None or st.state not in PROTECTABLE:
            raise DrError(f"{d.id}: {st.state.value if st else 'not migrated'}: only a system verified at the "
                          f"primary site has a copy to protect (`jiyue migrate run --system {d.id} --cutover`)")
        prot = self.run.store.protection(d.id).get(d.id)
        if prot is not None and prot["state"] not in _PROTECT_FROM:
            raise DrError(f"{d.id}: its protection is {prot['state']}; `dr protect` would overwrite the DR "
                          "site's copy (fail back first)")

    def protect(self, d: DrSystem) -> dict[str, Any]:
        """Make ``d``'s DR copy and leave it kept by the hosts' services; the outcome, as recorded."""
        self.check_protectable(d)
        try:
            pairs = self.pairs(d)
        except DrError:
            raise
        except Exception as exc:  # noqa: BLE001 - a primary that cannot be read: this system fails, the others go on
            return {"system": d.id, "ok": False, "state": None, "seconds": 0.0,
                    "message": f"reading {d.id}'s primary targets: {type(exc).__name__}: {exc}"}
        store, rid, st = self.run.store, self.run.id, self.engine._st
        st(store.protection_transition, d.id, _PROTECT_FROM, Protection.protecting, run_id=rid,
           detail={"mode": d.plan.mode.value, "pairs": [(p["primary"], p["standby"]) for p in pairs]})
        t0 = time.monotonic()
        r = self.run.runner.run("dr_protect.yml", self.extravars(d, pairs), label=f"{d.id}-dr-protect",
                                inventory=self.engine.inventory_for(d.system))
        seconds = time.monotonic() - t0
        if not r.ok:
            st(store.protection_transition, d.id, {Protection.protecting}, Protection.protecting, run_id=rid,
               detail={"seconds": seconds}, error=r.summary())
            return {"system": d.id, "ok": False, "state": Protection.protecting.value, "seconds": seconds,
                    "message": r.summary()}
        st(store.protection_transition, d.id, {Protection.protecting}, Protection.protected, run_id=rid,
           detail={"seconds": seconds, "changed": r.changed})
        return {"system": d.id, "ok": True, "state": Protection.protected.value, "seconds": seconds,
                "message": r.summary()}

    def status(self, systems: list[DrSystem]) -> list[dict[str, Any]]:
        """Per system: its mode, RPO/RTO, protection state and measured lag (the age of the newest
        primary heartbeat present at the DR site; None if it cannot be read) and whether that is
        within the RPO. Read-only on every host."""
        prot = self.run.store.protection()
        rows, wanted = [], []
        for d in systems:
            state = (prot.get(d.id) or {}).get("state", Protection.unprotected.value)
            row: dict[str, Any] = {"id": d.id, "mode": d.plan.mode.value, "rpo_minutes": d.rpo_minutes,
                                   "rto_minutes": d.rto_minutes, "protection": state, "lag_seconds": None,
                                   "within_rpo": False, "problems": []}
            rows.append(row)
            if state in (Protection.protected, Protection.protecting):
                try:
                    wanted.append((row, d, self.pairs(d, accounts=False)))
                except DrError as exc:
                    row["problems"].append(str(exc))
            else:
                row["problems"].append("not protected (`jiyue dr protect`)")
        for row, d, pairs in wanted:
            r = self.run.runner.run("dr_status.yml", self.extravars(d, pairs), label=f"{d.id}-dr-status",
                                    inventory=self.engine.inventory_for(d.system))
            lags = []
            for p in pairs:
                got = (r.facts.get(p["standby"]) or {}).get("jiyue_dr_lag")
                if not got:
                    row["problems"].append(f"{p['standby']}: unreachable or unreadable")
                    continue
                for kind in ("database", "files"):
                    part = got.get(kind)
                    if part is None:
                        continue
                    if "error" in part:
                        row["problems"].append(f"{p['standby']} {kind}: {part['error']}")
                    elif kind == "database" and not part["standby"]:
                        row["problems"].append(f"{p['standby']}: its database is not a standby")
                    else:
                        lags.append(max(0.0, got["now"] - part["beat"]))
                        if kind == "database" and part["receiver"] != "streaming":
                            row["problems"].append(f"{p['standby']}: not streaming from {p['primary']} "
                                                   f"({part['receiver']})")
            if lags:
                row["lag_seconds"] = round(max(lags), 1)
            row["within_rpo"] = (not row["problems"] and row["lag_seconds"] is not None
                                 and row["lag_seconds"] <= d.rpo_minutes * 60)
        return rows
