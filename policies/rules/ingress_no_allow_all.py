"""jiyue-ingress-no-allow-all: no ingress rule opens every protocol or every port to an address range."""

from __future__ import annotations

from collections.abc import Iterator

from ..citations import mlps
from ..core import Context, Resource, RuleMeta
from ._net import PORTED, SECGROUP_RULE, ingress

META = RuleMeta(
    name="jiyue-ingress-no-allow-all",
    description="No ingress rule allows all protocols or all ports from an address range "
                "(rules between members of one security group are fine).",
    severity="high",
    enforcement="mandatory",
    citation=mlps("8.1.3.2 a)", "应在网络边界或区域之间根据访问控制策略设置访问控制规则，"
                  "默认情况下除允许通信外受控接口拒绝所有通信"),
    requirements=("G8",),
    remediation="Name the protocol and the ports the system declares; security groups deny by default.",
)
TYPES = frozenset({SECGROUP_RULE})


def check(r: Resource, ctx: Context) -> Iterator[str]:
    rule = ingress(r)
    if rule is None or rule.remote_kind == "group":
        return
    if rule.all_protocols:
        yield f"{rule.describe()}: every protocol is allowed"
    elif rule.protocol in PORTED and rule.lo <= 1 and rule.hi >= 65535:
        yield f"{rule.describe()}: every port is allowed"
