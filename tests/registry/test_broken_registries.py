"""Every kind of broken registry gets its own clear message, file:line: field: ..., and exit 2.

Each case breaks a valid generated city in one way and asserts the message, the field, the
line the message points at, and that nothing crashed (no traceback) and nothing was written.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from jiyue.registry.checks import CHECKS
from jiyue.registry.generate import CITY_MODELINE, DEPARTMENT_MODELINE
from jiyue.registry.model import CITY_FILE, read_files
from jiyue.status import ExitStatus

DEP = "d001"
RETIREMENT = {"decided": "2026-11-20", "approved_by": "programme office", "evidence": "jiyue audit score: 85 points"}


def sys0(d: dict[str, Any]) -> dict[str, Any]:
    return d["systems"][0]


def _copies(system: dict[str, Any], first: int, last: int) -> list[dict[str, Any]]:
    """Copies of a system, numbered d001-s<first> to d001-s<last - 1>, without legacy hosts or
    dependencies (so that only their number matters)."""
    return [{**system, "id": f"d001-s{n:02d}", "legacy_hosts": [], "depends_on": [],
             "capacity": {**system["capacity"], "instances": 1}} for n in range(first, last)]


def _line_of(path: Path, needle: str) -> int:
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


# (case id, how to break d001, expected message fragment, expected field, text on the reported line)
DATA_CASES: list[tuple[str, Any, str, str, str | None]] = [
    ("unknown-field", lambda d: sys0(d).__setitem__("functon", "x"), "unknown field", "systems[0].functon",
     "functon:"),
    ("missing-field", lambda d: sys0(d).pop("function"), "field required", "systems[0].function", None),
    ("bad-enum", lambda d: sys0(d).__setitem__("zone", "internet"), "'intranet' or 'extranet'",
     "systems[0].zone", "zone: internet"),
    ("bad-id", lambda d: sys0(d).__setitem__("id", "财政-OA"), "should match pattern", "systems[0].id", "id: 财政"),
    ("bad-date", lambda d: sys0(d)["approval"].__setitem__("date", "2019-13-45"), "date",
     "systems[0].approval.date", "2019-13-45"),
    ("future-date", lambda d: sys0(d)["om"].__setitem__("last_update", "2099-01-01"), "in the past",
     "systems[0].om.last_update", "2099-01-01"),
    ("negative-funds", lambda d: sys0(d)["funds"].__setitem__("construction_wan", -5),
     "greater than or equal to 0", "systems[0].funds.construction_wan", "construction_wan: -5"),
    ("bad-cidr", lambda d: d["legacy_lans"][0].__setitem__("cidr", "192.168.1.300/24"),
     "not an IPv4 network", "legacy_lans[0].cidr", "192.168.1.300/24"),
    ("host-bits", lambda d: d["legacy_lans"][0].__setitem__("cidr", "192.168.1.7/24"),
     "has host bits set; did you mean 192.168.1.0/24", "legacy_lans[0].cidr", "192.168.1.7/24"),
    ("bad-address", lambda d: sys0(d)["legacy_hosts"][0].__setitem__("address", "not-an-ip"),
     "not an IPv4 address", "systems[0].legacy_hosts[0].address", "not-an-ip"),
    ("unknown-dependency", lambda d: sys0(d).__setitem__("depends_on", ["d009-s99"]), "no system 'd009-s99'",
     "systems[0].depends_on[0]", "d009-s99"),
    ("self-dependency", lambda d: sys0(d).__setitem__("depends_on", [sys0(d)["id"]]),
     "cannot depend on itself", "systems[0].depends_on[0]", None),
    ("classified-on-extranet", lambda d: sys0(d).update(classification="classified", zone="extranet",
                                                        public_facing=False,
                                                        capacity={**sys0(d)["capacity"], "volume_class": "encrypted"}),
     "classified (涉密) system must be on the intranet", "systems[0].zone", "zone: extranet"),
    ("public-on-intranet", lambda d: sys0(d).update(public_facing=True, zone="intranet", classification="public"),
     "public-facing system must be on the extranet", "systems[0].public_facing", "public_facing: true"),
    ("classified-unencrypted", lambda d: sys0(d).update(classification="classified", zone="intranet",
                                                        public_facing=False,
                                                        capacity={**sys0(d)["capacity"], "volume_class": "standard"}),
     "unencrypted volume class 'standard'", "systems[0].capacity.volume_class", "volume_class: standard"),
    ("unknown-flavor", lambda d: sys0(d)["capacity"].__setitem__("flavor", "huge"), "no flavor 'huge'",
     "systems[0].capacity.flavor", "flavor: huge"),
    ("over-quota", lambda d: d["quotas"].__setitem__("vcpus", 1), "but the quota is 1", "quotas.vcpus",
     "vcpus: 1"),
    ("address-outside-lan", lambda d: sys0(d)["legacy_hosts"][0].__setitem__("address", "172.16.0.5"),
     "is outside LAN lan1", "systems[0].legacy_hosts[0].address", "172.16.0.5"),
    ("duplicate-address", lambda d: d["systems"][1]["legacy_hosts"][0].__setitem__(
        "address", sys0(d)["legacy_hosts"][0]["address"]), "is already host", "systems[1].legacy_hosts[0].address",
     None),
    ("unknown-lan", lambda d: sys0(d)["legacy_hosts"][0].__setitem__("lan", "lan9"), "no legacy LAN 'lan9'",
     "systems[0].legacy_hosts[0].lan", "lan: lan9"),
    ("duplicate-system-in-file", lambda d: d["systems"][1].__setitem__("id", sys0(d)["id"]),
     "duplicate system id", "systems[1].id", None),
    ("foreign-platform", lambda d: sys0(d).__setitem__("platform", "open-data"),
     "built once by 'd000'", "systems[0].platform", "platform: open-data"),
    ("district-without-district", lambda d: d.update(tier="district"), "needs its district", "district", None),
    ("unknown-parent", lambda d: d.update(parent="nobody"), "no department 'nobody'", "parent", "parent: nobody"),
    ("dependency-cycle", lambda d: (sys0(d).__setitem__("depends_on", [d["systems"][1]["id"]]),
                                    d["systems"][1].__setitem__("depends_on", [sys0(d)["id"]])),
     "dependency cycle", "systems[0].depends_on", None),
    ("self-replaceable", lambda d: sys0(d).__setitem__("replaceable_by", sys0(d)["id"]),
     "cannot be replaced by itself", "systems[0].replaceable_by", "replaceable_by:"),
    ("cross-zone-dependency", lambda d: (
        sys0(d).update(zone="extranet", classification="internal", public_facing=False,
                       depends_on=[d["systems"][1]["id"]]),
        d["systems"][1].update(zone="intranet", classification="internal", public_facing=False,
                               depends_on=[])),
     "no route between them", "systems[0].depends_on[0]", None),
    ("bad-credit-code", lambda d: d.update(credit_code="11210200481749871N"),
     "GB 32100 gives 'M' for the first 17 characters", "credit_code", "credit_code: 11210200481749871N"),
    ("too-many-instances", lambda d: sys0(d)["capacity"].__setitem__("instances", 9),
     "at most 8 planned addresses", "systems[0].capacity.instances", "instances: 9"),
    ("more-systems-than-addresses", lambda d: (d["systems"].extend(_copies(d["systems"][2], 3, 24)), d["quotas"].update(
        vcpus=1000, ram_gb=1000, volume_gb=100_000, instances=1000)),
     "d001-s23 is in address slot 23 of its department", "systems[23].id", "id: d001-s23"),
    ("rpo-zero-long-rto", lambda d: sys0(d).__setitem__("dr", {"rpo_minutes": 0, "rto_minutes": 1440}),
     "needs replication (hot or warm)", "systems[0].dr.rto_minutes", "rto_minutes: 1440"),
    ("long-department-id", lambda d: d.update(parent="a-department-id-longer-than-24"),
     "at most 24 characters", "parent", None),
    ("wrong-type", lambda d: d.__setitem__("systems", {"a": 1}), "valid list", "systems", None),
    ("depends-on-retired", lambda d: (
        sys0(d).update(zone="extranet", classification="internal", public_facing=False,
                       depends_on=[d["systems"][1]["id"]]),
        d["systems"][1].update(zone="extranet", classification="internal", public_facing=False, depends_on=[],
                               retirement=RETIREMENT)),
     "which is retired", "systems[0].depends_on[0]", None),
    ("retirement-without-approver", lambda d: sys0(d).__setitem__("retirement", {**RETIREMENT, "approved_by": ""}),
     "at least 1 character", "systems[0].retirement.approved_by", "approved_by:"),
    ("duplicate-host-name", lambda d: d["systems"][1]["legacy_hosts"][0].__setitem__(
        "name", sys0(d)["legacy_hosts"][0]["name"]), "duplicate legacy host name", "systems[1].legacy_hosts[0].name",
     None),
    ("duplicate-lan-id", lambda d: d["legacy_lans"].append({"id": d["legacy_lans"][0]["id"], "cidr": "172.31.0.0/24"}),
     "duplicate id 'lan1'", "legacy_lans[1].id", None),
    ("own-parent", lambda d: d.update(parent=DEP), "cannot be its own parent", "parent", f"parent: {DEP}"),
    ("unknown-replacement", lambda d: sys0(d).__setitem__("replaceable_by", "d009-s99"), "no system 'd009-s99'",
     "systems[0].replaceable_by", "replaceable_by: d009-s99"),
    ("classified-public", lambda d: sys0(d).update(classification="classified", zone="intranet", public_facing=True,
                                                   capacity={**sys0(d)["capacity"], "volume_class": "encrypted"}),
     "cannot face the public", "systems[0].classification", "classification: classified"),
    ("duplicate-data-resource", lambda d: sys0(d)["data_resources"].append(dict(sys0(d)["data_resources"][0])),
     "listed twice", "systems[0].data_resources[1].id", None),
    ("unknown-data-provider", lambda d: sys0(d).__setitem__("data_needs", [{"resource": "population",
                                                                            "provider": "ghost"}]),
     "no department 'ghost'", "systems[0].data_needs[0].provider", "provider: ghost"),
    ("thematic-without-subject", lambda d: sys0(d)["data_resources"][0].__setitem__("library", "thematic"),
     "a thematic resource names its theme as subject", "systems[0].data_resources[0]", None),
    ("unknown-related-resource", lambda d: sys0(d)["data_resources"][0].__setitem__("related", ["d001-s00-recrods"]),
     "no resource 'd001-s00-recrods'", "systems[0].data_resources[0].related[0]", "d001-s00-recrods"),
    ("copy-of-a-stranger", lambda d: sys0(d)["data_resources"].append(
        {**sys0(d)["data_resources"][0], "id": "d002-s00-records", "copy_of": "d003"}),
     "d003 does not list d002-s00-records as its own in a live system (it is provided by d002)",
     "systems[0].data_resources[1].copy_of", "copy_of: d003"),
]

# Breaking another file than d001's: (case id, file in the city, how to break its data, expected message
# fragment, expected field, text on the reported line)
FILE_CASES: list[tuple[str, str, Any, str, str, str | None]] = [
    ("unknown-pilot", "city.yaml", lambda c: c.__setitem__("pilot_departments", ["d001", "ghost"]),
     "no department 'ghost'", "pilot_departments[1]", "- ghost"),
    ("unknown-platform-department", "city.yaml", lambda c: c.__setitem__("platform_department", "ghost"),
     "no department 'ghost'", "platform_department", "platform_department: ghost"),
    ("second-platform", "departments/d000.yaml",
     lambda d: d["systems"][1].__setitem__("platform", d["systems"][2]["platform"]),
     "a second open-data platform", "systems[2].platform", None),
    ("second-sharing-platform-in-a-zone", "departments/d000.yaml",
     lambda d: d["systems"][2].__setitem__("platform", d["systems"][0]["platform"]),
     "a second sharing-exchange platform on the extranet", "systems[2].platform", None),
    ("intranet-on-the-internet", "city.yaml", lambda c: c["zones"]["intranet"].__setitem__("internet", True),
     "the intranet may not reach the internet", "zones.intranet.internet", "internet: true"),
    ("one-management-subnet-for-both-zones", "city.yaml",
     lambda c: c["addressing"]["management"].__setitem__("primary", "10.0.0.0/24"),
     "the same management subnet", "addressing.management.primary", "10.0.0.0/24"),
    ("egress-at-the-dr-site", "city.yaml", lambda c: c["egress"].__setitem__("site", "dr"),
     "without a floating IP", "egress.site", "site: dr"),
    ("retired-platform", "departments/d000.yaml", lambda d: sys0(d).__setitem__("retirement", RETIREMENT),
     "cannot be retired", "systems[0].retirement", "retirement:"),
    ("duplicate-system-across-files", "departments/d002.yaml", lambda d: sys0(d).__setitem__("id", "d001-s00"),
     "duplicate system id 'd001-s00', first in", "systems[0].id", "id: d001-s00"),
]

# Warnings: the registry stays valid; --strict makes them an exit status 1. Same shape as DATA_CASES.
WARNING_CASES: list[tuple[str, Any, str, str, str | None]] = [
    ("postgresql-without-databases", lambda d: sys0(d)["legacy_hosts"][0].update(
        role="db", services=["postgresql"], databases=[]), "runs postgresql but lists no database",
     "systems[0].legacy_hosts[0].databases", None),
]

# Which case breaks each rule of jiyue.registry.checks.CHECKS (a case id of the lists above).
CASE_OF_CHECK = {
    "city_departments_exist": "unknown-pilot",
    "intranet_off_the_internet": "intranet-on-the-internet",
    "management_per_zone": "one-management-subnet-for-both-zones",
    "egress_at_primary": "egress-at-the-dr-site",
    "system_ids_unique": "duplicate-system-in-file",
    "legacy_host_names_unique": "duplicate-host-name",
    "department_item_ids_unique": "duplicate-lan-id",
    "parent_exists": "unknown-parent",
    "district_named": "district-without-district",
    "dependencies_exist": "unknown-dependency",
    "replacement_exists": "unknown-replacement",
    "classified_on_intranet": "classified-on-extranet",
    "public_facing_on_extranet": "public-on-intranet",
    "classified_not_public": "classified-public",
    "platform_built_once": "foreign-platform",
    "data_resources_listed_once": "duplicate-data-resource",
    "data_providers_exist": "unknown-data-provider",
    "data_resources_classified": "thematic-without-subject",
    "data_resources_related": "unknown-related-resource",
    "data_copies_name_their_provider": "copy-of-a-stranger",
    "capacity_in_city_context": "unknown-flavor",
    "classified_volume_encrypted": "classified-unencrypted",
    "legacy_host_on_its_lan": "unknown-lan",
    "postgresql_lists_databases": "postgresql-without-databases",
    "legacy_addresses_unique": "duplicate-address",
    "within_quota": "over-quota",
    "systems_fit_segment": "too-many-instances",
    "credit_codes_valid": "bad-credit-code",
    "dr_rpo_within_rto": "rpo-zero-long-rto",
    "dependencies_within_zone": "cross-zone-dependency",
    "platform_not_retired": "retired-platform",
    "nothing_depends_on_retired": "depends-on-retired",
    "no_dependency_cycle": "dependency-cycle",
}


def _break(city: Path, file: str, change: Any) -> Path:
    """Load one file of the city, let the case change its data, write it back with its modeline."""
    path = city / file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    modeline = CITY_MODELINE if file == CITY_FILE else DEPARTMENT_MODELINE
    path.write_text(modeline + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


# case id -> (file, how to break it, message fragment, field)
CASES: dict[str, tuple[str, Any, str, str]] = {
    **{c[0]: (f"departments/{DEP}.yaml", c[1], c[2], c[3]) for c in DATA_CASES + WARNING_CASES},
    **{c[0]: (c[1], c[2], c[3], c[4]) for c in FILE_CASES},
}
assert len(CASES) == len(DATA_CASES) + len(WARNING_CASES) + len(FILE_CASES), "case ids must be unique"


def _assert_reported(result: Any, message: str, field: str, file: Path, line_text: str | None,
                     status: ExitStatus = ExitStatus.BAD_INPUT) -> None:
    assert result.exit_code == status, result.output
    assert "Traceback" not in result.output
    rendered = [ln for ln in result.stderr.splitlines() if message.lower() in ln.lower()]
    assert rendered, f"no line mentions {message!r}:\n{result.stderr}"
    m = re.match(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<field>[^:]+): (?P<rest>.+) \((?P<hint>.+)\)$", rendered[0])
    assert m, f"not file:line: field: message (hint): {rendered[0]!r}"
    assert Path(m["file"]).name == file.name
    assert m["field"] == field
    assert m["hint"].strip()
    if line_text is not None:
        assert int(m["line"]) == _line_of(file, line_text), rendered[0]


@pytest.mark.parametrize(("case", "change", "message", "field", "line_text"), DATA_CASES,
                         ids=[c[0] for c in DATA_CASES])
def test_broken_department(case, change, message, field, line_text, edit_department, mini_city, cli):
    path = edit_department(DEP, change)
    before = {p: p.read_bytes() for p in mini_city.rglob("*") if p.is_file()}
    result = cli("validate", "--city", mini_city)
    _assert_reported(result, message, field, path, line_text)
    assert before == {p: p.read_bytes() for p in mini_city.rglob("*") if p.is_file()}, "validate changed files"


@pytest.mark.parametrize(("case", "file", "change", "message", "field", "line_text"), FILE_CASES,
                         ids=[c[0] for c in FILE_CASES])
def test_broken_file(case, file, change, message, field, line_text, mini_city, cli):
    path = _break(mini_city, file, change)
    result = cli("validate", "--city", mini_city)
    _assert_reported(result, message, field, path, line_text)


@pytest.mark.parametrize(("case", "change", "message", "field", "line_text"), WARNING_CASES,
                         ids=[c[0] for c in WARNING_CASES])
def test_warning(case, change, message, field, line_text, edit_department, mini_city, cli):
    path = edit_department(DEP, change)
    assert cli("validate", "--city", mini_city).exit_code == ExitStatus.OK
    result = cli("validate", "--city", mini_city, "--strict", "--show-warnings")
    _assert_reported(result, message, field, path, line_text, status=ExitStatus.FINDINGS)


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_every_rule_is_named_documented_and_broken_by_a_case(check, mini_city):
    """Each rule across files has a name and a docstring, and a broken-registry case of this file
    makes that very rule report the case's message at the case's field."""
    assert check.__name__ in CASE_OF_CHECK, f"no broken case for {check.__name__}: add one and map it"
    assert (check.__doc__ or "").strip(), f"{check.__name__} says nothing of what it enforces"
    file, change, message, field = CASES[CASE_OF_CHECK[check.__name__]]
    _break(mini_city, file, change)
    files, _ = read_files(mini_city)
    assert files is not None
    reported = [(d.message, d.field) for d in check(files)]
    assert any(message.lower() in m.lower() and f == field for m, f in reported), reported


def test_every_mapped_rule_exists():
    assert set(CASE_OF_CHECK) == {c.__name__ for c in CHECKS}
    assert len(CHECKS) == len(set(CHECKS))


def test_yaml_syntax_error(mini_city, cli):
    path = mini_city / "departments" / f"{DEP}.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[5] = "  : broken: [unclosed"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert f"{DEP}.yaml:" in result.stderr and "is not valid YAML" in result.stderr
    assert "Traceback" not in result.output


def test_empty_file(mini_city, cli):
    (mini_city / "departments" / f"{DEP}.yaml").write_text("# nothing here\n", encoding="utf-8")
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert f"{DEP}.yaml:1: is empty" in result.stderr


def test_not_utf8(mini_city, cli):
    path = mini_city / "departments" / f"{DEP}.yaml"
    path.write_bytes(path.read_text(encoding="utf-8").encode("gb18030"))
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "is not UTF-8" in result.stderr and "iconv" in result.stderr


def test_duplicate_key(mini_city, cli):
    path = mini_city / "departments" / f"{DEP}.yaml"
    text = path.read_text(encoding="utf-8").replace("tier: city\n", "tier: city\ntier: district\n", 1)
    path.write_text(text, encoding="utf-8")
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == ExitStatus.BAD_INPUT
    line = _line_of(path, "tier: district")
    assert f"{DEP}.yaml:{line}: tier: duplicate key: the key 'tier' first set on line {line - 1}" in result.stderr


def test_not_a_mapping(mini_city, cli):
    (mini_city / "departments" / f"{DEP}.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "holds a LineList, not a mapping" in result.stderr or "not a mapping" in result.stderr


def test_duplicate_department_id(mini_city, cli):
    src = mini_city / "departments" / "d002.yaml"
    text = src.read_text(encoding="utf-8").replace("id: d002", "id: d001", 1)
    (mini_city / "departments" / "d002.yaml").write_text(text, encoding="utf-8")
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "duplicate department id 'd001', first in" in result.stderr
    assert "differs from the file name 'd002.yaml'" in result.stderr


def test_duplicate_system_across_files(mini_city, edit_department, cli):
    edit_department("d002", lambda d: sys0(d).__setitem__("id", "d001-s00"))
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert re.search(r"d002\.yaml:\d+: systems\[0\]\.id: duplicate system id 'd001-s00', first in .*d001\.yaml:\d+",
                     result.stderr)


def test_missing_city_file(mini_city, cli):
    (mini_city / "city.yaml").unlink()
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "city.yaml: the city context file is missing" in result.stderr


def test_not_a_directory(tmp_path, cli):
    result = cli("validate", "--city", tmp_path / "nowhere")
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "is not a directory" in result.stderr


def test_city_supernet_overlaps_management(mini_city, cli):
    path = mini_city / "city.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["addressing"]["management"]["primary"] = "10.64.0.0/20"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == ExitStatus.BAD_INPUT
    line = next(ln for ln in result.stderr.splitlines() if " overlaps " in ln)
    assert "the primary management range 10.64.0.0/20" in line
    assert "the intranet primary supernet 10.64.0.0/16" in line


def test_lock_file_with_shared_slot(mini_city, cli):
    (mini_city / "ipam.lock.yaml").write_text("slots:\n  d000: 0\n  d001: 0\n", encoding="utf-8")
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "ipam.lock.yaml:3: slots.d001: slot 0 already belongs to 'd000'" in result.stderr


def test_a_pinned_slot_beyond_the_segment_is_refused_however_few_systems(mini_city, cli):
    """The addresses follow the slot pinned in the lock, not the position in the file: a department
    of three systems with one pinned in slot 30 of a /24 (22 slots) has no address for it, and one
    pinned in slot 21 has."""
    dep = yaml.safe_load((mini_city / "departments" / f"{DEP}.yaml").read_text(encoding="utf-8"))
    ids = [s["id"] for s in dep["systems"]]
    lock = {"slots": {f"d{n:03d}": n for n in range(len(list((mini_city / "departments").glob("*.yaml"))))},
            "systems": {DEP: {ids[0]: 30, ids[1]: 21, **{s: k for k, s in enumerate(ids[2:])}}}}
    (mini_city / "ipam.lock.yaml").write_text(yaml.safe_dump(lock), encoding="utf-8")
    result = cli("validate", "--city", mini_city)
    assert result.exit_code == ExitStatus.BAD_INPUT, result.output
    errors = [ln for ln in result.stderr.splitlines() if "address slot" in ln]
    assert len(errors) == 1, result.stderr
    assert f"{DEP}.yaml:{_line_of(mini_city / 'departments' / f'{DEP}.yaml', f'id: {ids[0]}')}: systems[0].id: " \
        f"{ids[0]} is in address slot 30 of its department, but a /24 segment holds 22 systems" in errors[0]
    assert "--prune" in errors[0]


def test_every_error_at_once(mini_city, edit_department, cli):
    edit_department("d001", lambda d: sys0(d).__setitem__("functon", "x"))
    edit_department("d002", lambda d: d["quotas"].__setitem__("vcpus", 1))
    edit_department("d003", lambda d: sys0(d).__setitem__("depends_on", ["nope"]))
    result = cli("validate", "--city", mini_city, "--format", "json")
    assert result.exit_code == ExitStatus.BAD_INPUT
    report = json.loads(result.stdout)
    assert report["valid"] is False
    files = {Path(e["file"]).name for e in report["errors"]}
    assert files == {"d001.yaml", "d002.yaml", "d003.yaml"}
    assert all({"file", "line", "field", "message", "hint"} <= e.keys() for e in report["errors"])


def test_real_process_exit_status_and_no_traceback(mini_city):
    (mini_city / "departments" / "d001.yaml").write_text("", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "cli", "validate", "--city", str(mini_city)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "d001.yaml:1: is empty" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_usage_error_is_exit_2(cli):
    result = CliRunnerHelper.invoke("validate", "--format", "xml")
    assert result.exit_code == 2


class CliRunnerHelper:
    @staticmethod
    def invoke(*args: str) -> Any:
        from typer.testing import CliRunner

        from cli import app

        return CliRunner().invoke(app, list(args))
