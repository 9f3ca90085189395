"""The recorded preview graph (``data/``) is what the Pulumi program previews today.

The pack's tests judge the recorded stacks instead of building a graph of their own; this test runs
``jiyue infra preview --format json`` for every recorded stack again and compares, so a change of the
program that changes a graph fails here until the recording is made again (conftest.py says how).
"""

from __future__ import annotations

import json

import pytest

from jiyue.status import ExitStatus

from .conftest import SAMPLE_CITY, recorded_files


def test_the_recording_covers_what_the_rules_judge(recorded_graph):
    stacks = {s for s, _ in recorded_graph}
    assert {f"{z}-{s}-foundation" for z in ("intranet", "extranet") for s in ("primary", "dr")} <= stacks
    assert {"intranet-primary-finance", "extranet-primary-finance", "intranet-dr-finance"} <= stacks
    classes = {(r["inputs"].get("metadata") or {}).get("classification") for _, rs in recorded_graph for r in rs}
    assert {"classified", "public"} <= classes


@pytest.mark.parametrize("path", recorded_files(), ids=[p.stem for p in recorded_files()])
def test_a_recorded_stack_is_what_the_program_previews(cli, path):
    r = cli("infra", "preview", "--format", "json", "--stack", path.stem, "--city", SAMPLE_CITY)
    assert r.exit_code == ExitStatus.OK, r.output
    assert json.loads(r.stdout) == json.loads(path.read_text(encoding="utf-8")), (
        f"{path.name} is stale: record it again "
        f"(.venv/bin/jiyue infra preview --format json --stack {path.stem} > {path})")
