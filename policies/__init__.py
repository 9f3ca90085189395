"""The jiyue policy pack (a Pulumi CrossGuard pack) and the tools security staff run around it.

- ``__main__.py``, ``PulumiPolicy.yaml``, ``requirements.txt``: the pack as the engine runs it;
- ``rules/``: one rule per file (``META`` + ``check`` or ``check_stack``);
- ``core.py``, ``city.py``: the context a rule is judged in (its stack, and the city's facts that
  ``jiyue policy facts`` writes: the pack imports nothing of ``jiyue``);
- ``pack.py``: the rules as CrossGuard policies; ``sdk.py``: what the pack changes inside
  pulumi-policy, for its pinned version only;
- ``analyzer.py``, ``check.py``: the offline driver that starts the pack and talks to it over gRPC;
- ``waivers.py``, ``findings.py``, ``report.py``: reviewed waivers, findings, and text/JSON/SARIF/HTML reports;
- ``hosts/``: testinfra checks of migrated hosts, reading an Ansible inventory (the migration's).
"""
