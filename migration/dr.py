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
(the roles are idempotent). A failover goes ``protected -> failing-over -> failed-over``: the
primary site is declared lost (where the sources can stage it, the lab, its hosts are cut off),
each DR host stops its file sync, reports the newest primary heartbeat it holds (the achieved
RPO is the time of the loss less that), is promoted and serves, the service name moves to the
DR site, and the verification suite compares the DR hosts with the primaries as measured just
before the loss. A failback goes ``failed-over -> failing-back -> protecting -> protected``: both
sides stop their writes, the DR site is measured, its data is carried back onto the primaries
(what they held that differs is kept aside on them), the primaries serve and are verified
against that measure, and ``dr protect`` makes the DR site their copy again. Each is finished,
when interrupted, by the same command.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from jiyue.dr import BACKUP_RETENTION_DAYS, DrMode, DrPlan, dr_plan
from jiyue.registry import CityModel
from jiyue.registry.schema import Site, System
from jiyue.stacks import StackName

from . import verify
from .engine import Fence, PrecheckFailed, service_name
from .inventory import write_inventory
from .run import Run
from .state import State


class Protection(StrEnum):
    unprotected = "unprotected"
    protecting = "protecting"
    protected = "protected"
    failing_over = "failing-over"
    failed_over = "failed-over"
    failing_back = "failing-back"


#: the migration states from which a system's copy may be made: it serves from its target
PROTECTABLE = {State.verified, State.finalized}
#: a protect may start (or resume) from these protection states
_PROTECT_FROM: set[str | None] = {None, Protection.unprotected, Protection.protecting, Protection.protected}
#: a failover may start from ``protected`` and resume from ``failing-over``; a failback likewise
_FAILOVER_FROM: set[str | None] = {Protection.protected, Protection.failing_over}
_FAILBACK_FROM: set[str | None] = {Protection.failed_over, Protection.failing_back}


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


def sync_interval(rpo_minutes: int, mode: DrMode = DrMode.warm) -> int:
    """Seconds between two file-sync passes: every second for a hot system (its files at the DR
    site are then a few seconds behind, like its database), else a tenth of the RPO, from 2 s
    to 60 s."""
    return 1 if mode is DrMode.hot else max(2, min(60, rpo_minutes * 6))


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


def copy_beats(pair: dict[str, Any], got: dict[str, Any] | None, *,
               strict: bool = True) -> tuple[list[float], list[str]]:
    """The newest primary heartbeats one DR host holds for ``pair`` (``jiyue_dr_lag``, as
    ``dr_status.yml`` reads it): the standby database's and the synced files', or a backup
    host's latest backup of that primary; and what is wrong with the copy (with ``strict``, a
    database that is not a streaming standby too)."""
    host = pair["standby"]
    if not got:
        return [], [f"{host}: unreachable or unreadable"]
    if "backups" in got:
        backup = got["backups"].get(pair["primary"])
        if backup is None:
            return [], [f"{host}: holds no complete backup of {pair['primary']}"]
        if "error" in backup:
            return [], [f"{host}: the backup of {pair['primary']}: {backup['error']}"]
        return [backup["beat"]], []
    beats, problems = [], []
    kinds = (["database"] if pair["databases"] else []) + (["files"] if pair["data_paths"] else [])
    for kind in kinds:
        part = got.get(kind)
        if not isinstance(part, dict) or "beat" not in part:
            problems.append(f"{host} {kind}: {(part or {}).get('error', 'no heartbeat')}")
            continue
        if kind == "database" and strict and not part["standby"]:
            problems.append(f"{host}: its database is not a standby")
            continue
        beats.append(part["beat"])
        if kind == "database" and strict and part["receiver"] != "streaming":
            problems.append(f"{host}: not streaming from {pair['primary']} ({part['receiver']})")
    return beats, problems


def copy_expectations(system_id: str, pairs: list[dict[str, Any]], measured: dict[str, dict[str, Any]] | None,
                      reference: str, checked: str, inventory: Path) -> dict[str, Any]:
    """The verification suite's expectations (:mod:`migration.suite`) for one side of each DR
    pair (``checked``: "standby" or "primary") holding what the other side (``reference``) held
    when it was measured: the same files, databases and web answers, services running, the
    accounts owning the data. Without ``measured`` (the reference side could not be reached),
    only the services, ports and accounts are checked, and the expectations say so."""
    targets: dict[str, dict[str, Any]] = {}
    for p in pairs:
        m = (measured or {}).get(p[reference]) or {"files": {}, "databases": {}, "http": {}}
        services = [x for x in p["services"] if x in verify.PORTS]
        targets[p[checked]] = {
            "services": services, "ports": [verify.PORTS[x] for x in services],
            "files": {k: v for k, v in m["files"].items() if k in p["data_paths"]},
            "databases": {k: v for k, v in m["databases"].items() if v is not None},
            "http_answers": [m["http"]] if m["http"] else [], "http_requests": verify.HTTP_REQUESTS,
            "sources": [p[reference]], "accounts": p.get("accounts", []), "tls": p.get("tls", {}),
        }
    return {"system": system_id, "inventory": str(inventory), "targets": targets, "problems": [],
            "step": f"dr-{checked}", "compared": measured is not None}


class Protector:
    """Protect systems, read their lag, fail them over to the DR site and back, within one driver
    run (:func:`migration.run.open_run`); ``fence`` stages a primary site's loss (the lab)."""

    def __init__(self, run: Run, model: CityModel, fence: Fence | None = None) -> None:
        self.run, self.model, self.engine, self.fence = run, model, run.engine, fence

    def standbys(self, d: DrSystem) -> list[dict[str, Any]]:
        dep = self.model.department_of[d.id]
        stack = str(StackName(d.system.zone, Site.dr, dep))
        data = (self.engine.outputs.get(stack, {}).get("systems") or {}).get(d.id) or {}
        return [h for h in data.get("hosts", []) if h.get("state") == "running"]

    def pairs(self, d: DrSystem, *, accounts: bool = True) -> list[dict[str, Any]]:
        """Per primary target: the DR host that follows it (a cold system's backup host, the same
        for all) and what it copies (the target's data paths, databases and services, as the
        migration laid them down; with ``accounts``, the accounts owning the data, read on the
        target)."""
        try:
            primaries = self.engine.targets(d.system)
            migration_pairs = self.engine.pairs(d.system)
        except PrecheckFailed as exc:
            raise DrError(str(exc)) from exc
        standbys = self.standbys(d)
        if d.plan.mode is DrMode.cold:  # its one backup host backs every primary up
            standbys = standbys[:1] * len(primaries)
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
        found = verify.discover(d.id, {p["primary"]: (p["data_paths"], p["services"]) for p in out
                                       if p["data_paths"] or "nginx" in p["services"]},
                                self.engine.inventory_for(d.system))
        for p in out:
            f = found.get(p["primary"]) or {}
            p["accounts"] = f.get("accounts", [])
            p["groups"] = [{"name": n, "gid": g} for n, g in sorted((f.get("groups") or {}).items())]
            # the TLS files its sites use, wherever they are: carried with the sites
            p["tls"] = {path: {"sha256": x["sha256"], "mode": x["mode"]}
                        for path, x in sorted((f.get("tls") or {}).items())}
        return out

    def extravars(self, d: DrSystem, pairs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "jiyue_run_id": self.run.id,
            "jiyue_system": {"id": d.id, "department": self.model.department_of[d.id], "zone": d.system.zone.value,
                             "service_name": service_name(self.model, d.system)},
            "jiyue_dr": {"mode": d.plan.mode.value,
                         "replication": d.plan.replication.value if d.plan.replication else None,
                         "rpo_minutes": d.rpo_minutes,
                         "sync_interval_seconds": sync_interval(d.rpo_minutes, d.plan.mode),
                         "backup_interval_minutes": d.plan.backup_interval_minutes,
                         "backup_retention_days": BACKUP_RETENTION_DAYS},
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
        primary heartbeat present at the DR site, in a cold system's latest backup; None if it
        cannot be read), whether that is within the RPO, and for a cold system when its latest
        backup ended (``last_backup``, of the primary backed up longest ago). Read-only on every host."""
        prot = self.run.store.protection()
        rows, wanted = [], []
        for d in systems:
            state = (prot.get(d.id) or {}).get("state", Protection.unprotected.value)
            row: dict[str, Any] = {"id": d.id, "mode": d.plan.mode.value, "rpo_minutes": d.rpo_minutes,
                                   "rto_minutes": d.rto_minutes, "protection": state, "lag_seconds": None,
                                   "within_rpo": False, "last_backup": None, "problems": []}
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
                beats, problems = copy_beats(p, got)
                row["problems"] += problems
                lags += [max(0.0, got["now"] - b) for b in beats]
                backup = ((got or {}).get("backups") or {}).get(p["primary"]) or {}
                if "finished" in backup:  # the oldest primary's: a stalled one is not hidden by the others
                    row["last_backup"] = min(row["last_backup"] or backup["finished"], backup["finished"])
            if lags:
                row["lag_seconds"] = round(max(lags), 1)
            if row["last_backup"] is not None:  # when the newest complete backup ended, UTC
                row["last_backup"] = datetime.fromtimestamp(row["last_backup"], UTC).isoformat(timespec="seconds")
            row["within_rpo"] = (not row["problems"] and row["lag_seconds"] is not None
                                 and row["lag_seconds"] <= d.rpo_minutes * 60)
        return rows

    # ---- failover and failback
    def _state(self, d: DrSystem) -> str | None:
        prot = self.run.store.protection(d.id).get(d.id)
        return prot["state"] if prot else None

    def _began(self, d: DrSystem, state: Protection) -> dict[str, Any]:
        """The detail recorded when ``d`` last entered ``state`` (what a resumed command reuses)."""
        went = [t for t in self.run.store.protection_transitions(d.id) if t["to"] == state and t["from"] != state]
        return (went[-1]["detail"] or {}) if went else {}

    def _measure(self, pairs: list[dict[str, Any]], side: str, inventory: Path) -> dict[str, dict[str, Any]]:
        return verify.measure_sources([verify.Pair(p[side], "", p["services"], p["data_paths"], p["databases"])
                                       for p in pairs], inventory)

    def _verify(self, d: DrSystem, exp: dict[str, Any], label: str) -> verify.SuiteResult:
        directory = self.run.dir / "dr" / f"{d.id}-{label}"
        verify.write_suite(directory, d.id, exp)
        return verify.run_suite(directory, d.id, run_id=self.run.id, on_process=self.engine.process_seen)

    def _clients(self, d: DrSystem) -> list[str]:
        return [f"bastion-{d.system.zone.value}"]

    @staticmethod
    def _front(pairs: list[dict[str, Any]]) -> dict[str, Any]:
        """The pair whose host the service name gets: the first with nginx, else the first."""
        return next((p for p in pairs if "nginx" in p["services"]), pairs[0])

    def check_failover(self, d: DrSystem, *, force: bool, primary_lost: bool) -> None:
        """Refuse, before anything is touched, a failover that cannot or should not be done."""
        state = self._state(d)
        if d.plan.mode is DrMode.cold:
            raise DrError(f"{d.id}: cold (RTO {d.rto_minutes} min): it fails over by building its servers at the DR "
                          f"site (its DR stack with the primary's capacity, `pulumi up`) and restoring the latest "
                          f"backup its backup host holds, which `dr drill --system {d.id}` rehearses; "
                          "`dr failover` moves hot and warm systems only")
        if state not in _FAILOVER_FROM:
            raise DrError(f"{d.id}: its protection is {state or 'unprotected'}: only a protected system fails "
                          f"over (`jiyue dr protect --system {d.id}`)" if state != Protection.failed_over else
                          f"{d.id}: it has failed over already; `jiyue dr failback --system {d.id}` brings it back")
        if state == Protection.protected and self.fence is None and not primary_lost:
            raise DrError(f"{d.id}: the driver cannot cut the primary site off here; fence it (power off or "
                          "isolate its hosts) and pass --primary-lost to declare it lost")
        if state == Protection.protected and not force:
            [row] = self.status([d])
            if not row["within_rpo"]:
                why = "; ".join(row["problems"]) or f"lag {row['lag_seconds']} s"
                raise DrError(f"{d.id}: its DR copy is outside its RPO of {d.rpo_minutes} min ({why}): a "
                              "failover now would lose more than the registry allows. Bring the copy back "
                              "within it (`jiyue dr status`), or pass --force to fail over anyway")

    def _beats(self, d: DrSystem, pairs: list[dict[str, Any]], *, kick: bool = False) -> list[float] | None:
        """The newest primary heartbeat each DR copy holds (database and files), or None if one
        cannot be read; :attr:`last_lag`: the oldest one's age when read."""
        r = self.run.runner.run("dr_status.yml", {**self.extravars(d, pairs), "jiyue_dr_kick": kick},
                                label=f"{d.id}-dr-beats",
                                inventory=self.engine.inventory_for(d.system))
        beats: list[float] = []
        self.last_lag: float | None = None
        for p in pairs:
            got = (r.facts.get(p["standby"]) or {}).get("jiyue_dr_lag")
            mine, problems = copy_beats(p, got, strict=False)
            if problems or got is None:
                return None
            beats += mine
            self.last_lag = max([self.last_lag or 0.0] + [max(0.0, got["now"] - b) for b in mine])
        return beats

    def _caught_up(self, d: DrSystem, pairs: list[dict[str, Any]], since: float, timeout: float) -> bool:
        """Wait (bounded) until every DR copy holds the primaries' heartbeat of ``since`` or newer."""
        deadline, kick = time.monotonic() + timeout, True
        while True:
            beats, kick = self._beats(d, pairs, kick=kick), False
            if beats is not None and min(beats) >= since:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(1)

    def failover(self, d: DrSystem, *, force: bool = False) -> dict[str, Any]:
        """Serve ``d`` from the DR site, its primary site declared lost; the outcome, as recorded
        (``rpo_seconds``: the loss less the newest primary heartbeat the DR site held;
        ``rto_seconds``: from the loss to the verification passed at the DR site).

        Where the loss is staged (a fence), the primaries are measured first and the loss waits
        (bounded) until the DR copies hold that moment: the suite then compares the DR hosts with
        that measure, except files written after it (listed, as the data the loss may take)."""
        store, rid, st = self.run.store, self.run.id, self.engine._st
        inventory = self.engine.inventory_for(d.system)
        if self._state(d) == Protection.protected:
            try:
                pairs = self.pairs(d)
            except DrError:
                raise
            except Exception as exc:  # noqa: BLE001 - the primaries unreachable: a real loss
                if not force:
                    raise DrError(f"{d.id}: its primaries cannot be read ({type(exc).__name__}: {exc}); pass "
                                  "--force to fail over with only the services checked") from exc
                pairs = [{**p, "accounts": [], "groups": []} for p in self.pairs(d, accounts=False)]
            measured_at = time.time()
            reference: dict[str, Any] | None
            try:
                reference = self._measure(pairs, "primary", inventory)
            except Exception as exc:  # noqa: BLE001 - a lost primary cannot be measured: forced, checks run without it
                if not force:
                    raise DrError(f"{d.id}: its primaries cannot be measured ({type(exc).__name__}: {exc}); pass "
                                  "--force to fail over with only the services and accounts checked") from exc
                reference = None
            wait = 2 * sync_interval(d.rpo_minutes, d.plan.mode) + 30
            if reference is not None and self.fence is not None and not self._caught_up(d, pairs, measured_at, wait):
                raise DrError(f"{d.id}: its DR copy did not catch up with the primaries within {wait} s of "
                              "measuring them, so the failover could not be verified; nothing was changed. "
                              "Look at `jiyue dr status`, then run it again")
            where = self.run.dir / "dr" / f"{d.id}-reference.json"
            where.parent.mkdir(parents=True, exist_ok=True)
            where.write_text(json.dumps(reference, ensure_ascii=False), encoding="utf-8")
            began = {"lost_at": time.time(), "measured_at": measured_at, "reference": str(where), "pairs": pairs}
            st(store.protection_transition, d.id, {Protection.protected}, Protection.failing_over, run_id=rid,
               detail=began)
        else:
            began = self._began(d, Protection.failing_over)
        pairs, lost_at = began["pairs"], began["lost_at"]
        reference = json.loads(Path(began["reference"]).read_text(encoding="utf-8"))
        if self.fence is not None:
            self.fence.cut(sorted({p["primary"] for p in pairs}))
        extra = {**self.extravars(d, pairs), "jiyue_clients": self._clients(d),
                 "jiyue_dr_service_address": self._front(pairs)["standby_address"]}
        r = self.run.runner.run("dr_failover.yml", extra, label=f"{d.id}-dr-failover", inventory=inventory)
        if not r.ok:
            st(store.protection_transition, d.id, {Protection.failing_over}, Protection.failing_over, run_id=rid,
               error=r.summary())
            return {"system": d.id, "ok": False, "state": Protection.failing_over.value, "message": r.summary()}
        beats = [part["beat"] for p in pairs
                 for part in ((r.facts.get(p["standby"]) or {}).get("jiyue_dr_lag") or {}).values()
                 if isinstance(part, dict) and "beat" in part]
        rpo = round(max(0.0, lost_at - min(beats)), 1) if beats else None
        exp = copy_expectations(d.id, pairs, reference, "primary", "standby", inventory)
        exp["target_writes_since"] = began["measured_at"]
        exp["written_since_sync"] = verify.written_since(exp, began["measured_at"])
        result = self._verify(d, exp, "failover")
        rto = round(time.time() - lost_at, 1)
        detail = {"rpo_seconds": rpo, "rto_seconds": rto, "verified": result.ok, "compared": reference is not None,
                  "checks": result.passed, "failures": result.failures, "suite": str(result.directory),
                  "rpo_minutes_declared": d.rpo_minutes, "rto_minutes_declared": d.rto_minutes,
                  "mode": d.plan.mode.value}
        st(store.dr_exercise, d.id, "failover", rid, detail)
        if not result.ok and not force:
            st(store.protection_transition, d.id, {Protection.failing_over}, Protection.failing_over, run_id=rid,
               detail=detail, error="; ".join(result.failures[:3]))
            return {"system": d.id, "ok": False, "state": Protection.failing_over.value, **detail,
                    "message": f"the DR site fails its verification: {'; '.join(result.failures[:3])} (fix it "
                               "and run again, or --force to serve from it as it is)"}
        st(store.protection_transition, d.id, {Protection.failing_over}, Protection.failed_over, run_id=rid,
           detail=detail, error=None if result.ok else "; ".join(result.failures[:3]))
        return {"system": d.id, "ok": result.ok, "state": Protection.failed_over.value, **detail,
                "message": f"{result.passed} checks passed at the DR site" if result.ok else
                f"forced: the DR site serves although it fails its verification: {'; '.join(result.failures[:3])}"}

    def check_failback(self, d: DrSystem) -> None:
        state = self._state(d)
        if state not in _FAILBACK_FROM:
            raise DrError(f"{d.id}: its protection is {state or 'unprotected'}: only a system that failed over "
                          f"fails back (`jiyue dr failover --system {d.id}`)"
                          + ("; `jiyue dr protect` finishes the copy a failback began"
                             if state == Protection.protecting else ""))

    def failback(self, d: DrSystem) -> dict[str, Any]:
        """Serve ``d`` from its primary site again, with every write made at the DR site
        meanwhile (verified against the DR site as measured once both sides stopped their
        writes), then protect it again; the outcome, as recorded."""
        self.check_failback(d)
        store, rid, st = self.run.store, self.run.id, self.engine._st
        inventory = self.engine.inventory_for(d.system)
        pairs = self._began(d, Protection.failing_over)["pairs"]
        t0 = time.time()
        st(store.protection_transition, d.id, _FAILBACK_FROM, Protection.failing_back, run_id=rid,
           detail={"started_at": t0})
        if self.fence is not None:
            self.fence.restore(sorted({p["primary"] for p in pairs}))
        extra = {**self.extravars(d, pairs), "jiyue_clients": self._clients(d),
                 "jiyue_dr_service_address": self._front(pairs)["primary_address"]}

        def failed(message: str, **more: Any) -> dict[str, Any]:
            st(store.protection_transition, d.id, {Protection.failing_back}, Protection.failing_back, run_id=rid,
               detail=more or None, error=message)
            return {"system": d.id, "ok": False, "state": Protection.failing_back.value, "message": message, **more}

        r = self.run.runner.run("dr_failback_freeze.yml", extra, label=f"{d.id}-dr-failback-freeze",
                                inventory=inventory)
        if not r.ok:
            return failed(r.summary())
        reference = self._measure(pairs, "standby", inventory)
        r = self.run.runner.run("dr_failback.yml", extra, label=f"{d.id}-dr-failback", inventory=inventory)
        if not r.ok:
            return failed(r.summary())
        result = self._verify(d, copy_expectations(d.id, pairs, reference, "standby", "primary", inventory),
                              "failback")
        detail = {"verified": result.ok, "checks": result.passed, "failures": result.failures,
                  "suite": str(result.directory), "seconds": round(time.time() - t0, 1)}
        st(store.dr_exercise, d.id, "failback", rid, detail)
        if not result.ok:
            return failed("the primaries fail their verification: " + "; ".join(result.failures[:3]), **detail)
        st(store.protection_transition, d.id, {Protection.failing_back}, Protection.protecting, run_id=rid,
           detail=detail)
        again = self.protect(d)
        return {**again, **detail, "ok": again["ok"] and result.ok, "seconds": round(time.time() - t0, 1),
                "message": f"{result.passed} checks passed at the primary site; " + again["message"]}

    # ---- drills
    def check_drill(self, d: DrSystem) -> None:
        state = self._state(d)
        if state != Protection.protected:
            raise DrError(f"{d.id}: its protection is {state or 'unprotected'}: only a protected system's copy can "
                          f"be drilled (`jiyue dr protect --system {d.id}`)")
        if d.plan.mode is DrMode.cold and len(self.engine.targets(d.system)) > 1:
            raise DrError(f"{d.id}: cold, with {len(self.engine.targets(d.system))} primary targets: its backup "
                          "host restores one primary's backup at a time in a drill; restore each by hand from "
                          "/var/lib/jiyue-dr/backups/<primary>/latest")

    def _drill_inventory(self, d: DrSystem, pairs: list[dict[str, Any]], key: Path, directory: Path) -> Path:
        """The system's inventory, the DR hosts reached with the drill's key, whose forced command
        opens the shell inside the sandbox (the suite's ssh connections are its own:
        :func:`migration.verify.run_suite`, so none opened with the ordinary key is reused)."""
        inv = yaml.safe_load(self.engine.inventory_for(d.system).read_text(encoding="utf-8"))
        for p in pairs:
            inv["all"]["hosts"][p["standby"]]["ansible_ssh_private_key_file"] = str(key)
        return write_inventory(inv, directory / "inventory.yml")

    def drill(self, d: DrSystem) -> dict[str, Any]:
        """Bring ``d``'s DR copy up in an isolated sandbox on each DR host (the primary keeps
        serving, the replication keeps running), verify it there against the primaries as measured
        at the start, then discard it; the outcome, as recorded (``rto_seconds``: from the drill's
        start to the verification passed; ``lag_seconds``: the copy's lag when it started)."""
        self.check_drill(d)
        inventory = self.engine.inventory_for(d.system)
        pairs = self.pairs(d)
        t0 = time.time()
        lag = round(self.last_lag, 1) if self._beats(d, pairs) and self.last_lag is not None else None
        measured_at = time.time()
        reference = self._measure(pairs, "primary", inventory)
        wait = 2 * sync_interval(d.rpo_minutes, d.plan.mode) + 30
        if not self._caught_up(d, pairs, measured_at, wait):
            raise DrError(f"{d.id}: its DR copy did not catch up with the primaries within {wait} s of measuring "
                          "them, so a drill could not be verified; nothing was changed (`jiyue dr status`)")
        directory = self.run.dir / "dr" / f"{d.id}-drill"
        directory.mkdir(parents=True, exist_ok=True)
        key = directory / "drill_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"jiyue-dr-drill-{self.run.id}",
                        "-f", str(key)], check=True)
        extra = self.extravars(d, pairs)
        detail: dict[str, Any] = {"rto_minutes_declared": d.rto_minutes, "rpo_minutes_declared": d.rpo_minutes,
                                  "lag_seconds": lag, "mode": d.plan.mode.value}
        try:
            # a drill killed before its end left its sandbox: ended first, so nothing stale is verified
            r = self.run.runner.run("dr_drill.yml", {**extra, "jiyue_dr_drill_state": "down"},
                                    label=f"{d.id}-dr-drill-clear", inventory=inventory)
            if r.ok:
                r = self.run.runner.run("dr_drill.yml", {**extra, "jiyue_dr_drill_state": "up",
                                                         "jiyue_dr_drill_public_key": key.with_suffix(".pub")
                                                         .read_text(encoding="ascii").strip()},
                                        label=f"{d.id}-dr-drill-up", inventory=inventory)
            if not r.ok:
                detail.update(verified=False, rto_seconds=None, failures=[r.summary()], checks=0)
            else:
                exp = copy_expectations(d.id, pairs, reference, "primary", "standby",
                                        self._drill_inventory(d, pairs, key, directory))
                exp.update(services_enabled=False, target_writes_since=measured_at,
                           written_since_sync=verify.written_since(exp, measured_at))
                result = self._verify(d, exp, "drill")
                detail.update(verified=result.ok, rto_seconds=round(time.time() - t0, 1) if result.ok else None,
                              checks=result.passed, failures=result.failures, suite=str(result.directory))
        finally:
            down = self.run.runner.run("dr_drill.yml", {**extra, "jiyue_dr_drill_state": "down"},
                                       label=f"{d.id}-dr-drill-down", inventory=inventory, spare=True)
            for f in (key, key.with_suffix(".pub")):
                f.unlink(missing_ok=True)
        detail["discarded"] = down.ok
        ok = detail["verified"] and down.ok
        self.engine._st(self.run.store.dr_exercise, d.id, "drill", self.run.id, detail)
        message = (f"{detail['checks']} checks passed on the drill's copy" if detail["verified"] else
                   "the drill's copy fails its verification: " + "; ".join(detail["failures"][:3]))
        if not down.ok:
            message += f"; its sandbox could not be ended: {down.summary()} (run the drill again to end it)"
        return {"system": d.id, "ok": ok, **detail, "message": message}


def exercise_report(store: Any, model: CityModel) -> dict[str, Any]:
    """Drills, failovers and failbacks as recorded: per exercise the declared RTO and RPO against
    the achieved ones, and whether it passed (verified, within both; a failback: verified)."""
    rows = []
    for e in store.dr_exercises():
        x, system = e["detail"], model.systems.get(e["system"])
        dr = system.dr if system is not None else None
        rto_declared = x.get("rto_minutes_declared", dr.rto_minutes if dr else None)
        rpo_declared = x.get("rpo_minutes_declared", dr.rpo_minutes if dr else None)
        rto, rpo = x.get("rto_seconds"), x.get("rpo_seconds")
        within_rto = rto is not None and rto_declared is not None and rto <= rto_declared * 60
        within_rpo = rpo is not None and rpo_declared is not None and rpo <= rpo_declared * 60
        passed = bool(x.get("verified")) and (e["kind"] == "failback" or within_rto) and \
            (e["kind"] != "failover" or within_rpo)
        rows.append({"system": e["system"], "kind": e["kind"], "at": e["at"], "mode": x.get("mode"),
                     "rto_minutes_declared": rto_declared, "rto_seconds": rto,
                     "rpo_minutes_declared": rpo_declared, "rpo_seconds": rpo, "lag_seconds": x.get("lag_seconds"),
                     "seconds": x.get("seconds"), "verified": bool(x.get("verified")), "checks": x.get("checks"),
                     "failures": x.get("failures") or [], "passed": passed,
                     "rto_share": round(min(1.0, rto / (rto_declared * 60)), 4) if within_rto or (
                         rto is not None and rto_declared) else None})
    return {"exercises": rows, "passed": sum(r["passed"] for r in rows), "failed": sum(not r["passed"] for r in rows)}
