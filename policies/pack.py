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
#: what every rule's pack config may hold: the city's facts file (``core.facts_path``), and the
#: further database ports and external network names some rules also judge by
CONFIG_PROPERTIES: dict[str, dict[str, Any]] = {
    "facts": {"type": "string"},
    "dbPorts": {"type": "array", "items": {"type": "integer"}},
    "externalNetworks": {"type": "array", "items": {"type": "string"}},
}
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
        config = args.get_config()
        cache = getattr(_REQUEST, "cache", None)
        key = ("resource", args.urn, id(args.props), repr(config))
        hit = cache.get(key) if cache is not None else None
        if hit is None:  # the resource and its context, once per request (the same for every rule)
            r = Resource(args.resource_type, args.name, args.urn, args.props, args.opts.parent if args.opts else None)
            hit = (r, context_for(args.urn, config, r), args.props)
            if cache is not None:
                cache[key] = hit
        r, ctx, _ = hit
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


def policies() -> PolicyList:
    pp = _pp()
    out = []
    for mod in ALL:
        m: RuleMeta = mod.META
        common = dict(
            name=m.name, description=m.description,
            enforcement_level=pp.EnforcementLevel(m.enforcement),
            severity=pp.Severity(m.severity), framework=_framework(m), tags=m.tags,
            remediation_steps=m.remediation,
            config_schema=pp.PolicyConfigSchema(properties=CONFIG_PROPERTIES),
        )
        if m.kind == "stack":
            out.append(pp.StackValidationPolicy(validate=_stack_validate(mod), **common))
        else:
            out.append(pp.ResourceValidationPolicy(validate=_resource_validate(mod), **common))
    return PolicyList(out, {m.META.name: getattr(m, "TYPES", None) for m in ALL if m.META.kind == "resource"})


def record_configure_stack() -> None:
    """Also remember the stack name the engine sends in ConfigureStack.

    pulumi-policy's servicer keeps only the stack's tags from that call; the pack reads the stack
    from each URN first, and this makes the stack name available when a URN does not tell (and
    for the stack rules). Wraps the method; behaviour is otherwise unchanged.
    """
    from pulumi_policy import policy as _policy

    servicer = _policy._PolicyAnalyzerServicer
    original = servicer.ConfigureStack
    if getattr(original, "_jiyue_wrapped", False):
        return

    def configure_stack(self: Any, request: Any, context: Any) -> Any:
        RUNTIME.configure_stack(getattr(request, "stack", ""))
        return original(self, request, context)

    configure_stack._jiyue_wrapped = True  # type: ignore[attr-defined]
    servicer.ConfigureStack = configure_stack


#: what the servicer is serving on this thread: the request-scoped memo, and the resource type
#: while it serves ``Analyze`` (see :func:`install_shortcuts`)
_REQUEST = threading.local()


class _RequestMemo:
    """Per-request memo of one function: the same input object gives the same result object.

    pulumi-policy's servicer turns a resource's protobuf properties into a proxied dict once per
    *policy* (``MessageToDict`` -> ``deserialize_properties`` -> ``unknown_checking_proxy``), so a
    pack of 18 rules does that work 18 times per resource, and 6 times per resource of the stack in
    ``AnalyzeStack``. Within one request the inputs do not change and the rules only read them, so
    the pack memoises those three steps per request (thread-local, dropped when the request ends).
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        cache = getattr(_REQUEST, "cache", None)
        if cache is None or args or kwargs:
            return self.fn(obj, *args, **kwargs)
        key = (id(self), id(obj))
        hit = cache.get(key)
        if hit is None:
            hit = cache[key] = (obj, self.fn(obj))  # keep obj alive: its id stays unique
        return hit[1]


class PolicyList(list):
    """The pack's policy list as the servicer holds it. Iterated while the servicer answers an
    ``Analyze`` for a resource of type T (on that thread), it yields only the resource policies
    that judge T: the others would return at once (``TYPES`` says they do not look at T), but only
    after the SDK built their arguments, which is most of a request's cost. Iterated anywhere
    else (``GetAnalyzerInfo``, ``AnalyzeStack``, the SDK's own checks), it is the whole list."""

    def __init__(self, policies: Iterable[Any], types: Mapping[str, frozenset[str] | None]) -> None:
        super().__init__(policies)
        self._types = dict(types)
        self._by_type: dict[str, list[Any]] = {}

    def __iter__(self) -> Any:
        t = getattr(_REQUEST, "resource_type", None)
        if t is None:
            return super().__iter__()
        chosen = self._by_type.get(t)
        if chosen is None:
            # a policy without TYPES judges every type; one not in the map is left to the SDK
            chosen = self._by_type[t] = [p for p in super().__iter__()
                                         if self._types.get(p.name) is None or t in self._types[p.name]]
        return iter(chosen)


def _env_key() -> tuple[str | None, ...]:
    return tuple(os.environ.get(k) for k in ("PULUMI_CONFIG", "PULUMI_PROJECT", "PULUMI_STACK", "PULUMI_DRY_RUN",
                                             "PULUMI_ORGANIZATION"))


def install_shortcuts() -> bool:
    """Make pulumi-policy's servicer cheaper per request without changing a single answer.

    1. the property decoding memo (:class:`_RequestMemo`);
    2. the runtime settings: the servicer re-reads the engine's environment (``PULUMI_CONFIG``,
       ``PULUMI_STACK`` ...) and reconfigures ``pulumi.runtime`` at *every* request (a third of
       the pack's time, mostly ``inspect.signature``); the environment of a pack process never
       changes, so this runs once per distinct environment;
    3. per resource type, only the policies that judge it (:class:`PolicyList`, used by
       :func:`policies`).

    Together they take the pack's own work from 0.80 to about 0.2 ms per resource (in-process,
    without gRPC; ``docs/security-staff.md``, Speed).
    Set ``JIYUE_PACK_SHORTCUTS=0`` to run the SDK unchanged; a test judges the same graph both ways.
    """
    if os.environ.get("JIYUE_PACK_SHORTCUTS", "1") == "0":
        return False
    from google.protobuf import json_format
    from pulumi_policy import policy as _policy

    servicer = _policy._PolicyAnalyzerServicer
    if getattr(servicer.Analyze, "_jiyue_wrapped", False):
        return True

    class _JsonFormat:
        MessageToDict = _RequestMemo(json_format.MessageToDict)

        def __getattr__(self, name: str) -> Any:
            return getattr(json_format, name)

    _policy.json_format = _JsonFormat()  # type: ignore[assignment]
    _policy.deserialize_properties = _RequestMemo(_policy.deserialize_properties)
    _policy.unknown_checking_proxy = _RequestMemo(_policy.unknown_checking_proxy)

    configure = servicer._configure_runtime_settings
    done: set[tuple[str | None, ...]] = set()
    lock = threading.Lock()

    def configure_once(self: Any) -> None:
        key = _env_key()
        if key in done:
            return
        with lock:
            if key not in done:
                configure(self)
                done.add(key)

    servicer._configure_runtime_settings = configure_once

    def scoped(method: Callable[..., Any], by_type: bool) -> Callable[..., Any]:
        def run(self: Any, request: Any, context: Any) -> Any:
            _REQUEST.cache = {}
            _REQUEST.resource_type = request.type if by_type else None
            try:
                return method(self, request, context)
            finally:
                _REQUEST.cache = None
                _REQUEST.resource_type = None

        run._jiyue_wrapped = True  # type: ignore[attr-defined]
        return run

    servicer.Analyze = scoped(servicer.Analyze, by_type=True)
    servicer.AnalyzeStack = scoped(servicer.AnalyzeStack, by_type=False)
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
