"""jiyue-classified-intranet-only: classified (涉密) systems live on the intranet only."""

from __future__ import annotations

from collections.abc import Iterator

from ..citations import secrecy
from ..core import Context, Resource, RuleMeta

META = RuleMeta(
    name="jiyue-classified-intranet-only",
    description="Resources of classified (涉密) systems are only in intranet stacks.",
    severity="critical",
    enforcement="mandatory",
    citation=secrecy("涉密信息系统不得接入互联网及其他公共信息网络: classified systems live on the "
                     "intranet only, physically separated from the Internet and the extranet (T4.4)"),
    requirements=("G8", "T4.4"),
    remediation="Deploy the classified system in its department's intranet stack; if part of it must "
                "face the extranet, split that part into its own non-classified system.",
)


def check(r: Resource, ctx: Context) -> Iterator[str]:
    if not r.type.startswith("openstack:") or ctx.stack.zone != "extranet":
        return
    if ctx.classification_of(r) == "classified":
        sid = ctx.system_of(r)
        yield f"{r.short_type} {r.name}" + (f" of system {sid}" if sid else "") + \
            f" is classified but sits in the extranet stack {ctx.stack.name}"
