"""`jiyue infra stacks` and `jiyue infra preview`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def test_stacks_lists_foundations_first():
    r = runner.invoke(app, ["infra", "stacks"])
    assert r.exit_code == 0, r.output
    lines = r.output.split()
    assert lines[0] == "intranet-primary-foundation" and "extranet-primary-bigdata" in lines
    r = runner.invoke(app, ["infra", "stacks", "--format", "json"])
    assert json.loads(r.output)[0] == {"stack": "intranet-primary-foundation", "zone": "intranet",
                                       "site": "primary", "department": None, "destroy": False}


def test_preview_text_is_a_tree_with_counts():
    r = runner.invoke(app, ["infra", "preview", "--stack", "intranet-primary-secrecy"])
    assert r.exit_code == 0, r.output
    assert "Previewing update (intranet-primary-secrecy)" in r.output
    assert "├─ jiyue:department:Tenant" in r.output
    assert "Resources per type:" in r.output and "openstack:compute/instance:Instance" in r.output


def test_preview_json_shape():
    r = runner.invoke(app, ["infra", "preview", "-s", "intranet-primary-foundation", "-s",
                            "intranet-primary-secrecy", "--format", "json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert [d["stack"] for d in data] == ["intranet-primary-foundation", "intranet-primary-secrecy"]
    for d in data:
        assert set(d) == {"stack", "resources"}
        for res in d["resources"]:
            assert {"urn", "type", "name", "parent", "inputs"} <= set(res) <= {
                "urn", "type", "name", "parent", "inputs", "dependencies", "outputs"}
            assert "outputs" not in res or res["type"] == "pulumi:pulumi:StackReference"
    port = next(x for x in data[1]["resources"] if x["type"] == "openstack:networking/port:Port")
    assert "fixedIps" in port["inputs"] and "securityGroupIds" in port["inputs"]
    # what a stack policy is given: where each input's value came from, and what a reference read
    assert any("subnet:Subnet" in u for u in port["dependencies"]["fixedIps"])
    ref = next(x for x in data[1]["resources"] if x["type"] == "pulumi:pulumi:StackReference")
    assert ref["outputs"]["outputs"]["routerId"]


def test_preview_refuses_bad_usage():
    assert runner.invoke(app, ["infra", "preview"]).exit_code == 2
    assert runner.invoke(app, ["infra", "preview", "--stack", "intranet-dr-nobody"]).exit_code == 2
    assert runner.invoke(app, ["infra", "preview", "--stack", "x", "--all"]).exit_code == 2
