"""jiyue-classified-intranet-only: classified (涉密) systems live on the intranet only."""

from __future__ import annotations

from collections.abc import Iterator

from ..core import Context, Resource, RuleMeta

META = RuleMeta(
    name="jiyue-classified-intranet-only",
    description="Resources of classified (涉密) systems are only in intranet stacks.",
    severity="critical",
    enforcement="mandatory",
    control="8.2.2.1 a)",
    control_title="云计算扩展 网络架构: 云计算平台不承载高于其安全保护等级的业务应用系统",
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
