"""The floors of docs/architecture.md hold: every import points down, never beside or up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"cli", "jiyue", "infra", "policies", "migration", "lab", "bench", "tests"}
#: what each package may import of the project (itself included)
MAY_IMPORT = {
    "jiyue": {"jiyue"},
    "infra": {"infra", "jiyue"},
    "lab": {"lab", "jiyue"},
    "migration": {"migration", "jiyue"},
    "policies": {"policies", "jiyue"},
    "cli": {"cli", "jiyue", "infra", "policies", "migration", "lab"},
}


def imports(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, top-level package) of every first-party import in ``path`` (a module of
    ``package``), wherever it stands: at the top or inside a function."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.lineno, package if node.level else (node.module or "").split(".")[0]))
    return [(n, m) for n, m in out if m in FIRST_PARTY]


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_no_arrow_runs_up_or_sideways(package: str) -> None:
    wrong = [f"{p.relative_to(REPO)}:{line}: imports {mod}"
             for p in sorted((REPO / package).rglob("*.py")) for line, mod in imports(p, package)
             if mod not in MAY_IMPORT[package]]
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_an_upward_arrow(tmp_path: Path) -> None:
    bad = tmp_path / "probe.py"
    bad.write_text("import os\nfrom . import x\n\ndef f():\n    from cli import app\n", encoding="utf-8")
    assert imports(bad, "jiyue") == [(2, "jiyue"), (5, "cli")]
