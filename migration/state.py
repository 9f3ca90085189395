"""Every system's migration lifecycle, persisted in SQLite; every transition recorded.

::

    registered → assessed → (retire → decommissioned)
                          | planned → prechecked → replicated → test-cutover → verified-test
                                    → cutover → verified → finalized
    rolled-back is reachable from every step after replicated; a rolled-back system can be
    planned again.

A step is recorded when it starts and when it ends, in one transaction each, so a driver killed
anywhere (``kill -9``) leaves a state the next run resumes from: a step that started and never
ended is run again (the playbooks are idempotent), a step that ended is never redone. One driver
at a time: the store takes an exclusive ``flock`` on ``<db>.lock`` and a second driver is refused
with the first one's pid. A state file written by a newer jiyue is refused, never rewritten.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


class State(StrEnum):
    registered = "registered"
    assessed = "assessed"
    retire = "retire"
    decommissioned = "decommissioned"
    planned = "planned"
    prechecked = "prechecked"
    replicated = "replicated"
    test_cutover = "test-cutover"
    verified_test = "verified-test"
    cutover = "cutover"
    verified = "verified"
    finalized = "finalized"
    rolled_back = "rolled-back"


_AFTER_REPLICATE = {State.replicated, State.test_cutover, State.verified_test, State.cutover, State.verified}

ALLOWED: dict[State, set[State]] = {
    State.registered: {State.assessed, State.planned, State.retire},
    State.assessed: {State.retire, State.planned},
    State.retire: {State.decommissioned, State.planned},
    State.decommissioned: set(),
    State.planned: {State.prechecked, State.retire},
    State.prechecked: {State.replicated, State.planned},
    State.replicated: {State.replicated, State.test_cutover, State.rolled_back},
    State.test_cutover: {State.verified_test, State.rolled_back},
    State.verified_test: {State.cutover, State.rolled_back, State.replicated},
    State.cutover: {State.verified, State.rolled_back},
    State.verified: {State.finalized, State.rolled_back},
    State.finalized: set(),
    State.rolled_back: {State.planned, State.prechecked},
}

#: the order of the forward path, for "how far is this system"
ORDER = [State.registered, State.assessed, State.planned, State.prechecked, State.replicated, State.test_cutover,
         State.verified_test, State.cutover, State.verified, State.finalized]


class StateError(Exception):
    """Bad state input: a file from the future, an impossible transition, a busy store."""


class Busy(StateError):
    pass


@dataclass(frozen=True)
class SystemState:
    id: str
    department: str
    wave: int | None
    state: State
    updated_at: str
    error: str | None
    running_step: str | None


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class Store:
    """The state database. Open it with :meth:`open` (as a context manager) to hold the lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_fd: int | None = None
        self.db: sqlite3.Connection | None = None

    @classmethod
    @contextmanager
    def open(cls, path: Path, *, lock: bool = True) -> Iterator[Store]:
        store = cls(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if lock:
            store._acquire()
        try:
            store.db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
            try:
                store.db.execute("PRAGMA journal_mode=WAL")
                store.db.execute("PRAGMA synchronous=FULL")
            except sqlite3.DatabaseError as exc:
                raise StateError(f"{path}: not a jiyue state database ({exc}); "
                                 "point --state at another file, or move this one away") from exc
            store._migrate()
            yield store
        finally:
            if store.db is not None:
                store.db.close()
            store._release()

    # ---- lock
    def _acquire(self) -> None:
        lock_path = self.path.with_suffix(self.path.suffix + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise Busy(f"{self.path}: another migration driver is running ({holder}); wait for it to finish, "
                       "or stop it first (its pid is above)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} since {now()}".encode())
        self._lock_fd = fd

    def _release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---- schema
    def _migrate(self) -> None:
        db = self._db
        try:
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: not a jiyue state database ({exc}); "
                             "point --state at another file, or move this one away") from exc
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise StateError(f"{self.path}: written by a newer jiyue (state schema {row[0]}, this one "
                             f"knows {SCHEMA_VERSION}); upgrade jiyue, nothing was changed")
        with self.tx():
            db.execute("""CREATE TABLE IF NOT EXISTS systems (
                id TEXT PRIMARY KEY, department TEXT NOT NULL, wave INTEGER, state TEXT NOT NULL,
                updated_at TEXT NOT NULL, error TEXT, running_step TEXT)""")
            db.execute("""CREATE TABLE IF NOT EXISTS transitions (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, system TEXT NOT NULL, from_state TEXT, to_state TEXT NOT NULL,
                at TEXT NOT NULL, run_id TEXT, detail TEXT)""")
            db.execute("""CREATE TABLE IF NOT EXISTS steps (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, system TEXT NOT NULL, step TEXT NOT NULL, run_id TEXT,
                started_at TEXT NOT NULL, finished_at TEXT, outcome TEXT, seconds REAL, detail TEXT)""")
            db.execute("""CREATE TABLE IF NOT EXISTS runs (
                id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, pid INTEGER, argv TEXT,
                outcome TEXT)""")
            db.execute("""CREATE TABLE IF NOT EXISTS processes (
                run_id TEXT NOT NULL, pid INTEGER NOT NULL, start INTEGER NOT NULL, label TEXT NOT NULL,
                started_at TEXT NOT NULL, ended_at TEXT, PRIMARY KEY (run_id, pid, start))""")
            db.execute("""CREATE TABLE IF NOT EXISTS evidence (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, system TEXT NOT NULL, kind TEXT NOT NULL,
                at TEXT NOT NULL, data TEXT NOT NULL)""")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    @property
    def _db(self) -> sqlite3.Connection:
        assert self.db is not None, "open the store with Store.open()"
        return self.db

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # ---- systems
    def register(self, system: str, department: str) -> None:
        with self.tx() as db:
            if db.execute("SELECT 1 FROM systems WHERE id=?", (system,)).fetchone() is None:
                t = now()
                db.execute("INSERT INTO systems VALUES (?,?,?,?,?,?,?)",
                           (system, department, None, State.registered.value, t, None, None))
                db.execute("INSERT INTO transitions (system, from_state, to_state, at) VALUES (?,?,?,?)",
                           (system, None, State.registered.value, t))

    def get(self, system: str) -> SystemState | None:
        row = self._db.execute("SELECT id, department, wave, state, updated_at, error, running_step FROM systems "
                               "WHERE id=?", (system,)).fetchone()
        return _row(row) if row else None

    def all(self) -> list[SystemState]:
        rows = self._db.execute("SELECT id, department, wave, state, updated_at, error, running_step FROM systems "
                                "ORDER BY wave, department, id").fetchall()
        return [_row(r) for r in rows]

    def set_wave(self, system: str, wave: int | None) -> None:
        with self.tx() as db:
            db.execute("UPDATE systems SET wave=? WHERE id=?", (wave, system))

    def transition(self, system: str, to: State, *, run_id: str | None = None, detail: Any = None,
                   force: bool = False) -> None:
        with self.tx() as db:
            row = db.execute("SELECT state FROM systems WHERE id=?", (system,)).fetchone()
            if row is None:
                raise StateError(f"no system {system!r} in the state")
            cur = State(row[0])
            if not force and to not in ALLOWED[cur]:
                raise StateError(f"{system}: cannot go from {cur.value} to {to.value}")
            t = now()
            db.execute("UPDATE systems SET state=?, updated_at=?, error=NULL WHERE id=?", (to.value, t, system))
            db.execute("INSERT INTO transitions (system, from_state, to_state, at, run_id, detail) "
                       "VALUES (?,?,?,?,?,?)", (system, cur.value, to.value, t, run_id, _json(detail)))

    def fail(self, system: str, message: str) -> None:
        with self.tx() as db:
            db.execute("UPDATE systems SET error=?, updated_at=? WHERE id=?", (message, now(), system))

    # ---- steps
    def step_started(self, system: str, step: str, run_id: str) -> int:
        with self.tx() as db:
            db.execute("UPDATE systems SET running_step=? WHERE id=?", (step, system))
            cur = db.execute("INSERT INTO steps (system, step, run_id, started_at) VALUES (?,?,?,?)",
                             (system, step, run_id, now()))
            return int(cur.lastrowid or 0)

    def step_finished(self, seq: int, system: str, outcome: str, seconds: float, detail: Any = None) -> None:
        with self.tx() as db:
            db.execute("UPDATE steps SET finished_at=?, outcome=?, seconds=?, detail=? WHERE seq=?",
                       (now(), outcome, seconds, _json(detail), seq))
            db.execute("UPDATE systems SET running_step=NULL WHERE id=?", (system,))

    def steps(self, system: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT seq, system, step, run_id, started_at, finished_at, outcome, seconds, detail FROM steps"
        args: tuple[Any, ...] = ()
        if system:
            q += " WHERE system=?"
            args = (system,)
        cols = ["seq", "system", "step", "run_id", "started_at", "finished_at", "outcome", "seconds", "detail"]
        out = []
        for r in self._db.execute(q + " ORDER BY seq", args).fetchall():
            d = dict(zip(cols, r, strict=True))
            d["detail"] = json.loads(d["detail"]) if d["detail"] else None
            out.append(d)
        return out

    def transitions(self, system: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT seq, system, from_state, to_state, at, run_id, detail FROM transitions"
        args: tuple[Any, ...] = ()
        if system:
            q += " WHERE system=?"
            args = (system,)
        cols = ["seq", "system", "from", "to", "at", "run_id", "detail"]
        return [dict(zip(cols, r, strict=True)) for r in self._db.execute(q + " ORDER BY seq", args).fetchall()]

    # ---- runs
    def run_started(self, run_id: str, argv: list[str]) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?)", (run_id, now(), None, os.getpid(), json.dumps(argv),
                                                                  None))

    def run_finished(self, run_id: str, outcome: str) -> None:
        with self.tx() as db:
            db.execute("UPDATE runs SET finished_at=?, outcome=? WHERE id=?", (now(), outcome, run_id))

    def process_started(self, run_id: str, pid: int, start: int, label: str) -> None:
        """A process group the run started (a playbook's, a verification suite's)."""
        with self.tx() as db:
            db.execute("INSERT OR IGNORE INTO processes VALUES (?,?,?,?,?,NULL)", (run_id, pid, start, label, now()))

    def process_ended(self, run_id: str, pid: int, start: int) -> None:
        with self.tx() as db:
            db.execute("UPDATE processes SET ended_at=? WHERE run_id=? AND pid=? AND start=?",
                       (now(), run_id, pid, start))

    def processes(self, run_id: str | None = None, *, running: bool = False) -> list[dict[str, Any]]:
        """The process groups runs started (a run's, with ``run_id``), with ``running`` those never
        seen ending."""
        q = "SELECT run_id, pid, start, label, started_at, ended_at FROM processes WHERE 1=1"
        args: list[Any] = []
        if run_id is not None:
            q += " AND run_id=?"
            args.append(run_id)
        if running:
            q += " AND ended_at IS NULL"
        cols = ["run_id", "pid", "start", "label", "started_at", "ended_at"]
        return [dict(zip(cols, r, strict=True)) for r in self._db.execute(q + " ORDER BY started_at", args)]

    def interrupted_runs(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT id FROM runs WHERE finished_at IS NULL").fetchall()]

    # ---- evidence (audit)
    def add_evidence(self, system: str, kind: str, data: Any) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO evidence (system, kind, at, data) VALUES (?,?,?,?)",
                       (system, kind, now(), json.dumps(data, ensure_ascii=False)))

    def evidence(self, system: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT system, kind, at, data FROM evidence"
        args: tuple[Any, ...] = ()
        if system:
            q += " WHERE system=?"
            args = (system,)
        return [{"system": s, "kind": k, "at": a, "data": json.loads(d)}
                for s, k, a, d in self._db.execute(q + " ORDER BY seq", args).fetchall()]


def _row(r: tuple[Any, ...]) -> SystemState:
    return SystemState(id=r[0], department=r[1], wave=r[2], state=State(r[3]), updated_at=r[4], error=r[5],
                       running_step=r[6])


def _json(detail: Any) -> str | None:
    return None if detail is None else json.dumps(detail, ensure_ascii=False, default=str)
