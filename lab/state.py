"""The state file of one named lab: a journal of everything the lab created on the machine.

Every creation step is recorded *before* it runs (``status: "intended"``) and marked
``"created"`` after, and the file is replaced atomically on every change, so a crash at any
point leaves a record that ``down`` can act on. ``down`` only ever removes what is recorded
here: processes by PID (checked against the recorded start time), root-namespace mounts,
routes and links, network namespaces, and directories inside the lab directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

STATE_VERSION = 1

Kind = Literal["dir", "netns", "process", "mount", "link", "route"]

#: Teardown order: processes first (their namespaces then die), namespaces and the
#: root-namespace objects next, the lab's files last.
TEARDOWN_ORDER: tuple[Kind, ...] = ("process", "mount", "route", "link", "netns", "dir")


@dataclass
class Resource:
    """One thing the lab created (or was about to create)."""

    id: int
    kind: Kind
    attrs: dict[str, Any]
    status: Literal["intended", "created"] = "intended"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "status": self.status, **self.attrs}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Resource:
        data = dict(data)
        return cls(id=data.pop("id"), kind=data.pop("kind"), status=data.pop("status"), attrs=data)


class LabState:
    """Load, change and atomically save ``<lab dir>/state.json``."""

    def __init__(self, path: Path, name: str, tag: str) -> None:
        self.path = path
        self.name = name
        self.tag = tag
        self.resources: list[Resource] = []
        self.hosts: dict[str, dict[str, Any]] = {}
        self.nodes: dict[str, dict[str, Any]] = {}
        self.meta: dict[str, Any] = {}
        self._next_id = 1

    # -- persistence ---------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path, name: str, tag: str) -> LabState:
        """Read the state file, or start an empty state if there is none."""
        state = cls(path, name, tag)
        if path.is_file():
            data = json.loads(path.read_text())
            state.resources = [Resource.from_json(r) for r in data.get("resources", [])]
            state.hosts = data.get("hosts", {})
            state.nodes = data.get("nodes", {})
            state.meta = data.get("meta", {})
            state._next_id = max((r.id for r in state.resources), default=0) + 1
        return state

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "name": self.name,
            "tag": self.tag,
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "meta": self.meta,
            "nodes": self.nodes,
            "hosts": self.hosts,
            "resources": [r.to_json() for r in self.resources],
        }

    def save(self) -> None:
        """Replace the state file atomically (write a sibling, then rename over)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(self.to_json(), fh, indent=1)
            fh.write("\n")
        os.replace(tmp, self.path)

    # -- journal -------------------------------------------------------------------------
    def intend(self, kind: Kind, save: bool = True, **attrs: Any) -> Resource:
        """Record that ``kind`` is about to be created; saved before the caller creates it."""
        res = Resource(self._next_id, kind, attrs)
        self._next_id += 1
        self.resources.append(res)
        if save:
            self.save()
        return res

    def created(self, res: Resource, save: bool = True, **attrs: Any) -> None:
        """Mark ``res`` created, adding what was learnt on creation (a PID, say)."""
        res.status = "created"
        res.attrs.update(attrs)
        if save:
            self.save()

    def forget(self, res: Resource) -> None:
        """Drop ``res`` from the journal (it has been removed from the machine)."""
        self.resources = [r for r in self.resources if r.id != res.id]

    def of_kind(self, kind: Kind) -> list[Resource]:
        return [r for r in self.resources if r.kind == kind]

    def find(self, kind: Kind, **match: Any) -> Resource | None:
        for r in self.resources:
            if r.kind == kind and all(r.attrs.get(k) == v for k, v in match.items()):
                return r
        return None


@contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """Hold the lab's lock (kept outside the lab directory, which ``down`` removes):
    one process changes a lab at a time."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
