"""Helpers for the ingress rules: read a security-group rule's direction, remote and ports."""

from __future__ import annotations

from dataclasses import dataclass

from netaddr import AddrFormatError, IPNetwork

from ..core import Resource, as_int

SECGROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule"
ALL_PROTOCOLS = {None, "", "any", "0", "-1"}
PORTED = {"tcp", "udp", "sctp", "6", "17", "132"}
ADMIN_PORTS = {22: "SSH", 3389: "RDP"}
DB_PORTS = {1433: "SQL Server", 1521: "Oracle", 3306: "MySQL", 5236: "DM (达梦)", 5432: "PostgreSQL",
            6379: "Redis", 27017: "MongoDB", 54321: "KingbaseES (人大金仓)"}


@dataclass(frozen=True)
class Ingress:
    protocol: str | None  # lower case, None for all protocols
    lo: int  # 1..65535, the whole range when the rule names no ports
    hi: int
    remote_kind: str  # "any", "cidr" or "group"
    remote: IPNetwork | str | None

    @property
    def all_protocols(self) -> bool:
        return self.protocol in ALL_PROTOCOLS

    @property
    def has_ports(self) -> bool:
        return self.all_protocols or self.protocol in PORTED

    def covers(self, port: int) -> bool:
        return self.has_ports and self.lo <= port <= self.hi

    @property
    def from_anywhere(self) -> bool:
        return self.remote_kind == "any"

    def describe(self) -> str:
        proto = "all protocols" if self.all_protocols else self.protocol
        ports = "all ports" if (self.lo, self.hi) == (1, 65535) else (
            str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}")
        src = {"any": "anywhere", "cidr": str(self.remote), "group": f"security group {self.remote}"}[self.remote_kind]
        return f"{proto} {ports} from {src}" if self.has_ports else f"{proto} from {src}"


def ingress(r: Resource) -> Ingress | None:
    """The rule as an ingress, or None for an egress rule (a missing direction counts as ingress)."""
    direction = r.get("direction")
    if isinstance(direction, str) and direction.lower() == "egress":
        return None
    proto = r.get("protocol")
    proto = str(proto).lower() if proto is not None else None
    lo, hi = as_int(r.get("portRangeMin")), as_int(r.get("portRangeMax"))
    if lo in (None, 0) and hi in (None, 0):
        lo, hi = 1, 65535
    else:
        lo, hi = (lo or hi or 1), (hi or lo or 65535)
    group = r.get("remoteGroupId") or r.get("remoteAddressGroupId")
    prefix = r.get("remoteIpPrefix")
    if prefix:
        try:
            net = IPNetwork(str(prefix))
        except (AddrFormatError, ValueError):
            return Ingress(proto, lo, hi, "any", None)  # unreadable: judge it as open
        if net.prefixlen == 0:
            return Ingress(proto, lo, hi, "any", net)
        return Ingress(proto, lo, hi, "cidr", net)
    if group:
        return Ingress(proto, lo, hi, "group", str(group))
    return Ingress(proto, lo, hi, "any", None)
