"""Migration engine (T4): waves of systems moved from legacy hosts into the data center.

- :mod:`migration.run`          a run: its one set-up, the selection of systems, a wave, a dry run,
                                the audit's collection,
- :mod:`migration.engine`       the steps of one system, driven through the playbooks,
- :mod:`migration.consolidate`  several sources onto fewer targets without loss,
- :mod:`migration.state`        every system's lifecycle in SQLite; resumable, single-driver,
- :mod:`migration.waves`        the wave plan: pilot first, dependent systems together,
- :mod:`migration.inventory`    the Ansible inventory, derived from the city model and stack outputs,
- :mod:`migration.runner`       one typed facade over ``ansible_runner.run`` (check mode included),
- :mod:`migration.verify`       what the verification (T4.3) expects, measured on the sources; the
                                suite itself is :mod:`migration.suite`,
- :mod:`migration.report`       the wave's report, with each system's downtime at cutover,
- :mod:`migration.audit`        the audit's evidence from live hosts (T1.1, T1.2).
"""

import os as _os
import sys as _sys
from pathlib import Path as _Path


def tools_on_path() -> None:
    """Ansible's and testinfra's commands (ansible-playbook, ansible-inventory) live beside this
    Python (the venv's bin), which need not be on PATH when ``.venv/bin/jiyue`` is run directly."""
    here = str(_Path(_sys.executable).parent)
    path = _os.environ.get("PATH", "")
    if here not in path.split(_os.pathsep):
        _os.environ["PATH"] = here + _os.pathsep + path
