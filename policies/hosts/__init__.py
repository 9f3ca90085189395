"""Host checks of migrated hosts (testinfra), and the runner behind ``jiyue policy hosts``.

``run(inventory)`` runs ``test_*.py`` here with pytest for every host of the inventory and returns
the failures as findings carrying the same metadata as the pack's rules (``rules.HOST_RULES``).
"""

from __future__ import annotations

import io
import os
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from ..findings import Finding, Report
from .inventory import Inventory, load_inventory
from .rules import HOST_RULES

HERE = Path(__file__).resolve().parent


class _Collector:
    """A pytest plugin: one outcome per (host, rule)."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        self._items = {i.nodeid: i for i in items}

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
            return
        item = self._items.get(report.nodeid)
        marker = item.get_closest_marker("rule") if item else None
        spec = item.callspec.params.get("spec") if item is not None and hasattr(item, "callspec") else None
        message = ""
        if report.outcome != "passed":
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash else str(report.longrepr).splitlines()[-1]
            message = message.split("\nassert ")[0].removeprefix("AssertionError: ").removeprefix("Failed: ")
        self.results.append({"host": spec, "rule": marker.args[0] if marker else report.nodeid,
                             "outcome": report.outcome, "message": message})


def run(inventory: Path | Inventory, *, verbose: bool = False) -> tuple[Report, list[dict[str, Any]]]:
    """Run every host check against every host; a failed check is a finding."""
    import pytest

    inv = inventory if isinstance(inventory, Inventory) else load_inventory(inventory)
    path = inv.path or Path("inventory.yaml")
    collector = _Collector()
    t0 = time.perf_counter()
    old = os.environ.get("JIYUE_HOSTS_INVENTORY")
    os.environ["JIYUE_HOSTS_INVENTORY"] = str(Path(path).resolve())
    args = [str(HERE), "-q", "-p", "no:cacheprovider", "--rootdir", str(HERE.parent.parent),
            "-o", "addopts=", "-o", "testpaths=", "--no-header"]
    buf = io.StringIO()
    try:
        with redirect_stdout(buf):
            pytest.main(args if verbose else [*args, "--tb=no"], plugins=[collector])
    finally:
        if old is None:
            os.environ.pop("JIYUE_HOSTS_INVENTORY", None)
        else:
            os.environ["JIYUE_HOSTS_INVENTORY"] = old
    findings = []
    for r in collector.results:
        spec = r["host"]
        if r["outcome"] == "passed" or spec is None:
            continue
        meta = HOST_RULES.get(r["rule"])
        findings.append(Finding(rule=r["rule"], message=r["message"], stack=spec.name, urn=f"host:{spec.name}",
                                resource_type="host", resource_name=spec.name, department=spec.department,
                                enforcement=meta.enforcement if meta else "mandatory",
                                severity=meta.severity if meta else "high"))
    report = Report(stacks=[h.name for h in inv.hosts], resources=len(inv.hosts), findings=findings,
                    mode="testinfra host checks", pack={"name": "jiyue-host-checks", "version": ""},
                    policies=[m.as_dict() for m in HOST_RULES.values()], city="",
                    seconds=time.perf_counter() - t0)
    return report, collector.results
