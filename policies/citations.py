"""What a rule enforces, and on whose authority: one citation per rule, of one of three kinds.

- ``mlps("8.1.3.2 a)", says)``: a lettered item of a control point of GB/T 22239-2019 (MLPS 2.0)
  level 3, the general requirements (8.1) or the cloud computing extension (8.2);
- ``plan("G6", says)``: a requirement of the city's plan (大政办发〔2017〕135号) that no standard
  asks for, such as the filing that funding depends on;
- ``secrecy(says)``: a rule about classified (涉密) systems. They are protected under the
  state-secret classified-protection framework (分级保护), not MLPS; the rule cites that framework
  and the plan's G8 (classified information follows the secrecy laws).

``says`` is what the cited item or requirement asks, short, in its own words. The standard's clause
headings and the plan's requirement ids are data (``standards/*.yaml``, in the wheel too): every
report renders a citation's heading from them, and :meth:`Citation.problems` holds a citation to
them (the tests run it over every rule and host check).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

STANDARDS_DIR = Path(__file__).resolve().parent / "standards"
MLPS_TABLE = STANDARDS_DIR / "gb-t-22239-2019-level3.yaml"
PLAN_TABLE = STANDARDS_DIR / "city-plan-requirements.yaml"

MLPS_NAME = "MLPS 2.0 (GB/T 22239-2019)"
MLPS_VERSION = "2019, level 3"
PLAN_NAME = "the city's plan (大政办发〔2017〕135号)"
PLAN_VERSION = "2017-11-14"
SECRECY_NAME = "分级保护 (state-secret classified protection)"
SECRECY_PLAN_ID = "G8"  # the plan's safeguard: classified information follows the secrecy laws

Basis = Literal["mlps", "plan", "secrecy"]
_REFERENCE = re.compile(r"^(?P<clause>8\.[12](?:\.\d+){2}) (?P<item>[a-z])\)$")


@dataclass(frozen=True)
class Heading:
    zh: str
    en: str


@cache
def mlps_headings() -> dict[str, Heading]:
    """Clause number -> heading, for every clause of level 3 (groups and control points)."""
    doc = yaml.safe_load(MLPS_TABLE.read_text(encoding="utf-8"))
    return {str(k): Heading(v["zh"], v["en"]) for k, v in doc["clauses"].items()}


@cache
def plan_requirements() -> dict[str, str]:
    """The plan's requirement id -> a short gloss of it."""
    doc = yaml.safe_load(PLAN_TABLE.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in doc["requirements"].items()}


def control_points() -> set[str]:
    """The clauses a lettered item sits under: those with no clause below them (8.1.3.2, not 8.1.3)."""
    clauses = set(mlps_headings())
    return {c for c in clauses if not any(o.startswith(c + ".") for o in clauses)}


@dataclass(frozen=True)
class Citation:
    """One rule's authority. ``reference`` is ``"8.1.3.2 a)"`` (mlps) or a plan id ``"G6"`` (plan, secrecy)."""

    basis: Basis
    reference: str
    says: str

    @property
    def clause(self) -> str:
        """The MLPS control point, ``"8.1.3.2"``; empty for the other kinds."""
        m = _REFERENCE.match(self.reference)
        return m["clause"] if self.basis == "mlps" and m else ""

    @property
    def item(self) -> str:
        """The lettered item under the control point, ``"a"``; empty for the other kinds."""
        m = _REFERENCE.match(self.reference)
        return m["item"] if self.basis == "mlps" and m else ""

    @property
    def plan(self) -> str:
        """The plan's requirement id cited (plan and secrecy kinds)."""
        return self.reference if self.basis != "mlps" else ""

    @property
    def heading(self) -> Heading | None:
        """The cited control point's heading (mlps only; None when the clause does not exist)."""
        return mlps_headings().get(self.clause) if self.basis == "mlps" else None

    @property
    def framework(self) -> str:
        return {"mlps": MLPS_NAME, "plan": PLAN_NAME, "secrecy": SECRECY_NAME}[self.basis]

    @property
    def text(self) -> str:
        """The citation as every report shows it."""
        if self.basis == "mlps":
            h = self.heading
            cloud = " (云计算扩展)" if self.clause.startswith("8.2.") else ""
            return f"GB/T 22239-2019 {self.clause} {h.zh if h else '(no such clause)'} {self.item}){cloud}"
        if self.basis == "plan":
            return f"the city's plan, {self.plan} (not an MLPS control)"
        return f"分级保护 (state-secret classified protection, not MLPS) and the city's plan, {self.plan}"

    @property
    def tags(self) -> tuple[str, ...]:
        """The engine's and SARIF's tags for it: ``mlps:8.1.3.2 a)``, ``plan:G6``, ``secrecy:分级保护``."""
        if self.basis == "mlps":
            return (f"mlps:{self.reference}",)
        return (f"plan:{self.plan}",) if self.basis == "plan" else ("secrecy:分级保护", f"plan:{self.plan}")

    def compliance_framework(self) -> dict[str, str]:
        """The engine's compliance framework entry (name, version, reference, specification)."""
        if self.basis == "mlps":
            h = self.heading
            return {"name": MLPS_NAME, "version": MLPS_VERSION, "reference": self.reference,
                    "specification": f"{h.zh if h else ''}: {self.says}"}
        if self.basis == "plan":
            return {"name": PLAN_NAME, "version": PLAN_VERSION, "reference": self.plan,
                    "specification": f"not an MLPS control: {self.says}"}
        return {"name": SECRECY_NAME, "version": "", "reference": f"the city's plan {self.plan}",
                "specification": f"not an MLPS control: {self.says}"}

    def as_dict(self) -> dict[str, Any]:
        h = self.heading
        return {"basis": self.basis, "framework": self.framework, "reference": self.reference,
                "clause": self.clause, "item": self.item, "plan": self.plan,
                "heading": h.zh if h else "", "heading_en": h.en if h else "", "says": self.says,
                "text": self.text}

    def problems(self) -> list[str]:
        """Why this citation does not hold against the tables; empty when it does."""
        out: list[str] = []
        if not self.says.strip():
            out.append("says nothing of what the cited item asks")
        if self.basis == "mlps":
            if not _REFERENCE.match(self.reference):
                out.append(f"{self.reference!r} is not a clause and a lettered item, e.g. '8.1.3.2 a)'")
            elif self.clause not in mlps_headings():
                out.append(f"GB/T 22239-2019 level 3 has no clause {self.clause}")
            elif self.clause not in control_points():
                out.append(f"{self.clause} {self.heading.zh if self.heading else ''} is a group of control "
                           f"points, not a control point with lettered items")
        elif self.basis in ("plan", "secrecy"):
            if self.reference not in plan_requirements():
                out.append(f"the city's plan has no requirement {self.reference!r}")
            if self.basis == "secrecy" and self.reference != SECRECY_PLAN_ID:
                out.append(f"a classified rule cites the plan's {SECRECY_PLAN_ID} (secrecy laws), "
                           f"not {self.reference}")
        else:
            out.append(f"unknown basis {self.basis!r}")
        return out


def mlps(reference: str, says: str) -> Citation:
    """A lettered item of GB/T 22239-2019 level 3: ``mlps("8.1.3.2 a)", "...")``."""
    return Citation("mlps", reference, says)


def plan(requirement: str, says: str) -> Citation:
    """A requirement of the city's plan that no standard asks for: ``plan("G6", "...")``."""
    return Citation("plan", requirement, says)


def secrecy(says: str) -> Citation:
    """A rule about classified (涉密) systems: the state-secret framework and the plan's G8."""
    return Citation("secrecy", SECRECY_PLAN_ID, says)
