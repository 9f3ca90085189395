#!/usr/bin/env python3
"""Ansible dynamic inventory: the city's hosts, from the registry and the stack outputs.

    JIYUE_CITY=inventories/dalian JIYUE_OUTPUTS=outputs.json JIYUE_CONNECTION=connection.yaml \
        ansible-inventory -i playbooks/inventory/city.py --graph

JIYUE_LAB=<lab dir> instead of JIYUE_OUTPUTS and JIYUE_CONNECTION uses a rehearsal lab's.
"""

import json
import os
import sys
from pathlib import Path

from jiyue.ipam import plan
from jiyue.registry import load_city
from migration.inventory import Connection, build_inventory, read_outputs


def main() -> int:
    if "--host" in sys.argv:
        print("{}")  # every host's vars are in --list's _meta
        return 0
    model = load_city(os.environ.get("JIYUE_CITY") or None)
    lab = os.environ.get("JIYUE_LAB")
    if lab:
        outputs, conn = read_outputs(Path(lab) / "outputs.json"), Connection.from_lab(Path(lab))
    else:
        outputs = read_outputs(Path(os.environ["JIYUE_OUTPUTS"]))
        conn = Connection.from_file(Path(os.environ["JIYUE_CONNECTION"]))
    inv = build_inventory(model, plan(model), outputs, conn)["all"]
    result = {"_meta": {"hostvars": {h: {**inv["vars"], **v} for h, v in inv["hosts"].items()}}}
    for name, grp in inv["children"].items():
        result[name] = {"hosts": sorted(grp["hosts"]), "vars": grp.get("vars", {})}
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
