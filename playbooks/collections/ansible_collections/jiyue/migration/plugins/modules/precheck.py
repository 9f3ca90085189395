#!/usr/bin/python
# Copyright: jiyue founding engineers; Apache-2.0
"""The checks of a migration's precheck on one host, in one call (see DOCUMENTATION)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: precheck
short_description: The checks of a migration's precheck on one source or target, in one call
description:
  - "On a source: rsync is installed; every data path can be read (its size, C(du -sb)); with
    databases, a PostgreSQL cluster is online and every database of the registry exists (its
    size). Returns the bytes its targets receive from it and its newest online PostgreSQL major."
  - "On a target: rsync is installed; every file system it writes to has room for
    O(needed_bytes); with databases, its PostgreSQL is not older than any of its sources'; nothing
    but the migrated services listens on their ports."
  - "On both: the migration keys earlier runs left (grants in O(authorized_keys), key directories
    under O(key_root)), returned for the driver to take back."
  - Changes nothing, and runs for real in check mode. Every problem found is reported at once,
    each with what to fix.
options:
  name:
    description: The host's name in the messages (its inventory name).
    type: str
    required: true
  side:
    description: Which side of the migration the host is.
    type: str
    choices: [source, target]
    required: true
  data_paths:
    description: On a source, its data paths; on a target, the paths it writes to.
    type: list
    elements: str
    default: []
  databases:
    description: The registry's databases of the host (a source's, or those a target receives).
    type: list
    elements: str
    default: []
  needed_bytes:
    description: On a target, the room every file system it writes to must have.
    type: int
    default: 0
  capacity_factor:
    description: How O(needed_bytes) was reckoned from the sources' data (for the message).
    type: float
    default: 1.2
  source_majors:
    description: On a target, the newest online PostgreSQL major of each source with databases.
    type: dict
    default: {}
  service_ports:
    description: On a target, per migrated service, its ports and the process names allowed on them.
    type: dict
    default: {}
  authorized_keys:
    description: The authorized_keys file the migration keys are granted in.
    type: path
    default: /root/.ssh/authorized_keys
  key_root:
    description: Where targets keep the runs' key directories.
    type: path
    default: /root/.jiyue-migration
author: jiyue founding engineers
"""

RETURN = r"""
ansible_facts:
  description: jiyue_precheck_data_bytes and jiyue_precheck_postgresql_major (a source), and
    jiyue_stale_grants (the keys earlier runs left, "grant <run>" or "key <run>") when there are any.
  returned: success
  type: dict
"""

import os
import re
import shutil
import subprocess

from ansible.module_utils.basic import AnsibleModule


def run(argv):
    proc = subprocess.run(argv, cwd="/", capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def human(n):
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TB"


def cluster_majors(problems, host, side):
    """The newest PostgreSQL major of the host's clusters: on a source the online ones (its
    databases are dumped from them), on a target any (it is started to receive them)."""
    rc, out, err = run(["pg_lsclusters", "--no-header"])
    rows = [line.split() for line in out.splitlines() if line.split() and line.split()[0].isdigit()]
    majors = [int(r[0]) for r in rows if side == "target" or " online" in " ".join(r)]
    if side == "source" and not majors:
        problems.append(f"No PostgreSQL cluster is online on {host} (pg_lsclusters said: {out.strip()} {err.strip()}): "
                        "start it (service postgresql start) so that its databases can be dumped.")
    return max(majors, default=0)


def mount_and_free(path):
    while not os.path.exists(path):
        path = os.path.dirname(path) or "/"
    st = os.statvfs(path)
    mount = os.path.realpath(path)
    while not os.path.ismount(mount):
        mount = os.path.dirname(mount)
    return mount, st.f_bavail * st.f_frsize


def stale_keys(authorized_keys, key_root):
    found = []
    try:
        with open(authorized_keys, encoding="utf-8") as f:
            found += [f"grant {m.group(1)}" for m in (re.search(r" jiyue-migration:(\S+)$", line.rstrip("\n"))
                                                      for line in f) if m]
    except OSError:
        pass
    if os.path.isdir(key_root):
        found += [f"key {name}" for name in sorted(os.listdir(key_root))]
    return found


def main():
    module = AnsibleModule(argument_spec={
        "name": {"type": "str", "required": True},
        "side": {"type": "str", "choices": ["source", "target"], "required": True},
        "data_paths": {"type": "list", "elements": "str", "default": []},
        "databases": {"type": "list", "elements": "str", "default": []},
        "needed_bytes": {"type": "int", "default": 0},
        "capacity_factor": {"type": "float", "default": 1.2},
        "source_majors": {"type": "dict", "default": {}},
        "service_ports": {"type": "dict", "default": {}},
        "authorized_keys": {"type": "path", "default": "/root/.ssh/authorized_keys"},
        "key_root": {"type": "path", "default": "/root/.jiyue-migration"},
    }, supports_check_mode=True)
    p = module.params
    host = p["name"]
    problems = []
    facts = {}
    if shutil.which("rsync") is None:
        problems.append(f"rsync is missing on {host}: install it (apt-get install rsync) and run the precheck again.")
    paths = list(dict.fromkeys(p["data_paths"]))
    if p["side"] == "source":
        data = 0
        if paths:
            rc, out, err = run(["du", "-s", "-b", "--", *paths])
            if rc:
                problems.append(f"A data path of {host} cannot be read: {err.strip()}. Fix the host's data_paths in "
                                "the registry (inventories/…/departments) or restore the directory.")
            data += sum(int(line.split()[0]) for line in out.splitlines() if line.split())
        major = 0
        if p["databases"]:
            major = cluster_majors(problems, host, "source")
            rc, out, err = run(["runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-d", "postgres", "-c",
                                "SELECT datname || '|' || pg_database_size(datname) FROM pg_database"])
            sizes = dict(line.split("|", 1) for line in out.splitlines() if "|" in line)
            if rc:
                problems.append(f"The databases of {host} cannot be measured: {err.strip()}")
            else:
                for db in p["databases"]:
                    if db not in sizes:
                        problems.append(f"Database {db} does not exist on {host} (it has: {', '.join(sizes)}): "
                                        "fix the host's databases in the registry.")
                data += sum(int(sizes.get(db, 0)) for db in dict.fromkeys(p["databases"]))
        facts.update(jiyue_precheck_data_bytes=data, jiyue_precheck_postgresql_major=major)
    else:
        needed = p["needed_bytes"]
        for mount, free in dict(mount_and_free(path) for path in paths).items():
            if free < needed:
                problems.append(f"{host} has {human(free)} free on {mount}, less than {p['capacity_factor']} × the "
                                f"data of its sources ({human(needed)}): grow its volume (capacity.volume_gb in the "
                                "registry, then the department's stack) or free space.")
        if p["databases"]:
            mine = cluster_majors(problems, host, "target")
            for source, major in sorted(p["source_majors"].items()):
                if mine < int(major):
                    problems.append(f"PostgreSQL {mine} on {host} is older than PostgreSQL {major} on {source}: "
                                    "a dump cannot go back a major version. Use an image with a newer PostgreSQL "
                                    "for the target.")
        for service, spec in sorted(p["service_ports"].items()):
            ports = " or ".join(f"sport = :{port}" for port in spec["ports"])
            rc, out, err = run(["ss", "-H", "-l", "-t", "-n", "-p", f"( {ports} )"])
            allowed = re.compile(r'\(\("(' + "|".join(map(re.escape, spec["processes"])) + r')",')
            foreign = [line for line in out.splitlines() if line.strip() and not allowed.search(line)]
            if foreign:
                problems.append(f"On {host} something else listens where {service} must: {'; '.join(foreign)}. "
                                "Stop and disable it (or move it to another port) before migrating.")
    stale = stale_keys(p["authorized_keys"], p["key_root"])
    if stale:
        facts["jiyue_stale_grants"] = stale
    if problems:
        module.fail_json(msg=" ".join(problems), problems=problems, ansible_facts=facts)
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == "__main__":
    main()
