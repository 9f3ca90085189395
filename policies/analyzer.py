"""Judge stacks offline through the analyzer gRPC interface, as the Pulumi engine does.

The engine starts a Python policy pack with ``python -u -m pulumi.policy <engine-address> .`` in
the pack's directory (the ``pulumi-analyzer-policy-python`` shim), with ``PULUMI_STACK``,
``PULUMI_PROJECT``, ``PULUMI_CONFIG`` ... in the environment. The pack's ``PolicyPack`` serves the
``pulumirpc.Analyzer`` service on 127.0.0.1 and prints its port on stdout. The engine then calls
``Handshake``, ``ConfigureStack``, ``GetAnalyzerInfo``, ``Configure``, ``Analyze`` once per
resource, and ``AnalyzeStack`` with every resource. :class:`PackProcess` does exactly that.

One deviation, for speed: a pack process judges several stacks in turn, receiving a fresh
``ConfigureStack`` before each; the pack reads a resource's stack from its URN first, so this
cannot mix stacks up.
"""

from __future__ import annotations

import gc
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

PACK_DIR = Path(__file__).resolve().parent
PROJECT = "jiyue-infra"
ENGINE_ADDRESS = "127.0.0.1:0"  # no engine service behind it: the pack never calls back while judging
_LEVELS = {analyzer_pb2.ADVISORY: "advisory", analyzer_pb2.MANDATORY: "mandatory",
           analyzer_pb2.REMEDIATE: "remediate", analyzer_pb2.DISABLED: "disabled"}
_SEVERITIES = {analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "", analyzer_pb2.POLICY_SEVERITY_LOW: "low",
               analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium", analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
               analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical"}
_OPTIONS = [("grpc.max_receive_message_length", 400 * 1024 * 1024),
            ("grpc.max_send_message_length", 400 * 1024 * 1024)]


class PackError(RuntimeError):
    """The pack did not start or did not answer."""


@dataclass
class Diagnostic:
    policy: str
    message: str
    urn: str
    enforcement: str
    severity: str
    stack: str = ""


@dataclass
class StackResult:
    stack: str
    resources: int
    diagnostics: list[Diagnostic] = field(default_factory=list)
    not_applicable: int = 0
    seconds: float = 0.0


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(values)
    return s


def _engine_env(stack: str, config: Mapping[str, str]) -> dict[str, str]:
    """The environment the engine gives a policy pack (pkg/resource/plugin constructEnv)."""
    env = dict(os.environ)
    env.update({
        "PULUMI_STACK": stack, "PULUMI_PROJECT": PROJECT, "PULUMI_ORGANIZATION": "organization",
        "PULUMI_DRY_RUN": "true", "PULUMI_CONFIG": json.dumps(dict(config)), "PULUMI_CONFIG_SECRET_KEYS": "[]",
        "PYTHONUNBUFFERED": "1",
    })
    return env


class PackProcess:
    """One running policy pack and a gRPC client to it."""

    def __init__(self, *, pack_dir: Path = PACK_DIR, python: str | None = None, stack: str = "",
                 config: Mapping[str, str] | None = None, policy_config: Mapping[str, Mapping[str, Any]] | None = None,
                 in_flight: int = 4, start_timeout: float = 60.0) -> None:
        self.pack_dir = pack_dir
        self.python = python or sys.executable
        self.config = dict(config or {})
        self.policy_config = dict(policy_config or {})
        self.in_flight = max(1, in_flight)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [self.python, "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, "."], cwd=pack_dir,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            env=_engine_env(stack, self.config))
        self.port = self._read_port(start_timeout)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}", options=_OPTIONS)
        grpc.channel_ready_future(self.channel).result(timeout=start_timeout)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        self._analyze_raw = self.channel.unary_unary("/pulumirpc.Analyzer/Analyze")  # bytes in, bytes out
        self.info = self._boot()

    # ------------------------------------------------------------------ lifecycle

    def _read_port(self, timeout: float) -> int:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                break
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 64)
                if not chunk:
                    break
                line += chunk
        try:
            return int(line.strip().splitlines()[0])
        except (ValueError, IndexError):
            self.close()
            raise PackError(f"the policy pack in {self.pack_dir} did not print its port "
                            f"(got {line[:200]!r}); its stderr:\n{self.stderr()}") from None

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-4000:]

    def _boot(self) -> analyzer_pb2.AnalyzerInfo:
        """Handshake, plugin info, analyzer info, Configure: the engine's calls after start."""
        try:
            self.stub.Handshake(analyzer_pb2.AnalyzerHandshakeRequest(
                engine_address=ENGINE_ADDRESS, root_directory=str(self.pack_dir),
                program_directory=str(self.pack_dir)))
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:  # pulumi-policy does not implement it
                raise
        self.plugin_version = self.stub.GetPluginInfo(empty_pb2.Empty()).version
        info = self.stub.GetAnalyzerInfo(empty_pb2.Empty())
        req = analyzer_pb2.ConfigureAnalyzerRequest()
        for p in info.policies:
            cfg = analyzer_pb2.PolicyConfig(enforcementLevel=p.enforcementLevel)
            props = self.policy_config.get(p.name) or self.policy_config.get("all") or {}
            if props:
                cfg.properties.update(dict(props))
            req.policyConfig[p.name].CopyFrom(cfg)
        self.stub.Configure(req)
        return info

    def close(self) -> None:
        ch = getattr(self, "channel", None)
        if ch is not None:
            ch.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> PackProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ judging

    def policies(self) -> list[dict[str, Any]]:
        return [{"name": p.name, "description": p.description, "enforcement": _LEVELS.get(p.enforcementLevel, ""),
                 "severity": _SEVERITIES.get(p.severity, ""), "type": "stack" if p.policy_type == 2 else "resource",
                 "framework": {"name": p.framework.name, "version": p.framework.version,
                               "reference": p.framework.reference, "specification": p.framework.specification},
                 "tags": list(p.tags), "remediation": p.remediation_steps}
                for p in self.info.policies]

    def configure_stack(self, stack: str, tags: Mapping[str, str] | None = None) -> None:
        self.stub.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=stack, project=PROJECT, organization="organization", dry_run=True,
            config=self.config, tags=dict(tags or {})))

    @staticmethod
    def _request(r: Mapping[str, Any]) -> analyzer_pb2.AnalyzeRequest:
        return analyzer_pb2.AnalyzeRequest(
            type=r["type"], urn=r["urn"], name=r.get("name") or r["urn"].rsplit("::", 1)[-1],
            properties=_struct(r.get("inputs") or {}),
            options=analyzer_pb2.AnalyzerResourceOptions(parent=r.get("parent") or ""))

    def _diags(self, resp: analyzer_pb2.AnalyzeResponse, urn: str, stack: str) -> list[Diagnostic]:
        out = []
        for d in resp.diagnostics:
            msg = d.message
            if d.description and msg.startswith(d.description):
                msg = msg[len(d.description):].lstrip("\n") or d.description
            out.append(Diagnostic(d.policyName, msg, d.urn or urn, _LEVELS.get(d.enforcementLevel, ""),
                                  _SEVERITIES.get(d.severity, ""), stack))
        return out

    def analyze(self, resources: Sequence[Mapping[str, Any]], stack: str = "",
                requests: Sequence[analyzer_pb2.AnalyzeRequest] | None = None) -> tuple[list[Diagnostic], int]:
        """``Analyze`` every resource, ``in_flight`` calls at once (the engine, too, analyzes
        resources from parallel steps). Requests go out as serialized ``AnalyzeRequest`` bytes and
        an empty answer (no diagnostic) is not decoded: the client does no more protobuf work than
        the engine's Go client would. A few calls in flight from one thread keep the pack busy
        without the client's threads fighting over the interpreter: on 2 CPUs, 4 in flight judged
        2.4x as many resources per second as 1, and 16 or 64 fewer than 4 (the pack's gRPC
        server then spends more per call)."""
        reqs = [q.SerializeToString() for q in (requests if requests is not None
                                                 else [self._request(r) for r in resources])]
        answers: list[bytes] = [b""] * len(reqs)
        pending: deque[tuple[int, Any]] = deque()
        call = self._analyze_raw
        for i, q in enumerate(reqs):
            pending.append((i, call.future(q)))
            if len(pending) >= self.in_flight:
                j, fut = pending.popleft()
                answers[j] = fut.result()
        while pending:
            j, fut = pending.popleft()
            answers[j] = fut.result()
        out: list[Diagnostic] = []
        na = 0
        for r, raw in zip(resources, answers, strict=True):
            if raw:
                resp = analyzer_pb2.AnalyzeResponse.FromString(raw)
                out += self._diags(resp, r["urn"], stack)
                na += len(resp.not_applicable)
        return out, na

    def analyze_stack(self, resources: Sequence[Mapping[str, Any]], stack: str = "",
                      requests: Sequence[analyzer_pb2.AnalyzeRequest] | None = None) -> list[Diagnostic]:
        """``AnalyzeStack`` as the engine calls it: each resource with its final properties (the inputs
        and, where the preview recorded them, a read's outputs) and its properties' dependencies."""
        reqs = requests if requests is not None else [self._request(r) for r in resources]
        req = analyzer_pb2.AnalyzeStackRequest(resources=[
            analyzer_pb2.AnalyzerResource(
                type=q.type, urn=q.urn, name=q.name,
                properties=_struct({**(r.get("inputs") or {}), **r["outputs"]}) if r.get("outputs") else q.properties,
                parent=q.options.parent, options=q.options,
                propertyDependencies={k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                                      for k, v in (r.get("dependencies") or {}).items()})
            for q, r in zip(reqs, resources, strict=True)])
        return self._diags(self.stub.AnalyzeStack(req), "", stack)

    def judge(self, stack: str, resources: Sequence[Mapping[str, Any]]) -> StackResult:
        t0 = time.perf_counter()
        self.configure_stack(stack)
        requests = [self._request(r) for r in resources]
        diags, na = self.analyze(resources, stack, requests)
        diags += self.analyze_stack(resources, stack, requests)
        return StackResult(stack, len(resources), diags, na, time.perf_counter() - t0)


def judge_stacks(stacks: Iterable[tuple[str, Sequence[Mapping[str, Any]]]], *, workers: int | None = None,
                 config: Mapping[str, str] | None = None,
                 policy_config: Mapping[str, Mapping[str, Any]] | None = None,
                 pack_dir: Path = PACK_DIR) -> tuple[list[StackResult], list[dict[str, Any]]]:
    """Judge every stack through the analyzer interface with ``workers`` pack processes.

    Returns the per-stack results in input order and the pack's policy list (GetAnalyzerInfo).
    """
    todo = list(stacks)
    if not todo:
        with PackProcess(pack_dir=pack_dir, config=config, policy_config=policy_config) as p:
            return [], p.policies()
    n = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    packs: list[PackProcess] = []
    was_enabled = gc.isenabled()
    gc.disable()  # many short-lived messages, no cycles: full collections only cost time here
    try:
        with ThreadPoolExecutor(n) as pool:
            starting = [pool.submit(PackProcess, pack_dir=pack_dir, stack=todo[i][0], config=config,
                                    policy_config=policy_config) for i in range(n)]
            packs = [f.result() for f in starting]
            # largest stacks first, each pack taking the next one when it is free: no pack idles
            # at the end while another still has a queue of its own
            queue = iter(sorted(todo, key=lambda t: -len(t[1])))
            lock = threading.Lock()

            def run(i: int) -> list[StackResult]:
                done = []
                while True:
                    with lock:
                        item = next(queue, None)
                    if item is None:
                        return done
                    done.append(packs[i].judge(*item))

            chunks = list(pool.map(run, range(n)))
        by_name = {r.stack: r for chunk in chunks for r in chunk}
        return [by_name[name] for name, _ in todo], packs[0].policies()
    finally:
        if was_enabled:
            gc.enable()
        for p in packs:
            p.close()
