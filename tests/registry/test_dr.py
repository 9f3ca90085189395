"""The DR table (jiyue/dr.py): the mode follows the RTO by the city's limits, an RPO of 0 is
synchronous replication (hot or warm, never cold), an RPO below the shortest backup interval is
replication and never a backup schedule."""

from __future__ import annotations

import pytest

from jiyue.dr import BACKUP_MIN_INTERVAL, DrMode, DrPlan, Replication, dr_plan
from jiyue.registry.schema import DrPolicy

POLICY = DrPolicy(hot_max_rto_minutes=30, warm_max_rto_minutes=240)
SYNC, ASYNC = Replication.synchronous, Replication.asynchronous

# (RPO, RTO) -> the table's row
TABLE = [
    ((0, 10), DrPlan(DrMode.hot, SYNC, None)),
    ((0, 30), DrPlan(DrMode.hot, SYNC, None)),
    ((0, 31), DrPlan(DrMode.warm, SYNC, None)),
    ((0, 240), DrPlan(DrMode.warm, SYNC, None)),
    ((0, 1440), DrPlan(DrMode.warm, SYNC, None)),  # never cold
    ((1, 1440), DrPlan(DrMode.warm, ASYNC, None)),
    ((BACKUP_MIN_INTERVAL - 1, 30), DrPlan(DrMode.hot, ASYNC, None)),  # no backup can run that often
    ((BACKUP_MIN_INTERVAL, 30), DrPlan(DrMode.hot, ASYNC, BACKUP_MIN_INTERVAL)),
    ((15, 60), DrPlan(DrMode.warm, ASYNC, 15)),
    ((60, 240), DrPlan(DrMode.warm, ASYNC, 60)),
    ((60, 241), DrPlan(DrMode.cold, None, 60)),
    ((1440, 2880), DrPlan(DrMode.cold, None, 1440)),
]


@pytest.mark.parametrize(("need", "row"), TABLE, ids=[f"rpo{r}-rto{t}" for (r, t), _ in TABLE])
def test_the_dr_table(need, row):
    assert dr_plan(*need, POLICY) == row


@pytest.mark.parametrize("rpo", [0, 1, BACKUP_MIN_INTERVAL - 1])
@pytest.mark.parametrize("rto", [1, 30, 31, 240, 241, 10_000])
def test_an_rpo_below_the_backup_interval_is_replication_never_a_backup(rpo, rto):
    row = dr_plan(rpo, rto, POLICY)
    assert row.mode is not DrMode.cold and row.replicated and row.backup() is None
    assert (row.replication is SYNC) is (rpo == 0)


def test_the_backup_schedule_is_every_rpo_minutes():
    assert dr_plan(60, 1000, POLICY).backup() == {"intervalMinutes": 60, "retentionDays": 30}


def test_the_city_limits_move_the_modes():
    strict = DrPolicy(hot_max_rto_minutes=5, warm_max_rto_minutes=10)
    assert [dr_plan(30, rto, strict).mode for rto in (5, 10, 11)] == [DrMode.hot, DrMode.warm, DrMode.cold]
