"""Migration engine (issue 6): waves of systems moved from legacy hosts into the data center.

- :mod:`migration.inventory`  the Ansible inventory, derived from the city model and stack outputs,
- :mod:`migration.state`      every system's lifecycle in SQLite; resumable, single-driver,
- :mod:`migration.waves`      the wave plan: pilot first, dependent systems together,
- :mod:`migration.runner`     one typed facade over ``ansible_runner.run``,
- :mod:`migration.engine`     the steps of one system, driven through the playbooks,
- :mod:`migration.verify`     the testinfra suite generated per system (T4.3).
"""
