"""Every change the pack makes to pulumi-policy's private internals, for the one version they were
written against.

pulumi-policy's servicer (``pulumi_policy.policy._PolicyAnalyzerServicer``) has no hooks for what
the pack needs, so the pack changes it in place:

1. ``ConfigureStack`` also records the stack name (the servicer keeps only the stack's tags), for
   when a URN does not tell the stack (:data:`policies.core.RUNTIME`);
2. shortcuts that change no answer, only the cost of a request:
   - the property decoding memo (:class:`RequestMemo`): the servicer decodes a resource's
     properties once per *policy*; within one request the inputs do not change and the rules only
     read them, so the three decoding steps are memoised per request;
   - the runtime settings once: the servicer re-reads the engine's environment (``PULUMI_CONFIG``,
     ``PULUMI_STACK`` ...) and reconfigures ``pulumi.runtime`` at *every* request (a third of the
     pack's time, mostly ``inspect.signature``); a pack process's environment never changes, so
     this runs once per distinct environment;
   - per resource type, only the policies that judge it (:class:`PolicyList`).

All of it reaches into private names, so :func:`patch` applies it only when the installed
pulumi-policy is exactly :data:`WRITTEN_FOR` (``requirements.txt`` pins it). With any other
version it warns and leaves the SDK as it is: every answer stays right (a URN always names its
stack, and ``PULUMI_STACK`` is the engine's stack), only slower. ``JIYUE_PACK_SHORTCUTS=0`` leaves
out the shortcuts (a test judges the same graph both ways).
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from google.protobuf import json_format
from pulumi_policy import policy as sdk_policy

from .core import RUNTIME

WRITTEN_FOR = "1.21.0"  # the pulumi-policy whose internals this module changes
SHORTCUTS_ENV = "JIYUE_PACK_SHORTCUTS"


class SdkVersionWarning(RuntimeWarning):
    """pulumi-policy is not the version the pack's changes were written for: they are left out."""


def installed_version() -> str:
    try:
        return importlib.metadata.version("pulumi-policy")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


#: what the servicer is serving on this thread: the request-scoped memo, and the resource type
#: while it serves ``Analyze``
_REQUEST = threading.local()


def request_cache() -> dict[Any, Any] | None:
    """The memo of the request this thread serves (None outside a request, or unpatched)."""
    return getattr(_REQUEST, "cache", None)


class RequestMemo:
    """Per-request memo of one function: the same input object gives the same result object."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        cache = request_cache()
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
    else (``GetAnalyzerInfo``, ``AnalyzeStack``, the SDK's own checks, an unpatched servicer), it
    is the whole list."""

    def __init__(self, policies: Iterable[Any], types: Mapping[str, frozenset[str] | None]) -> None:
        super().__init__(policies)
        self._types = dict(types)
        self._by_type: dict[str, list[Any]] = {}

    def __iter__(self) -> Iterator[Any]:
        t = getattr(_REQUEST, "resource_type", None)
        if t is None:
            return super().__iter__()
        chosen = self._by_type.get(t)
        if chosen is None:
            # a policy without TYPES judges every type; one not in the map is left to the SDK
            chosen = self._by_type[t] = [p for p in super().__iter__()
                                         if self._types.get(p.name) is None or t in self._types[p.name]]
        return iter(chosen)


def patch() -> bool:
    """Change the servicer as the module docstring says if pulumi-policy is :data:`WRITTEN_FOR`;
    True if it did (or had), False (with a :class:`SdkVersionWarning`) if it left the SDK as it is."""
    version = installed_version()
    if version != WRITTEN_FOR:
        warnings.warn(f"jiyue policy pack: pulumi-policy {version} is installed, its internals were changed for "
                      f"{WRITTEN_FOR} only: running the SDK unchanged (correct, slower); install "
                      f"pulumi-policy=={WRITTEN_FOR} (policies/requirements.txt)", SdkVersionWarning, stacklevel=2)
        return False
    servicer = sdk_policy._PolicyAnalyzerServicer
    _record_configure_stack(servicer)
    if os.environ.get(SHORTCUTS_ENV, "1") != "0":
        _install_shortcuts(servicer)
    return True


def _wrapped(fn: Any) -> bool:
    return bool(getattr(fn, "_jiyue_wrapped", False))


def _record_configure_stack(servicer: type) -> None:
    original = servicer.ConfigureStack
    if _wrapped(original):
        return

    def configure_stack(self: Any, request: Any, context: Any) -> Any:
        RUNTIME.configure_stack(getattr(request, "stack", ""))
        return original(self, request, context)

    configure_stack._jiyue_wrapped = True  # type: ignore[attr-defined]
    servicer.ConfigureStack = configure_stack


def _env_key() -> tuple[str | None, ...]:
    return tuple(os.environ.get(k) for k in ("PULUMI_CONFIG", "PULUMI_PROJECT", "PULUMI_STACK", "PULUMI_DRY_RUN",
                                             "PULUMI_ORGANIZATION"))


class _JsonFormat:
    """``google.protobuf.json_format`` as the servicer's module sees it, with ``MessageToDict`` memoised."""

    MessageToDict = RequestMemo(json_format.MessageToDict)

    def __getattr__(self, name: str) -> Any:
        return getattr(json_format, name)


def _install_shortcuts(servicer: type) -> None:
    if _wrapped(servicer.Analyze):
        return
    sdk_policy.json_format = _JsonFormat()  # type: ignore[assignment]
    sdk_policy.deserialize_properties = RequestMemo(sdk_policy.deserialize_properties)
    sdk_policy.unknown_checking_proxy = RequestMemo(sdk_policy.unknown_checking_proxy)

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
