"""Errors raised by the lab engine, and the privilege check every entry point makes."""

from __future__ import annotations

import os
import shutil


class LabError(RuntimeError):
    """A lab operation failed; the message says what to do about it."""


class NotRootError(LabError):
    """The lab needs root (network namespaces, mounts, veth links, routes)."""


#: Programs the lab runs on the machine itself, and the Debian package providing each.
REQUIRED_TOOLS: dict[str, str] = {
    "ip": "iproute2",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "mount": "mount",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


def require_root(action: str = "run the rehearsal lab") -> None:
    """Raise :class:`NotRootError` unless the process is root."""
    if os.geteuid() != 0:
        raise NotRootError(
            f"to {action} you need root: the lab creates network namespaces, overlay mounts, "
            "veth links and routes in the machine's own namespace. Run as root "
            "(e.g. `sudo -E make test`) on a Linux machine with overlayfs and netns support."
        )


def missing_tools(tools: dict[str, str] | None = None) -> dict[str, str]:
    """Return ``{program: package}`` for every required program not on PATH."""
    wanted = REQUIRED_TOOLS if tools is None else tools
    return {prog: pkg for prog, pkg in wanted.items() if shutil.which(prog) is None}


def require_tools(tools: dict[str, str] | None = None) -> None:
    """Raise :class:`LabError` naming the packages to install for missing programs."""
    missing = missing_tools(tools)
    if missing:
        pkgs = " ".join(sorted(set(missing.values())))
        raise LabError(f"the lab needs {', '.join(sorted(missing))}; install with `apt-get install -y {pkgs}`")
