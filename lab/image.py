"""The golden image: a Debian bookworm root file system that every lab host overlays.

Built once with ``debootstrap`` (its default mirror: no mirror name is written here), cached
under ``/var/cache/jiyue/lab/image-<hash>``, where the hash covers the package list, the suite,
the recipe version and the files this module installs into the image; a changed recipe gives
a new directory, an unchanged one is reused. The build happens in a temporary directory that is
renamed into place only when complete, so a crash never leaves a half image behind a valid name.

Inside the image:
- ``/usr/sbin/policy-rc.d`` refuses every service start during package installation (also later,
  inside hosts: installing a package never starts it by surprise),
- no ssh host keys (each host gets its own), sshd key-only (``sshd_config.d/jiyue-lab.conf``),
- ``/usr/local/sbin/jiyue-init`` (a host's PID 1 before it becomes sshd) and
  ``/usr/local/sbin/jiyue-service`` (start/stop/status/enable services without systemd),
- every SysV service disabled, so an idle host runs sshd only.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from lab.errors import LabError, require_root, require_tools

#: Bump when the build steps below change in a way the package list does not show.
RECIPE_VERSION = 1

DEFAULT_CACHE_DIR = Path("/var/cache/jiyue/lab")

#: What the hosts run: the services legacy systems use, and what Ansible/testinfra need.
DEFAULT_PACKAGES: tuple[str, ...] = (
    "openssh-server",
    "openssh-client",
    "python3",
    "rsync",
    "nginx",
    "postgresql",
    "sudo",
    "iproute2",
    "nftables",
    "procps",
    "cron",
    "acl",
    "ca-certificates",
    "iputils-ping",
    "netcat-openbsd",
    "curl",
)

#: Files of this package installed into the image: (resource name, path in image, mode).
_IMAGE_FILES: tuple[tuple[str, str, int], ...] = (
    ("jiyue-init", "usr/local/sbin/jiyue-init", 0o755),
    ("jiyue-service", "usr/local/sbin/jiyue-service", 0o755),
    ("sshd_config", "etc/ssh/sshd_config.d/jiyue-lab.conf", 0o644),
)

_POLICY_RC_D = "#!/bin/sh\n# Lab image: never start services from package scripts.\nexit 101\n"

Progress = Callable[[str], None]


def print_progress(message: str) -> None:
    """Default progress sink: one line on stderr, flushed."""
    print(f"[lab] {message}", file=sys.stderr, flush=True)


def quiet(_: str) -> None:
    """The progress sink that says nothing."""


def _file_bytes(name: str) -> bytes:
    return resources.files("lab").joinpath("files", name).read_bytes()


@dataclass(frozen=True)
class ImageRecipe:
    """What goes into the golden image; its :attr:`digest` names the cache directory."""

    suite: str = "bookworm"
    packages: tuple[str, ...] = DEFAULT_PACKAGES
    variant: str = "minbase"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """Short hash of everything that determines the image's content."""
        h = hashlib.sha256()
        h.update(
            json.dumps(
                {
                    "recipe": RECIPE_VERSION,
                    "suite": self.suite,
                    "variant": self.variant,
                    "packages": sorted(set(self.packages)),
                    "extra": self.extra,
                },
                sort_keys=True,
            ).encode()
        )
        for name, dest, mode in _IMAGE_FILES:
            h.update(f"{name}:{dest}:{mode:o}:".encode())
            h.update(_file_bytes(name))
        h.update(_POLICY_RC_D.encode())
        return h.hexdigest()[:12]

    def path(self, cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
        """Where this recipe's image lives (whether built yet or not)."""
        return cache_dir / f"image-{self.digest}"


@dataclass(frozen=True)
class ImageBuild:
    """Result of :func:`ensure_image`."""

    path: Path
    digest: str
    built: bool  #: False when the cached image was reused
    seconds: float


def _run(
    argv: Sequence[str],
    progress: Progress,
    show: Callable[[str], bool] = lambda line: False,
    env: dict[str, str] | None = None,
) -> None:
    """Run a build step, echoing the lines ``show`` selects; on failure, the output's tail."""
    proc = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=env,
    )
    tail: list[str] = []
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.rstrip()
        tail = (tail + [line])[-40:]
        if show(line):
            progress(line)
    if proc.wait() != 0:
        raise LabError(f"image build step failed ({proc.returncode}): {' '.join(argv)}\n" + "\n".join(tail))


def _in_private_namespaces(root: Path, script: str) -> list[str]:
    """argv running ``script`` with ``root``'s /proc mounted, in throw-away mount and PID
    namespaces: whatever a package script leaves running dies with the namespace."""
    return [
        "unshare",
        "--mount",
        "--pid",
        "--fork",
        "--propagation",
        "private",
        "sh",
        "-euc",
        f'mount -t proc proc "{root}/proc"\n{script}',
    ]


def build_image(recipe: ImageRecipe, target: Path, progress: Progress = print_progress) -> None:
    """Build ``recipe`` into the (new, empty) directory ``target``; no caching, no rename."""
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
    }
    progress(f"debootstrap --variant={recipe.variant} {recipe.suite} (default mirror)")
    _run(
        ["debootstrap", f"--variant={recipe.variant}", recipe.suite, str(target)],
        progress,
        show=lambda line: line.startswith(("I: Retrieving Release", "I: Base system installed")),
        env=env,
    )
    policy = target / "usr/sbin/policy-rc.d"
    policy.write_text(_POLICY_RC_D)
    policy.chmod(0o755)

    packages = " ".join(sorted(set(recipe.packages)))
    progress(f"installing {len(set(recipe.packages))} packages: {packages}")
    chroot = f'chroot "{target}"'
    _run(
        _in_private_namespaces(
            target,
            f"{chroot} apt-get update -q\n"
            f"{chroot} apt-get install -y -q --no-install-recommends {packages}\n"
            f"{chroot} apt-get clean\n",
        ),
        progress,
        show=lambda line: line.startswith(
            ("Fetched", "Setting up nginx ", "Setting up postgresql-1", "Setting up openssh-server")
        ),
        env=env,
    )

    progress("configuring: no host keys, key-only sshd, services off, lab helpers")
    for key in (target / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    for name, dest, mode in _IMAGE_FILES:
        path = target / dest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_file_bytes(name))
        path.chmod(mode)
    # Disable every SysV service so an idle host runs sshd only; `jiyue-service enable X`
    # (or Ansible's service module) turns one back on.
    services = sorted(p.name for p in (target / "etc/init.d").iterdir() if p.is_file())
    disable = "\n".join(f'{chroot} update-rc.d -f "{s}" disable >/dev/null 2>&1 || true' for s in services)
    _run(
        _in_private_namespaces(
            target,
            f"{disable}\n"
            # '*' (not '!'): sshd with UsePAM=no refuses even key logins for locked accounts.
            f"{chroot} usermod -p '*' root\n"
            f'rm -rf "{target}"/var/lib/apt/lists/* "{target}"/var/cache/apt/*.bin\n',
        ),
        progress,
        env=env,
    )
    (target / "etc/resolv.conf").write_text("# lab hosts have no DNS\n")
    (target / "etc/hostname").write_text("lab\n")
    meta = {
        "digest": recipe.digest,
        "recipe_version": RECIPE_VERSION,
        "suite": recipe.suite,
        "variant": recipe.variant,
        "packages": sorted(set(recipe.packages)),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (target / "etc/jiyue").mkdir(exist_ok=True)
    (target / "etc/jiyue/image.json").write_text(json.dumps(meta, indent=2) + "\n")


def ensure_image(
    recipe: ImageRecipe | None = None,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    progress: Progress = print_progress,
) -> ImageBuild:
    """Return the cached image for ``recipe``, building it first if missing.

    Concurrent callers serialize on a lock file; the build goes into a temporary directory
    that is renamed into place when complete (a leftover from a crashed build is removed).
    """
    recipe = recipe or ImageRecipe()
    final = recipe.path(cache_dir)
    if (final / "etc/jiyue/image.json").is_file():
        return ImageBuild(final, recipe.digest, built=False, seconds=0.0)
    require_root("build the lab's golden image")
    require_tools({"debootstrap": "debootstrap", "unshare": "util-linux", "chroot": "coreutils"})
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / "etc/jiyue/image.json").is_file():
            return ImageBuild(final, recipe.digest, built=False, seconds=0.0)
        tmp = cache_dir / f".image-{recipe.digest}.building"
        if tmp.exists():
            progress(f"removing the leftover of an interrupted build: {tmp}")
            shutil.rmtree(tmp)
        tmp.mkdir(mode=0o755)
        started = time.monotonic()
        progress(f"building image {recipe.digest} into {final}")
        try:
            build_image(recipe, tmp, progress)
        except BaseException:
            progress(f"build failed; partial tree left at {tmp} (removed on the next build)")
            raise
        os.rename(tmp, final)
        seconds = time.monotonic() - started
        progress(f"image {recipe.digest} built in {seconds:.0f} s: {final}")
        return ImageBuild(final, recipe.digest, built=True, seconds=seconds)
