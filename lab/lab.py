"""The facade the topology layer drives: :class:`Lab`, one named rehearsal lab.

A lab owns, under ``<base dir>/<name>/`` (default ``/var/lib/jiyue/lab/<name>/``):
``state.json`` (the journal of everything created), ``ssh/`` (the controller key pair,
``known_hosts`` and ``ssh_config``) and ``hosts/<host>/`` (overlay layers). On the machine it
owns network namespaces named ``jl-<tag>-<node>``, root-namespace links named
``j<tag>-<suffix>``, and root-namespace routes (``unreachable`` ones with a per-lab metric),
where ``<tag>`` is a short form of the lab's name; two labs never share a name.

Safety rules enforced here:
- no lab namespace gets an uplink: physical interfaces are never moved or bridged, and the
  only root-namespace interfaces the lab creates are veth ends with forwarding off;
- the machine's own interfaces, addresses and default route are never touched: root routes
  must fall inside a lab range protected by an ``unreachable`` route and go out a lab link;
- ``down`` removes exactly what the state file records, processes by PID and start time.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jiyue.paths import LAB_NAME
from lab import host as hostmod
from lab import net
from lab.errors import LabError, require_root, require_tools
from lab.image import DEFAULT_CACHE_DIR, ImageRecipe, Progress, ensure_image, print_progress
from lab.state import TEARDOWN_ORDER, LabState, Resource, locked

DEFAULT_BASE_DIR = Path("/var/lib/jiyue/lab")
DEFAULT_NAME = "default"
#: ``node`` value meaning the machine's own (root) network namespace.
ROOT = None

_NAME_RE = LAB_NAME  # node names follow the lab names' rule
_UNREACHABLE_METRIC_BASE = 4000
_LAB_IF_RE = re.compile(r"j[a-z0-9]{1,6}-[A-Za-z0-9_.-]+")


def lab_tag(name: str) -> str:
    """Short, stable form of a lab name used in namespace and interface names (<= 6 chars)."""
    if re.fullmatch(r"[a-z0-9]{1,6}", name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()
    return re.sub(r"[^a-z0-9]", "", name.lower())[:2] + digest[:4]


@dataclass(frozen=True)
class HostSpec:
    """A host to start.

    ``files`` (path inside the host → content) are written into the host's overlay before it
    boots; ``services`` are enabled and started once it is up (``jiyue-service``);
    ``labels`` (role, zone, site, department ...) are kept in the state and shown by
    :meth:`Lab.status`, for the topology layer.
    """

    name: str
    hostname: str | None = None
    files: Mapping[str, bytes | str] = field(default_factory=dict)
    services: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass
class HostStatus:
    name: str
    netns: str
    running: bool
    pid: int | None
    address: str | None
    jump: str | None
    labels: dict[str, str]


@dataclass
class LabStatus:
    """What ``status()`` reports; ``to_json()`` gives plain data."""

    name: str
    exists: bool
    hosts: list[HostStatus]
    namespaces: list[str]
    root_links: list[str]
    root_routes: list[str]
    leftovers: list[str]  #: recorded resources whose creation never completed

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Lab:
    """One named rehearsal lab.

    >>> lab = Lab("demo")
    >>> lab.up_hosts([HostSpec("web1"), HostSpec("db1")])
    >>> lab.add_router("r1")
    >>> lab.add_link("web1", "eth0", "r1", "web1", "10.9.1.10/24", "10.9.1.1/24")
    >>> lab.ssh("web1", "hostname").stdout
    >>> lab.down()
    """

    def __init__(
        self,
        name: str = DEFAULT_NAME,
        base_dir: Path = DEFAULT_BASE_DIR,
        cache_dir: Path = DEFAULT_CACHE_DIR,
        recipe: ImageRecipe | None = None,
        progress: Progress = print_progress,
    ) -> None:
        if not _NAME_RE.fullmatch(name):
            raise LabError(f"invalid lab name {name!r}: lower-case letters, digits and '-'")
        self.name = name
        self.tag = lab_tag(name)
        self.base_dir = base_dir
        self.dir = base_dir / name
        self.cache_dir = cache_dir
        self.recipe = recipe or ImageRecipe()
        self.progress = progress
        self.state_path = self.dir / "state.json"
        self.lock_path = base_dir / ".locks" / f"{name}.lock"
        self.ssh_dir = self.dir / "ssh"
        self.key_path = self.ssh_dir / "id_ed25519"
        self.known_hosts = self.ssh_dir / "known_hosts"
        self.ssh_config = self.ssh_dir / "ssh_config"
        self._state: LabState | None = None

    # -- naming --------------------------------------------------------------------------
    @property
    def netns_prefix(self) -> str:
        """Every network namespace of this lab starts with this."""
        return f"jl-{self.tag}-"

    def netns_name(self, node: str) -> str:
        return self.netns_prefix + node

    def root_ifname(self, suffix: str) -> str:
        """Name of a root-namespace interface of this lab (``j<tag>-<suffix>``)."""
        name = f"j{self.tag}-{suffix}"
        if len(name) > net.IFNAMSIZ:
            room = net.IFNAMSIZ - len(self.tag) - 2
            raise LabError(f"root link suffix {suffix!r} too long: at most {room} characters")
        return net.check_ifname(name)

    # -- state ---------------------------------------------------------------------------
    @property
    def state(self) -> LabState:
        if self._state is None:
            self._state = LabState.load(self.state_path, self.name, self.tag)
        return self._state

    def _reload(self) -> LabState:
        self._state = None
        return self.state

    def _locked(self):  # type: ignore[no-untyped-def]
        require_root(f"change the rehearsal lab {self.name!r}")
        require_tools()
        return locked(self.lock_path)

    def _node_netns(self, node: str | None) -> str | None:
        if node is ROOT:
            return None
        info = self.state.nodes.get(node)
        if info is None:
            raise LabError(f"lab {self.name!r} has no host or namespace named {node!r}")
        return str(info["netns"])

    def _claim_node(self, node: str, kind: str) -> str:
        if not _NAME_RE.fullmatch(node):
            raise LabError(f"invalid node name {node!r}: lower-case letters, digits and '-'")
        if node in self.state.nodes:
            raise LabError(f"lab {self.name!r} already has a node named {node!r}")
        netns = self.netns_name(node)
        if net.netns_exists(netns):
            raise LabError(
                f"network namespace {netns} exists but is not in the state of lab "
                f"{self.name!r}; remove it by hand (`ip netns delete {netns}`) if it is stale"
            )
        self.state.nodes[node] = {"netns": netns, "kind": kind}
        return netns

    # -- controller key and ssh files ----------------------------------------------------
    def _ensure_key(self) -> str:
        self.ssh_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.key_path.exists():
            net.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    f"jiyue-lab-{self.name}",
                    "-f",
                    str(self.key_path),
                ]
            )
        return self.key_path.with_suffix(".pub").read_text()

    def _write_ssh_files(self) -> None:
        """Regenerate ``known_hosts`` and ``ssh_config`` from the state."""
        hosts = self.state.hosts
        lines = []
        for name, info in sorted(hosts.items()):
            if info.get("host_key"):
                names = ",".join(filter(None, [name, info.get("address")]))
                lines.append(f"{names} {info['host_key']}")
        self.known_hosts.write_text("\n".join(lines) + ("\n" if lines else ""))
        blocks = [f"# ssh_config of rehearsal lab {self.name!r}; generated, do not edit"]
        for name, info in sorted(hosts.items()):
            block = [f"Host {name}", f"    HostKeyAlias {name}"]
            if info.get("address"):
                block.append(f"    HostName {info['address']}")
            if info.get("jump"):
                block.append(f"    ProxyJump {info['jump']}")
            blocks.append("\n".join(block))
        blocks.append(
            "\n".join(
                [
                    "Host *",
                    "    User root",
                    f"    IdentityFile {self.key_path}",
                    "    IdentitiesOnly yes",
                    f"    UserKnownHostsFile {self.known_hosts}",
                    "    GlobalKnownHostsFile /dev/null",
                    "    StrictHostKeyChecking yes",
                    "    CheckHostIP no",
                    "    UpdateHostKeys no",
                    "    BatchMode yes",
                    "    PasswordAuthentication no",
                    "    ConnectTimeout 10",
                    "    ServerAliveInterval 15",
                    "    LogLevel ERROR",
                ]
            )
        )
        self.ssh_config.write_text("\n\n".join(blocks) + "\n")

    # -- hosts ---------------------------------------------------------------------------
    def up_hosts(self, specs: Sequence[HostSpec], timeout: float = 60.0) -> list[str]:
        """Start ``specs`` (each: netns + mount/PID/UTS namespaces + overlay root + sshd).

        Returns the hosts' names. Builds the golden image first if it is not cached. Hosts get
        no network interface but loopback: link them with :meth:`add_link` and make them
        reachable over ssh with :meth:`set_ssh`.
        """
        with self._locked():
            state = self._reload()
            image = ensure_image(self.recipe, self.cache_dir, self.progress).path
            state.meta.setdefault("created_at", time.strftime("%Y-%m-%dT%H:%M:%SZ"))
            state.meta["image"] = str(image)
            if state.find("dir", path=str(self.dir)) is None:
                state.intend("dir", save=False, path=str(self.dir), what="lab directory").status = "created"
            pub = self._ensure_key()
            started = time.monotonic()
            inits: dict[str, hostmod.ProcId] = {}
            host_dirs: dict[str, Path] = {}
            for spec in specs:
                inits[spec.name], host_dirs[spec.name] = self._start_host(spec, image, pub)
            hostmod.wait_ready(inits, host_dirs, timeout)
            self._write_ssh_files()
            state.save()
            self.progress(f"lab {self.name}: {len(specs)} hosts up in {time.monotonic() - started:.1f} s")
        for spec in specs:
            for svc in spec.services:
                self.service(spec.name, "enable", svc)
                self.service(spec.name, "start", svc)
        return [s.name for s in specs]

    def _start_host(self, spec: HostSpec, image: Path, pub: str) -> tuple[hostmod.ProcId, Path]:
        state = self.state
        netns = self._claim_node(spec.name, "host")
        host_dir = self.dir / "hosts" / spec.name
        hostname = spec.hostname or spec.name
        state.hosts[spec.name] = {
            "netns": netns,
            "hostname": hostname,
            "dir": str(host_dir),
            "labels": dict(spec.labels),
        }
        dir_res = state.intend("dir", save=False, path=str(host_dir), what=f"host {spec.name}")
        ns_res = state.intend("netns", save=False, name=netns)
        proc_res = state.intend("process", save=False, netns=netns, host=spec.name)
        mnt_res = state.intend(
            "mount",
            save=False,
            target=str(host_dir / "root"),
            scope="host-private",
            host=spec.name,
        )
        state.save()

        files = {k: (v.encode() if isinstance(v, str) else v) for k, v in spec.files.items()}
        host_key = hostmod.prepare_upper(host_dir, hostname, pub, files)
        state.hosts[spec.name]["host_key"] = host_key
        state.created(dir_res, save=False)
        net.netns_add(netns)
        state.created(ns_res, save=False)
        popen = hostmod.spawn(netns, hostname, image, host_dir)
        outer = hostmod.ProcId.of(popen.pid)
        if outer is None:
            popen.wait()
            log = (host_dir / "console.log").read_text(errors="replace")
            raise LabError(f"host {spec.name} exited at once ({popen.returncode}):\n{log}")
        state.created(proc_res, pid=outer.pid, starttime=outer.starttime, what="unshare")
        init_pid = hostmod.find_init(outer.pid)
        init = hostmod.ProcId.of(init_pid)
        if init is None:
            raise LabError(f"host {spec.name}: init {init_pid} exited at once")
        state.intend(
            "process", save=False, netns=netns, host=spec.name, what="init", pid=init.pid, starttime=init.starttime
        ).status = "created"
        state.hosts[spec.name]["init"] = {"pid": init.pid, "starttime": init.starttime}
        state.created(mnt_res)
        return init, host_dir

    def _init_of(self, host: str) -> hostmod.ProcId:
        info = self.state.hosts.get(host)
        if info is None or "init" not in info:
            raise LabError(f"lab {self.name!r} has no host {host!r}")
        proc = hostmod.ProcId(info["init"]["pid"], info["init"]["starttime"])
        if not proc.alive():
            raise LabError(f"host {host!r} of lab {self.name!r} is not running")
        return proc

    def exec(
        self, host: str, argv: Sequence[str], input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside ``host``'s namespaces and root directly (``nsenter``), without
        ssh: for seeding a host before it is reachable. It runs with a host's own umask (022),
        never the caller's (a migration driver's is 077)."""
        init = self._init_of(host)
        proc = subprocess.run(
            ["nsenter", "-t", str(init.pid), "-m", "-u", "-n", "-p", "-r", "-w", "--", *argv],
            input=input,
            capture_output=True,
            text=True,
            env=hostmod.HOST_ENV,
            umask=0o022,
        )
        if check and proc.returncode != 0:
            raise net.CommandError(argv, proc.returncode, proc.stderr)
        return proc

    def service(self, host: str, action: str, service: str) -> subprocess.CompletedProcess[str]:
        """``jiyue-service ACTION SERVICE`` inside ``host`` (start, stop, status, enable ...)."""
        return self.exec(host, ["/usr/local/sbin/jiyue-service", action, service], check=action != "status")

    # -- namespaces and links ------------------------------------------------------------
    def add_namespace(self, name: str, forwarding: bool = False, kind: str = "switch") -> str:
        """A process-less network namespace (a switch, router or stub network)."""
        with self._locked():
            self._reload()
            netns = self._claim_node(name, kind)
            res = self.state.intend("netns", name=netns)
            net.netns_add(netns, forwarding=forwarding)
            self.state.created(res)
            return netns

    def add_router(self, name: str) -> str:
        """A network namespace with IPv4 forwarding on."""
        return self.add_namespace(name, forwarding=True, kind="router")

    def add_link(
        self,
        a: str | None,
        a_if: str,
        b: str | None,
        b_if: str,
        a_addr: str | None = None,
        b_addr: str | None = None,
    ) -> None:
        """A veth pair between nodes ``a`` and ``b`` (host or namespace names), optionally
        addressed (``10.1.0.5/24``). For the root namespace use :meth:`add_root_link`."""
        if a is ROOT or b is ROOT:
            raise LabError("links to the machine's namespace go through add_root_link")
        with self._locked():
            self._reload()
            a_ns, b_ns = self._node_netns(a), self._node_netns(b)
            res = self.state.intend("link", netns=a_ns, ifname=a_if, peer_netns=b_ns, peer_ifname=b_if)
            net.veth(a_ns, a_if, b_ns, b_if)
            if a_addr:
                net.address(a_ns, a_if, a_addr)
            if b_addr:
                net.address(b_ns, b_if, b_addr)
            self.state.created(res)

    def add_root_link(self, node: str, suffix: str, node_if: str, root_addr: str, node_addr: str) -> str:
        """The machine's only way into the lab: a veth from the root namespace to ``node``
        (a bastion or router). Forwarding is off on the root end, so nothing from the lab is
        ever routed on to the machine's network. Returns the root interface name."""
        root_if = self.root_ifname(suffix)
        r_net = ipaddress.ip_interface(root_addr).network
        self._check_not_machine_network(r_net, other_labs_ok=False)
        with self._locked():
            self._reload()
            n_ns = self._node_netns(node)
            if net.link_exists(None, root_if):
                raise LabError(f"root interface {root_if} exists but is not in the lab's state")
            res = self.state.intend(
                "link", netns=None, ifname=root_if, peer_netns=n_ns, peer_ifname=node_if, network=str(r_net)
            )
            net.veth(n_ns, node_if, None, root_if)
            net.sysctl(None, f"net.ipv4.conf.{root_if}.forwarding", "0")
            net.sysctl(None, f"net.ipv6.conf.{root_if}.disable_ipv6", "1")
            net.address(None, root_if, root_addr)
            net.address(n_ns, node_if, node_addr)
            self.state.created(res)
            return root_if

    def add_bridge(self, node: str, name: str, ports: Iterable[str] = ()) -> None:
        """A bridge inside ``node``'s namespace, with ``ports`` enslaved."""
        with self._locked():
            self._reload()
            ns = self._node_netns(node)
            net.bridge(ns, name)
            for port in ports:
                net.attach(ns, port, name)

    def attach(self, node: str, ifname: str, bridge: str) -> None:
        """Enslave ``ifname`` to ``bridge`` inside ``node``."""
        net.attach(self._reload_netns(node), ifname, bridge)

    def add_address(self, node: str, ifname: str, cidr: str) -> None:
        """Add an address inside a lab namespace (root addresses come with root links)."""
        net.address(self._reload_netns(node), ifname, cidr)

    def add_route(self, node: str | None, dest: str, via: str | None = None, dev: str | None = None) -> None:
        """A route in ``node``; ``node=ROOT`` (None) adds a recorded root-namespace route,
        allowed only inside a protected lab range and through one of this lab's links."""
        if node is not ROOT:
            spec = net.route_argv(dest, via=via, dev=dev)
            net.route_add(self._reload_netns(node), spec)
            return
        with self._locked():
            self._reload()
            dev = self._check_root_route(dest, via, dev)
            spec = net.route_argv(dest, via=via, dev=dev)
            res = self.state.intend("route", spec=spec)
            net.route_add(None, spec)
            self.state.created(res)

    def add_unreachable(self, cidr: str) -> None:
        """Protect lab range ``cidr`` in the machine's namespace: ``unreachable`` route (with
        a metric of this lab's own, so two labs' identical ranges coexist)."""
        network = ipaddress.ip_network(cidr)
        self._check_not_machine_network(network, other_labs_ok=True)
        with self._locked():
            self._reload()
            if any(r.attrs.get("range") == str(network) for r in self.state.of_kind("route")):
                return
            metric = self._free_unreachable_metric(network)
            spec = net.route_argv(str(network), kind="unreachable", metric=metric)
            res = self.state.intend("route", spec=spec, range=str(network))
            net.route_add(None, spec)
            self.state.created(res)

    def protect(self, ranges: Iterable[str]) -> None:
        """:meth:`add_unreachable` for every lab range."""
        for cidr in ranges:
            self.add_unreachable(cidr)

    def nft(self, node: str, ruleset: str) -> None:
        """Load an nftables ruleset (``nft -f`` syntax) into ``node``'s namespace."""
        image = Path(self.state.meta["image"]) if "image" in self.state.meta else None
        net.nft(self._reload_netns(node), ruleset, image=image)

    def update_note(self, key: str, change: Callable[[Any], Any]) -> Any:
        """Replace the note ``key`` of the lab's state with ``change(old note or None)``, under
        the lab's lock and saved at once (a note of None is dropped); returns the new note. For
        what the layers above record about a running lab (the migration flows open, say)."""
        with self._locked():
            state = self._reload()
            notes = state.meta.setdefault("notes", {})
            new = change(notes.get(key))
            if new is None:
                notes.pop(key, None)
            else:
                notes[key] = new
            state.save()
            return new

    def note(self, key: str) -> Any:
        """The note ``key`` of the lab's state, or None."""
        return self._reload().meta.get("notes", {}).get(key)

    def sysctl(self, node: str, key: str, value: str) -> None:
        """Set a per-namespace sysctl (``net.*``) inside ``node``."""
        if not key.startswith("net."):
            raise LabError("only per-namespace net.* sysctls can be set in a lab node")
        net.sysctl(self._reload_netns(node), key, value)

    def _reload_netns(self, node: str) -> str:
        self._reload()
        ns = self._node_netns(node)
        if ns is None:
            raise LabError("this operation is not allowed in the machine's own namespace")
        return ns

    # -- safety checks -------------------------------------------------------------------
    def _lab_root_links(self) -> dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return {
            r.attrs["ifname"]: ipaddress.ip_network(r.attrs["network"])
            for r in self.state.of_kind("link")
            if r.attrs.get("netns") is None and r.attrs.get("network")
        }

    def _check_not_machine_network(
        self, network: ipaddress.IPv4Network | ipaddress.IPv6Network, other_labs_ok: bool
    ) -> None:
        """Refuse a lab network overlapping one the machine is attached to (this lab's links
        excepted; other labs' links too when ``other_labs_ok``: their ranges may coincide)."""
        if network.prefixlen == 0:
            raise LabError("the lab never touches the machine's default route")
        for other, dev in net.connected_networks(None):
            if dev.startswith(f"j{self.tag}-"):
                continue
            if other_labs_ok and _LAB_IF_RE.fullmatch(dev):
                continue
            if other.version == network.version and other.overlaps(network):
                raise LabError(
                    f"{network} overlaps {other} on {dev}, a network of the machine itself; "
                    "lab ranges must stay apart from it"
                )
        for addr, what in _machine_needs():
            if addr.version == network.version and addr in network:
                raise LabError(
                    f"{network} covers {addr}, {what}; a lab range there would cut the machine off it. "
                    "Give the city (or the lab) another range"
                )

    def _check_root_route(self, dest: str, via: str | None, dev: str | None) -> str:
        network = ipaddress.ip_network(dest)
        if network.prefixlen == 0:
            raise LabError("the lab never adds a default route to the machine's namespace")
        ranges = [ipaddress.ip_network(r.attrs["range"]) for r in self.state.of_kind("route") if r.attrs.get("range")]
        if not any(network.version == r.version and network.subnet_of(r) for r in ranges):
            raise LabError(
                f"root route to {network} is outside every protected lab range; call add_unreachable(<range>) first"
            )
        links = self._lab_root_links()
        if dev is None and via is not None:
            addr = ipaddress.ip_address(via)
            dev = next((name for name, n in links.items() if addr in n), None)
        if dev not in links:
            raise LabError(
                f"root route to {network} must leave through one of this lab's links ({', '.join(links) or 'none yet'})"
            )
        return dev

    def _free_unreachable_metric(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> int:
        taken = {
            int(r.get("metric", 0)) for r in net.routes(None) if r.get("dst") in (str(network), network.with_prefixlen)
        }
        metric = _UNREACHABLE_METRIC_BASE + int(hashlib.sha256(self.name.encode()).hexdigest(), 16) % 50000
        while metric in taken:
            metric += 1
        return metric

    # -- ssh -----------------------------------------------------------------------------
    def set_ssh(self, host: str, address: str, jump: str | None = None) -> None:
        """How the controller reaches ``host``: its address, and the bastion to jump through
        (another host of this lab). Rewrites ``ssh_config`` and ``known_hosts``."""
        with self._locked():
            self._reload()
            if host not in self.state.hosts:
                raise LabError(f"lab {self.name!r} has no host {host!r}")
            if jump is not None and jump not in self.state.hosts:
                raise LabError(f"jump host {jump!r} is not a host of lab {self.name!r}")
            ipaddress.ip_address(address)
            self.state.hosts[host].update(address=address, jump=jump)
            self.state.save()
            self._write_ssh_files()

    def ssh_argv(self, host: str, command: str | Sequence[str] | None = None) -> list[str]:
        """The ``ssh`` command line reaching ``host`` with the lab's config, key and
        known_hosts (host-key checking on)."""
        argv = ["ssh", "-F", str(self.ssh_config), host]
        if command is not None:
            argv += ["--", command] if isinstance(command, str) else ["--", *command]
        return argv

    def ssh(
        self,
        host: str,
        command: str | Sequence[str],
        timeout: float = 60.0,
        input: str | None = None,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on ``host`` over real ssh; returns the completed process."""
        return subprocess.run(
            self.ssh_argv(host, command),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    # -- status and teardown -------------------------------------------------------------
    def status(self) -> LabStatus:
        """What the state file records, and whether each host is still running."""
        state = self._reload()
        hosts = []
        for name, info in sorted(state.hosts.items()):
            init = info.get("init")
            running = bool(init) and hostmod.ProcId(init["pid"], init["starttime"]).alive()
            hosts.append(
                HostStatus(
                    name=name,
                    netns=info["netns"],
                    running=running,
                    pid=init["pid"] if init else None,
                    address=info.get("address"),
                    jump=info.get("jump"),
                    labels=dict(info.get("labels", {})),
                )
            )
        return LabStatus(
            name=self.name,
            exists=self.state_path.exists(),
            hosts=hosts,
            namespaces=[r.attrs["name"] for r in state.of_kind("netns")],
            root_links=[r.attrs["ifname"] for r in state.of_kind("link") if r.attrs.get("netns") is None],
            root_routes=[" ".join(r.attrs["spec"]) for r in state.of_kind("route")],
            leftovers=[f"{r.kind} {json.dumps(r.attrs)}" for r in state.resources if r.status != "created"],
        )

    def down(self) -> None:
        """Remove exactly what the state file records. Idempotent; works after a crash.

        Order: processes (recorded PIDs whose start time still matches, then anything left
        inside the lab's own network namespaces), mounts visible in the machine's namespace,
        root routes, root links, namespaces, directories; each removal is saved as it goes,
        so an interrupted ``down`` resumes where it stopped.
        """
        require_root(f"tear down the rehearsal lab {self.name!r}")
        if not self.state_path.exists():
            self._remove_lab_dir()
            return
        with locked(self.lock_path):
            state = self._reload()
            for kind in TEARDOWN_ORDER:
                handler = getattr(self, f"_down_{kind}")
                handler(state.of_kind(kind))
                state.save()
            self._remove_lab_dir()
            self._state = None
        self.progress(f"lab {self.name}: down")

    def _down_process(self, resources: list[Resource]) -> None:
        state = self.state
        procs = [hostmod.ProcId(r.attrs["pid"], r.attrs["starttime"]) for r in resources if "pid" in r.attrs]
        # Killing a host's PID 1 makes the kernel kill everything in its PID namespace; its
        # parent (unshare) then reaps it and exits. Only then the parents: killing them first
        # would leave the inits for the machine's init to reap.
        inits = [
            hostmod.ProcId(r.attrs["pid"], r.attrs["starttime"]) for r in resources if r.attrs.get("what") == "init"
        ]
        for proc in inits:
            proc.kill(signal.SIGKILL)
        hostmod.wait_gone(inits, timeout=5.0)
        hostmod.wait_gone(procs, timeout=1.0)
        for proc in procs:
            proc.kill(signal.SIGKILL)
        # Whatever still runs inside this lab's network namespaces is the lab's too (a crash
        # between starting a host and recording its PID leaves exactly that).
        for r in state.of_kind("netns"):
            for pid in hostmod.pids_in_netns(r.attrs["name"]):
                extra = hostmod.ProcId.of(pid)
                if extra is not None:
                    extra.kill(signal.SIGKILL)
                    procs.append(extra)
        left = hostmod.wait_gone(procs, timeout=15.0)
        if left:
            raise LabError(f"processes would not exit: {[p.pid for p in left]}")
        for r in resources:
            state.forget(r)

    def _down_mount(self, resources: list[Resource]) -> None:
        mounted = _root_mount_targets()
        for r in resources:
            target = r.attrs["target"]
            if target in mounted:
                net.run(["umount", "-l", target], check=False)
            self.state.forget(r)

    def _down_route(self, resources: list[Resource]) -> None:
        for r in reversed(resources):
            net.route_delete(None, r.attrs["spec"])
            self.state.forget(r)

    def _down_link(self, resources: list[Resource]) -> None:
        for r in reversed(resources):
            if r.attrs.get("netns") is None:
                net.link_delete(None, r.attrs["ifname"])
            self.state.forget(r)

    def _down_netns(self, resources: list[Resource]) -> None:
        for r in reversed(resources):
            name = r.attrs["name"]
            if not name.startswith(self.netns_prefix):
                raise LabError(f"refusing to delete namespace {name}: not of lab {self.name}")
            net.netns_delete(name)
            self.state.forget(r)

    def _down_dir(self, resources: list[Resource]) -> None:
        for r in reversed(resources):
            path = Path(r.attrs["path"])
            if path != self.dir and self.dir not in path.parents:
                raise LabError(f"refusing to remove {path}: outside the lab directory")
            if path != self.dir:
                shutil.rmtree(path, ignore_errors=True)
            self.state.forget(r)
        self.state.hosts.clear()
        self.state.nodes.clear()

    def _remove_lab_dir(self) -> None:
        if self.dir.is_dir() and self.dir.parent == self.base_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def _machine_needs() -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, str]]:
    """Addresses the machine itself must keep reaching: its name servers and its default gateway
    (the package registries resolve through the former and are reached through the latter)."""
    needs: list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, str]] = []
    try:
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                with contextlib.suppress(ValueError):
                    needs.append((ipaddress.ip_address(parts[1].split("%")[0]), "the machine's name server"))
    except OSError:
        pass
    for route in net.routes(None):
        if route.get("dst") == "default" and route.get("gateway"):
            needs.append((ipaddress.ip_address(str(route["gateway"])), "the machine's default gateway"))
    return needs


def _root_mount_targets() -> set[str]:
    """Mount points visible in the machine's own mount namespace."""
    targets = set()
    for line in Path("/proc/1/mountinfo").read_text().splitlines():
        targets.add(line.split()[4].replace("\\040", " "))
    return targets
