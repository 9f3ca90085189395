"""One lab host: a network namespace, its own mount, PID and UTS namespaces, an overlay root
over the golden image, and sshd (key-only) as the host's init.

Layout of a host's directory (``<lab dir>/hosts/<host>/``)::

    upper/  work/   overlay upper and work directories (the host's writes)
    root/           mount point of the overlay, used only inside the host's mount namespace
    console.log     output of the host's init (mount errors, sshd -e)

Every mount of a host lives in its private mount namespace: the machine's own mount table
never sees them, and they vanish with the host's processes. Process identities are
``(pid, starttime)`` pairs read from ``/proc`` so a recycled PID is never mistaken for ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lab import net
from lab.errors import LabError

#: PATH and locale of processes inside hosts.
HOST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
}

#: Runs as PID 1 of the host's PID namespace, in its fresh mount and UTS namespaces, inside
#: its network namespace; arguments: image, upper, work, mount point, hostname.
BOOT_SCRIPT = r"""
set -eu
img=$1 up=$2 wk=$3 r=$4 hn=$5
mount -t overlay overlay -o "lowerdir=$img,upperdir=$up,workdir=$wk" "$r"
mount -t proc -o nosuid,nodev,noexec proc "$r/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$r/sys"
mount -t tmpfs -o mode=0755,nosuid,size=256k tmpfs "$r/dev"
mknod -m 666 "$r/dev/null" c 1 3
mknod -m 666 "$r/dev/zero" c 1 5
mknod -m 666 "$r/dev/full" c 1 7
mknod -m 666 "$r/dev/random" c 1 8
mknod -m 666 "$r/dev/urandom" c 1 9
mknod -m 666 "$r/dev/tty" c 5 0
mkdir -m 0755 "$r/dev/pts"
mkdir -m 1777 "$r/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$r/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev,size=64m tmpfs "$r/dev/shm"
ln -s pts/ptmx "$r/dev/ptmx"
ln -s /proc/self/fd "$r/dev/fd"
ln -s /proc/self/fd/0 "$r/dev/stdin"
ln -s /proc/self/fd/1 "$r/dev/stdout"
ln -s /proc/self/fd/2 "$r/dev/stderr"
mount -t tmpfs -o mode=0755,nosuid,nodev,size=32m tmpfs "$r/run"
mkdir -m 1777 "$r/run/lock"
hostname "$hn"
cd "$r"
pivot_root . mnt
cd /
umount -l /mnt
exec /usr/local/sbin/jiyue-init
"""


@dataclass(frozen=True)
class ProcId:
    """A process identity that survives PID reuse: the PID and its start time (clock ticks
    since boot, field 22 of ``/proc/<pid>/stat``)."""

    pid: int
    starttime: int

    @classmethod
    def of(cls, pid: int) -> ProcId | None:
        start = proc_starttime(pid)
        return None if start is None else cls(pid, start)

    def alive(self) -> bool:
        return proc_starttime(self.pid) == self.starttime

    def kill(self, sig: int = signal.SIGKILL) -> bool:
        """Signal the process only if it is still the one recorded; True if signalled."""
        if not self.alive():
            return False
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return False
        return True


def proc_starttime(pid: int) -> int | None:
    """Start time of ``pid`` from ``/proc``, or None if there is no such process (or it is
    a zombie already, which no longer matters)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        _reap(pid)
        return None
    return int(fields[19])


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our child (so it does not linger as a zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def pids_in_netns(netns: str) -> list[int]:
    """Every process whose network namespace is ``netns`` (by inode, like
    ``ip netns pids``): how ``down`` finds a process that a crash kept from being recorded."""
    ident = net.netns_inode(netns)
    if ident is None:
        return []
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry.name}/ns/net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == ident:
            found.append(int(entry.name))
    return found


def wait_gone(procs: Iterable[ProcId], timeout: float = 10.0) -> list[ProcId]:
    """Wait until every process has exited; return those still alive at the timeout."""
    pending = list(procs)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending if p.alive()]
        if pending:
            time.sleep(0.02)
    return pending


def sshd_listening(pid: int, port: int = 22) -> bool:
    """True once a socket listens on ``port`` in the network namespace of ``pid``."""
    needle = f":{port:04X} "
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            return False
        for line in lines:
            cols = line.split()
            if len(cols) > 3 and cols[1].endswith(needle.strip()) and cols[3] == "0A":
                return True
    return False


def prepare_upper(host_dir: Path, hostname: str, authorized_keys: str, files: dict[str, bytes] | None = None) -> str:
    """Create the host's overlay directories and seed its upper layer: hostname, hosts,
    root's authorized_keys and a fresh ed25519 host key. Returns the host public key line."""
    upper, work, root = host_dir / "upper", host_dir / "work", host_dir / "root"
    for d in (upper, work, root):
        d.mkdir(parents=True, exist_ok=True)
    (upper / "etc").mkdir(mode=0o755, exist_ok=True)
    (upper / "etc/hostname").write_text(hostname + "\n")
    (upper / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost\n")
    ssh_dir = upper / "etc/ssh"
    ssh_dir.mkdir(mode=0o755, exist_ok=True)
    key = ssh_dir / "ssh_host_ed25519_key"
    if not key.exists():
        net.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{hostname}", "-f", str(key)])
    dot_ssh = upper / "root/.ssh"
    (upper / "root").mkdir(mode=0o700, exist_ok=True)
    dot_ssh.mkdir(mode=0o700, exist_ok=True)
    auth = dot_ssh / "authorized_keys"
    auth.write_text(authorized_keys)
    auth.chmod(0o600)
    for rel, content in (files or {}).items():
        path = upper / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    pub = (ssh_dir / "ssh_host_ed25519_key.pub").read_text().split()
    return f"{pub[0]} {pub[1]}"


def spawn(netns: str, hostname: str, image: Path, host_dir: Path) -> subprocess.Popen[bytes]:
    """Start the host: ``ip netns exec`` → ``unshare`` (mount, PID, UTS) → boot script → sshd.

    Returns the ``unshare`` process (still PID-identical to the ``ip`` that exec'ed into it);
    its only child is the host's PID 1. ``--kill-child`` ties the host's life to it.
    """
    with open(host_dir / "console.log", "ab") as console:
        return subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                netns,
                "unshare",
                "--mount",
                "--pid",
                "--uts",
                "--fork",
                "--kill-child",
                "--propagation",
                "private",
                "sh",
                "-c",
                BOOT_SCRIPT,
                "jiyue-boot",
                str(image),
                str(host_dir / "upper"),
                str(host_dir / "work"),
                str(host_dir / "root"),
                hostname,
            ],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            env=HOST_ENV,
            start_new_session=True,
            close_fds=True,
        )


def find_init(unshare_pid: int, timeout: float = 5.0) -> int:
    """PID (in the root PID namespace) of the host's PID 1: ``unshare``'s only child."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = children(unshare_pid)
        if kids:
            return kids[0]
        if proc_starttime(unshare_pid) is None:
            break
        time.sleep(0.005)
    raise LabError(f"host init did not start (unshare pid {unshare_pid})")


def wait_ready(inits: dict[str, ProcId], host_dirs: dict[str, Path], timeout: float) -> None:
    """Wait until sshd listens in every host; raise naming each host that failed, with the
    tail of its console log."""
    pending = dict(inits)
    deadline = time.monotonic() + timeout
    failed: dict[str, str] = {}
    while pending and time.monotonic() < deadline:
        for name, proc in list(pending.items()):
            if sshd_listening(proc.pid):
                del pending[name]
            elif not proc.alive():
                failed[name] = "exited"
                del pending[name]
        if pending:
            time.sleep(0.02)
    failed.update({name: f"not listening after {timeout:.0f} s" for name in pending})
    if failed:
        details = []
        for name, why in sorted(failed.items()):
            log = host_dirs[name] / "console.log"
            tail = log.read_text(errors="replace").splitlines()[-8:] if log.exists() else []
            details.append(f"{name}: {why}\n    " + "\n    ".join(tail))
        raise LabError("hosts failed to start:\n" + "\n".join(details))
