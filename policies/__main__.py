"""The jiyue policy pack, as the Pulumi engine starts it.

``pulumi preview --policy-pack policies/`` runs ``python -u -m pulumi.policy <engine> .`` in this
directory, which runs this file; ``PolicyPack(...)`` then serves the analyzer over gRPC and prints
its port on stdout. ``jiyue policy check`` starts it the same way. The rules are in ``rules/``;
``sdk.patch()`` makes pulumi-policy's servicer cheaper per request (for its pinned version only).
"""

import gc
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from pulumi_policy import EnforcementLevel, PolicyPack

_HERE = Path(__file__).resolve().parent


def _load_package() -> ModuleType:
    """Import this directory as a package whatever it is called (the engine may unpack it anywhere)."""
    name = "jiyue_policies"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _HERE / "__init__.py", submodule_search_locations=[str(_HERE)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    # The analyzer builds many short-lived containers per request (decoded properties) and no
    # cycles worth collecting while it serves: collect young objects rarely.
    gc.set_threshold(50_000, 20, 20)
    _load_package()
    pack = importlib.import_module("jiyue_policies.pack")
    importlib.import_module("jiyue_policies.sdk").patch()
    PolicyPack(
        name=pack.PACK_NAME,
        enforcement_level=EnforcementLevel.MANDATORY,
        policies=pack.policies(),
        description="Dalian city data center: isolation, egress, ingress, classified data, DR, IP plan, "
                    "labels, quotas, shared platforms, filing gate (MLPS 2.0 / GB/T 22239-2019 level 3).",
        provider="openstack",
        tags=["mlps-2.0", "gb-t-22239-2019", "jiyue"],
    )


if __name__ == "__main__":
    main()
