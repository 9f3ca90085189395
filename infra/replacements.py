"""Which inputs of an OpenStack resource force its replacement, as the installed pulumi-openstack says.

The SDK is generated from the provider's schema, and each argument's docstring ends with what a
change does: "Changing this creates a new server" (the provider's ForceNew: the engine deletes the
resource and creates another) or "Changing this updates ..." / "resizes" / "rebuilds the existing
server" (in place). The table is read from the docstrings of the resource's ``<Name>Args`` class at
run time, so it is always the installed SDK's; :func:`inputs` is every argument the class has
(engine names, camelCase), so a test can hold the program to arguments the table knows.

A type token ``openstack:compute/instance:Instance`` names ``pulumi_openstack.compute.InstanceArgs``;
the provider's own type ``pulumi:providers:openstack`` names ``pulumi_openstack.ProviderArgs``.
"""

from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass

PACKAGE = "pulumi_openstack"
PROVIDER = "pulumi:providers:openstack"
# "creates a new server", "will create a new ...", "creates new quota ...", "forces a new resource"
_FORCES_NEW = re.compile(r"Changing this (?:value )?(?:creates|will create|forces)(?: a)? new\b")


@dataclass(frozen=True)
class Arguments:
    """One resource type's arguments (engine names) and those whose change replaces the resource."""

    inputs: frozenset[str]
    replace: frozenset[str]


def _args_class(type_token: str) -> type | None:
    if type_token == PROVIDER:
        return getattr(importlib.import_module(PACKAGE), "ProviderArgs", None)
    parts = type_token.split(":")
    if len(parts) != 3 or parts[0] != "openstack":
        return None  # a component of the program, or another package's
    module = parts[1].split("/", 1)[0]
    try:
        mod = importlib.import_module(f"{PACKAGE}.{module}")
    except ImportError:
        return None
    return getattr(mod, f"{parts[2]}Args", None)


@functools.cache
def arguments(type_token: str) -> Arguments | None:
    """The arguments of ``type_token`` in the installed SDK; None for a type it does not define."""
    cls = _args_class(type_token)
    if cls is None:
        return None
    inputs, replace = set(), set()
    for attr in vars(cls).values():
        getter = getattr(attr, "fget", None)
        name = getattr(getter, "_pulumi_name", None)
        if name is None:
            continue
        inputs.add(name)
        if _FORCES_NEW.search(" ".join((getter.__doc__ or "").split())):
            replace.add(name)
    return Arguments(frozenset(inputs), frozenset(replace))


def forces_replacement(type_token: str, changed: list[str]) -> list[str]:
    """Those of the ``changed`` inputs of a ``type_token`` resource whose change replaces it."""
    args = arguments(type_token)
    return [] if args is None else [k for k in changed if k in args.replace]
