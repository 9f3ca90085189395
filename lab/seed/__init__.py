"""Seeding: make a legacy host run what the city registry says it runs.

:func:`seed_host` gives one lab host the services of one :class:`~jiyue.registry.schema.LegacyHost`
with deterministic data and, for systems in use, genuine activity; :func:`seed_hosts` does many
hosts in parallel. Everything runs inside the host through :meth:`lab.Lab.exec` (no network
needed). Data travels as a tar stream (base64 on stdin) built here, so owners, modes and mtimes
come out exactly as generated. One module per kind of service:

- :mod:`lab.seed.nginx`: one site per data path under ``/var/www`` (all data paths on a host whose
  services do not include ``files``): ``index.html`` naming the system in Chinese, HTML pages,
  binary ``assets/*.png`` and ``files/*.pdf``, an ``uploads/`` directory owned by ``www-data``; a
  server block in ``/etc/nginx/sites-available/<site>`` linked into ``sites-enabled`` (the first
  site is the ``default_server`` on port 80; the others answer to ``server_name <site>``); nginx
  enabled and started, and the index checked over ``http://localhost``.
- :mod:`lab.seed.postgresql`: the cluster enabled and started; per database of the registry a role
  named after the system (``audit-online`` -> ``audit_online``, with an OS account of the same
  name), the database owned by it, schema ``app`` with ``records``, ``attachments`` (bytea) and
  ``audit_log``, deterministic rows, indexes, ``VACUUM ANALYZE``.
  **Authentication stays local peer auth** (Debian's default ``pg_hba.conf``, ``listen_addresses``
  localhost): the migration engine dumps and restores over ssh as ``sudo -u postgres`` (or
  ``runuser``); no password is ever created and no database port is opened to the lab.
- :mod:`lab.seed.files`: per data path (outside ``/var/www``) a nested tree of documents of varied
  sizes (some empty, some with Chinese names), owned by ``archivist``/``clerk`` and group
  ``archive`` (fixed ids, see :data:`ACCOUNTS`), directories 0750/0755/0700, files 0640/0644/0600,
  and POSIX ACLs (``setfacl``) on a few entries when the image has ``acl``.
- ``ssh``: nothing to do, sshd is the host's init.

:mod:`lab.seed.system` gives every host, in use or not, the registry's ``om.last_update`` as its
package-update evidence: the dates of ``/var/log/dpkg.log`` and ``/var/log/apt/history.log`` are
rewritten to that day and those files and ``/var/lib/dpkg/status`` get it as mtime. Base data
(site files, file trees, database rows) is dated on or before ``om.last_update`` and depends only
on the registry, ``seed`` and ``scale``: seeding the same host twice anywhere gives the same bytes.

:mod:`lab.seed.activity` adds, for systems in use (see :func:`in_use_of`), activity dated
relative to *now* and readable by the audit:

- web: real HTTP requests to every site from inside the host, so nginx itself writes them to
  ``/var/log/nginx/access.log``; plus older traffic from the department's LAN over the last 30
  days in ``/var/log/nginx/access.log.1`` (as logrotate leaves it), combined log format.
- logins (:mod:`lab.seed.logins`): ``utmp`` records in ``/var/log/wtmp`` (``USER_PROCESS`` at login
  and ``DEAD_PROCESS`` at logout, on ``pts/N`` from LAN addresses, the records ``login``/``sshd``
  write) and the matching ``/var/log/lastlog`` entries: ``last -F`` and ``lastlog`` read them.
- database: after the load the cluster is restarted with ``track_commit_timestamp = on`` and the
  statistics are reset, then real transactions run (inserts, updates, audit-log rows), each its
  own commit. Evidence: ``pg_stat_database`` (``xact_commit``, ``tup_inserted``, ``tup_updated``,
  ``stats_reset``), ``SELECT * FROM pg_last_committed_xact()`` (recent timestamp; NULL on idle
  hosts, whose only writes happened before commit timestamps were on), and
  ``max(updated_at)`` of ``app.records``.
- files: new documents under ``<data path>/incoming/<date>/`` with mtimes over the last 30 days.
- cron: ``/etc/cron.d/<system id>`` runs a nightly export (``/usr/local/bin/<system id>-export``),
  and cron is enabled and started.

How much of each, by the system's frequency of use, is an :class:`ActivityLevel` (:data:`LEVELS`).
Idle systems (zombies) keep every service the registry lists running, but have no activity:
empty ``access.log`` (the seed's own check request is truncated away), at most a few requests and
logins around ``om.last_update`` and at least 45 days ago, zero statistics and no commit
timestamp in PostgreSQL, no cron job, every data mtime on or before ``om.last_update``.

What was seeded is written to ``/var/lib/jiyue/seed.json`` (:data:`MANIFEST`, by
:mod:`lab.seed.host`): sites, trees (file counts, bytes, per-file SHA-256 and a tree digest, see
:func:`tree_digest`), databases and row counts, accounts, activity counts and where the evidence
lives (:data:`EVIDENCE`). Seeding is idempotent: when the manifest holds the same parameters the
host is left untouched; different parameters are refused (bring the host up again to reseed).
"""

from lab.seed.activity import EVIDENCE, LEVELS, ActivityLevel, in_use_of
from lab.seed.base import ACCOUNTS, DAY, GROUPS, SYSTEM_UID, SeedError, sanitize
from lab.seed.host import BYTES_PER_HOST, MANIFEST, SeedReport, seed_host, seed_hosts
from lab.seed.logins import DEAD_PROCESS, USER_PROCESS, parse_wtmp, utmp_record
from lab.seed.tree import tree_digest

__all__ = [
    "ACCOUNTS",
    "BYTES_PER_HOST",
    "DAY",
    "DEAD_PROCESS",
    "EVIDENCE",
    "GROUPS",
    "LEVELS",
    "MANIFEST",
    "SYSTEM_UID",
    "USER_PROCESS",
    "ActivityLevel",
    "SeedError",
    "SeedReport",
    "in_use_of",
    "parse_wtmp",
    "sanitize",
    "seed_host",
    "seed_hosts",
    "tree_digest",
    "utmp_record",
]
