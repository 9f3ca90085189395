"""Functional verification (T4.3): a testinfra suite generated per system from the registry.

``measure_sources`` records what the (frozen) source hosts hold; ``write_suite`` writes those
expectations into the run directory (``expectations.json``, reviewable); ``run_suite`` runs the
suite of :mod:`migration.suite` against them and reads its JUnit report (by hand:
``JIYUE_EXPECTATIONS=<dir>/expectations.json pytest --pyargs migration.suite``). The suite checks, on
every target host: each service running and enabled, its port listening, the web answers equal
to the source's, every database table's row count and checksum equal to the frozen source's,
and the SHA-256 manifest (with modes, owners, mtimes, ACLs) of every data path equal.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import testinfra

from jiyue.registry.schema import System

from . import consolidate, probes, processes, tools_on_path

PORTS = {"nginx": 80, "postgresql": 5432}
HTTP_REQUESTS = [[80, "/"]]

SUITE = Path(__file__).with_name("suite")  # the suite's test files; expectations come per system


@dataclass
class Pair:
    source: str
    target: str
    services: list[str]
    data_paths: list[str]
    databases: list[str]


@dataclass
class SuiteResult:
    system: str
    passed: int
    failed: int
    failures: list[str] = field(default_factory=list)
    directory: Path | None = None

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.passed > 0


def _host(name: str, inventory: Path) -> Any:
    tools_on_path()
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=str(inventory))


def measure(host_name: str, inventory: Path, pair: Pair) -> dict[str, Any]:
    """What one host holds of a pair's data: files, databases, web answers."""
    h = _host(host_name, inventory)
    out: dict[str, Any] = {"files": {}, "databases": {}, "http": {}}
    if pair.data_paths:
        out["files"] = probes.run(h, probes.FILES, pair.data_paths)
    if pair.databases:
        out["databases"] = probes.run(h, probes.DATABASES, pair.databases)
    if "nginx" in pair.services:
        out["http"] = probes.run(h, probes.HTTP, HTTP_REQUESTS)
    return out


def measure_sources(pairs: list[Pair], inventory: Path) -> dict[str, dict[str, Any]]:
    """Measure every source (in parallel); keyed by source host."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda p: (p.source, measure(p.source, inventory, p)), pairs))
    return dict(results)


def discover(system: str, hosts: dict[str, tuple[list[str], list[str]]], inventory: Path) -> dict[str, dict]:
    """What the system runs on, per source host (``hosts``: name -> (data paths, services)):
    :data:`migration.probes.DISCOVER`, in parallel."""
    def one(host: str) -> tuple[str, dict]:
        paths, services = hosts[host]
        return host, probes.run(_host(host, inventory), probes.DISCOVER,
                                {"system": system, "paths": paths, "services": services})

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(pool.map(one, hosts))


def account_clashes(target: str, users: list[dict], groups: list[dict], inventory: Path) -> list[str]:
    """The accounts and groups ``target`` cannot take with the same names and ids."""
    return probes.run(_host(target, inventory), probes.ACCOUNT_CLASHES, {"users": users, "groups": groups})


def measure_trees(wanted: list[tuple[str, str]], inventory: Path) -> dict[tuple[str, str], dict | None]:
    """The manifests of (host, path) trees, measured on each host (in parallel)."""
    by_host: dict[str, list[str]] = {}
    for host, path in wanted:
        by_host.setdefault(host, []).append(path)

    def one(host: str) -> dict[tuple[str, str], dict | None]:
        got = probes.run(_host(host, inventory), probes.FILES, by_host[host])
        return {(host, p): got.get(p) for p in by_host[host]}

    with ThreadPoolExecutor(max_workers=8) as pool:
        return {k: v for part in pool.map(one, by_host) for k, v in part.items()}


def expectations(system: System, pairs: list[Pair], measured: dict[str, dict[str, Any]], inventory: Path,
                 found: dict[str, dict[str, Any]] | None = None) -> dict:
    """What every target must hold, composed from every source it is built from as measured now
    (:func:`migration.consolidate.compose`), and the problems that keep it from holding them all;
    with ``found`` (:func:`discover` on the sources), the accounts and cron entries it must have."""
    found = found or {}
    targets: dict[str, dict[str, Any]] = {}
    for p in pairs:
        t = targets.setdefault(p.target, {"services": [], "ports": [], "files": {}, "databases": {},
                                          "http_answers": [], "http_requests": HTTP_REQUESTS, "sources": []})
        t["sources"].append(p.source)
        d = found.get(p.source) or {}
        for a in d.get("accounts", []):
            if a not in t.setdefault("accounts", []):
                t["accounts"].append(a)
        t.setdefault("cron", {}).update((d.get("cron") or {}).get("files", {}))
        t.setdefault("tls", {}).update({path: {"sha256": x["sha256"], "mode": x["mode"]}
                                        for path, x in (d.get("tls") or {}).items()})
        for svc in p.services:
            if svc in PORTS and svc not in t["services"]:
                t["services"].append(svc)
                t["ports"].append(PORTS[svc])
        m = measured[p.source]
        t["databases"].update({k: v for k, v in m["databases"].items() if v is not None})
        if m["http"] and m["http"] not in t["http_answers"]:
            t["http_answers"].append(m["http"])
    manifests = {(p.source, path): measured[p.source]["files"].get(path) for p in pairs for path in p.data_paths}
    problems: list[str] = []
    for target, trees in consolidate.trees(system, list(targets)).items():
        for tree in trees:
            manifest, found = consolidate.compose(tree, manifests)
            problems += found
            targets[target]["files"][tree.dest] = manifest
            targets[target].setdefault("built_from", {})[tree.dest] = {"sources": list(tree.holders),
                                                                       "path": tree.path, "mode": tree.mode}
    return {"system": system.id, "inventory": str(inventory), "targets": targets, "problems": problems}


def written_since(exp: dict[str, Any], since: float | None, margin: float = 2.0) -> dict[str, dict[str, list[str]]]:
    """Per target and tree, the files a (live) source wrote after ``since`` (its mtime, less a
    margin for the clocks): left out of the comparison, and listed, until the frozen sources are
    compared."""
    if since is None:
        return {}
    out: dict[str, dict[str, list[str]]] = {}
    for target, e in exp["targets"].items():
        for dest, manifest in e["files"].items():
            fresh = sorted(rel for rel, entry in (manifest or {}).items() if entry[4] >= since - margin)
            if fresh:
                out.setdefault(target, {})[dest] = fresh
    return out


def write_suite(directory: Path, system: str, exp: dict[str, Any]) -> Path:
    """Write the system's expectations for the suite; returns the file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "expectations.json"
    path.write_text(json.dumps(exp, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


#: the environment variable giving the suite its ssh masters' directory
SOCKETS = "JIYUE_SSH_SOCKETS"


def close_masters(sockets: Path) -> None:
    """End the ssh masters in ``sockets`` (each ``ssh -O exit``) and remove the directory."""
    for sock in sockets.glob("*"):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "jiyue-suite"],
                           capture_output=True, timeout=10, check=False)
    shutil.rmtree(sockets, ignore_errors=True)


def run_suite(directory: Path, system: str, timeout: int = 900, *, run_id: str = "",
              on_process: Callable[[str, processes.Group, bool], None] | None = None) -> SuiteResult:
    """Run the suite against ``directory``'s expectations, as a process group of the run's
    (``run_id`` in its environment, recorded through ``on_process``, ended with its driver)."""
    junit = directory / "junit.xml"
    tools_on_path()
    # the suite's ssh connections are multiplexed through masters of its own (a command costs a
    # channel, not a handshake through the bastion), in a fresh directory: never one opened by
    # another suite or another key (a drill's checks must not reach the DR host's own shell)
    sockets = Path(tempfile.mkdtemp(prefix="jiyue-ts-", dir="/tmp"))
    env = {**os.environ, "JIYUE_EXPECTATIONS": str(directory / "expectations.json"), processes.MARKER: run_id,
           SOCKETS: str(sockets)}
    argv = [sys.executable, "-m", "pytest", str(SUITE), "-q", "-p", "no:cacheprovider", "--rootdir", str(SUITE),
            "-o", "addopts=", "-o", "testpaths=", f"--junitxml={junit}"]
    proc = subprocess.Popen(processes.owned(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=directory, env=env, start_new_session=True)
    group = processes.Group(proc.pid, processes.start_time(proc.pid) or 0)
    label = f"{system}-verification"
    if on_process is not None:
        on_process(label, group, True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException:
        processes.terminate([group])
        proc.wait()
        raise
    finally:
        if on_process is not None:
            on_process(label, group, False)
        close_masters(sockets)
    proc = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    (directory / "pytest.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if not junit.exists():
        return SuiteResult(system, 0, 1, [f"the suite did not run: {proc.stdout[-400:]}{proc.stderr[-400:]}"],
                           directory)
    root = ET.parse(junit).getroot()
    passed = failed = 0
    failures = []
    for case in root.iter("testcase"):
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        if bad is None:
            if case.find("skipped") is None:
                passed += 1
        else:
            failed += 1
            failures.append(f"{case.get('name')}: {(bad.get('message') or '').splitlines()[0][:300]}")
    return SuiteResult(system, passed, failed, failures, directory)
