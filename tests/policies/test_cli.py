"""`jiyue policy check|rules|hosts|facts`: formats, outputs and exit statuses."""

from __future__ import annotations

import json

from jiyue.status import ExitStatus
from policies.city import load_facts
from policies.hosts.rules import HOST_RULES
from policies.rules import BY_NAME

from .conftest import SAMPLE_CITY


def write_graph(tmp_path, graphs):
    p = tmp_path / "graph.json"
    p.write_text(json.dumps([{"stack": s, "resources": r} for s, r in graphs]), encoding="utf-8")
    return p


def test_check_passes_a_clean_stack_over_grpc(cli, tmp_path, recorded_graph):
    g = write_graph(tmp_path, [(s, r) for s, r in recorded_graph if s == "intranet-primary-finance"])
    r = cli("policy", "check", "--graph", g, "--city", SAMPLE_CITY, "--stack", "intranet-primary-finance",
            "--format", "json")
    assert r.exit_code == ExitStatus.OK, r.output
    d = json.loads(r.stdout)
    assert d["passed"] and d["mode"] == "analyzer gRPC interface" and d["resources"] > 20


def test_check_fails_a_violation_and_writes_each_format(cli, tmp_path, recorded_graph):
    rs = [dict(x) for x in next(r for s, r in recorded_graph if s == "intranet-primary-finance")]
    rs.append({"urn": "urn:pulumi:intranet-primary-finance::jiyue::openstack:networking/floatingIp:FloatingIp::f",
               "type": "openstack:networking/floatingIp:FloatingIp", "name": "f", "parent": None, "inputs": {}})
    g = write_graph(tmp_path, [("intranet-primary-finance", rs)])
    for fmt in ("text", "json", "sarif", "html"):
        out = tmp_path / f"report.{fmt}"
        r = cli("policy", "check", "--graph", g, "--city", SAMPLE_CITY, "--stack", "intranet-primary-finance",
                "--format", fmt, "--output", out, "--direct")
        assert r.exit_code == ExitStatus.FINDINGS, r.output
        assert "jiyue-intranet-no-floating-ip" in out.read_text(encoding="utf-8")


def test_check_bad_input_exits_2(cli, tmp_path):
    bad = tmp_path / "graph.json"
    bad.write_text("{not json", encoding="utf-8")
    assert cli("policy", "check", "--graph", bad, "--city", SAMPLE_CITY).exit_code == ExitStatus.BAD_INPUT
    g = write_graph(tmp_path, [("intranet-primary-finance", [])])
    r = cli("policy", "check", "--graph", g, "--city", SAMPLE_CITY, "--stack", "intranet-primary-nope")
    assert r.exit_code == ExitStatus.BAD_INPUT
    w = tmp_path / "w.yaml"
    w.write_text("waivers:\n  - rule: jiyue-intranet-no-floating-ip\n", encoding="utf-8")
    r = cli("policy", "check", "--graph", g, "--city", SAMPLE_CITY, "--waivers", w)
    assert r.exit_code == ExitStatus.BAD_INPUT and "missing" in r.stderr
    assert cli("policy", "check", "--graph", g, "--city", tmp_path / "nocity").exit_code == ExitStatus.BAD_INPUT


def test_rules_lists_pack_and_host_rules(cli):
    r = cli("policy", "rules", "--format", "json")
    names = {x["name"] for x in json.loads(r.stdout)}
    assert names == set(BY_NAME) | set(HOST_RULES)
    assert {"jiyue-filing-gate", "jiyue-router-own-zone", "jiyue-host-sshd-max-auth-tries"} <= names


def test_facts_are_written_for_a_real_preview(cli, tmp_path):
    """`jiyue policy facts` writes what the pack reads, and the pack config naming it for every rule."""
    out, cfg = tmp_path / "facts.json", tmp_path / "pack-config.json"
    r = cli("policy", "facts", "--city", SAMPLE_CITY, "--out", out, "--pack-config", cfg)
    assert r.exit_code == ExitStatus.OK, r.output
    facts = load_facts(out)
    assert facts.city == "dalian" and "intranet-primary-finance" in facts.stacks
    assert json.loads(cfg.read_text(encoding="utf-8")) == {name: {"facts": str(out.resolve())} for name in BY_NAME}
    shown = cli("policy", "facts", "--city", SAMPLE_CITY)
    assert json.loads(shown.stdout)["systems"].keys() == facts.systems.keys()
    assert cli("policy", "facts", "--pack-config", cfg).exit_code == ExitStatus.BAD_INPUT
