"""File trees: nested documents with owners, modes, mtimes and POSIX ACLs per data path, and the
documents a system in use received lately."""

from __future__ import annotations

import datetime as dt
import posixpath
import shlex
import time
from collections.abc import Sequence
from typing import Any

from jiyue.registry.schema import System
from lab.lab import Lab
from lab.seed.base import ACTIVITY_DAYS, DAY, binary_blob, epoch, past_mtime, seeded_rng, sh, share_of, zh_text
from lab.seed.tree import Entry, extract, tree_summary


def tree_entries(system: System, path: str, budget: int, seed: int) -> list[Entry]:
    """Nested year/category directories with documents of varied sizes, owners and modes."""
    rng = seeded_rng(seed, system.id, "tree", path)
    last = system.om.last_update
    stamp = epoch(last, 3600)
    entries = [Entry("", None, 0o755, "root", "archive", stamp),
               Entry("public", None, 0o755, "archivist", "archive", stamp),
               Entry("restricted", None, 0o700, "root", "root", stamp)]
    years = sorted({(last - dt.timedelta(days=365 * k)).year for k in range(3)})
    cats = ["文书", "会计", "scan", "index"]
    for y in years:
        entries.append(Entry(str(y), None, 0o750, "archivist", "archive", stamp))
        entries.extend(Entry(f"{y}/{c}", None, 0o750, "archivist", "archive", stamp) for c in cats)
    dirs = [f"{y}/{c}" for y in years for c in cats] + ["public", "restricted"]
    used, n = 0, 0
    while used < budget or n < 12:
        n += 1
        d = rng.choice(dirs)
        if n == 1:
            data = b""
        elif rng.random() < 0.4:
            data = ("\n".join(zh_text(rng, rng.randint(5, 30)) for _ in range(rng.randint(1, 40))) + "\n").encode()
        else:
            data = binary_blob(rng, rng.choice(("pdf", "tif")),
                               int(min(2 ** rng.uniform(8, 16), max(budget - used, 256))))
        ext = "txt" if data[:1] not in (b"%", b"I") else ("pdf" if data[:1] == b"%" else "tif")
        name = f"{zh_text(rng, 2)}-{n:05d}.{ext}" if n % 7 == 0 else f"doc-{n:05d}.{ext}"
        owner, group, mode = "archivist", "archive", 0o640
        if d == "public":
            owner, mode = "clerk", 0o644
        elif d == "restricted":
            owner, group, mode = "root", "root", 0o600
        entries.append(Entry(f"{d}/{name}", data, mode, owner, group, past_mtime(rng, last)))
        used += len(data)
    return entries


#: ACLs set on every tree (path relative to the tree, setfacl spec).
_ACLS: tuple[tuple[str, str], ...] = (
    ("public", "u:ops:r-x"),
    ("public", "d:g:archive:r-x"),
    ("restricted", "u:archivist:r-x"),
)


def seed_files(lab: Lab, host: str, system: System, paths: Sequence[str], budget: int, seed: int,
               skipped: list[str]) -> list[dict[str, Any]]:
    """File trees with owners, modes, mtimes, and ACLs when ``setfacl`` exists."""
    has_acl = bool(sh(lab, host, "command -v setfacl || true").strip())
    if not has_acl:
        skipped.append("ACLs: setfacl is not in the image (package acl)")
    trees = []
    for path in paths:
        entries = tree_entries(system, path, share_of(budget, len(paths)), seed)
        extract(lab, host, path, entries)
        acls = []
        if has_acl:
            for rel, spec in _ACLS:
                target = posixpath.join(path, rel)
                # Directory mtimes stay as seeded: setfacl changes only the ctime.
                sh(lab, host, f"setfacl -m {shlex.quote(spec)} {shlex.quote(target)}")
                acls.append({"path": target, "acl": spec})
        trees.append({**tree_summary(path, entries), "acls": acls})
    return trees


def new_documents(lab: Lab, host: str, system: System, path: str, count: int, seed: int) -> list[str]:
    """Recently received documents under ``<path>/incoming/<date>/``, mtimes in the last 30 days."""
    rng = seeded_rng(seed, host, path, "incoming")
    now = int(time.time())
    entries = [Entry("incoming", None, 0o750, "archivist", "archive", now)]
    days: set[str] = set()
    for i in range(count):
        t = now - rng.randrange(ACTIVITY_DAYS * DAY)
        day = dt.datetime.fromtimestamp(t, dt.UTC).date().isoformat()
        if day not in days:
            days.add(day)
            entries.append(Entry(f"incoming/{day}", None, 0o750, "archivist", "archive", t))
        entries.append(Entry(f"incoming/{day}/recv-{i:04d}.pdf", binary_blob(rng, "pdf", rng.randint(2048, 32768)),
                             0o640, "archivist", "archive", t))
    extract(lab, host, path, entries)
    return [posixpath.join(path, e.rel) for e in entries if e.data is not None]
