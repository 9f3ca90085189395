"""Rehearsal lab: real hosts in network namespaces over overlay root file systems, laid out like
the city's data center and the departments' machine rooms.

The engine (:class:`lab.Lab` and what it drives):

- :mod:`lab.image`  builds and caches the golden Debian bookworm root file system,
- :mod:`lab.host`   starts one host (netns + mount/PID/UTS namespaces + overlay root + sshd),
- :mod:`lab.net`    network primitives (veth links, bridges, addresses, routes, nftables),
- :mod:`lab.state`  the per-lab state file that makes ``down`` exact, idempotent and crash-safe,
- :mod:`lab.lab`    the facade tying them together.

On top of it, from the city model and the stack-output contract (passed in as data):

- :mod:`lab.topology` plans the city's segments, routers, hosts and firewalls and builds the plan,
- :mod:`lab.seed`     gives legacy hosts the services, data and activity the registry lists,
- :mod:`lab.bringup`  plans, builds and seeds a lab and takes it down again (:func:`lab.bringup.lab_up`).
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
