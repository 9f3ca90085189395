"""The pack over the real Pulumi program's offline preview (infra/preview.py, issue 3)."""

from __future__ import annotations

import pytest

from .conftest import SAMPLE_CITY


def test_a_department_stack_of_the_real_program_passes_the_pack():
    preview_mod = pytest.importorskip("infra.preview")
    from jiyue.registry import load_city
    from policies.check import check_graphs

    model = load_city(SAMPLE_CITY)
    stack = "intranet-primary-finance"
    try:
        resources = preview_mod.preview(model, stack).resources
    except Exception as exc:  # noqa: BLE001 - the program is still being written (issue 3)
        pytest.skip(f"infra.preview cannot preview {stack} yet: {exc!r}")
    report = check_graphs([(stack, resources)], city=SAMPLE_CITY, mode="direct")
    assert not report.blocking, [f"{f.rule}: {f.message}" for f in report.findings]
