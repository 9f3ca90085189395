"""The migration state machine, its store, and the wave plan (no lab needed)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time

import pytest

from jiyue.registry import DEFAULT_CITY, load_city
from migration.state import SCHEMA_VERSION, Busy, State, StateError, Store
from migration.waves import plan_waves


def test_lifecycle_and_every_transition_recorded(tmp_path):
    db = tmp_path / "state.db"
    with Store.open(db, write=True) as s:
        s.register("a-web", "a")
        for to in (State.planned, State.prechecked, State.replicated, State.test_cutover, State.verified_test,
                   State.cutover, State.verified, State.finalized):
            s.transition("a-web", to, run_id="r1")
        assert s.get("a-web").state is State.finalized
        assert [t["to"] for t in s.transitions("a-web")] == [
            "registered", "planned", "prechecked", "replicated", "test-cutover", "verified-test", "cutover",
            "verified", "finalized"]
        with pytest.raises(StateError, match="cannot go from finalized to rolled-back"):
            s.transition("a-web", State.rolled_back)


@pytest.mark.parametrize("before", [State.replicated, State.test_cutover, State.verified_test, State.cutover,
                                    State.verified])
def test_rolled_back_reachable_from_every_step_after_replicated(tmp_path, before):
    with Store.open(tmp_path / "s.db", write=True) as s:
        s.register("x", "d")
        path = [State.planned, State.prechecked, State.replicated, State.test_cutover, State.verified_test,
                State.cutover, State.verified]
        for to in path[: path.index(before) + 1]:
            s.transition("x", to)
        s.transition("x", State.rolled_back)
        assert s.get("x").state is State.rolled_back


def test_not_rolled_back_before_replicated(tmp_path):
    with Store.open(tmp_path / "s.db", write=True) as s:
        s.register("x", "d")
        s.transition("x", State.planned)
        with pytest.raises(StateError):
            s.transition("x", State.rolled_back)


def test_state_survives_reopening_and_an_unfinished_step_is_visible(tmp_path):
    db = tmp_path / "s.db"
    with Store.open(db, write=True) as s:
        s.register("x", "d")
        s.transition("x", State.planned)
        s.step_started("x", "precheck", "r1")  # then the driver dies
    with Store.open(db, write=True) as s:
        got = s.get("x")
        assert got.state is State.planned and got.running_step == "precheck"
        assert s.steps("x")[0]["finished_at"] is None


def _hold(db: str, ready, release) -> None:  # noqa: ANN001
    from pathlib import Path

    with Store.open(Path(db), write=True):
        ready.set()
        release.wait(10)


def test_two_drivers_refuse_to_run_at_once(tmp_path):
    db = tmp_path / "s.db"
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold, args=(str(db), ready, release))
    p.start()
    try:
        assert ready.wait(10)
        with (pytest.raises(Busy, match=rf"another migration driver is running \(pid {p.pid}"),
              Store.open(db, write=True)):
            pass
    finally:
        release.set()
        p.join(10)
    with Store.open(db, write=True):  # free again once the first one is gone
        pass


def test_a_state_file_from_the_future_is_refused_and_left_alone(tmp_path, cli):
    db = tmp_path / "s.db"
    with Store.open(db, write=True):
        pass
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    before = db.read_bytes()
    with pytest.raises(StateError, match="written by a newer jiyue"), Store.open(db, write=True):
        pass
    result = cli("migrate", "status", "--state", db)
    assert result.exit_code == 2 and "written by a newer jiyue" in result.stderr
    time.sleep(0.01)
    assert db.read_bytes() == before


def test_not_a_state_file(tmp_path, cli):
    db = tmp_path / "s.db"
    db.write_text("hello, I am not SQLite")
    result = cli("migrate", "status", "--state", db)
    assert result.exit_code == 2 and "not a jiyue state database" in result.stderr


def test_wave_plan_pilot_first_and_dependencies_before_dependents():
    model = load_city(DEFAULT_CITY)
    wp = plan_waves(model, capacity=40)
    assert wp.waves[0].departments == list(model.city.pilot_departments)
    wave_of = {s: w.index for w in wp.waves for s in w.systems}
    for sid, w in wave_of.items():
        for dep in model.systems[sid].depends_on:
            if dep in wave_of and wave_of[dep] > 0 and w > 0:
                assert wave_of[dep] <= w, f"{sid} (wave {w}) before its dependency {dep} (wave {wave_of[dep]})"
            if dep in wave_of and wave_of[dep] == w:
                order = wp.waves[w].systems
                assert order.index(dep) < order.index(sid)
    for w in wp.waves[1:]:
        assert len(w.systems) <= 40 or len(w.departments) == 1
    assert not set(wp.retire) & set(wave_of), "a zombie is both retired and migrated"
    assert all(model.systems[s].om.status.value == "stopped" for s in wp.retire)


def test_a_recorded_retirement_is_never_migrated_whatever_the_audit_says(mini_city, tmp_path, retirable,
                                                                         retire_in_copy):
    model = load_city(mini_city)
    victim = retirable(model).id
    assert any(victim in w.systems for w in plan_waves(model, retire=set()).waves)
    wp = plan_waves(load_city(retire_in_copy(mini_city, tmp_path / "retired", victim)), retire=set())
    assert victim in wp.retire  # the audit (empty here) cannot bring it back
    assert not any(victim in w.systems for w in wp.waves)


def test_plan_cli_and_bad_selections(cli, tmp_path):
    result = cli("migrate", "plan", "--format", "json")
    assert result.exit_code == 0
    for args, message in ((["--wave", "99"], "no wave 99"), (["--department", "nope"], "no department 'nope'"),
                          (["--system", "nope"], "no system 'nope'"), ([], "exactly one of")):
        result = cli("migrate", "run", *args, "--state", tmp_path / "s.db", "--lab", "nolab")
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr
    result = cli("migrate", "plan", "--pilot", "ghost")
    assert result.exit_code == 2 and "no department 'ghost'" in result.stderr


def test_a_wave_runs_systems_of_one_department_at_once_and_each_after_what_it_calls():
    """The engine's scheduler over the pilot wave: never more than ``max_parallel`` systems at work,
    several of one department at once, and none before every system it depends on has finished."""
    import threading
    from types import SimpleNamespace

    from migration.engine import Engine, SystemOutcome

    model = load_city(DEFAULT_CITY)
    wave = plan_waves(model).waves[0]
    by_dep = {d: [s for s in wave.systems if model.department_of[s] == d] for d in wave.departments}
    listed = set(wave.systems)
    assert any(set(model.systems[s].depends_on) & listed for s in listed), "the pilot has no dependency to respect"
    lock, at_work, spans = threading.Lock(), set(), {}
    most = [0]

    def drive(sid: str, until: State) -> SystemOutcome:
        with lock:
            at_work.add(sid)
            most[0] = max(most[0], len(at_work))
            started = time.monotonic()
        time.sleep(0.05)
        with lock:
            at_work.discard(sid)
            spans[sid] = (started, time.monotonic())
        return SystemOutcome(sid, until, [], None)

    fake = SimpleNamespace(model=model, drive=drive, stop=lambda: None)
    outcomes = Engine.drive_systems(fake, by_dep, State.verified, max_parallel=4)
    assert [o.system for o in outcomes] == [s for v in by_dep.values() for s in v]
    assert most[0] == 4
    for sid in listed:
        for dep in set(model.systems[sid].depends_on) & listed:
            assert spans[dep][1] <= spans[sid][0], f"{sid} started before {dep}, which it calls, finished"
    finance = [spans[s] for s in by_dep["finance"]]
    assert any(a[0] < b[1] and b[0] < a[1] for a in finance for b in finance if a is not b), \
        "no two systems of one department ran at once"


def test_a_dependency_cycle_does_not_hang_the_wave():
    """validate refuses cycles; should one reach the engine anyway, the wave still ends."""
    from types import SimpleNamespace

    from migration.engine import Engine, SystemOutcome

    systems = {"a": SimpleNamespace(depends_on=["b"]), "b": SimpleNamespace(depends_on=["a"]),
               "c": SimpleNamespace(depends_on=[])}
    ran: list[str] = []

    def drive(sid: str, until: State) -> SystemOutcome:
        ran.append(sid)
        return SystemOutcome(sid, until, [], None)

    fake = SimpleNamespace(model=SimpleNamespace(systems=systems), drive=drive, stop=lambda: None)
    outcomes = Engine.drive_systems(fake, {"d": ["a", "b", "c"]}, State.verified, max_parallel=0)
    assert [o.system for o in outcomes] == ["a", "b", "c"] and sorted(ran) == ["a", "b", "c"]
