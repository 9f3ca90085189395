"""One host seeded from its registry entry (idempotent, recorded in a manifest), and many in
parallel."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import posixpath
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from jiyue.registry.schema import LegacyHost, Service, System
from lab.errors import LabError
from lab.lab import Lab
from lab.seed.activity import EVIDENCE, in_use_of, seed_activity
from lab.seed.base import ACCOUNTS, MIB, SYSTEM_UID, SeedError, sanitize, sh, share_of
from lab.seed.files import seed_files
from lab.seed.nginx import seed_nginx
from lab.seed.postgresql import db_counts, seed_postgresql, track_commits
from lab.seed.system import create_accounts, seed_update_evidence

SEED_VERSION = 1
#: What was seeded, on the host: sites, trees, databases, accounts, activity, where the evidence lives.
MANIFEST = "/var/lib/jiyue/seed.json"
#: Data bytes per host at scale 1.0 and data_gb >= 1 (smaller registry sizes scale it down).
BYTES_PER_HOST = 4 * MIB
#: The smallest fraction of BYTES_PER_HOST a host with data gets, whatever its data_gb.
MIN_FRACTION = 0.05


@dataclass
class SeedReport:
    """What :func:`seed_host` did to one host. ``manifest`` is what ``/var/lib/jiyue/seed.json``
    holds; ``changed`` is False when the host was already seeded with the same parameters."""

    host: str
    system: str
    legacy: str
    in_use: bool
    changed: bool
    seconds: float
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def skipped(self) -> list[str]:
        return list(self.manifest.get("skipped", []))


def _split_paths(legacy: LegacyHost) -> tuple[list[str], list[str]]:
    """(site paths, tree paths): with both nginx and files, /var/www and */www/* are sites."""
    services = set(legacy.services)
    if Service.nginx in services and Service.files not in services:
        return list(legacy.data_paths), []
    if Service.files in services and Service.nginx not in services:
        return [], list(legacy.data_paths)
    if Service.nginx not in services:
        return [], []
    sites = [p for p in legacy.data_paths if p.startswith("/var/www") or "/www/" in p + "/"]
    return sites, [p for p in legacy.data_paths if p not in sites]


def _read_manifest(lab: Lab, host: str) -> dict[str, Any] | None:
    out = lab.exec(host, ["cat", MANIFEST], check=False)
    if out.returncode != 0:
        return None
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        return None


def seed_host(
    lab: Lab,
    host: str,
    system: System,
    legacy: LegacyHost,
    *,
    scale: float = 1.0,
    seed: int = 0,
    in_use: bool | None = None,
) -> SeedReport:
    """Give lab host ``host`` the services, data and activity of ``legacy`` (of ``system``).

    ``scale`` multiplies the data size (about ``min(data_gb, 1) * 4 MiB`` per host at 1.0);
    ``seed`` makes other, equally deterministic data; ``in_use`` overrides :func:`in_use_of`.
    Idempotent: returns ``changed=False`` without touching the host when it was seeded with the
    same parameters; raises :class:`SeedError` when it was seeded with different ones.
    """
    started = time.monotonic()
    use = in_use_of(system) if in_use is None else in_use
    params = {"version": SEED_VERSION, "system": system.id, "legacy": legacy.name, "scale": scale, "seed": seed,
              "in_use": use, "services": sorted(str(s) for s in legacy.services),
              "data_paths": list(legacy.data_paths), "databases": list(legacy.databases), "data_gb": legacy.data_gb,
              "last_update": system.om.last_update.isoformat()}
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    existing = _read_manifest(lab, host)
    if existing is not None:
        if existing.get("key") != key:
            raise SeedError(f"{host} was seeded with other parameters ({existing.get('params')}); "
                            "bring the host up again to reseed it")
        return SeedReport(host, system.id, legacy.name, use, False, time.monotonic() - started, existing)
    try:
        manifest = _seed(lab, host, system, legacy, scale, seed, use)
    except LabError as exc:
        if isinstance(exc, SeedError):
            raise
        raise SeedError(f"seeding {host} ({system.id}/{legacy.name}) failed: {exc}") from exc
    manifest.update(key=key, params=params, seconds=round(time.monotonic() - started, 2))
    sh(lab, host, f"mkdir -p {posixpath.dirname(MANIFEST)}\ncat > {MANIFEST}.tmp\nmv {MANIFEST}.tmp {MANIFEST}",
       json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode())
    return SeedReport(host, system.id, legacy.name, use, True, time.monotonic() - started, manifest)


def _seed(lab: Lab, host: str, system: System, legacy: LegacyHost, scale: float, seed: int,
          use: bool) -> dict[str, Any]:
    now = int(time.time())
    services = set(legacy.services)
    site_paths, tree_paths = _split_paths(legacy)
    databases = list(legacy.databases) if Service.postgresql in services else []
    budget = int(max(min(legacy.data_gb, 1.0), MIN_FRACTION) * BYTES_PER_HOST * scale)
    share = share_of(budget, len(site_paths) + len(tree_paths) + len(databases))
    skipped: list[str] = []
    system_user = sanitize(system.id)
    users = create_accounts(lab, host, system_user)
    seed_update_evidence(lab, host, system.om.last_update)

    sites = seed_nginx(lab, host, system, site_paths, share * len(site_paths), seed) if site_paths else []
    if Service.nginx in services and not site_paths:
        skipped.append("nginx: the registry lists no data path for a site")
    trees = seed_files(lab, host, system, tree_paths, share * len(tree_paths), seed, skipped) if tree_paths else []
    dbs = seed_postgresql(lab, host, system, databases, share * len(databases), seed) if databases else []
    if Service.postgresql in services and not databases:
        skipped.append("postgresql: the registry lists no database")
    if dbs:
        track_commits(lab, host, databases)

    uids = {u: ACCOUNTS[u][0] if u in ACCOUNTS else SYSTEM_UID for u in ("ops", system_user)}
    activity = seed_activity(lab, host, system, legacy, sites=sites, trees=trees, databases=databases, uids=uids,
                             in_use=use, seed=seed, now=now)
    for site in sites:
        del site["sizes"]  # only for the history's byte counts
    for d in dbs:
        d["tables"] = db_counts(lab, host, d["name"])
    return {
        "host": host,
        "system": system.id,
        "system_zh": system.names.zh,
        "legacy": legacy.name,
        "in_use": use,
        "seeded_at": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(),
        "bytes_budget": budget,
        "services": sorted(str(s) for s in services),
        "accounts": users,
        "sites": sites,
        "trees": trees,
        "databases": dbs,
        "activity": activity,
        "evidence": EVIDENCE,
        "skipped": skipped,
    }


def seed_hosts(
    lab: Lab,
    items: Iterable[tuple[str, System, LegacyHost]],
    max_workers: int = 8,
    *,
    scale: float = 1.0,
    seed: int = 0,
    in_use: bool | None = None,
) -> list[SeedReport]:
    """:func:`seed_host` for every ``(host, system, legacy)``, ``max_workers`` at a time.

    Returns the reports in the order of ``items``; when some hosts fail, every other host is
    still seeded and one :class:`SeedError` then names all the failures.
    """
    work = list(items)
    # Longest first (PostgreSQL hosts take several times longer than the others).
    order = sorted(range(len(work)), key=lambda i: Service.postgresql not in work[i][2].services)
    futures: dict[int, Future[SeedReport]] = {}
    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        for i in order:
            host, system, legacy = work[i]
            futures[i] = pool.submit(seed_host, lab, host, system, legacy, scale=scale, seed=seed, in_use=in_use)
    reports, failures = [], []
    for i, (host, _, _) in enumerate(work):
        exc = futures[i].exception()
        if exc is None:
            reports.append(futures[i].result())
        else:
            failures.append(f"{host}: {exc}")
    if failures:
        raise SeedError(f"seeding failed on {len(failures)} of {len(work)} hosts:\n  " + "\n  ".join(failures))
    return reports
