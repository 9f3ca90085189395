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
with the first one's pid. If the disk is full, the transaction being written rolls back
(:class:`StateFull`): a step whose end could not be recorded stays running and is run again.

Readers (``Store.open(path, write=False)``: status, reports, the wave plan, the audit's scores)
open the file read-only and never create, convert or lock it against a driver; a state not
written yet reads as empty. What is not a jiyue state (an empty file, another program's SQLite,
a folder, damaged pages, a newer schema) is refused, by readers and drivers alike, before
anything is written. A driver's files are private to its user: the database, its -wal, -shm and
lock 0600, the runs' directories beside it 0700, everything written under them unreadable to
others (:func:`private_files`).
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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
    """Bad state input: not a state file, a file from the future, an impossible transition, a busy
    store."""


class Busy(StateError):
    pass


class StateFull(StateError):
    """The disk holding the state is full: what was being recorded was not (its transaction rolled
    back), the state is as it was before, and the driver stops."""


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


#: the tables every state file has (schema 1): a file without them is refused; a driver adds
#: the later ones (processes) to a state that lacks them
TABLES = ("meta", "systems", "transitions", "steps", "runs", "evidence")
#: where a driver keeps its runs' directories: beside the state database (see migration.run)
RUNS = "runs"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_FULL = 13
_SQLITE_IOERR = 10
_PRIVATE_FILE, _PRIVATE_DIR = 0o600, 0o700

_umask_lock = threading.Lock()
_umask_held: list[int] = []  # the umask before the first holder, while any driver holds it


@contextmanager
def private_files() -> Iterator[None]:
    """While any driver of this process holds it, every file and folder it creates (the state's
    -wal and -shm, the runs' inventories, Ansible's artifacts, the verification's files) is
    private to its user: umask 077, restored when the last holder lets go."""
    with _umask_lock:
        previous = os.umask(0o077)
        _umask_held.append(previous)
    try:
        yield
    finally:
        with _umask_lock:
            first = _umask_held[0]
            _umask_held.pop()
            if not _umask_held:
                os.umask(first)


class Store:
    """The state database. Open it with :meth:`open` (as a context manager): ``write=True`` for a
    driver (created if new, locked, private), ``write=False`` for a reader (read-only: never
    created, switched to WAL, locked against a driver, nor changed in any way)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_fd: int | None = None
        self.db: sqlite3.Connection | None = None
        #: False for a reader of a state not written yet: it reads as empty
        self.exists = True

    @classmethod
    @contextmanager
    def open(cls, path: Path, *, write: bool) -> Iterator[Store]:
        """The state at ``path``. A file that is not a jiyue state (empty, another program's
        SQLite, a folder, damaged pages, a newer schema) is refused with :class:`StateError`
        before anything is written; a full disk is :class:`StateFull`."""
        store = cls(path)
        try:
            if write:
                with private_files():
                    store._open_writer()
                    yield store
            else:
                store._open_reader()
                yield store
        finally:
            if store.db is not None:
                store.db.close()
            store._release()

    # ---- opening
    def _open_reader(self) -> None:
        """Read-only (``mode=ro``). A state nobody is writing (no -wal beside it) is read as
        immutable, so that SQLite creates no -wal or -shm, under a shared lock that keeps a driver
        from starting meanwhile; while a driver runs, its WAL is read as it stands (WAL readers
        never wait for the writer). A state not written yet reads as empty."""
        if not self._inspect():
            self.exists = False
            self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self._create_tables()
            return
        self.db = self._connect_ro(self._quiet_wal() and self._shared_lock())
        self._check(self.db)

    def _open_writer(self) -> None:
        new = not self._checked()  # refused before the lock file exists
        with self._errors("creating the state"):
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=_PRIVATE_DIR)
        self._acquire()
        if new and self._checked():  # another driver created it meanwhile
            new = False
        if new:
            with self._errors("creating the state"):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE))
        self._make_private()
        with self._errors("opening the state"):
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
        self._migrate()

    def _checked(self) -> bool:
        """Whether there is a state file (False: none yet), checked on a read-only connection of
        its own."""
        if not self._inspect():
            return False
        db = self._connect_ro(self._quiet_wal())
        try:
            self._check(db)
        finally:
            db.close()
        return True

    def _inspect(self) -> bool:
        """Whether there is a state file to open (False: none yet); refuse what cannot be one,
        by looking at it only."""
        p = self.path
        if p.is_dir():
            raise StateError(f"{p}: is a folder, not a state database; point --state at a file "
                             f"(e.g. {p / 'state.db'})")
        if not p.exists():
            if p.is_symlink():
                raise StateError(f"{p}: is a dangling symbolic link; point --state at a file")
            return False
        if not p.is_file():
            raise StateError(f"{p}: is not a regular file; point --state at a state database")
        try:
            with p.open("rb") as f:
                head = f.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise StateError(f"{p}: cannot be read ({exc.strerror}); nothing was changed") from exc
        if not head:
            raise StateError(f"{p}: is an empty file, not a jiyue state database; nothing was changed: "
                             "remove it or point --state at another file (a new state is created where "
                             "there is none)")
        if head != _SQLITE_MAGIC:
            raise self._not_ours("not an SQLite file")
        return True

    def _connect_ro(self, immutable: bool) -> sqlite3.Connection:
        uri = self.path.absolute().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")
        try:
            return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StateError(f"{self.path}: cannot be opened ({exc}); nothing was changed") from exc

    def _quiet_wal(self) -> bool:
        """No driver is writing: the -wal a writer keeps while it is open is not there."""
        return not self.path.with_name(self.path.name + "-wal").exists()

    def _shared_lock(self) -> bool:
        """A shared lock on an existing lock file (never created by a reader); False if a driver
        holds it. No lock file: no driver ever ran here."""
        try:
            fd = os.open(self._lock_path, os.O_RDONLY)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _check(self, db: sqlite3.Connection) -> None:
        """A jiyue state, undamaged, of a schema this jiyue knows; else refused, unchanged."""
        try:
            damage = [r[0] for r in db.execute("PRAGMA integrity_check(5)").fetchall()]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise self._damaged(str(exc)) from exc
        if damage != ["ok"]:
            raise self._damaged("; ".join(damage))
        if not set(TABLES) <= tables:
            what = f"its tables: {', '.join(sorted(tables))}" if tables else "no tables"
            raise self._not_ours(f"{what}; no jiyue schema")
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None or not str(row[0]).isdigit():
            raise self._not_ours("no schema version")
        if int(row[0]) > SCHEMA_VERSION:
            raise StateError(f"{self.path}: written by a newer jiyue (state schema {row[0]}, this one "
                             f"knows {SCHEMA_VERSION}); upgrade jiyue, nothing was changed")

    def _not_ours(self, why: str) -> StateError:
        return StateError(f"{self.path}: not a jiyue state database ({why}); nothing was changed: "
                          "point --state at another file, or move this one away")

    def _damaged(self, why: str) -> StateError:
        return StateError(f"{self.path}: the state database is damaged ({why}); nothing was changed: "
                          "restore it from a backup, or move it away to start a new state (the runs' "
                          "directories beside it keep each step's artifacts)")

    def _make_private(self) -> None:
        """The database, its -wal, -shm and lock 0600, the runs' folder 0700 (files from before
        they were private included; a folder the user chose for the state is left as it is)."""
        for p in (self.path, *(self.path.with_name(self.path.name + s) for s in ("-wal", "-shm"))):
            with suppress(FileNotFoundError, PermissionError):
                if p.stat().st_mode & 0o077:
                    p.chmod(_PRIVATE_FILE)
        with suppress(FileNotFoundError, NotADirectoryError, PermissionError):
            runs = self.path.parent / RUNS
            if runs.stat().st_mode & 0o077:
                runs.chmod(_PRIVATE_DIR)

    # ---- errors
    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """SQLite's errors as the store's: a full disk as :class:`StateFull`, a record that cannot
        be read as a damaged state."""
        try:
            yield
        except sqlite3.Error as exc:
            if self._is_full(exc):
                raise self._full(what) from exc
            raise StateError(f"{self.path}: {what}: {exc}") from exc
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise self._full(what) from exc
            raise
        except ValueError as exc:  # a row's JSON or state that does not decode
            raise self._damaged(f"a record cannot be read: {exc}") from exc

    def _is_full(self, exc: sqlite3.Error) -> bool:
        code = getattr(exc, "sqlite_errorcode", 0)
        if code & 0xFF == _SQLITE_FULL:
            return True
        if code & 0xFF == _SQLITE_IOERR:  # e.g. the -shm could not grow
            with suppress(OSError):
                return shutil.disk_usage(self.path.parent).free < 64 * 1024
        return False

    def _full(self, what: str) -> StateFull:
        return StateFull(f"the disk holding {self.path} is full: {what} was not recorded, the state is as "
                         "it was before; free space there and run the same command again")

    # ---- lock
    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _acquire(self, wait: float = 2.0) -> None:
        """The driver's exclusive lock; a reader holds it shared for a moment at most, so it is
        waited for a few seconds before the store is refused as busy."""
        with self._errors("taking the lock"):
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, _PRIVATE_FILE)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                holder = os.read(fd, 200).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise Busy(f"{self.path}: another migration driver is running ({holder}); wait for it to "
                           "finish, or stop it first (its pid is above)") from None
        self._lock_fd = fd
        with self._errors("taking the lock"):
            os.fchmod(fd, _PRIVATE_FILE)
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} since {now()}".encode())

    def _release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---- schema
    def _migrate(self) -> None:
        with self.tx("the schema"):
            self._create_tables()
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def _create_tables(self) -> None:
        db = self._db
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
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
        # DR protection (migration.dr): a lifecycle of its own beside the migration's
        db.execute("""CREATE TABLE IF NOT EXISTS protection (
            system TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL, run_id TEXT, error TEXT)""")
        db.execute("""CREATE TABLE IF NOT EXISTS protection_transitions (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, system TEXT NOT NULL, from_state TEXT, to_state TEXT NOT NULL,
            at TEXT NOT NULL, run_id TEXT, detail TEXT)""")
        # drills, failovers and failbacks, as measured (the DR report reads them)
        db.execute("""CREATE TABLE IF NOT EXISTS dr_exercises (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, system TEXT NOT NULL, kind TEXT NOT NULL,
            at TEXT NOT NULL, run_id TEXT, detail TEXT NOT NULL)""")
        db.execute("""CREATE TABLE IF NOT EXISTS evidence (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, system TEXT NOT NULL, kind TEXT NOT NULL,
            at TEXT NOT NULL, data TEXT NOT NULL)""")

    @property
    def _db(self) -> sqlite3.Connection:
        assert self.db is not None, "open the store with Store.open()"
        return self.db

    @contextmanager
    def tx(self, what: str = "a change") -> Iterator[sqlite3.Connection]:
        """One transaction: all of it is recorded or, on any error (a full disk too), none of it."""
        db = self._db
        with self._errors(what):
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    with suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise

    def _rows(self, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._errors("reading the state"):
            return self._db.execute(query, args).fetchall()

    # ---- systems
    def register(self, system: str, department: str) -> None:
        with self.tx(f"the registration of {system}") as db:
            if db.execute("SELECT 1 FROM systems WHERE id=?", (system,)).fetchone() is None:
                t = now()
                db.execute("INSERT INTO systems VALUES (?,?,?,?,?,?,?)",
                           (system, department, None, State.registered.value, t, None, None))
                db.execute("INSERT INTO transitions (system, from_state, to_state, at) VALUES (?,?,?,?)",
                           (system, None, State.registered.value, t))

    def get(self, system: str) -> SystemState | None:
        rows = self._rows("SELECT id, department, wave, state, updated_at, error, running_step FROM systems "
                          "WHERE id=?", (system,))
        with self._errors("reading the state"):
            return _row(rows[0]) if rows else None

    def all(self) -> list[SystemState]:
        rows = self._rows("SELECT id, department, wave, state, updated_at, error, running_step FROM systems "
                          "ORDER BY wave, department, id")
        with self._errors("reading the state"):
            return [_row(r) for r in rows]

    def set_wave(self, system: str, wave: int | None) -> None:
        with self.tx(f"the wave of {system}") as db:
            db.execute("UPDATE systems SET wave=? WHERE id=?", (wave, system))

    def transition(self, system: str, to: State, *, run_id: str | None = None, detail: Any = None,
                   force: bool = False) -> None:
        with self.tx(f"{system} going to {to.value}") as db:
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
        with self.tx(f"the error of {system}") as db:
            db.execute("UPDATE systems SET error=?, updated_at=? WHERE id=?", (message, now(), system))

    # ---- DR protection: states are migration.dr's (this store only records them)
    def protection(self, system: str | None = None) -> dict[str, dict[str, Any]]:
        """Each system's protection: {system: {state, updated_at, run_id, error}}; none if never protected."""
        if not self._has_table("protection"):
            return {}
        q = "SELECT system, state, updated_at, run_id, error FROM protection"
        rows = self._rows(q + " WHERE system=?", (system,)) if system else self._rows(q + " ORDER BY system")
        return {r[0]: {"state": r[1], "updated_at": r[2], "run_id": r[3], "error": r[4]} for r in rows}

    def protection_transition(self, system: str, from_states: set[str | None], to: str, *,
                              run_id: str | None = None, detail: Any = None, error: str | None = None) -> None:
        """Move ``system``'s protection to ``to`` if it is in one of ``from_states`` (None: never
        protected), recording the transition; else :class:`StateError`."""
        with self.tx(f"the protection of {system} going to {to}") as db:
            row = db.execute("SELECT state FROM protection WHERE system=?", (system,)).fetchone()
            cur = row[0] if row else None
            if cur not in from_states:
                raise StateError(f"{system}: its DR protection cannot go from {cur or 'unprotected'} to {to}")
            t = now()
            db.execute("INSERT INTO protection VALUES (?,?,?,?,?) ON CONFLICT (system) DO UPDATE SET "
                       "state=excluded.state, updated_at=excluded.updated_at, run_id=excluded.run_id, "
                       "error=excluded.error", (system, to, t, run_id, error))
            db.execute("INSERT INTO protection_transitions (system, from_state, to_state, at, run_id, detail) "
                       "VALUES (?,?,?,?,?,?)", (system, cur, to, t, run_id, _json(detail)))

    def protection_transitions(self, system: str | None = None) -> list[dict[str, Any]]:
        if not self._has_table("protection_transitions"):
            return []
        q = "SELECT seq, system, from_state, to_state, at, run_id, detail FROM protection_transitions"
        rows = self._rows(q + " WHERE system=? ORDER BY seq", (system,)) if system else self._rows(q + " ORDER BY seq")
        return [{"seq": r[0], "system": r[1], "from": r[2], "to": r[3], "at": r[4], "run_id": r[5],
                 "detail": json.loads(r[6]) if r[6] else None} for r in rows]

    def dr_exercise(self, system: str, kind: str, run_id: str | None, detail: dict[str, Any]) -> None:
        """Record a drill, failover or failback of ``system`` as measured (one transaction)."""
        with self.tx(f"the {kind} of {system}") as db:
            db.execute("INSERT INTO dr_exercises (system, kind, at, run_id, detail) VALUES (?,?,?,?,?)",
                       (system, kind, now(), run_id, _json(detail)))

    def dr_exercises(self, system: str | None = None) -> list[dict[str, Any]]:
        if not self._has_table("dr_exercises"):
            return []
        q = "SELECT seq, system, kind, at, run_id, detail FROM dr_exercises"
        rows = self._rows(q + " WHERE system=? ORDER BY seq", (system,)) if system else self._rows(q + " ORDER BY seq")
        return [{"seq": r[0], "system": r[1], "kind": r[2], "at": r[3], "run_id": r[4], "detail": json.loads(r[5])}
                for r in rows]

    def _has_table(self, name: str) -> bool:
        """Whether the state has the table (a read-only store of an older driver may not)."""
        return bool(self._rows("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)))

    # ---- steps
    def step_started(self, system: str, step: str, run_id: str) -> int:
        """Record that ``step`` starts (one transaction). Until :meth:`step_finished` records its
        end, the step is running: the next run does it again."""
        with self.tx(f"the start of {step} on {system}") as db:
            db.execute("UPDATE systems SET running_step=? WHERE id=?", (step, system))
            cur = db.execute("INSERT INTO steps (system, step, run_id, started_at) VALUES (?,?,?,?)",
                             (system, step, run_id, now()))
            return int(cur.lastrowid or 0)

    def step_finished(self, seq: int, system: str, outcome: str, seconds: float, detail: Any = None) -> None:
        """Record a step's end (one transaction). If it cannot be written (:class:`StateFull`), the
        step stays running, and so is done again by the next run."""
        with self.tx(f"the end of a step on {system}") as db:
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
        for r in self._rows(q + " ORDER BY seq", args):
            d = dict(zip(cols, r, strict=True))
            with self._errors("reading the state"):
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
        return [dict(zip(cols, r, strict=True)) for r in self._rows(q + " ORDER BY seq", args)]

    # ---- runs
    def run_started(self, run_id: str, argv: list[str]) -> None:
        with self.tx(f"the start of run {run_id}") as db:
            db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?)", (run_id, now(), None, os.getpid(), json.dumps(argv),
                                                                  None))

    def run_finished(self, run_id: str, outcome: str) -> None:
        with self.tx(f"the end of run {run_id}") as db:
            db.execute("UPDATE runs SET finished_at=?, outcome=? WHERE id=?", (now(), outcome, run_id))

    def process_started(self, run_id: str, pid: int, start: int, label: str) -> None:
        """A process group the run started (a playbook's, a verification suite's)."""
        with self.tx(f"a process of run {run_id}") as db:
            db.execute("INSERT OR IGNORE INTO processes VALUES (?,?,?,?,?,NULL)", (run_id, pid, start, label, now()))

    def process_ended(self, run_id: str, pid: int, start: int) -> None:
        with self.tx(f"a process of run {run_id}") as db:
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
        return [dict(zip(cols, r, strict=True)) for r in self._rows(q + " ORDER BY started_at", tuple(args))]

    def interrupted_runs(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT id FROM runs WHERE finished_at IS NULL")]

    # ---- evidence (audit)
    def add_evidence(self, system: str, kind: str, data: Any) -> None:
        with self.tx(f"the evidence of {system}") as db:
            db.execute("INSERT INTO evidence (system, kind, at, data) VALUES (?,?,?,?)",
                       (system, kind, now(), json.dumps(data, ensure_ascii=False)))

    def evidence(self, system: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT system, kind, at, data FROM evidence"
        args: tuple[Any, ...] = ()
        if system:
            q += " WHERE system=?"
            args = (system,)
        rows = self._rows(q + " ORDER BY seq", args)
        with self._errors("reading the state"):
            return [{"system": s, "kind": k, "at": a, "data": json.loads(d)} for s, k, a, d in rows]


def _row(r: tuple[Any, ...]) -> SystemState:
    return SystemState(id=r[0], department=r[1], wave=r[2], state=State(r[3]), updated_at=r[4], error=r[5],
                       running_step=r[6])


def _json(detail: Any) -> str | None:
    return None if detail is None else json.dumps(detail, ensure_ascii=False, default=str)
