"""Stable identity: a routine registry edit replaces no server and no volume.

Each case edits a copy of the sample city (one department's file) and runs the real program under
mocks on the department's stacks before and after: a resource is replaced exactly when its URN
(type, parent and logical name) goes or an input the engine cannot change in place changes, and a
server is replaced when its port's address moves. Logical names hold ids only (infra/labels.py),
host addresses come from slots pinned in ipam.lock.yaml (jiyue/ipam.py), and stateful resources
are protected unless the stack's config ``jiyue:release`` lists them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import program
from infra.config import Settings
from infra.labels import parse_name
from infra.mocks import PreviewMocks, RecordingMonitor
from infra.outputs import city_targets
from infra.preview import preview, run_mocked, stacks
from jiyue.ipam import LOCK_FILE, plan, write_lock
from jiyue.registry import load_city
from jiyue.stacks import StackName

from .conftest import SAMPLE_CITY

DEP = "finance"
PUBLIC = "finance-procurement"  # extranet, public-facing, has a DR counterpart
STATEFUL = {"openstack:compute/instance:Instance", "openstack:blockstorage/volume:Volume",
            "openstack:identity/project:Project", "openstack:dns/zone:Zone"}
Graph = dict[str, dict[str, dict[str, Any]]]  # stack -> urn -> record


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "city"
    shutil.copytree(SAMPLE_CITY, root)
    return root


def _edit(root: Path, change: Any) -> None:
    """Change the department file's data with ``change(data)`` and write it back (modeline kept)."""
    path = root / "departments" / f"{DEP}.yaml"
    modeline = path.read_text(encoding="utf-8").splitlines()[0]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(f"{modeline}\n---\n" + yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")


def _system(data: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in data["systems"] if s["id"] == sid)


def _graph(root: Path) -> Graph:
    model = load_city(root)
    assert not plan(model).errors
    return {s: {r["urn"]: r for r in preview(model, s).resources}
            for s in stacks(model) if s.endswith(f"-{DEP}")}


def _ports(g: Graph) -> dict[str, str]:
    return {urn: r["inputs"]["fixedIps"][0]["ipAddress"] for rs in g.values() for urn, r in rs.items()
            if r["type"] == "openstack:networking/port:Port"}


def _urns(g: Graph) -> set[str]:
    return {urn for rs in g.values() for urn in rs}


def _addresses(root: Path) -> dict[tuple[str, str, str], str]:
    return {(stack, system, h["name"]): h["address"] for stack, systems in city_targets(load_city(root)).items()
            for system, t in systems.items() for h in t["hosts"]}


def test_pinning_the_system_slots_moves_no_host_of_the_sample_city(tmp_path):
    """The pinned slots are the positions every address came from before they were pinned."""
    unpinned = _copy(tmp_path)
    lock = yaml.safe_load((unpinned / LOCK_FILE).read_text(encoding="utf-8"))
    assert lock["systems"], "the sample city pins its systems' slots"
    write_lock(unpinned, lock["slots"])  # the lock file as it was: departments only
    assert plan(load_city(unpinned)).new_system_slots
    pinned = _addresses(SAMPLE_CITY)
    assert pinned and _addresses(unpinned) == pinned
    model = load_city(SAMPLE_CITY)
    for dep_id, dep in model.departments.items():
        assert lock["systems"][dep_id] == {s.id: k for k, s in enumerate(dep.systems)}


def test_reclassifying_a_system_renames_nothing(tmp_path):
    root = _copy(tmp_path)
    before = _graph(root)
    _edit(root, lambda d: _system(d, PUBLIC).update(classification="internal"))
    after = _graph(root)
    assert _urns(after) == _urns(before)  # so no resource is replaced, servers and volumes included
    rules = "openstack:networking/secGroupRule:SecGroupRule"  # Neutron changes no rule in place
    assert {u: r["inputs"] for rs in after.values() for u, r in rs.items() if r["type"] == rules} == \
        {u: r["inputs"] for rs in before.values() for u, r in rs.items() if r["type"] == rules}
    changed = [r for rs in after.values() for r in rs.values()
               if "classification=internal" in (r["inputs"].get("tags") or ())
               and parse_name(r["name"]).get("system") == PUBLIC]
    assert changed, "the classification moved to the tags"


def test_reordering_a_department_file_moves_nothing(tmp_path):
    root = _copy(tmp_path)
    before = _graph(root)
    _edit(root, lambda d: d["systems"].reverse())
    after = _graph(root)
    assert _urns(after) == _urns(before)
    assert _ports(after) == _ports(before)


def _unrelate(d: dict[str, Any], gone: str) -> None:
    """Drop the catalog's relations to the resources of ``gone`` (a relation names a resource that exists)."""
    keys = {r["id"] for r in _system(d, gone).get("data_resources") or ()}
    for s in d["systems"]:
        for r in s.get("data_resources") or ():
            if r.get("related"):
                r["related"] = [k for k in r["related"] if k not in keys]


def test_deleting_a_retired_system_takes_only_its_own_resources(tmp_path):
    root = _copy(tmp_path)
    gone = "finance-budget"  # the first system of the file: every other one came after it
    retire = {"decided": "2025-01-15", "approved_by": "市大数据局", "evidence": "zombie score 0.92, audit 2025-01"}

    def retire_it(d: dict[str, Any]) -> None:
        _system(d, gone).update(retirement=retire)
        for s in d["systems"]:
            s["depends_on"] = [x for x in s.get("depends_on") or () if x != gone]

    _edit(root, retire_it)
    before = _graph(root)  # retired: built nowhere, its slot kept
    _edit(root, lambda d: _unrelate(d, gone))
    _edit(root, lambda d: d.update(systems=[s for s in d["systems"] if s["id"] != gone]))
    after = _graph(root)
    assert _urns(after) == _urns(before)
    assert _ports(after) == _ports(before)
    ip = plan(load_city(root))
    assert ip.stale_system_slots == {DEP: {gone: 0}}  # its addresses stay reserved until a prune


def test_deleting_a_system_takes_only_its_own_resources(tmp_path):
    root = _copy(tmp_path)
    gone = "finance-treasury"
    _edit(root, lambda d: [s.update(depends_on=[x for x in s.get("depends_on") or () if x != gone])
                           for s in d["systems"]])
    _edit(root, lambda d: _unrelate(d, gone))
    before = _graph(root)
    _edit(root, lambda d: d.update(systems=[s for s in d["systems"] if s["id"] != gone]))
    after = _graph(root)
    removed = _urns(before) - _urns(after)
    assert removed and _urns(after) <= _urns(before)
    for urn in removed:
        r = next(rs[urn] for rs in before.values() if urn in rs)
        ids = parse_name(r["name"]) or {}
        own = ids.get("system") == gone or f"-{gone}" in r["name"]  # its rules and the rules to it
        assert own, f"{r['name']} went with {gone}"
    kept = {u: a for u, a in _ports(before).items() if u in _urns(after)}
    assert kept == _ports(after)


def test_adding_a_system_adds_and_moves_nothing(tmp_path):
    root = _copy(tmp_path)
    before = _graph(root)

    def add(d: dict[str, Any]) -> None:
        new = yaml.safe_load(yaml.safe_dump(_system(d, "finance-accounts")))
        new.update(id="finance-ledger", names={"zh": "总账系统", "en": "General ledger"}, depends_on=[])
        for k in ("data_resources", "data_needs", "filing", "legacy_hosts", "consolidation"):
            new.pop(k, None)
        d["systems"].insert(0, new)  # at the top: its position is not its slot

    _edit(root, add)
    after = _graph(root)
    assert _urns(before) <= _urns(after)
    added = _urns(after) - _urns(before)
    assert added and all("finance-ledger" in u for u in added)
    assert {u: a for u, a in _ports(after).items() if u in _urns(before)} == _ports(before)
    ip = plan(load_city(root))
    assert ip.new_system_slots == {DEP: {"finance-ledger": len(load_city(root).departments[DEP].systems) - 1}}


def test_a_pruned_slot_is_free_again(tmp_path, cli):
    root = _copy(tmp_path)
    _edit(root, lambda d: d.update(systems=[s for s in d["systems"] if s["id"] != "finance-accounts"]))
    assert cli("ipam", "--city", root, "--update-lock").exit_code == 0
    lock = yaml.safe_load((root / LOCK_FILE).read_text(encoding="utf-8"))["systems"][DEP]
    assert lock["finance-accounts"] == 4  # kept: the entry went, its addresses stay reserved
    assert cli("ipam", "--city", root, "--update-lock", "--prune").exit_code == 0
    lock = yaml.safe_load((root / LOCK_FILE).read_text(encoding="utf-8"))["systems"][DEP]
    assert "finance-accounts" not in lock and set(lock.values()) == {0, 1, 2, 3}


# --------------------------------------------------------------------------- aliases and protection


def _registrations(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], Any]:
    """Every registration request the mocked engine gets, by (type, name)."""
    seen: dict[tuple[str, str], Any] = {}
    register = RecordingMonitor.RegisterResource

    def spy(self: RecordingMonitor, request: Any) -> Any:
        seen[(request.type, request.name)] = request
        return register(self, request)

    monkeypatch.setattr(RecordingMonitor, "RegisterResource", spy)
    return seen


def _run(stack: str, seen: dict[tuple[str, str], Any], release: frozenset[str] = frozenset()) -> None:
    """Run ``stack``'s program with ``jiyue:release`` set to ``release``; ``seen`` gets its registrations only."""
    model = load_city(SAMPLE_CITY)
    name = StackName.parse(stack)
    foundation = preview(model, str(name.foundation)).outputs
    seen.clear()
    settings = Settings(stack=name, release=release)
    mocks = PreviewMocks(stack, external_cidr=model.city.egress.external_cidr, stack_outputs=lambda _r: foundation)
    run_mocked(stack, lambda: program.run(model, plan(model), settings), mocks)


@pytest.mark.parametrize("stack", ["extranet-primary-finance", "intranet-dr-finance", "intranet-primary-foundation"])
def test_stateful_resources_are_protected_and_everything_is_aliased_from_its_former_name(monkeypatch, stack):
    seen = _registrations(monkeypatch)
    _run(stack, seen)
    model = load_city(SAMPLE_CITY)
    protected = set()
    for (typ, name), request in seen.items():
        if typ == "pulumi:pulumi:Stack":
            continue
        assert bool(request.protect) is (typ in STATEFUL), (typ, name)
        if request.protect:
            protected.add(typ)
        ids = parse_name(name)
        assert ids is not None and "classification" not in ids, name
        [alias] = [a.spec.name for a in request.aliases]
        dep, system, what = name.split("/", 2)
        cls = alias.split("/")[2]
        assert alias == f"{dep}/{system}/{cls}/{what}", name
        if system in model.systems:
            assert cls == model.systems[system].classification.value
    zone = {"openstack:dns/zone:Zone"}
    assert protected == (zone if "foundation" in stack else STATEFUL - zone)


def test_a_released_resource_is_not_protected(monkeypatch):
    seen = _registrations(monkeypatch)
    volume, server = "finance/finance-procurement/finance-procurement-1-data", \
        "finance/finance-procurement/finance-procurement-1-server"
    _run("extranet-primary-finance", seen, frozenset({volume}))
    assert not seen[("openstack:blockstorage/volume:Volume", volume)].protect
    assert seen[("openstack:compute/instance:Instance", server)].protect
    assert seen[("openstack:identity/project:Project", "finance/*/project")].protect
