"""Activity: what a system in use does, dated relative to now, what an idle one (a zombie) does
not, and where the audit reads each kind of evidence.

A system in use gets, per what it runs: real HTTP requests to its sites (nginx writes them to
``access.log``) and 30 days of older LAN traffic in ``access.log.1``; login sessions in ``wtmp``
and ``lastlog``; real database transactions after commit timestamps were turned on and the
statistics reset; newly received documents under each tree's ``incoming/<date>/``; a nightly
export in cron. An idle one keeps every service running but has an empty ``access.log``, a few
requests and logins around ``om.last_update`` and at least 45 days ago, no transaction, no new
document and no cron job.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jiyue.registry.schema import Frequency, LegacyHost, OmStatus, System
from lab.lab import Lab
from lab.seed.base import ACTIVITY_DAYS, DAY, epoch, seeded_rng, sh
from lab.seed.files import new_documents
from lab.seed.logins import logins
from lab.seed.nginx import web_history, web_requests
from lab.seed.postgresql import db_activity
from lab.seed.system import cron_job


@dataclass(frozen=True, slots=True)
class ActivityLevel:
    """How much a system in use does, by its frequency of use."""

    requests_now: int  # real HTTP requests to the host's sites, at seeding time
    requests_per_day: int  # LAN requests per day in the last 30 days' history (access.log.1)
    logins: int  # login sessions in the last 30 days
    db_transactions: int  # real transactions, per database
    new_documents: int  # documents received lately, per file tree


LEVELS: dict[Frequency, ActivityLevel] = {
    Frequency.continuous: ActivityLevel(requests_now=40, requests_per_day=60, logins=60, db_transactions=60,
                                        new_documents=12),
    Frequency.daily: ActivityLevel(requests_now=25, requests_per_day=25, logins=30, db_transactions=30,
                                   new_documents=8),
    Frequency.weekly: ActivityLevel(requests_now=12, requests_per_day=6, logins=8, db_transactions=12,
                                    new_documents=4),
    Frequency.monthly: ActivityLevel(requests_now=6, requests_per_day=2, logins=3, db_transactions=5,
                                     new_documents=2),
    Frequency.yearly: ActivityLevel(requests_now=4, requests_per_day=1, logins=2, db_transactions=3,
                                    new_documents=1),
    Frequency.rarely: ActivityLevel(requests_now=4, requests_per_day=1, logins=2, db_transactions=3,
                                    new_documents=1),
}

#: Where the audit reads each kind of evidence on a seeded host.
EVIDENCE: dict[str, str] = {
    "web_requests": "/var/log/nginx/access.log and /var/log/nginx/access.log.1 (combined format)",
    "logins": "/var/log/wtmp (struct utmp; `last -F -w`), /var/log/lastlog (`lastlog`)",
    "db_activity": "SELECT datname, xact_commit, tup_inserted, tup_updated, stats_reset FROM pg_stat_database; "
                   "SELECT * FROM pg_last_committed_xact(); SELECT max(updated_at) FROM app.records",
    "file_activity": "mtimes under each tree (incoming/<date>/ for systems in use)",
    "last_update": "/var/log/dpkg.log and /var/log/apt/history.log dates; mtime of /var/lib/dpkg/status",
    "scheduled_jobs": "/etc/cron.d/<system id>",
    "services": "/usr/local/sbin/jiyue-service status|is-enabled nginx|postgresql|cron",
}


def in_use_of(system: System) -> bool:
    """A system is in use unless its O&M stopped or it is used rarely or yearly (zombie-like)."""
    return system.om.status != OmStatus.stopped and system.frequency_of_use not in (
        Frequency.rarely,
        Frequency.yearly,
    )


def recent_times(rng: random.Random, count: int, now: int, days: int = ACTIVITY_DAYS) -> list[int]:
    return sorted(now - rng.randrange(60, days * DAY) for _ in range(count))


def old_times(rng: random.Random, count: int, last_update: dt.date, now: int) -> list[int]:
    """Around the last update, never within 45 days of now."""
    end = min(epoch(last_update, 12 * 3600), now - 45 * DAY)
    return sorted(end - rng.randrange(0, 7 * DAY) for _ in range(count))


def seed_activity(lab: Lab, host: str, system: System, legacy: LegacyHost, *, sites: Sequence[dict[str, Any]],
                  trees: Sequence[dict[str, Any]], databases: Sequence[str], uids: dict[str, int], in_use: bool,
                  seed: int, now: int) -> dict[str, Any]:
    """The host's activity, in use or idle, over what was seeded; returns the counts for the manifest."""
    rng = seeded_rng(seed, legacy.name, "activity", now)
    activity: dict[str, Any] = {"in_use": in_use}
    if not in_use:
        if sites:
            sh(lab, host, ": > /var/log/nginx/access.log")  # the seed's own check requests
            activity["web_history_requests"] = web_history(lab, host, sites, legacy,
                                                           old_times(rng, 5, system.om.last_update, now), seed)
        activity["logins"] = logins(lab, host, legacy, uids, old_times(rng, 2, system.om.last_update, now), seed)
        return activity
    level = LEVELS[system.frequency_of_use]
    if sites:
        days = [now - d * DAY for d in range(1, ACTIVITY_DAYS + 1)]
        hist = sorted(t - rng.randrange(DAY) for t in days for _ in range(max(1, level.requests_per_day)))
        activity["web_history_requests"] = web_history(lab, host, sites, legacy, hist, seed)
        activity["web_requests"] = web_requests(lab, host, sites, level.requests_now, seed)
    activity["logins"] = logins(lab, host, legacy, uids, recent_times(rng, level.logins, now), seed)
    if databases:
        activity["db_transactions"] = db_activity(lab, host, databases, level.db_transactions, seed)
    if trees:
        activity["new_documents"] = [f for t in trees for f in new_documents(
            lab, host, system, t["path"], level.new_documents, seed)]
    activity["cron"] = cron_job(lab, host, system, sites, trees, databases)
    return activity
