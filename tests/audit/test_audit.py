"""The audit (T1.2, T2.1): scoring rules on their own, and evidence collected from the lab."""

from __future__ import annotations

import json

import pytest

from jiyue.audit.integration import integration_lists
from jiyue.audit.score import Thresholds, score_city, score_system
from jiyue.registry import DEFAULT_CITY, load_city


@pytest.fixture(scope="module")
def model():
    return load_city(DEFAULT_CITY)


def _evidence(*, logins=0, web=0, writes=0, new_files=0, cpu=0.0, clients=0, dpkg_day="2015-01-01"):
    return {"collected_at": 1.8e9, "days": 30, "hostname": "h", "window": 3, "cpu_seconds": cpu,
            "logins": {"available": True, "recent": logins}, "web": {"available": True, "recent": web},
            "database": {"available": False}, "data": {"available": True, "recent": new_files, "files": 10},
            "jobs": [], "packages": {"last_dpkg_day": dpkg_day}, "sockets": {"listening": [80],
                                                                             "established_clients": clients}}


def test_idle_zombie_is_retired_with_live_evidence(model):
    s = model.systems["culture-oldsite"]
    score = score_system(s, "culture", {"culture-oldsite-web1": _evidence()})
    assert score.verdict == "retire" and score.score >= 70
    assert sum(c.live and c.points > 0 for c in score.criteria) >= 2


def test_missing_evidence_is_review_never_retire(model):
    s = model.systems["culture-oldsite"]
    assert score_system(s, "culture", {"culture-oldsite-web1": None}).verdict == "review"
    # everything the registry says points to a zombie, but nothing was measured
    assert all(x.verdict != "retire" for x in score_city(model, {}))


def test_busy_system_is_kept(model):
    s = model.systems["culture-service"]
    busy = _evidence(logins=40, web=5000, new_files=20, cpu=0.4, clients=3, dpkg_day="2026-10-01")
    score = score_system(s, "culture", {h.name: busy for h in s.legacy_hosts})
    assert score.verdict == "keep"


def test_thresholds_are_configurable(model):
    s = model.systems["culture-oldsite"]
    strict = Thresholds(retire=101, keep=40)
    assert score_system(s, "culture", {"culture-oldsite-web1": _evidence()}, strict).verdict == "review"


def test_integration_list_groups_and_flags_districts(model):
    scores = {x.system: x for x in score_city(model, {})}
    lists = {x.department: x for x in integration_lists(model, scores)}
    district = next(d for d in model.departments.values() if d.tier.value == "district")
    assert lists[district.id].district_flags
    assert any(lst.merge for lst in lists.values())
    for lst in lists.values():
        grouped = [m for g in lst.merge for m in g.members]
        assert len(grouped) == len(set(grouped))
        assert set(grouped) | set(lst.migrate) | set(lst.retire) == {s.id for s in model.departments[lst.department]
                                                                      .systems}


# ------------------------------------------------------------------------- on the lab


def _collect(cli, city_lab, state, *departments):
    result = cli("audit", "collect", "--lab", city_lab.lab.name, "--state", state, "--window", "1",
                 "--departments", ",".join(departments))
    assert result.exit_code == 0, result.output
    scored = cli("audit", "score", "--state", state, "--format", "json")
    return {s["id"]: s for s in json.loads(scored.stdout)["systems"]}


@pytest.mark.lab
def test_lab_zombies_retire_and_busy_systems_keep(city_lab, cli, tmp_path):
    scores = _collect(cli, city_lab, tmp_path / "state.db", "culture", "overseas-chinese", "audit")
    for zombie in ("culture-oldsite", "overseas-chinese-website"):
        z = scores[zombie]
        assert z["verdict"] == "retire", z
        live = [c for c in z["criteria"] if c["live"] and c["points"] > 0]
        assert len(live) >= 2, z
    for busy in ("culture-service", "audit-website"):
        assert scores[busy]["verdict"] == "keep", scores[busy]
    report = cli("audit", "report", "--state", tmp_path / "state.db", "--departments", "culture,audit",
                 "--spot-check", "1", "--lab", city_lab.lab.name)
    assert report.exit_code == 0, report.output
    assert "culture-oldsite" in report.stdout and "Integration list (T2.1)" in report.stdout
    assert "Spot check (T1.3)" in report.stdout


@pytest.mark.lab
def test_silencing_a_busy_system_raises_its_score(city_lab, cli, tmp_path):
    lab = city_lab.lab
    state = tmp_path / "state.db"
    before = _collect(cli, city_lab, state, "culture")["culture-heritage"]["score"]
    host = "culture-heritage-files1"
    lab.exec(host, ["sh", "-c", ": > /var/log/wtmp; rm -rf /srv/*/incoming; rm -f /etc/cron.d/culture-heritage; "
                                "/usr/local/sbin/jiyue-service stop cron || true"])
    after = _collect(cli, city_lab, state, "culture")["culture-heritage"]["score"]
    assert after > before


@pytest.mark.lab
def test_a_host_that_is_down_gives_review(city_lab, cli, tmp_path):
    lab = city_lab.lab
    host = "overseas-chinese-website-web1"
    lab.exec(host, ["ip", "link", "set", "eth0", "down"])
    try:
        scores = _collect(cli, city_lab, tmp_path / "state.db", "overseas-chinese")
    finally:
        lab.exec(host, ["ip", "link", "set", "eth0", "up"])
        gw = next(h.gateway for h in city_lab.plan.hosts if h.name == host)
        lab.exec(host, ["ip", "route", "replace", "default", "via", gw])
    assert scores["overseas-chinese-website"]["verdict"] == "review"
    assert scores["overseas-chinese-website"]["hosts"][0]["status"] == "down"
