"""Resource codes (信息资源代码) and provider numbers, pinned in ``catalog.lock.yaml``.

A code is the classification code (分类码) and a sequence code (顺序码), 12 digits in this city's
catalog:

- 类 (1 digit): the resource attribute, 1 base, 2 thematic, 3 department;
- 项 (2): the base library (01 to 05, :class:`BaseLibrary`'s order) or the theme (01 to 12,
  :class:`Theme`'s order); for a department resource, the provider's tier (01 city, 02 district,
  03 street);
- 目 (3): the authoritative provider's number in the catalog, pinned in the lock's ``departments``;
- 细目 (2): the resource's ``subclass`` (00 when the department does not divide its catalog);
- 顺序码 (4): the next free number within its classification.

Codes are assigned once and pinned, like addresses: adding, reordering, renaming or editing a
resource never renumbers another, and a code is never given twice, even after its resource is
withdrawn (the lock's ``withdrawn`` keeps it). Only a change of the classification itself
(library, subject, subclass, or the authoritative provider) gives a resource a new code, when
``jiyue catalog codes --update-lock`` pins it; the old one is withdrawn. A resource that comes
back gets its withdrawn code again when the classification still matches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..registry.diagnostics import Diagnostic, Severity, relpath
from ..registry.schema import BaseLibrary, Library, Theme, Tier
from ..registry.yamlio import LineDict, ReadError, read_yaml

LOCK_FILE = "catalog.lock.yaml"
LOCK_HEADER = """\
# yaml-language-server: $schema=../../schemas/catalog-lock.schema.json
# The catalog's pinned numbers: department id -> its number (the code's 目),
# resource key -> its code (信息资源代码), and the codes of withdrawn
# resources, which are never given again.
# Written by `jiyue catalog codes --update-lock`; review it like code.
---
"""
CATEGORY = {Library.base: "1", Library.thematic: "2", Library.department: "3"}
TIER_ITEM = {Tier.city: "01", Tier.district: "02", Tier.street: "03"}
CODE_LENGTH = 12
PREFIX_LENGTH = 8  # 类 1 + 项 2 + 目 3 + 细目 2
SEQUENCE_MAX = 9999
DEPARTMENT_MAX = 999
HINT = "run `jiyue catalog codes --update-lock` and commit catalog.lock.yaml"


def item_code(library: Library, subject: str | None, tier: Tier) -> str:
    """The code's 项: the subject's position among the base libraries or themes, or the tier."""
    if library is Library.department:
        return TIER_ITEM[tier]
    members = [m.value for m in (BaseLibrary if library is Library.base else Theme)]
    return f"{members.index(subject or '') + 1:02d}"


def classification_code(library: Library, subject: str | None, tier: Tier, department_number: int,
                        subclass: int) -> str:
    """The 8-digit classification code (类, 项, 目, 细目)."""
    return f"{CATEGORY[library]}{item_code(library, subject, tier)}{department_number:03d}{subclass:02d}"


def parts(code: str) -> dict[str, str]:
    """A code's parts by their names in the guide."""
    return {"类": code[0], "项": code[1:3], "目": code[3:6], "细目": code[6:8], "顺序码": code[8:]}


@dataclass(frozen=True)
class Wanted:
    """A resource of the registry as the code plan needs it: its key, provider and classification."""

    key: str
    department: str
    library: Library
    subject: str | None
    tier: Tier
    subclass: int


@dataclass
class CodePlan:
    """The codes of the registry's resources: pinned, new, renumbered, withdrawn."""

    departments: dict[str, int]  # department id -> 目
    codes: dict[str, str]  # key -> the code it has once the lock is updated
    pinned: dict[str, str]  # key -> the code the lock holds for a resource the registry still has
    new: dict[str, str] = field(default_factory=dict)  # key -> code not pinned yet
    renumbered: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (pinned, new)
    withdrawn: dict[str, str] = field(default_factory=dict)  # code -> key, gone from the registry
    new_departments: dict[str, int] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    locked: bool = True  # the registry has a lock file: only pinned codes are published

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.error]

    @property
    def withdrawn_after(self) -> dict[str, str]:
        """The withdrawn codes once the lock is updated: the resources gone, and the former codes
        of the renumbered ones."""
        return {**self.withdrawn, **{old: key for key, (old, _new) in self.renumbered.items()}}

    def current(self, key: str) -> str | None:
        """The code the catalog may publish for ``key``: pinned and still matching, else None. A
        registry without a lock file has not begun pinning (a generated one, a new city): its
        codes are the computed ones, as its addresses are before ``jiyue ipam --update-lock``."""
        if not self.locked:
            return self.codes.get(key)
        code = self.pinned.get(key)
        return code if code is not None and key not in self.renumbered else None


@dataclass
class Lock:
    departments: dict[str, int] = field(default_factory=dict)
    resources: dict[str, str] = field(default_factory=dict)
    withdrawn: dict[str, str] = field(default_factory=dict)  # code -> key
    diagnostics: list[Diagnostic] = field(default_factory=list)


def read_lock(root: Path) -> Lock:
    """The lock file's three sections, checked: numbers in range and unique, codes well formed and
    unique; every problem a diagnostic at its line (the wrong entries are left out)."""
    path = root / LOCK_FILE
    lock = Lock()
    if not path.exists():
        return lock
    name = relpath(path)
    try:
        data = read_yaml(path)
    except ReadError as exc:
        lock.diagnostics.append(Diagnostic(name, exc.line, exc.field, exc.message, exc.hint, code="lock"))
        return lock
    if not isinstance(data, LineDict):
        lock.diagnostics.append(Diagnostic(name, 1, "", "not a mapping of departments, resources, withdrawn",
                                           HINT, code="lock"))
        return lock

    def section(key: str) -> LineDict:
        value = data.get(key)
        if value is None:
            return LineDict()
        if not isinstance(value, LineDict):
            lock.diagnostics.append(Diagnostic(name, data.key_lines.get(key, 1), key, "not a mapping", HINT,
                                               code="lock"))
            return LineDict()
        return value

    def bad(sect: LineDict, key: object, where: str, message: str, hint: str = HINT) -> None:
        lock.diagnostics.append(Diagnostic(name, sect.key_lines.get(key, 1), where, message, hint, code="lock"))

    for key in data:
        if key not in ("departments", "resources", "withdrawn"):
            bad(data, key, str(key), "unknown section", "the lock has departments, resources and withdrawn")
    deps = section("departments")
    owner: dict[int, str] = {}
    for dep, number in deps.items():
        where = f"departments.{dep}"
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= DEPARTMENT_MAX:
            bad(deps, dep, where, f"number {number!r} is not a whole number from 1 to {DEPARTMENT_MAX}")
        elif number in owner:
            bad(deps, dep, where, f"number {number} already belongs to {owner[number]!r}",
                "two departments cannot share a number: remove one line, then " + HINT.removeprefix("run "))
        else:
            owner[number] = str(dep)
            lock.departments[str(dep)] = number
    holder: dict[str, str] = {}
    for sect_name, target in (("withdrawn", lock.withdrawn), ("resources", lock.resources)):
        sect = section(sect_name)
        for key, value in sect.items():
            code, what = (value, str(key)) if sect_name == "resources" else (str(key), value)
            where = f"{sect_name}.{key}"
            if not isinstance(code, str) or len(code) != CODE_LENGTH or not code.isascii() or not code.isdigit():
                bad(sect, key, where, f"code {code!r} is not {CODE_LENGTH} digits (quote it in the file)",
                    "a code is 类 1, 项 2, 目 3, 细目 2 and 顺序码 4 digits; fix it or remove the line and "
                    + HINT.removeprefix("run "))
            elif code in holder:
                bad(sect, key, where, f"code {code} is already {holder[code]}",
                    "a code names one resource, ever: remove the wrong line and " + HINT.removeprefix("run "))
            elif code[0] not in CATEGORY.values() or code[8:] == "0000":
                bad(sect, key, where, f"code {code} has 类 {code[0]} and 顺序码 {code[8:]}: 类 is 1, 2 or 3 "
                    "and 顺序码 starts at 0001")
            else:
                holder[code] = f"the code of {what!r}" if sect_name == "resources" else f"withdrawn ({what})"
                if sect_name == "resources":
                    target[str(key)] = code
                else:
                    target[code] = str(what)
    return lock


def plan_codes(root: Path, wanted: Iterable[Wanted], departments: Iterable[str]) -> CodePlan:
    """Every resource's code: the pinned one when its classification still matches, else the next
    free number of its classification. Never raises on a bad lock: its problems are diagnostics."""
    lock = read_lock(root)
    numbers = dict(lock.departments)
    new_departments: dict[str, int] = {}
    for dep in departments:
        if dep not in numbers:
            numbers[dep] = new_departments[dep] = max(numbers.values(), default=0) + 1
    diags = list(lock.diagnostics)
    used: dict[str, int] = {}  # classification code -> highest sequence used, pinned or withdrawn
    for code in [*lock.resources.values(), *lock.withdrawn]:
        used[code[:PREFIX_LENGTH]] = max(used.get(code[:PREFIX_LENGTH], 0), int(code[PREFIX_LENGTH:]))
    returning: dict[str, list[str]] = {}  # key -> its withdrawn codes
    for code, key in lock.withdrawn.items():
        returning.setdefault(key, []).append(code)
    wanted = list(wanted)
    present = {w.key for w in wanted}
    plan = CodePlan(departments=numbers, codes={}, pinned={k: c for k, c in lock.resources.items() if k in present},
                    new_departments=new_departments, diagnostics=diags,
                    withdrawn={**lock.withdrawn, **{c: k for k, c in lock.resources.items() if k not in present}})
    for w in wanted:
        if numbers[w.department] > DEPARTMENT_MAX:
            diags.append(Diagnostic(relpath(root / LOCK_FILE), 0, "departments",
                                    f"{w.department} would be department number {numbers[w.department]}, beyond "
                                    f"the {DEPARTMENT_MAX} the code's 目 holds", "withdraw departments' numbers "
                                    "by hand only with the catalog office: they are part of published codes",
                                    code="lock"))
            continue
        prefix = classification_code(w.library, w.subject, w.tier, numbers[w.department], w.subclass)
        pinned = lock.resources.get(w.key)
        if pinned is not None and pinned[:PREFIX_LENGTH] == prefix:
            plan.codes[w.key] = pinned
            continue
        back = next((c for c in returning.get(w.key, ()) if c[:PREFIX_LENGTH] == prefix), None)
        if back is not None:  # it had a code of this classification before: it gets it back
            code = back
            del plan.withdrawn[back]
        else:
            seq = used.get(prefix, 0) + 1
            if seq > SEQUENCE_MAX:
                diags.append(Diagnostic(relpath(root / LOCK_FILE), 0, "resources",
                                        f"classification {prefix} has used all {SEQUENCE_MAX} sequence codes",
                                        "divide it with a subclass (细目)", code="lock"))
                continue
            used[prefix] = seq
            code = f"{prefix}{seq:04d}"
        plan.codes[w.key] = code
        if pinned is None:
            plan.new[w.key] = code
        else:
            plan.renumbered[w.key] = (pinned, code)
    plan.locked = (root / LOCK_FILE).exists()
    if not plan.locked and plan.codes:
        diags.append(Diagnostic(relpath(root / LOCK_FILE), 0, "", f"no {LOCK_FILE}: the {len(plan.codes)} resource "
                                "codes are computed from the registry's order, not pinned", HINT, Severity.warning,
                                "lock"))
    else:
        name = relpath(root / LOCK_FILE)
        for label, keys in (("resource(s) without a pinned code", sorted(plan.new)),
                            ("resource(s) whose classification no longer matches their pinned code",
                             sorted(plan.renumbered))):
            if keys:
                diags.append(Diagnostic(name, 0, "resources", f"{len(keys)} {label}: {', '.join(keys[:5])}"
                                        + (" ..." if len(keys) > 5 else ""), HINT, Severity.warning, "lock"))
    return plan


def write_lock(root: Path, plan: CodePlan) -> Path:
    """Pin the plan: every department's number, every resource's code (renumbered ones withdrawn)."""
    withdrawn = plan.withdrawn_after
    data = {
        "departments": dict(sorted(plan.departments.items(), key=lambda kv: kv[1])),
        "resources": dict(sorted(plan.codes.items(), key=lambda kv: kv[1])),
        **({"withdrawn": dict(sorted(withdrawn.items()))} if withdrawn else {}),
    }
    path = root / LOCK_FILE
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_style=None)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(LOCK_HEADER + body, encoding="utf-8")
    tmp.replace(path)
    return path
