"""jiyue-classified-volume-encrypted: every volume holding classified data uses an encrypted type."""

from __future__ import annotations

from collections.abc import Iterator

from ..citations import secrecy
from ..core import Context, Resource, RuleMeta

META = RuleMeta(
    name="jiyue-classified-volume-encrypted",
    description="Volumes (and boot volumes) of classified systems use an encrypted volume type.",
    severity="critical",
    enforcement="mandatory",
    citation=secrecy("涉密信息的存储采取加密保护: classified data at rest is encrypted (which "
                     "cryptography is for the secrecy administration to approve)"),
    requirements=("G8", "T4.4"),
    remediation="Set volume_type to an encrypted volume class of city.yaml (encrypted, or "
                "encrypted-replicated when the system needs DR) and recreate the volume.",
)
VOLUME = "openstack:blockstorage/volume:Volume"
INSTANCE = "openstack:compute/instance:Instance"
TYPES = frozenset({VOLUME, INSTANCE})


def _encrypted(vt: object, ctx: Context) -> bool:
    if not isinstance(vt, str) or not vt:
        return False
    if ctx.city is not None and ctx.city.volume_classes:
        return ctx.city.encrypted(vt)
    return "encrypt" in vt


def check(r: Resource, ctx: Context) -> Iterator[str]:
    if ctx.classification_of(r) != "classified":
        return
    if r.type == VOLUME:
        vt = r.get("volumeType")
        if not vt:
            yield f"volume {r.name} of classified data names no volume type (the default type is not encrypted)"
        elif not _encrypted(vt, ctx):
            yield f"volume {r.name} of classified data uses the unencrypted type {vt}"
        return
    for i, bd in enumerate(r.get("blockDevices") or []):
        if bd.get("destinationType") != "volume":
            continue
        vt = bd.get("volumeType")
        if not _encrypted(vt, ctx):
            yield f"server {r.name} blockDevices[{i}] of classified data uses " + (
                f"the unencrypted type {vt}" if vt else "no volume type (not encrypted)")
