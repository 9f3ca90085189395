"""Rehearsal lab engine: real hosts in network namespaces over overlay root file systems.

The low-level layer of the lab (issue 5). The topology layer builds the city's segments from
the registry and drives this package through :class:`lab.Lab`:

- :mod:`lab.image`  builds and caches the golden Debian bookworm root file system,
- :mod:`lab.host`   starts one host (netns + mount/PID/UTS namespaces + overlay root + sshd),
- :mod:`lab.net`    network primitives (veth links, bridges, addresses, routes, nftables),
- :mod:`lab.state`  the per-lab state file that makes ``down`` exact, idempotent and crash-safe,
- :mod:`lab.lab`    the facade tying them together.
"""

from lab.errors import LabError, NotRootError
from lab.image import ImageRecipe, build_image, ensure_image
from lab.lab import HostSpec, Lab, LabStatus

__all__ = [
    "HostSpec",
    "ImageRecipe",
    "Lab",
    "LabError",
    "LabStatus",
    "NotRootError",
    "build_image",
    "ensure_image",
]
