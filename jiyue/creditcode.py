"""Unified social credit codes (统一社会信用代码, GB 32100-2015): a department's code as the
catalog's provider code (信息资源提供方代码).

Eighteen characters of :data:`ALPHABET` (the digits and the capitals but I, O, S, V and Z):

- 1: the registering authority; 2: the kind of organisation (``11``: an organ of government
  registered by the establishment office);
- 3–8: the administrative division (GB/T 2260: ``2102xx`` is Dalian and its districts);
- 9–17: the organization code (GB 11714), its 9th character its own check: weights 3 7 9 10 5 8 4 2
  over its first 8 characters (a digit is its value, a capital A=10 … Z=35), ``11 - sum mod 11``,
  10 written ``X`` and 11 written ``0``;
- 18: the check character: weights 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28 over positions
  1–17 (each character's index in :data:`ALPHABET`), ``(31 - sum mod 31) mod 31`` as an index
  into :data:`ALPHABET`.
"""

from __future__ import annotations

import string

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
LENGTH = 18
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_VALUE = {c: i for i, c in enumerate(string.digits + string.ascii_uppercase)}


def check_character(first17: str) -> str:
    """The 18th character of a code whose first 17 are ``first17``."""
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def organization_check(body: str) -> str:
    """The check character (GB 11714) of an organization code's first 8 characters."""
    r = 11 - sum(_ORG_VALUE[c] * w for c, w in zip(body, ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(r, str(r))


def problem(code: str) -> str | None:
    """What is wrong with ``code`` as a unified social credit code, or None when it is valid."""
    if len(code) != LENGTH:
        return f"has {len(code)} characters, a unified social credit code has {LENGTH}"
    bad = sorted({c for c in code if c not in ALPHABET})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return (f"contains {shown}: a code is written in digits and the capitals but I, O, S, V and Z"
                + (" (lower case is not allowed)" if any(c.upper() in ALPHABET for c in bad) else ""))
    org = code[8:17]
    if not all(c in _ORG_VALUE for c in org[:8]) or organization_check(org[:8]) != org[8]:
        return (f"its organization code {org[:8]}-{org[8]} has the wrong check character (GB 11714 gives "
                f"{organization_check(org[:8])!r})")
    want = check_character(code[:17])
    if code[17] != want:
        return f"its check character is {code[17]!r}, GB 32100 gives {want!r} for the first 17 characters"
    return None


def make(division: str, organization: str, *, authority: str = "1", kind: str = "1") -> str:
    """A valid code from its parts: ``division`` (6 digits) and ``organization`` (the 8 characters
    of the organization code before its check)."""
    org = organization + organization_check(organization)
    first17 = authority + kind + division + org
    return first17 + check_character(first17)
