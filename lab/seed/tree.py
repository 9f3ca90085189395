"""File trees as data: entries with owners, modes and mtimes, sent into a host as one tar stream
(so they come out exactly as generated), and the digest a verification recomputes on a host."""

from __future__ import annotations

import hashlib
import io
import posixpath
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lab.lab import Lab
from lab.seed.base import ACCOUNTS, GROUPS, sh


@dataclass(frozen=True)
class Entry:
    """One file or directory to create (``data is None`` for a directory)."""

    rel: str
    data: bytes | None
    mode: int
    owner: str = "root"
    group: str = "root"
    mtime: int = 0


_IDS = {"root": 0, "www-data": 33, **{k: v[0] for k, v in ACCOUNTS.items()}, **GROUPS}


def tar_of(root: str, entries: Sequence[Entry]) -> bytes:
    """A tar of ``entries`` under absolute ``root`` (names relative to /), PAX for UTF-8 names."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        # Each directory right before its contents, subtrees contiguous: GNU tar sets a
        # directory's mtime when the archive leaves it, so nothing may be written there later.
        for e in sorted(entries, key=lambda e: e.rel.split("/") if e.rel else []):
            name = posixpath.join(root.lstrip("/"), e.rel) if e.rel else root.lstrip("/")
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = e.mode, e.mtime
            info.uname, info.gname = e.owner, e.group
            info.uid, info.gid = _IDS.get(e.owner, 0), _IDS.get(e.group, 0)
            if e.data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    return buf.getvalue()


def extract(lab: Lab, host: str, root: str, entries: Sequence[Entry]) -> None:
    sh(lab, host, "tar -xpf - -C / --same-owner", tar_of(root, entries))


def tree_digest(files: dict[str, str]) -> str:
    """Digest of a tree from ``{relative path: sha256}``: the SHA-256 of the lines
    ``"<sha256>  <path>\\n"`` sorted by path (bytes), i.e. on a host:
    ``cd ROOT && find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum``."""
    lines = "".join(f"{files[p]}  {p}\n" for p in sorted(files, key=lambda p: p.encode()))
    return hashlib.sha256(lines.encode()).hexdigest()


def tree_summary(path: str, entries: Sequence[Entry]) -> dict[str, Any]:
    files = {e.rel: hashlib.sha256(e.data).hexdigest() for e in entries if e.data is not None}
    return {
        "path": path,
        "files": len(files),
        "dirs": sum(1 for e in entries if e.data is None),
        "bytes": sum(len(e.data) for e in entries if e.data is not None),
        "sha256": tree_digest(files),
        "sha256_files": files,
    }
