"""The wheel carries every file the program reads at run time: built from the tree, installed
apart from the repository, it validates the sample city, previews every stack and judges them with
the policy pack from another directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _packages_in_tree() -> set[str]:
    found = set()
    for init in REPO.glob("*/**/__init__.py"):
        rel = init.parent.relative_to(REPO)
        if rel.parts[0] in ("tests", "bench", ".venv", "build") or rel.parts[0].startswith("."):
            continue
        found.add(".".join(rel.parts))
    return found


def test_every_package_of_the_tree_is_in_the_wheel_list() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    assert _packages_in_tree() <= listed, "add these packages to [tool.setuptools] packages in pyproject.toml"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(out), str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next(out.glob("jiyue-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("migration/playbooks/replicate.yml", "migration/playbooks/ansible.cfg",
                   "jiyue/inventories/dalian/city.yaml", "policies/PulumiPolicy.yaml", "policies/requirements.txt",
                   "policies/standards/gb-t-22239-2019-level3.yaml", "policies/standards/city-plan-requirements.yaml",
                   "lab/files/jiyue-init", "migration/suite/test_system.py", "migration/audit_collector.py",
                   "migration/playbooks/collections/ansible_collections/jiyue/migration/plugins/modules/precheck.py"):
        assert needed in names, f"the wheel lacks {needed}"
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return target


def _jiyue(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(target)}
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


def test_the_installed_wheel_runs_from_another_directory(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run([sys.executable, "-c", "import cli, jiyue.registry as r, migration.runner as m; "
                            "print(cli.__file__); print(r.DEFAULT_CITY); print(m.PLAYBOOKS)"],
                           cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True,
                           text=True, check=True).stdout.split()
    assert all(p.startswith(str(installed)) for p in where), where  # nothing read from the repository

    v = _jiyue(installed, tmp_path, "validate")
    assert v.returncode == 0, v.stderr
    assert "56 departments, 197 systems" in v.stdout

    p = _jiyue(installed, tmp_path, "infra", "preview", "--all", "--summary")
    assert p.returncode == 0, p.stderr
    assert "110 stacks, 10275 resources" in p.stdout

    c = _jiyue(installed, tmp_path, "policy", "check", "--all", "--format", "json", "--output",
               str(tmp_path / "report.json"))
    assert c.returncode == 1, c.stderr  # the sample city's planted incomplete filings, nothing else
    assert "FAIL" in c.stderr
    findings = json.loads((tmp_path / "report.json").read_text())["findings"]
    assert findings and {f["rule"] for f in findings} == {"jiyue-filing-gate"}
