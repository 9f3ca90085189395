"""The rules as CrossGuard policies, and the same rules called directly.

``policies()`` turns every rule module into a ``ResourceValidationPolicy`` or a
``StackValidationPolicy`` carrying its severity, enforcement level, compliance framework entry
(its citation: an MLPS 2.0 clause, the city's plan or 分级保护), requirement ids (as tags) and
remediation steps: all fields the installed pulumi-policy supports. ``judge_direct()`` runs the
same rule functions in-process over resource dicts (tests, the benchmark's "direct" figure). What
the pack changes inside pulumi-policy is in ``sdk.py``, for one version only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pulumi_policy as pp

from .core import Context, Resource, RuleMeta, context_for
from .rules import ALL
from .sdk import PolicyList, request_cache

PACK_NAME = "jiyue-city-dc"
#: what every rule's pack config may hold: the city's facts file (``core.facts_path``), and the
#: further database ports and external network names some rules also judge by
CONFIG_PROPERTIES: dict[str, dict[str, Any]] = {
    "facts": {"type": "string"},
    "dbPorts": {"type": "array", "items": {"type": "integer"}},
    "externalNetworks": {"type": "array", "items": {"type": "string"}},
}


def _framework(meta: RuleMeta) -> pp.PolicyComplianceFramework:
    return pp.PolicyComplianceFramework(**meta.citation.compliance_framework())


def _resource_validate(mod: ModuleType) -> pp.ResourceValidation:
    types = getattr(mod, "TYPES", None)
    check = mod.check

    def validate(args: pp.ResourceValidationArgs, report_violation: pp.ReportViolation) -> None:
        if types is not None and args.resource_type not in types:
            return
        config = args.get_config()
        cache = request_cache()
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


def _stack_validate(mod: ModuleType) -> pp.StackValidation:
    check_stack = mod.check_stack

    def validate(args: pp.StackValidationArgs, report_violation: pp.ReportViolation) -> None:
        resources = [Resource(p.resource_type, p.name, p.urn, p.props, p.parent.urn if p.parent else None,
                              {k: tuple(d.urn for d in v) for k, v in (p.property_dependencies or {}).items()})
                     for p in args.resources]
        urn = next((r.urn for r in resources if r.urn), "")
        ctx = context_for(urn, args.get_config())
        for message, at in check_stack(resources, ctx):
            report_violation(message, at)

    return validate


def policies() -> PolicyList:
    out: list[pp.Policy] = []
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
