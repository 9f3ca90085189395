"""`jiyue infra diff`: registry edits and the diff each must give (the real program under mocks).

Each case copies the sample city into a temporary directory, edits it as a person would, and
compares it with the sample city. The sample city's previews are kept by the digest of its files
(infra.diff), so it runs once for the whole module.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from infra.diff import STATEFUL_TYPES, CityDiff, compare, previews
from infra.replacements import arguments, forces_replacement
from jiyue import creditcode
from jiyue.facts import write_facts
from jiyue.registry import load_city
from jiyue.stacks import stacks
from policies.check import check_graphs

from .conftest import SAMPLE_CITY

runner = CliRunner()
SECRECY = "departments/secrecy.yaml"


def copy_city(tmp_path: Path) -> Path:
    city = tmp_path / "city"
    shutil.copytree(SAMPLE_CITY, city)
    return city


def edit(city: Path, rel: str, old: str, new: str, count: int = 1) -> None:
    path = city / rel
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= count, f"{rel} has no {old!r}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def system_block(city: Path, system: str) -> tuple[str, str]:
    """The department file of secrecy, and the block of ``system`` in its list of systems."""
    text = (city / SECRECY).read_text(encoding="utf-8")
    start = text.index(f"  - id: {system}\n")
    following = re.search(r"\n\n  (#[^\n]*\n  )?- id: ", text[start + 1:])
    end = len(text) if following is None else start + 1 + following.start() + 1
    return text, text[start:end]


def diff_of(city: Path, only: list[str] | None = None) -> CityDiff:
    """The diff of the edited ``city`` against the sample; every stack it still builds and changes
    (or the ``only`` ones) passes the policy pack with the edited city's facts, but for the filing
    gate, which the sample fails on purpose."""
    model = load_city(city)
    d = compare(load_city(SAMPLE_CITY), model, only)
    judged = [s.stack for s in d.stacks if s.action in ("create", "update") or (only and s.action == "same")]
    if judged:
        (runs,) = previews([(model, judged)])
        facts = write_facts(model, city.parent / "facts.json")
        report = check_graphs([(n, runs[n].resources) for n in judged], facts=facts, mode="direct")
        assert {f.rule for f in report.findings} <= {"jiyue-filing-gate"}, [
            (f.stack, f.rule, f.message) for f in report.findings if f.rule != "jiyue-filing-gate"]
    return d


def changed(d: CityDiff) -> dict[str, str]:
    return {s.stack: s.action for s in d.stacks if s.action != "same"}


def ops(d: CityDiff) -> set[str]:
    return {c.op for s in d.stacks for c in s.resources}


def test_no_edit_every_stack_is_the_same(tmp_path):
    d = diff_of(copy_city(tmp_path))
    assert d.stacks and {s.action for s in d.stacks} == {"same"}
    assert [s.stack for s in d.stacks] == stacks(load_city(SAMPLE_CITY))
    assert d.blocking() == []


def test_a_display_name_updates_only(tmp_path):
    city = copy_city(tmp_path)
    edit(city, SECRECY, "  en: Dalian Municipal State Secrets Protection Bureau",
         "  en: Dalian State Secrets Bureau")
    d = diff_of(city)
    assert changed(d) == {s: "update" for s in ("intranet-primary-secrecy", "intranet-dr-secrecy",
                                                  "extranet-primary-secrecy")}
    assert ops(d) == {"update"} and d.blocking() == []
    project = next(c for s in d.stacks for c in s.resources if c.type == "openstack:identity/project:Project")
    assert project.inputs == ("description",) and project.stateful


def test_a_new_department_creates_its_stacks_only(tmp_path):
    city = copy_city(tmp_path)
    text = (city / SECRECY).read_text(encoding="utf-8")
    (city / "departments" / "secrecy-archive.yaml").write_text(
        text.replace("secrecy-", "secrecy-archive-").replace("id: secrecy\n", "id: secrecy-archive\n")
            .replace("市保密局", "市保密档案馆").replace("State Secrets Protection Bureau", "Secrets Archive")
            .replace(re.search(r'credit_code: "(\w+)"', text).group(1), creditcode.make("210200", "20261201"))
            .replace("id: classified-carriers", "id: archive-classified-carriers"),  # a resource of its own
        encoding="utf-8")
    d = diff_of(city)
    assert changed(d) == {s: "create" for s in ("intranet-primary-secrecy-archive", "intranet-dr-secrecy-archive",
                                                  "extranet-primary-secrecy-archive")}
    assert ops(d) == {"create"} and d.blocking() == []


RETIREMENT = """    retirement:
      decided: 2026-05-12
      approved_by: 市政务服务管理局
      evidence: audit score 85, no logins in 14 months
"""


def test_retiring_the_last_system_of_a_zone_destroys_its_stack_only(tmp_path):
    city = copy_city(tmp_path)
    edit(city, SECRECY, "    zone: extranet\n", "    zone: extranet\n" + RETIREMENT)
    d = diff_of(city)
    assert changed(d) == {"extranet-primary-secrecy": "destroy"}
    gone = next(s for s in d.stacks if s.action == "destroy")
    assert {c.op for c in gone.resources} == {"delete"}
    assert {"openstack:compute/instance:Instance", "openstack:blockstorage/volume:Volume",
            "openstack:identity/project:Project"} <= {c.type for c in gone.resources if c.stateful}
    assert all(c.decided for c in gone.resources if c.stateful)
    assert d.blocking() == []
    r = runner.invoke(app, ["infra", "diff", "--base", str(SAMPLE_CITY), "--city", str(city), "--format", "json"])
    assert r.exit_code == 0, r.output
    stacks = {s["stack"]: s for s in json.loads(r.output)["stacks"]}
    assert stacks["extranet-primary-secrecy"]["action"] == "destroy"
    assert set(stacks["extranet-primary-secrecy"]["resources"][0]) == {"type", "name", "op", "stateful", "inputs"}


def test_a_renamed_system_deletes_its_volumes_unless_allowed(tmp_path):
    city = copy_city(tmp_path)
    text, block = system_block(city, "secrecy-edu")
    (city / SECRECY).write_text(text.replace(block, block.replace("secrecy-edu", "secrecy-school")), encoding="utf-8")
    only = ["extranet-primary-secrecy"]
    d = diff_of(city, only)
    blocked = [c for _, c in d.blocking()]
    volumes = [c.name for c in blocked if c.type == "openstack:blockstorage/volume:Volume"]
    assert volumes and all(c.op in ("replace", "delete") for c in blocked)
    args = ["infra", "diff", "--base", str(SAMPLE_CITY), "--city", str(city), "--stack", only[0]]
    r = runner.invoke(app, args)
    assert r.exit_code == 1, r.output
    assert "BLOCKED" in r.output and f"blocked: {only[0]}: {volumes[0]}" in r.output
    allow = [a for c in blocked for a in ("--allow", c.name)]
    r = runner.invoke(app, [*args, *allow])
    assert r.exit_code == 0, r.output
    assert "blocked:" not in r.output


def test_a_bad_base_is_refused(tmp_path):
    city = copy_city(tmp_path)
    r = runner.invoke(app, ["infra", "diff", "--base", str(tmp_path / "nowhere"), "--city", str(city)])
    assert r.exit_code == 2 and "--base:" in r.output and "no git repository" in r.output
    r = runner.invoke(app, ["infra", "diff", "--base", "no-such-revision", "--city", str(SAMPLE_CITY)])
    assert r.exit_code == 2 and "nor a revision of the repository" in r.output
    r = runner.invoke(app, ["infra", "diff", "--base", str(SAMPLE_CITY), "--city", str(city),
                            "--stack", "intranet-primary-nobody"])
    assert r.exit_code == 2 and "no stack" in r.output


def test_a_git_revision_is_a_base():
    head = subprocess.run(["git", "-C", str(SAMPLE_CITY), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    r = runner.invoke(app, ["infra", "diff", "--base", head, "--stack", "intranet-primary-secrecy",
                            "--format", "json"])
    assert r.exit_code in (0, 1), r.output
    assert [s["stack"] for s in json.loads(r.output)["stacks"]] == ["intranet-primary-secrecy"]


def test_reclassifying_a_system_replaces_nothing(tmp_path):
    city = copy_city(tmp_path)
    text, block = system_block(city, "secrecy-edu")
    (city / SECRECY).write_text(text.replace(block, block.replace("classification: public",
                                                                  "classification: internal")), encoding="utf-8")
    d = diff_of(city, ["extranet-primary-secrecy"])
    assert changed(d) == {"extranet-primary-secrecy": "update"}
    assert ops(d) == {"update"}, [(c.op, c.name, c.inputs) for s in d.stacks for c in s.resources if c.op != "update"]


def test_reordering_a_department_file_changes_nothing(tmp_path):
    city = copy_city(tmp_path)
    text, block = system_block(city, "secrecy-edu")
    text = text.replace(block, "")
    first = text.index("  - id: secrecy-carrier\n")
    (city / SECRECY).write_text(text[:first] + block + text[first:], encoding="utf-8")
    d = diff_of(city, ["intranet-primary-secrecy", "extranet-primary-secrecy"])
    assert changed(d) == {}


def test_the_replacement_table_is_the_sdks():
    assert forces_replacement("openstack:compute/instance:Instance", ["keyPair", "flavorName", "blockDevices"]) == [
        "keyPair", "blockDevices"]
    assert forces_replacement("openstack:blockstorage/volume:Volume", ["size", "volumeType", "metadata"]) == []
    assert forces_replacement("openstack:networking/secGroupRule:SecGroupRule", ["remoteIpPrefix"]) == [
        "remoteIpPrefix"]
    assert arguments("jiyue:system:SystemDeployment") is None


def test_the_table_knows_every_input_the_program_sets():
    city = load_city(SAMPLE_CITY)
    (runs,) = previews([(city, stacks(city))])
    seen: dict[str, set[str]] = {}
    for p in runs.values():
        for r in p.resources:
            if r["type"].startswith(("openstack:", "pulumi:providers:")):
                seen.setdefault(r["type"], set()).update(r["inputs"])
    assert set(seen) >= STATEFUL_TYPES
    for typ, inputs in sorted(seen.items()):
        args = arguments(typ)
        assert args is not None, f"{typ}: no arguments class in the installed pulumi-openstack"
        assert inputs - args.inputs <= {"__defaults"}, f"{typ}: inputs the SDK does not declare: {inputs - args.inputs}"


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
