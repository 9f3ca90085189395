"""Every resource carries its department, system and classification (G4 audit, G8 security).

In its logical name, always (``<department>/<system>/<classification>/<what>``), so resources
whose OpenStack type has no tags (quotas, rules, key pairs, server groups, attachments) carry them
too; and in tags, metadata or description wherever the OpenStack type has one. Foundation
resources belong to ``datacenter``; a department's resources that serve all its systems in a stack
(project, network) have the system ``*`` and the highest classification of those systems.
"""

from __future__ import annotations

from dataclasses import dataclass

from jiyue.registry.schema import Classification, System

from .plan import DEPARTMENT_WIDE

KEYS = ("department", "system", "classification")


@dataclass(frozen=True, slots=True)
class Labels:
    department: str
    system: str
    classification: Classification

    def name(self, what: str) -> str:
        return f"{self.department}/{self.system}/{self.classification.value}/{what}"

    @property
    def metadata(self) -> dict[str, str]:
        return {"department": self.department, "system": self.system,
                "classification": self.classification.value}

    @property
    def tags(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.metadata.items()]

    def description(self, text: str) -> str:
        return f"{text} [{' '.join(self.tags)}]"

    def for_system(self, system: System) -> Labels:
        return Labels(self.department, system.id, system.classification)

    def wide(self) -> Labels:
        return Labels(self.department, DEPARTMENT_WIDE, self.classification)


def parse_name(name: str) -> dict[str, str] | None:
    """The labels a logical name carries, or None if it carries none."""
    parts = name.split("/", 3)
    if len(parts) != 4 or parts[2] not in {c.value for c in Classification}:
        return None
    return dict(zip(KEYS, parts[:3], strict=True))
