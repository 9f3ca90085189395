"""The DR copy on a DR host: present and within the system's RPO."""

import pytest

from policies.hosts import checks


@pytest.mark.rule("jiyue-host-dr-copy-current")
def test_dr_copy_within_rpo(spec, target):
    if not spec.dr_mode or spec.rpo_minutes is None:
        pytest.skip("not a DR host: no copy to judge")
    problem = checks.dr_copy_problem(checks.dr_beats(target), spec.rpo_minutes, backup=spec.dr_backup,
                                     primaries=spec.dr_primaries)
    assert problem is None, problem
