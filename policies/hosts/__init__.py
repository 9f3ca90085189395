"""Host checks of migrated hosts (testinfra): ``test_*.py`` (one check per rule, ``rules.py``), what
they judge (``checks.py``), the hosts to check (``inventory.py``: an Ansible inventory, the
migration's), and the runner behind ``jiyue policy hosts`` (``runner.py``)."""
