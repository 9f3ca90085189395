"""Every requirement id the repository cites (T1.1, G6, ...) is one of docs/requirements.md."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "docs" / "requirements.md"
CITED = re.compile(r"(?<![\w.-])(T\d+(?:\.\d+)?|G\d+)(?![\w.-]*\w)")
SOURCES = ("jiyue", "infra", "policies", "migration", "lab", "cli", "docs", "playbooks", "inventories")
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".j2"}


def _defined() -> set[str]:
    ids = set(re.findall(r"^\| (T\d+(?:\.\d+)?|G\d+) \|", REQUIREMENTS.read_text(encoding="utf-8"), re.M))
    return ids | {i.split(".")[0] for i in ids}  # "T1" names the group T1.1, T1.2, ...


def test_requirements_define_the_ids():
    assert {"T1.1", "T1.2", "T3.3", "T4.5", "G6", "G8"} <= _defined()


def test_every_cited_requirement_id_is_defined():
    defined = _defined()
    unknown = [
        f"{path.relative_to(ROOT)}:{n}: {cited}"
        for top in SOURCES
        for path in sorted((ROOT / top).rglob("*"))
        if path.suffix in SUFFIXES and path.is_file()
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        for cited in CITED.findall(line)
        if cited not in defined
    ]
    assert not unknown, "requirement ids not in docs/requirements.md:\n" + "\n".join(unknown)
