"""Network primitives: thin wrappers over ``ip``/``nft``, one namespace argument each.

``netns=None`` means the machine's own (root) namespace. These functions do not record
anything: :class:`lab.Lab` records each step in the state file before calling them, and
enforces the lab's safety rules (no uplink, no change to the machine's own interfaces or
default route, an ``unreachable`` route for every lab range).
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from lab.errors import LabError

IFNAMSIZ = 15  # longest interface name Linux accepts


class CommandError(LabError):
    """A command of the lab failed."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(f"`{' '.join(argv)}` failed ({returncode}): {stderr.strip()}")


def run(argv: Sequence[str], input: str | None = None, check: bool = True) -> str:
    """Run ``argv``; return its stdout, raise :class:`CommandError` on failure."""
    proc = subprocess.run(list(argv), input=input, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stderr)
    return proc.stdout


def ip(netns: str | None, *args: str, check: bool = True, batch: str | None = None) -> str:
    """``ip [-n NETNS] ARGS`` (``batch`` feeds ``ip -batch -``)."""
    argv = ["ip"]
    if netns is not None:
        argv += ["-n", netns]
    if batch is not None:
        argv += ["-batch", "-"]
    return run(argv + list(args), input=batch, check=check)


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    """argv running ``argv`` inside ``netns`` (unchanged for the root namespace)."""
    if netns is None:
        return list(argv)
    return ["ip", "netns", "exec", netns, *argv]


def check_ifname(name: str) -> str:
    """Return ``name`` if Linux accepts it as an interface name, else raise."""
    if not name or len(name) > IFNAMSIZ or "/" in name or name.strip() != name or ":" in name:
        raise LabError(f"invalid interface name {name!r}: 1-{IFNAMSIZ} characters, no '/', ':'")
    return name


# -- namespaces ---------------------------------------------------------------------------
def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def netns_add(name: str, forwarding: bool = False) -> None:
    """Create network namespace ``name`` with loopback up (and IPv4 forwarding if asked)."""
    run(["ip", "netns", "add", name])
    ip(name, "link", "set", "dev", "lo", "up")
    sysctl(name, "net.ipv4.ip_forward", "1" if forwarding else "0")


def netns_delete(name: str) -> None:
    """Delete ``name`` if it exists (idempotent)."""
    if netns_exists(name):
        run(["ip", "netns", "delete", name], check=False)


def netns_inode(name: str) -> tuple[int, int] | None:
    """(device, inode) identifying the namespace, to match ``/proc/<pid>/ns/net``."""
    try:
        st = Path("/run/netns", name).stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def sysctl(netns: str | None, key: str, value: str) -> None:
    """Write a sysctl inside ``netns`` (``/proc/sys/net`` is per network namespace)."""
    path = "/proc/sys/" + key.replace(".", "/")
    if netns is None:
        Path(path).write_text(value)
    else:
        run(["ip", "netns", "exec", netns, "sh", "-c", 'echo "$1" > "$2"', "sh", value, path])


# -- links, addresses, routes ---------------------------------------------------------------
def veth(a_netns: str | None, a_if: str, b_netns: str | None, b_if: str) -> None:
    """Create a veth pair with one end in each namespace, both up.

    The pair is created inside ``a_netns`` with its peer placed straight into ``b_netns``, so
    no name ever appears in the root namespace unless one end belongs there.
    """
    check_ifname(a_if)
    check_ifname(b_if)
    peer = ["peer", "name", b_if]
    if b_netns is not None:
        peer += ["netns", b_netns]
    elif a_netns is not None:
        peer += ["netns", "1"]  # PID 1 lives in the root namespace
    ip(a_netns, "link", "add", "name", a_if, "type", "veth", *peer)
    ip(a_netns, "link", "set", "dev", a_if, "up")
    ip(b_netns, "link", "set", "dev", b_if, "up")


def bridge(netns: str | None, name: str) -> None:
    """Create bridge ``name`` in ``netns`` and bring it up."""
    ip(netns, "link", "add", "name", check_ifname(name), "type", "bridge")
    ip(netns, "link", "set", "dev", name, "up")


def attach(netns: str | None, ifname: str, bridge_name: str) -> None:
    """Enslave ``ifname`` to ``bridge_name`` inside ``netns``."""
    ip(netns, "link", "set", "dev", ifname, "master", bridge_name)


def link_exists(netns: str | None, ifname: str) -> bool:
    if netns is not None and not netns_exists(netns):
        return False
    return bool(ip(netns, "-j", "link", "show", "dev", ifname, check=False).strip())


def link_delete(netns: str | None, ifname: str) -> None:
    """Delete ``ifname`` (both ends of a veth go together); idempotent."""
    if link_exists(netns, ifname):
        ip(netns, "link", "delete", "dev", ifname, check=False)


def address(netns: str | None, ifname: str, cidr: str) -> None:
    """Add ``cidr`` (``10.1.0.5/24``) to ``ifname``."""
    ipaddress.ip_interface(cidr)
    ip(netns, "address", "add", cidr, "dev", ifname)


def route_argv(
    dest: str,
    via: str | None = None,
    dev: str | None = None,
    kind: str | None = None,
    metric: int | None = None,
) -> list[str]:
    """The ``ip route`` arguments after ``add``/``del`` for one route."""
    argv = [kind] if kind else []
    argv.append(dest)
    if via:
        argv += ["via", via]
    if dev:
        argv += ["dev", dev]
    if metric is not None:
        argv += ["metric", str(metric)]
    return argv


def route_add(netns: str | None, spec: Sequence[str]) -> None:
    ip(netns, "route", "add", *spec)


def route_delete(netns: str | None, spec: Sequence[str]) -> None:
    """Delete the route ``spec`` if present (idempotent)."""
    ip(netns, "route", "del", *spec, check=False)


def routes(netns: str | None = None) -> list[dict[str, object]]:
    """The namespace's main routing table as ``ip -j route`` objects."""
    return json.loads(ip(netns, "-j", "route", "show") or "[]")


def connected_networks(
    netns: str | None = None,
) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
    """(network, device) of every connected route of the namespace."""
    nets = []
    for r in routes(netns):
        if r.get("protocol") == "kernel" and r.get("scope") == "link":
            nets.append((ipaddress.ip_network(str(r["dst"]), strict=False), str(r.get("dev"))))
    return nets


# -- nftables -----------------------------------------------------------------------------
def nft(netns: str | None, ruleset: str, image: Path | None = None) -> None:
    """Load ``ruleset`` (``nft -f`` syntax) into ``netns``.

    Uses the machine's ``nft`` if installed, else the golden image's (``chroot``: nft needs
    nothing but netlink, which follows the network namespace).
    """
    if shutil.which("nft"):
        argv = ["nft", "-f", "-"]
    elif image is not None:
        argv = ["chroot", str(image), "nft", "-f", "-"]
    else:
        raise LabError("nft not found: `apt-get install -y nftables` (or pass the lab image)")
    run(in_netns(netns, argv), input=ruleset)
