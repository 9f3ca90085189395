"""The runner behind ``jiyue policy hosts``: every host check against every host of an inventory.

``run(inventory)`` runs ``test_*.py`` beside this file with pytest for every host of the inventory
and returns the failures as findings carrying the same metadata as the pack's rules
(``rules.HOST_RULES``). A check that does not apply to a host (pytest ``skip``, e.g. time sync on a
host with no clock of its own) is no finding; its outcome is ``skipped`` with the reason in the
results.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import testinfra
from testinfra.host import Host

from ..findings import Finding, Report
from .inventory import HostSpec, Inventory, load_inventory
from .rules import HOST_RULES

HERE = Path(__file__).resolve().parent


class HostSession:
    """The inventory of one run and one testinfra host per inventory host.

    ssh hosts share one connection each (ssh ControlMaster, sockets in a private directory) for
    the whole run: every check costs a round trip, not a new handshake through the bastion.
    :meth:`close` ends those connections.
    """

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._hosts: dict[str, Host] = {}
        self._sockets: list[str] = []
        self._dir: str | None = None

    def host(self, spec: HostSpec) -> Host:
        if spec.name not in self._hosts:
            kwargs: dict[str, Any] = {}
            if spec.target.startswith("ssh://"):
                if spec.ssh_identity_file:
                    kwargs["ssh_identity_file"] = spec.ssh_identity_file
                if spec.ssh_extra_args:
                    kwargs["ssh_extra_args"] = spec.ssh_extra_args
                if self._dir is None:
                    self._dir = tempfile.mkdtemp(prefix="jiyue-hosts-")
                sock = f"{self._dir}/{len(self._sockets)}"
                self._sockets.append(sock)
                kwargs.update(controlpath=sock, controlpersist=120)
            self._hosts[spec.name] = testinfra.get_host(spec.target, **kwargs)
        return self._hosts[spec.name]

    def close(self) -> None:
        for sock in self._sockets:
            if Path(sock).exists():
                subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "jiyue-host-check"],
                               capture_output=True, timeout=10, check=False)
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._hosts.clear()
        self._sockets.clear()
        self._dir = None


class _Collector:
    """A pytest plugin: one outcome per (host, rule); it also carries the run's :class:`HostSession`."""

    def __init__(self, session: HostSession | None = None) -> None:
        self.results: list[dict[str, Any]] = []
        self.jiyue_hosts_session = session

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        self._items = {i.nodeid: i for i in items}

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
            return
        item = self._items.get(report.nodeid)
        marker = item.get_closest_marker("rule") if item else None
        spec = item.callspec.params.get("spec") if item is not None and hasattr(item, "callspec") else None
        message = ""
        if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2]).removeprefix("Skipped: ")
        elif report.outcome != "passed":
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash else str(report.longrepr).splitlines()[-1]
            message = message.split("\nassert ")[0].removeprefix("AssertionError: ").removeprefix("Failed: ")
        self.results.append({"host": spec, "rule": marker.args[0] if marker else report.nodeid,
                             "outcome": report.outcome, "message": message})


def run(inventory: Path | Inventory, *, verbose: bool = False) -> tuple[Report, list[dict[str, Any]]]:
    """Run every host check against every host; a failed check is a finding."""
    inv = inventory if isinstance(inventory, Inventory) else load_inventory(inventory)
    session = HostSession(inv)
    collector = _Collector(session)
    t0 = time.perf_counter()
    args = [str(HERE), "-q", "-p", "no:cacheprovider", "--rootdir", str(HERE.parent.parent),
            "-o", "addopts=", "-o", "testpaths=", "--no-header"]
    buf = io.StringIO()
    try:
        with redirect_stdout(buf):
            pytest.main(args if verbose else [*args, "--tb=no"], plugins=[collector])
    finally:
        session.close()
    findings = []
    for r in collector.results:
        spec = r["host"]
        if r["outcome"] in ("passed", "skipped") or spec is None:
            continue
        meta = HOST_RULES.get(r["rule"])
        findings.append(Finding(rule=r["rule"], message=r["message"], stack=spec.name, urn=f"host:{spec.name}",
                                resource_type="host", resource_name=spec.name, department=spec.department,
                                zone=spec.zone,
                                enforcement=meta.enforcement if meta else "mandatory",
                                severity=meta.severity if meta else "high"))
    report = Report(stacks=[h.name for h in inv.hosts], resources=len(inv.hosts), findings=findings,
                    mode="testinfra host checks", pack={"name": "jiyue-host-checks", "version": ""},
                    policies=[m.as_dict() for m in HOST_RULES.values()], city="",
                    seconds=time.perf_counter() - t0)
    return report, collector.results
