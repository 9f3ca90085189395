"""Every resource carries its department, system and classification (G4 audit, G8 security).

A resource's logical name holds immutable ids only: ``<department>/<system>/<what>``, so no
registry edit that keeps the ids (a reclassification, a new display name, a reordered file)
renames, and therefore replaces, anything. What can change (the classification, the display
names) is in tags, metadata or description wherever the OpenStack type has one; a resource whose
type has none of them inherits its labels from the component it belongs to, whose name holds the
same ids and whose inputs hold the labels (``labels``). Foundation resources belong to
``datacenter``; a department's resources that serve all its systems in a stack (project,
network) have the system ``*`` and the highest classification of those systems.

Names used to hold the classification as well (``<department>/<system>/<classification>/<what>``);
every resource is aliased from that name (:meth:`Labels.opts`), so a stack deployed under it sees
renames, never replacements.

Stateful resources (servers, data volumes, projects, DNS zones) are protected: the engine refuses
to delete them. The stack's config ``jiyue:release`` lists the logical names whose protection is
lifted, the first of the two updates that delete one (docs/platform-engineers.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from jiyue.registry.schema import Classification, System

from .plan import DEPARTMENT_WIDE

KEYS = ("department", "system", "classification")
IDS = ("department", "system")


@dataclass(frozen=True, slots=True)
class Labels:
    department: str
    system: str
    classification: Classification
    release: frozenset[str] = field(default=frozenset(), compare=False)  # names whose protection is lifted

    def name(self, what: str) -> str:
        return f"{self.department}/{self.system}/{what}"

    def former_name(self, what: str) -> str:
        """The name before names held ids only: with the classification as the registry has it now."""
        return f"{self.department}/{self.system}/{self.classification.value}/{what}"

    def opts(self, what: str, base: pulumi.ResourceOptions | None = None, *,
             stateful: bool = False) -> pulumi.ResourceOptions:
        """``base`` with the alias from the former name, and ``protect`` for a stateful resource
        unless ``jiyue:release`` lists it."""
        own = pulumi.ResourceOptions(aliases=[pulumi.Alias(name=self.former_name(what))],
                                     protect=stateful and self.name(what) not in self.release)
        return pulumi.ResourceOptions.merge(base, own)

    @property
    def metadata(self) -> dict[str, str]:
        return {"department": self.department, "system": self.system,
                "classification": self.classification.value}

    @property
    def tags(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.metadata.items()]

    def description(self, text: str) -> str:
        return f"{text} [{' '.join(self.tags)}]"

    def id_description(self, text: str) -> str:
        """A description with the ids only, for types whose description cannot change in place
        (a security-group rule is replaced when it does); the classification is the component's."""
        return f"{text} [department={self.department} system={self.system}]"

    def for_system(self, system: System) -> Labels:
        return Labels(self.department, system.id, system.classification, self.release)

    def wide(self) -> Labels:
        return Labels(self.department, DEPARTMENT_WIDE, self.classification, self.release)


def parse_name(name: str) -> dict[str, str] | None:
    """The ids a logical name carries (department, system), or None if it carries none.

    A former name (with the classification) gives the classification too.
    """
    parts = name.split("/")
    if len(parts) >= 4 and parts[2] in {c.value for c in Classification}:
        return dict(zip(KEYS, parts[:3], strict=True))
    if len(parts) >= 3 and all(parts[:3]):
        return dict(zip(IDS, parts[:2], strict=True))
    return None
