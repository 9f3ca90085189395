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

import yaml

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


def _lines(text: str) -> list[int]:
    """Line of each list item under ``waivers:`` (for messages)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return []
    for k, v in getattr(node, "value", []) or []:
        if getattr(k, "value", None) == "waivers" and isinstance(v, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in v.value]
    return []


def load_waivers(path: Path, known_rules: set[str] | None = None) -> list[Waiver]:
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except OSError as exc:
        raise WaiverError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise WaiverError(f"{path}: not YAML: {exc}") from exc
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("waivers", []), list):
        raise WaiverError(f"{path}:1: expected a mapping with a list 'waivers:'")
    lines = _lines(text)
    out: list[Waiver] = []
    problems: list[str] = []
    for i, item in enumerate(data.get("waivers") or []):
        where = f"{path}:{lines[i] if i < len(lines) else 0}: waivers[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected a mapping with {', '.join(REQUIRED)}")
            continue
        missing = [k for k in REQUIRED if item.get(k) in (None, "")]
        unknown = sorted(set(item) - set(REQUIRED))
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)} (every waiver needs all of {', '.join(REQUIRED)})")
        if unknown:
            problems.append(f"{where}: unknown field(s) {', '.join(unknown)}")
        if missing or unknown:
            continue
        expires = item["expires"]
        if isinstance(expires, str):
            try:
                expires = dt.date.fromisoformat(expires)
            except ValueError:
                problems.append(f"{where}: expires {expires!r} is not a date such as 2026-03-31")
                continue
        if not isinstance(expires, dt.date):
            problems.append(f"{where}: expires must be a date such as 2026-03-31")
            continue
        if known_rules is not None and item["rule"] not in known_rules:
            problems.append(f"{where}: no rule {item['rule']!r} in the pack")
            continue
        out.append(Waiver(str(item["rule"]), str(item["resource"]), str(item["justification"]).strip(),
                          str(item["approver"]).strip(), expires, lines[i] if i < len(lines) else 0))
    if problems:
        raise WaiverError("\n".join(problems))
    return out
