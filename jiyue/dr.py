"""How a system is covered at the DR site (T3.1): one table by RPO and RTO.

The program (its standbys, volume classes and backup schedules), the pack (what a DR stack must
hold) and the registry's checks read this table; none decides a DR mode of its own.

==========================  ==============================  ===============================
RPO (minutes of loss)       RTO within the city's limits    what the DR site gets
==========================  ==============================  ===============================
0                           hot / warm / beyond warm        hot or warm: synchronous
                                                            replication, never cold (beyond
                                                            the warm limit it is warm)
below the shortest backup   hot / warm / beyond warm        hot or warm: replication, never a
interval (5 minutes)                                        backup schedule
at least the interval       hot limit or less               hot: replication, and backups
                            warm limit or less              warm: replication, and backups
                            beyond the warm limit           cold: backups every RPO minutes
==========================  ==============================  ===============================

The RTO limits are the city's (``dr_policy`` in city.yaml); a backup cannot run more often than
:data:`BACKUP_MIN_INTERVAL`, so an RPO below it is met only by replication.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

BACKUP_MIN_INTERVAL = 5  # minutes: the shortest backup interval the data center runs
BACKUP_RETENTION_DAYS = 30
#: a cold system's backup volume holds a full copy of its data and what changes over the retention
#: (file snapshots share unchanged files through hard links; the dumps are compressed)
BACKUP_VOLUME_FACTOR = 2


def backup_volume_gb(volume_gb: int, instances: int) -> int:
    """The size of a cold system's backup volume at the DR site: its data volumes (``volume_gb``
    on each of its ``instances``) times :data:`BACKUP_VOLUME_FACTOR`."""
    return volume_gb * instances * BACKUP_VOLUME_FACTOR


class RtoLimits(Protocol):
    """The city's limits (``dr_policy`` of city.yaml, :class:`jiyue.registry.schema.DrPolicy`)."""

    @property
    def hot_max_rto_minutes(self) -> int: ...

    @property
    def warm_max_rto_minutes(self) -> int: ...


class DrMode(StrEnum):
    """What stands at the DR site for a system."""

    hot = "hot"  # standby servers running and replicating, the application's services running
    warm = "warm"  # standby servers running and replicating, the application's services stopped
    cold = "cold"  # a backup schedule to the DR site only; servers are built on failover


class Replication(StrEnum):
    synchronous = "synchronous"  # nothing is lost: a write is done when both sites have it
    asynchronous = "asynchronous"  # the storage replicates behind the writes (seconds)


@dataclass(frozen=True, slots=True)
class DrPlan:
    """One row of the table: the mode, how the volumes reach the DR site, and the backups."""

    mode: DrMode
    replication: Replication | None  # None: cold, the backups alone
    backup_interval_minutes: int | None  # None: no backup schedule (replication alone meets the RPO)

    @property
    def replicated(self) -> bool:
        return self.replication is not None

    def backup(self) -> dict[str, int] | None:
        """The backup schedule as the program and the stack outputs record it."""
        if self.backup_interval_minutes is None:
            return None
        return {"intervalMinutes": self.backup_interval_minutes, "retentionDays": BACKUP_RETENTION_DAYS}


def mode_by_rto(rto_minutes: int, policy: RtoLimits) -> DrMode:
    """The mode the RTO alone asks for, by the city's limits."""
    if rto_minutes <= policy.hot_max_rto_minutes:
        return DrMode.hot
    if rto_minutes <= policy.warm_max_rto_minutes:
        return DrMode.warm
    return DrMode.cold


def dr_plan(rpo_minutes: int, rto_minutes: int, policy: RtoLimits) -> DrPlan:
    """The table's row for an RPO and an RTO (module docstring)."""
    by_rto = mode_by_rto(rto_minutes, policy)
    if rpo_minutes < BACKUP_MIN_INTERVAL:
        mode = DrMode.warm if by_rto is DrMode.cold else by_rto
        sync = Replication.synchronous if rpo_minutes == 0 else Replication.asynchronous
        return DrPlan(mode, sync, None)
    if by_rto is DrMode.cold:
        return DrPlan(DrMode.cold, None, rpo_minutes)
    return DrPlan(by_rto, Replication.asynchronous, rpo_minutes)


def cold_by_rto_only(rpo_minutes: int, rto_minutes: int, policy: RtoLimits) -> bool:
    """Whether the RTO asks for cold but the RPO cannot be met by backups: the table plans it warm,
    and the registry's check asks for the RTO to say so."""
    return rpo_minutes < BACKUP_MIN_INTERVAL and mode_by_rto(rto_minutes, policy) is DrMode.cold
