#!/usr/bin/python
# Copyright: jiyue founding engineers; Apache-2.0
"""Read a source's nginx sites, or install them on a target, in one call (see DOCUMENTATION)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_sites
short_description: A source's nginx sites that serve copied directories, read or installed in one call
description:
  - "On a source (O(side=source)): the enabled sites whose C(root) is one of O(paths), by name
    with their configuration. Changes nothing."
  - "On a target (O(side=target)): the TLS files O(tls) (their directories, bytes and modes), each
    site of O(sites) in O(available) and enabled in O(enabled) under the same name, the packaged
    sites O(disable) taken out once a migrated site is there; after a change the configuration is
    checked (C(nginx -t)) and nginx reloaded when it runs (it is not started here)."
  - Idempotent; in check mode it changes nothing and reports what it would do.
options:
  side:
    description: Read the sites (source) or install them (target).
    type: str
    choices: [source, target]
    required: true
  paths:
    description: On a source, the copied directories whose sites move.
    type: list
    elements: str
    default: []
  sites:
    description: On a target, the sites read on the source (C(name), C(content) in base64).
    type: list
    elements: dict
    default: []
  tls:
    description: On a target, the TLS files the sites use (C(path), C(mode)).
    type: list
    elements: dict
    default: []
  tls_contents:
    description: The bytes of each of O(tls), in base64, read on the source; never logged.
    type: list
    elements: str
    default: []
  available:
    description: nginx's directory of sites.
    type: path
    default: /etc/nginx/sites-available
  enabled:
    description: nginx's directory of enabled sites.
    type: path
    default: /etc/nginx/sites-enabled
  disable:
    description: The packaged sites of a fresh target, taken out once a migrated site is installed.
    type: list
    elements: str
    default: [default]
  service:
    description: The init script of nginx on the target.
    type: str
    default: nginx
author: jiyue founding engineers
"""

RETURN = r"""
sites:
  description: On a source, the sites found (C(name), C(path), C(content) in base64).
  returned: side=source
  type: list
  elements: dict
not_moved:
  description: On a source, its other enabled sites (they serve none of O(paths)).
  returned: side=source
  type: list
  elements: str
actions:
  description: On a target, what the call did (or would do, in check mode), one line each.
  returned: side=target
  type: list
  elements: str
"""

import base64
import os
import re
import subprocess

from ansible.module_utils.basic import AnsibleModule


def serving(path, roots):
    """Whether the configuration at ``path`` serves one of ``roots`` or a directory under it: a
    ``root`` directive naming it, quoted or not, at a line's start or after ``{`` or ``;``."""
    pattern = re.compile(r"""(?:^|[{;])\s*root\s+["']?(?:""" + "|".join(re.escape(r.rstrip("/")) for r in roots)
                         + r""")(?:/[^;"'\s]*)?["']?\s*;""")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return any(pattern.search(line) for line in f)
    except OSError:
        return False


def read_sites(module):
    p = module.params
    found, others = [], []
    if p["paths"] and os.path.isdir(p["enabled"]):
        for name in sorted(os.listdir(p["enabled"])):
            path = os.path.join(p["enabled"], name)
            if name.startswith(".") or not os.path.isfile(path):
                continue
            if not serving(path, p["paths"]):
                others.append(name)
                continue
            with open(path, "rb") as f:
                found.append({"name": name, "path": path, "content": base64.b64encode(f.read()).decode()})
    module.exit_json(changed=False, sites=found, not_moved=others)


def mode_of(item):
    """A TLS file's mode: an int as it is, a string in octal ("0o640", "0640")."""
    mode = item["mode"] if isinstance(item["mode"], int) else int(str(item["mode"]), 8)
    if not 0 <= mode <= 0o7777:
        raise ValueError(f"mode {item['mode']!r} of {item['path']} is not a file mode")
    return mode


class Target:
    def __init__(self, module):
        self.module = module
        self.check = module.check_mode
        self.actions = []

    def fail(self, msg):
        self.module.fail_json(msg=msg, changed=bool(self.actions), actions=self.actions)

    def directory(self, path):
        if not os.path.isdir(path):
            self.actions.append(f"created {path}")
            if not self.check:
                os.makedirs(path, mode=0o755)

    def file(self, path, content, mode, what):
        try:
            st = os.lstat(path)
            with open(path, "rb") as f:
                same = f.read() == content and (st.st_mode & 0o7777) == mode and (st.st_uid, st.st_gid) == (0, 0)
        except OSError:
            same = False
        if same:
            return
        self.actions.append(f"installed {what}")
        if not self.check:
            tmp = f"{path}.jiyue-{os.getpid()}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(content)
            os.chown(tmp, 0, 0)
            os.chmod(tmp, mode)
            os.replace(tmp, path)

    def link(self, path, to):
        if os.path.islink(path) and os.readlink(path) == to:
            return
        if os.path.lexists(path) and not os.path.islink(path):
            self.fail(f"{path} on the target is not a link but a file of the target's own: move it away "
                      "(the migrated site of that name is enabled by a link to sites-available).")
        self.actions.append(f"enabled {os.path.basename(path)}")
        if not self.check:
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink(to, path)

    def remove(self, path):
        if os.path.lexists(path):
            self.actions.append(f"disabled {os.path.basename(path)}")
            if not self.check:
                os.unlink(path)

    def run(self, argv, what):
        proc = subprocess.run(argv, cwd="/", capture_output=True, text=True, check=False)
        if proc.returncode:
            self.fail(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")

    def install(self):
        p = self.module.params
        if len(p["tls"]) != len(p["tls_contents"]):
            self.fail(f"{len(p['tls'])} TLS files are named and {len(p['tls_contents'])} read: "
                      "give both lists in the same order.")
        for item, content in zip(p["tls"], p["tls_contents"], strict=True):
            self.directory(os.path.dirname(item["path"]))
            try:
                mode = mode_of(item)
            except ValueError as e:
                self.fail(f"The driver gave a TLS file a mode that is none: {e}.")
            self.file(item["path"], base64.b64decode(content), mode, item["path"])
        for site in p["sites"]:
            available = os.path.join(p["available"], site["name"])
            self.file(available, base64.b64decode(site["content"]), 0o644, f"site {site['name']}")
            self.link(os.path.join(p["enabled"], site["name"]), available)
        if p["sites"]:
            names = {site["name"] for site in p["sites"]}
            for name in p["disable"]:
                if name not in names:
                    self.remove(os.path.join(p["enabled"], name))
        if p["sites"] and not self.check:
            self.run(["nginx", "-t", "-q"], "Checking the nginx configuration of the target (nginx -t)")
        if self.actions and not self.check:
            script = f"/etc/init.d/{p['service']}"
            if os.path.exists(script) and subprocess.run([script, "status"], cwd="/", capture_output=True,
                                                         check=False).returncode == 0:
                self.run([script, "reload"], "Reloading nginx")
                self.actions.append("reloaded nginx")
        self.module.exit_json(changed=bool(self.actions), actions=self.actions)


def main():
    module = AnsibleModule(argument_spec={
        "side": {"type": "str", "choices": ["source", "target"], "required": True},
        "paths": {"type": "list", "elements": "str", "default": []},
        "sites": {"type": "list", "elements": "dict", "default": []},
        "tls": {"type": "list", "elements": "dict", "default": []},
        "tls_contents": {"type": "list", "elements": "str", "default": [], "no_log": True},
        "available": {"type": "path", "default": "/etc/nginx/sites-available"},
        "enabled": {"type": "path", "default": "/etc/nginx/sites-enabled"},
        "disable": {"type": "list", "elements": "str", "default": ["default"]},
        "service": {"type": "str", "default": "nginx"},
    }, supports_check_mode=True)
    if module.params["side"] == "source":
        read_sites(module)
    Target(module).install()


if __name__ == "__main__":
    main()
