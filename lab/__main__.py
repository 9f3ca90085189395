"""``python -m lab``: the engine's own small command line (the ``jiyue lab`` commands built
on the city model live in the jiyue CLI).

    python -m lab image                       build (or find) the golden image
    python -m lab status [--name N] [--json]  what a lab recorded, and which hosts run
    python -m lab ssh HOST [--name N] [-- CMD]
    python -m lab down [--name N]             remove exactly what the lab recorded
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from lab.errors import LabError
from lab.image import ensure_image
from lab.lab import DEFAULT_NAME, Lab


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("image", help="build (or find) the golden image")
    for name in ("status", "down", "ssh"):
        p = sub.add_parser(name)
        p.add_argument("--name", default=DEFAULT_NAME, help="lab name (default: %(default)s)")
        if name == "status":
            p.add_argument("--json", action="store_true")
        if name == "ssh":
            p.add_argument("host")
            p.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.command == "image":
            result = ensure_image()
            print(result.path)
            return 0
        lab = Lab(args.name)
        if args.command == "status":
            status = lab.status()
            if args.json:
                print(json.dumps(status.to_json(), indent=2))
            else:
                print(f"lab {status.name}: {'recorded' if status.exists else 'nothing recorded'}")
                for h in status.hosts:
                    state = "running" if h.running else "STOPPED"
                    print(f"  {h.name:20} {state:8} {h.netns:30} {h.address or '-'}")
                for item in status.leftovers:
                    print(f"  incomplete: {item}")
            return 0
        if args.command == "down":
            lab.down()
            return 0
        cmd = [c for c in args.cmd if c != "--"] if args.cmd else []
        argv_ssh = lab.ssh_argv(args.host, " ".join(cmd) if cmd else None)
        os.execvp(argv_ssh[0], argv_ssh)
    except LabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
