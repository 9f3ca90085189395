"""The real program, run in-process under ``pulumi.runtime.Mocks``: what ``jiyue infra preview`` shows.

API (also what the CrossGuard pack's tests feed to its analyzer)::

    stacks(model) -> list[str]
    preview(model, stack) -> StackPreview(stack, resources=[{urn, type, name, parent, inputs}], outputs)

``resources`` are in registration order, the root ``pulumi:pulumi:Stack`` first; ``inputs`` are the
inputs as the engine receives them (camelCase keys); ``outputs`` are the stack outputs, resolved.

Running many programs in one process: the SDK keeps its state in module globals (``SETTINGS``,
the root-resource context variable) and the asyncio loop. Each preview resets them
(``settings.reset_options``, ``set_mocks`` with a fresh monitor), runs the program on a fresh event
loop with a one-thread executor (so registration order, and the output, is deterministic), waits
for every outstanding RPC and output (``run_pulumi_func``), and closes the loop. The cyclic garbage
collector is paused while a stack runs: the SDK makes many short-lived cyclic objects, and full
collections over a growing heap made the cost per resource grow with the stack (measured).
A department stack's StackReference gets the outputs of its foundation, previewed first (cached
per model).
"""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func

from jiyue.ipam import IpPlan
from jiyue.ipam import plan as ip_plan
from jiyue.registry import CityModel
from jiyue.stacks import StackName, check
from jiyue.stacks import stacks as _stacks

from . import program
from .config import Settings
from .mocks import PreviewMocks, RecordingMonitor
from .plan import PlanError

PULUMI_WRITTEN_FOR = "3.272.0"
try:  # the one private function of the SDK this module runs on: it waits for a program on our own loop
    from pulumi.runtime.sync_await import _sync_await
except ImportError as exc:
    raise ImportError(
        f"infra/preview.py needs pulumi.runtime.sync_await._sync_await, private in the Pulumi SDK, which the "
        f"installed pulumi {importlib.metadata.version('pulumi')} lacks (written against pulumi {PULUMI_WRITTEN_FOR}, "
        "which has it): install that pulumi, or adapt run_mocked() to this one") from exc

PROJECT = "jiyue"


@dataclass
class StackPreview:
    stack: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # by URN: protect, aliases, ... (infra.mocks)

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "resources": self.resources}


def stacks(model: CityModel) -> list[str]:
    return _stacks(model)


class _Cache:
    """The IP plan and the foundations' outputs of the last models previewed."""

    def __init__(self) -> None:
        self._items: dict[int, tuple[CityModel, IpPlan, dict[str, dict[str, Any]]]] = {}

    def get(self, model: CityModel) -> tuple[IpPlan, dict[str, dict[str, Any]]]:
        hit = self._items.get(id(model))
        if hit is None or hit[0] is not model:
            ip = ip_plan(model)
            if ip.errors:
                raise PlanError("the IP plan has errors; run `jiyue validate`: " + ip.errors[0].render())
            if len(self._items) >= 8:
                self._items.pop(next(iter(self._items)))
            hit = self._items[id(model)] = (model, ip, {})
        return hit[1], hit[2]


_CACHE = _Cache()


def preview(model: CityModel, stack: str, *, ip: IpPlan | None = None) -> StackPreview:
    """Run stack ``stack``'s program under mocks; ValueError if the city has no such stack."""
    name = check(model, stack)
    cached_ip, foundations = _CACHE.get(model)
    ip = ip or cached_ip

    def foundation_outputs(ref: str) -> dict[str, Any]:
        short = ref.rsplit("/", 1)[-1]
        if short not in foundations:
            raise RuntimeError(f"{ref}: not previewed before its department stack")
        return foundations[short]

    if not name.is_foundation and str(name.foundation) not in foundations:
        foundations[str(name.foundation)] = _run(model, ip, name.foundation, foundation_outputs).outputs
    result = _run(model, ip, name, foundation_outputs)
    if name.is_foundation:
        foundations[str(name)] = result.outputs
    return result


def preview_all(model: CityModel, names: list[str] | None = None) -> list[StackPreview]:
    return [preview(model, s) for s in (names if names is not None else stacks(model))]


def _run(model: CityModel, ip: IpPlan, name: StackName, stack_outputs: Any) -> StackPreview:
    mocks = PreviewMocks(str(name), external_cidr=model.city.egress.external_cidr, stack_outputs=stack_outputs)
    settings = Settings(stack=name)
    return run_mocked(str(name), lambda: program.run(model, ip, settings), mocks)


def run_mocked(stack: str, fn: Callable[[], None], mocks: PreviewMocks) -> StackPreview:
    """Run ``fn`` (a Pulumi program) as stack ``stack`` under ``mocks``; its resources and outputs."""
    monitor = RecordingMonitor(mocks)
    previous = asyncio.get_event_loop_policy().get_event_loop() if _has_loop() else None
    loop = asyncio.new_event_loop()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jiyue-preview")
    loop.set_default_executor(executor)
    asyncio.set_event_loop(loop)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        pulumi_settings.reset_options(project=PROJECT, stack=stack, preview=True)
        pulumi_mocks.set_mocks(mocks, project=PROJECT, stack=stack, preview=True, monitor=monitor)
        pulumi_settings.SETTINGS.outputs.clear()
        _sync_await(run_pulumi_func(fn))
        root = pulumi_settings.get_root_resource()
        exported = dict(getattr(root, "outputs", {}) or {})
        outputs = _sync_await(pulumi.Output.from_input(exported).future()) if exported else {}
    finally:
        pulumi_settings.reset_options()
        loop.run_until_complete(loop.shutdown_asyncgens())
        executor.shutdown(wait=True)
        loop.close()
        asyncio.set_event_loop(previous)
        if was_enabled:
            gc.enable()
    return StackPreview(stack=stack, resources=monitor.records, outputs=_plain(outputs or {}), options=monitor.options)


def _has_loop() -> bool:
    try:
        asyncio.get_event_loop_policy().get_event_loop()
        return True
    except RuntimeError:
        return False


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
