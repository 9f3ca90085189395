"""The program's settings: read from the stack's Pulumi config in one place (declared in Pulumi.yaml).

Zone, site and department are never configured: they come from the stack name
(:class:`jiyue.stacks.StackName`), so a stack cannot describe another zone than its name says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jiyue.stacks import StackName

DEFAULT_ORGANIZATION = "organization"  # what self-hosted and local backends call every organization
DEFAULT_PLATFORM_GROUP = "platform-engineers"
DEFAULT_MEMBER_ROLE = "member"


@dataclass(frozen=True, slots=True)
class Settings:
    stack: StackName
    city: Path | None = None  # the registry directory; preview passes a loaded model instead
    organization: str = DEFAULT_ORGANIZATION  # for the StackReference to the foundation
    cloud: str | None = None  # the clouds.yaml entry; default: <zone>-<site>
    platform_group: str = DEFAULT_PLATFORM_GROUP  # Keystone group of the platform engineers
    member_role: str = DEFAULT_MEMBER_ROLE
    admin_public_key: str | None = None  # for the department key pairs; Nova generates one if unset
    migrating: frozenset[str] = frozenset()  # systems whose targets may pull from their legacy hosts now
    release: frozenset[str] = frozenset()  # logical names whose protection is lifted, to delete them next

    @property
    def cloud_name(self) -> str:
        return self.cloud or self.stack.cloud

    @property
    def foundation_ref(self) -> str:
        return f"{self.organization}/jiyue/{self.stack.foundation}"


def from_pulumi() -> Settings:
    """The settings of the running stack (``pulumi preview/up``)."""
    import pulumi

    cfg = pulumi.Config("jiyue")
    root = Path(pulumi.get_root_directory() or ".")
    city = Path(cfg.get("city") or "inventories/dalian")
    return Settings(
        stack=StackName.parse(pulumi.get_stack()),
        city=city if city.is_absolute() else root / city,
        organization=cfg.get("organization") or pulumi.get_organization() or DEFAULT_ORGANIZATION,
        cloud=cfg.get("cloud") or None,
        platform_group=cfg.get("platformGroup") or DEFAULT_PLATFORM_GROUP,
        member_role=cfg.get("memberRole") or DEFAULT_MEMBER_ROLE,
        admin_public_key=cfg.get("adminPublicKey") or None,
        migrating=frozenset(cfg.get_object("migrating") or ()),
        release=frozenset(cfg.get_object("release") or ()),
    )
