"""The jiyue policy pack (a Pulumi CrossGuard pack) and the tools security staff run around it.

- ``__main__.py``, ``PulumiPolicy.yaml``, ``requirements.txt``: the pack as the engine runs it;
- ``rules/``: one rule per file (``META`` + ``check`` or ``check_stack``);
- ``core.py``, ``city.py``: the context a rule is judged in (stack, zone, registry facts);
- ``analyzer.py``: the offline driver that starts the pack and talks to it over gRPC;
- ``waivers.py``, ``report.py``: reviewed waivers, and text/JSON/SARIF/HTML reports;
- ``hosts/``: testinfra checks of migrated hosts.
"""
