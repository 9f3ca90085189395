"""The IP plan: deterministic, stable under adding and removing departments, overlap-aware."""

from __future__ import annotations

import json
import re
import shutil

import yaml
from netaddr import IPNetwork, IPSet

from jiyue.ipam import LOCK_FILE, plan, write_lock
from jiyue.registry import load_city
from jiyue.registry.generate import generate


def _segments(city):
    return {s.name: s.cidr for s in plan(load_city(city)).segments}


def test_every_segment_inside_its_supernet_and_disjoint(mini_city):
    model = load_city(mini_city)
    ip = plan(model)
    assert not ip.errors
    seen = IPSet()
    for seg in ip.segments:
        net = IPNetwork(seg.cidr)
        assert not (seen & IPSet([net])), f"{seg.name} overlaps an earlier segment"
        seen.add(net)
        if seg.department:
            supernet = getattr(model.city.addressing.supernets[seg.zone], seg.site.value)
            assert net in IPNetwork(supernet)
            assert seg.gateway == str(net[1])
    # one segment per department, zone and site, same slot (third octet) everywhere
    for dep in model.departments:
        octets = {IPNetwork(ip.segment(dep, z, si).cidr).ip.words[2] for z in ("intranet", "extranet")
                  for si in ("primary", "dr")}
        assert len(octets) == 1


def test_deterministic(tmp_path):
    a = generate(tmp_path / "a", 6, 2, seed=3)
    b = generate(tmp_path / "b", 6, 2, seed=3)
    assert _segments(a) == _segments(b)


def test_adding_and_removing_departments_moves_nobody(tmp_path, cli):
    city = generate(tmp_path / "city", 6, 2, seed=5)
    assert cli("ipam", "--city", city, "--update-lock").exit_code == 0
    before = _segments(city)
    # remove d004 (nothing depends on the last-generated departments) and add d009, a copy of d005
    (city / "departments" / "d004.yaml").unlink()
    text = (city / "departments" / "d005.yaml").read_text(encoding="utf-8")
    text = re.sub(r"^credit_code: .*\n", "", text, flags=re.MULTILINE)  # a code names one department
    (city / "departments" / "d009.yaml").write_text(text.replace("d005", "d009"), encoding="utf-8")
    after = _segments(city)
    for name, cidr in before.items():
        if not name.startswith("d004-"):
            assert after[name] == cidr, f"{name} moved from {cidr} to {after[name]}"
    # the gone department's slot stays reserved: the newcomer does not take its addresses
    assert after["d009-intranet-primary"] not in before.values()
    # pruning frees it
    assert cli("ipam", "--city", city, "--update-lock", "--prune").exit_code == 0
    lock = yaml.safe_load((city / LOCK_FILE).read_text(encoding="utf-8"))["slots"]
    assert "d004" not in lock and "d009" in lock


def test_lock_round_trip_and_unpinned_warning(mini_city, cli):
    model = load_city(mini_city)
    ip = plan(model)
    assert set(ip.new_slots) == set(model.departments)  # nothing pinned yet
    write_lock(mini_city, {"d000": 5})
    ip = plan(load_city(mini_city))
    assert ip.slots["d000"] == 5 and ip.slots["d001"] == 0
    assert any("not pinned yet" in d.message for d in ip.diagnostics)
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == 0 and "not pinned yet" in result.stderr


def test_overlapping_legacy_lans_are_a_warning_not_a_crash(mini_city, edit_department, cli):
    def same_lan(d):
        d["legacy_lans"][0]["cidr"] = "192.168.1.0/24"
        for s in d["systems"]:
            for i, h in enumerate(s["legacy_hosts"]):
                h["address"] = f"192.168.1.{10 + int(s['id'][-2:]) * 4 + i}"

    for dep in ("d001", "d002", "d003"):
        edit_department(dep, same_lan)
    result = cli("validate", "--city", mini_city, "--format", "json")
    assert result.exit_code == 0, result.output
    warnings = [w for w in json.loads(result.stdout)["warnings"] if w["code"] == "legacy-overlap"]
    assert {w["file"].rsplit("/", 1)[-1] for w in warnings} == {"d001.yaml", "d002.yaml", "d003.yaml"}
    assert "overlaps ranges of d002, d003" in next(w["message"] for w in warnings if w["file"].endswith("d001.yaml"))


def test_legacy_lan_inside_a_planned_supernet_is_an_error(mini_city, edit_department, cli):
    def move(d):
        d["legacy_lans"][0]["cidr"] = "10.64.20.0/24"
        for s in d["systems"]:
            for i, h in enumerate(s["legacy_hosts"]):
                h["address"] = f"10.64.20.{10 + int(s['id'][-2:]) * 4 + i}"

    edit_department("d002", move)
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == 2
    assert "legacy lan lan1 (10.64.20.0/24) overlaps the intranet primary supernet" in result.stderr


def test_supernet_too_small(mini_city, cli):
    path = mini_city / "city.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["addressing"]["supernets"]["extranet"]["dr"] = "10.129.0.0/28"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = cli("ipam", "--city", mini_city)
    assert result.exit_code == 2
    assert "addressing.segment_prefix: /24 segments do not fit in 10.129.0.0/28" in result.stderr


def test_ipam_json(mini_city, cli):
    result = cli("ipam", "--city", mini_city, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    kinds = {s["kind"] for s in data["segments"]}
    assert kinds == {"department", "shared", "management"}
    assert len([s for s in data["segments"] if s["kind"] == "department"]) == 4 * 4


def test_generate_is_byte_identical_for_a_seed(tmp_path):
    a = generate(tmp_path / "a", 5, 3, seed=11)
    b = generate(tmp_path / "b", 5, 3, seed=11)
    files = sorted(p.relative_to(a) for p in a.rglob("*.yaml"))
    assert files == sorted(p.relative_to(b) for p in b.rglob("*.yaml"))
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    shutil.rmtree(b)
