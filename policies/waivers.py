"""Waivers: reviewed exceptions to a rule for named resources, each with an approver and an expiry.

The file (YAML, reviewed like code)::

    waivers:
      - rule: jiyue-ingress-admin-from-management
        resource: "urn:pulumi:extranet-primary-finance::*::finance/finance-portal/*"   # URN or name, glob
        justification: the vendor's support reaches the portal over SSH until the 2026-03 handover
        approver: 市大数据中心 security office (role)
        expires: 2026-03-31

A waiver covers a finding when the rule matches and the pattern matches the finding's URN or
resource name (``fnmatch``; ``*`` matches across ``::`` and ``/``). A waiver past its expiry no
longer counts: its findings count again and the report names the expired waiver beside them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from jiyue.registry.yamlio import LineDict, LineList, ReadError, read_yaml

REQUIRED = ("rule", "resource", "justification", "approver", "expires")


class WaiverError(ValueError):
    """The waiver file is not valid; every problem, one per line."""


@dataclass(frozen=True)
class Waiver:
    rule: str
    resource: str
    justification: str
    approver: str
    expires: dt.date
    line: int = 0

    def matches(self, rule: str, urn: str, name: str) -> bool:
        return rule == self.rule and (fnmatchcase(urn, self.resource) or fnmatchcase(name, self.resource))

    def expired(self, today: dt.date) -> bool:
        return self.expires < today

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "resource": self.resource, "justification": self.justification,
                "approver": self.approver, "expires": self.expires.isoformat()}


def load_waivers(path: Path, known_rules: set[str] | None = None) -> list[Waiver]:
    """The waivers of a file, read as strictly as the registry (duplicate keys, aliases that
    expand without bound, impossible dates, blank fields refused); :class:`WaiverError` with
    every problem as ``file:line: field: problem (what to do)``."""
    name = str(path)
    try:
        data = read_yaml(path, empty_ok=True)
    except ReadError as exc:
        field = f" {exc.field}:" if exc.field else ""
        raise WaiverError(f"{name}:{exc.line}:{field} {exc.message} ({exc.hint})") from exc
    if data is None:
        return []
    items = data.get("waivers", []) if isinstance(data, LineDict) else None
    if not isinstance(items, list) or (isinstance(data, LineDict) and set(data) - {"waivers"}):
        raise WaiverError(f"{name}:1: expected a mapping with a list 'waivers:' and nothing else")
    out: list[Waiver] = []
    problems: list[str] = []
    for i, item in enumerate(items):
        line = items.item_lines[i] if isinstance(items, LineList) else 0
        where = f"{name}:{line}: waivers[{i}]"
        if not isinstance(item, LineDict):
            problems.append(f"{where}: expected a mapping with {', '.join(REQUIRED)}")
            continue
        bad = _problems(item, where, name, i, known_rules)
        problems += bad
        if not bad:
            out.append(Waiver(item["rule"], item["resource"], item["justification"].strip(),
                              item["approver"].strip(), _date(item["expires"]) or dt.date.min, line))
    if problems:
        raise WaiverError("\n".join(problems))
    return out


def _date(value: Any) -> dt.date | None:
    """A date such as 2026-03-31, unquoted (YAML's own date) or quoted; None otherwise."""
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _problems(item: LineDict, where: str, name: str, i: int, known_rules: set[str] | None) -> list[str]:
    def at(key: str) -> str:
        return f"{name}:{item.key_lines.get(key, item.line)}: waivers[{i}].{key}"

    missing = [k for k in REQUIRED if item.get(k) is None or (isinstance(item[k], str) and not item[k].strip())]
    unknown = sorted(str(k) for k in set(item) - set(REQUIRED))
    out = []
    if missing:
        out.append(f"{where}: missing {', '.join(missing)} (every waiver needs all of {', '.join(REQUIRED)}, "
                   "none of them blank)")
    if unknown:
        out.append(f"{where}: unknown field(s) {', '.join(unknown)} (a waiver holds only {', '.join(REQUIRED)})")
    for key in ("rule", "resource", "justification", "approver"):
        if key not in missing and not isinstance(item.get(key), str):
            kind = {LineDict: "mapping", LineList: "list"}.get(type(item[key]), "number or yes/no")
            out.append(f"{at(key)}: must be text, not a {kind} (write one line of text)")
    if "expires" not in missing and _date(item["expires"]) is None:
        out.append(f"{at('expires')}: {str(item['expires'])[:40]!r} is not a date such as 2026-03-31 "
                   "(write a real date, YYYY-MM-DD)")
    if not out and known_rules is not None and item["rule"] not in known_rules:
        out.append(f"{at('rule')}: no rule {item['rule']!r} in the pack (`jiyue policy rules` lists them)")
    return out
