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


#: the nftables table that cuts a host off (every packet but loopback's dropped, both ways)
CUT_TABLE = "jiyue_site_lost"
CUT_RULESET = f"""add table inet {CUT_TABLE}
flush table inet {CUT_TABLE}
table inet {CUT_TABLE} {{
    chain input {{ type filter hook input priority -300; policy drop; iif "lo" accept; }}
    chain output {{ type filter hook output priority -300; policy drop; oif "lo" accept; }}
}}
"""


class LabFence:
    """A lost site in a lab: its hosts cut off from every network (an nftables table in each
    host's namespace dropping all but loopback), their processes and data left as they are, so a
    failover meets what a real loss leaves and a failback finds the old primary intact."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def cut(self, hosts: Sequence[str]) -> None:
        for h in hosts:
            self.lab.exec(h, ["nft", "-f", "-"], input=CUT_RULESET)

    def restore(self, hosts: Sequence[str]) -> None:
        for h in hosts:
            if self.is_cut(h):
                self.lab.exec(h, ["nft", "delete", "table", "inet", CUT_TABLE])

    def is_cut(self, host: str) -> bool:
        return self.lab.exec(host, ["nft", "list", "table", "inet", CUT_TABLE], check=False).returncode == 0
