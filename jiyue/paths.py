"""Where the files the program reads at run time are: in the repository's own layout (a checkout,
an editable install) or inside the package that carries them (an installed wheel).

The repository keeps ``playbooks/`` and ``inventories/`` at its top, where Ansible users and
registry editors expect them; a wheel carries them as package data of the package that reads
them (``migration/playbooks``, ``jiyue/inventories``), mapped in ``pyproject.toml``.
"""

from __future__ import annotations

import re
from pathlib import Path

#: a rehearsal lab's name: the name of its directory under the labs' base directory and a part of
#: its namespaces' names, so lower-case letters, digits and '-' only (``jiyue lab up --name``)
LAB_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def bundled(package_file: str, name: str) -> Path:
    """``name`` beside the package of ``package_file`` when installed, else at the repository's top."""
    package = Path(package_file).resolve().parent
    inside = package / name
    return inside if inside.exists() else package.parent / name
