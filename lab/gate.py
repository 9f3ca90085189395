"""The migration's flow gate in a lab: :class:`migration.engine.FlowGate` on the lab's
department edges (:mod:`lab.migrations`), handed to the migration by whoever brings both
together (the command line, the tests), so that neither layer imports the other."""

from __future__ import annotations

from collections.abc import Sequence

from lab.lab import Lab
from lab.migrations import close_migration, open_migration


class LabFlows:
    """A system's targets reach its own legacy sources through the lab's edges only while it
    migrates: opened at its precheck (and before each step that pulls), closed when it is
    finalized or rolled back."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def open(self, system: str, pairs: Sequence[tuple[str, str]]) -> None:
        open_migration(self.lab, system, pairs)

    def close(self, system: str) -> None:
        close_migration(self.lab, system)
