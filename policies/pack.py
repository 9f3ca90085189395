"""The rules as CrossGuard policies, and the same rules called directly.

``policies()`` turns every rule module into a ``ResourceValidationPolicy`` or a
``StackValidationPolicy`` carrying its severity, enforcement level, compliance framework entry
(MLPS 2.0 clause), requirement ids (as tags) and remediation steps: all fields the installed
pulumi-policy supports. ``judge_direct()`` runs the same rule functions in-process over resource
dicts (tests, the benchmark's "direct" figure).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .core import FRAMEWORK_NAME, FRAMEWORK_VERSION, RUNTIME, Context, Resource, RuleMeta, context_for
from .rules import ALL

PACK_NAME = "jiyue-city-dc"
SPEC_URL = "https://openstd.samr.gov.cn/bzgk/gb/ (GB/T 22239-2019)"


def _pp():  # imported lazily: the direct path must not need the policy SDK loaded
    import pulumi_policy

    return pulumi_policy


def _framework(meta: RuleMeta):
    pp = _pp()
    return pp.PolicyComplianceFramework(name=FRAMEWORK_NAME, version=FRAMEWORK_VERSION,
                                        reference=meta.control, specification=meta.control_title)


def _resource_validate(mod: ModuleType) -> Callable[[Any, Any], None]:
    types = getattr(mod, "TYPES", None)
    check = mod.check

    def validate(args: Any, report_violation: Any) -> None:
        if types is not None and args.resource_type not in types:
            return
        r = Resource(args.resource_type, args.name, args.urn, args.props, args.opts.parent if args.opts else None)
        ctx = context_for(args.urn, args.get_config(), r)
        for message in check(r, ctx):
            report_violation(message, None)

    return validate


def _stack_validate(mod: ModuleType) -> Callable[[Any, Any], None]:
    check_stack = mod.check_stack

    def validate(args: Any, report_violation: Any) -> None:
        resources = [Resource(p.resource_type, p.name, p.urn, p.props, p.parent.urn if p.parent else None)
                     for p in args.resources]
        urn = next((r.urn for r in resources if r.urn), "")
        ctx = context_for(urn, args.get_config())
        for message, at in check_stack(resources, ctx):
            report_violation(message, at)

    return validate


def policies() -> list[Any]:
    pp = _pp()
    out = []
    for mod in ALL:
        m: RuleMeta = mod.META
        common = dict(
            name=m.name, description=m.description,
            enforcement_level=pp.EnforcementLevel(m.enforcement),
            severity=pp.Severity(m.severity), framework=_framework(m), tags=m.tags,
            remediation_steps=m.remediation,
            config_schema=pp.PolicyConfigSchema(properties={"city": {"type": "string"}}),
        )
        if m.kind == "stack":
            out.append(pp.StackValidationPolicy(validate=_stack_validate(mod), **common))
        else:
            out.append(pp.ResourceValidationPolicy(validate=_resource_validate(mod), **common))
    return out


def record_configure_stack() -> None:
    """Also remember the stack name and config the engine sends in ConfigureStack.

    pulumi-policy's servicer keeps only the stack's tags from that call; the pack reads the zone
    from each URN first, and this makes the stack name and ``jiyue:city`` available when a URN
    does not tell (and for the stack rules). Wraps the method; behaviour is otherwise unchanged.
    """
    from pulumi_policy import policy as _policy

    servicer = _policy._PolicyAnalyzerServicer
    original = servicer.ConfigureStack
    if getattr(original, "_jiyue_wrapped", False):
        return

    def configure_stack(self: Any, request: Any, context: Any) -> Any:
        RUNTIME.configure_stack(getattr(request, "stack", ""), dict(getattr(request, "config", {}) or {}))
        return original(self, request, context)

    configure_stack._jiyue_wrapped = True  # type: ignore[attr-defined]
    servicer.ConfigureStack = configure_stack


class _RequestMemo:
    """Per-request memo of one function: the same input object gives the same result object.

    pulumi-policy's servicer turns a resource's protobuf properties into a proxied dict once per
    *policy* (``MessageToDict`` -> ``deserialize_properties`` -> ``unknown_checking_proxy``), so a
    pack of 18 rules does that work 18 times per resource, and 6 times per resource of the stack in
    ``AnalyzeStack``. Within one request the inputs do not change and the rules only read them, so
    the pack memoises those three steps per request (thread-local, dropped when the request ends).
    Set ``JIYUE_PACK_MEMO=0`` to run the SDK unchanged.
    """

    def __init__(self, fn: Callable[..., Any], local: threading.local) -> None:
        self.fn = fn
        self.local = local

    def __call__(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        cache = getattr(self.local, "cache", None)
        if cache is None or args or kwargs:
            return self.fn(obj, *args, **kwargs)
        key = (id(self), id(obj))
        hit = cache.get(key)
        if hit is None:
            hit = cache[key] = (obj, self.fn(obj))  # keep obj alive: its id stays unique
        return hit[1]


def memoise_property_decoding() -> bool:
    """Install the per-request memo in pulumi-policy's servicer (see :class:`_RequestMemo`)."""
    if os.environ.get("JIYUE_PACK_MEMO", "1") == "0":
        return False
    from pulumi_policy import policy as _policy

    servicer = _policy._PolicyAnalyzerServicer
    if getattr(servicer.Analyze, "_jiyue_wrapped", False):
        return True
    local = threading.local()

    class _JsonFormat:
        MessageToDict = _RequestMemo(_policy.json_format.MessageToDict, local)

        def __getattr__(self, name: str) -> Any:
            return getattr(json_format, name)

    from google.protobuf import json_format

    _policy.json_format = _JsonFormat()  # type: ignore[assignment]
    _policy.deserialize_properties = _RequestMemo(_policy.deserialize_properties, local)
    _policy.unknown_checking_proxy = _RequestMemo(_policy.unknown_checking_proxy, local)

    def scoped(method: Callable[..., Any]) -> Callable[..., Any]:
        def run(self: Any, request: Any, context: Any) -> Any:
            local.cache = {}
            try:
                return method(self, request, context)
            finally:
                local.cache = None

        run._jiyue_wrapped = True  # type: ignore[attr-defined]
        return run

    servicer.Analyze = scoped(servicer.Analyze)
    servicer.AnalyzeStack = scoped(servicer.AnalyzeStack)
    return True


# --------------------------------------------------------------------------- direct judging


@dataclass
class Violation:
    rule: str
    message: str
    urn: str
    stack: str


def judge_direct(stack: str, resources: Iterable[Mapping[str, Any] | Resource],
                 config: Mapping[str, Any] | None = None) -> list[Violation]:
    """Run every rule in-process, as the pack would, over one stack's resources."""
    rs = [r if isinstance(r, Resource) else Resource.from_dict(r) for r in resources]
    config = config or {}
    out: list[Violation] = []
    resource_rules = [m for m in ALL if m.META.kind == "resource"]
    for r in rs:
        ctx: Context = context_for(r.urn or f"urn:pulumi:{stack}::x", config, r)
        for mod in resource_rules:
            types = getattr(mod, "TYPES", None)
            if types is not None and r.type not in types:
                continue
            out += [Violation(mod.META.name, msg, r.urn, stack) for msg in mod.check(r, ctx)]
    ctx = context_for(f"urn:pulumi:{stack}::x", config)
    for mod in ALL:
        if mod.META.kind == "stack":
            out += [Violation(mod.META.name, msg, at or "", stack) for msg, at in mod.check_stack(rs, ctx)]
    return out
