"""The Pulumi program of the city data center (issue 3; T3.1–T3.6, T4.5, T6–T9).

``pulumi`` runs ``infra/__main__.py`` (thin wiring); the components live in the modules here:

- :mod:`infra.plan`       pure decisions from the city model and the IP plan (addresses, rules, DR mode,
                          quotas, volume classes): no Pulumi, shared by the program, the lab and tests
- :mod:`infra.outputs`    the stack-output contract: key constants and the per-system target data
- :mod:`infra.foundation` ``ZoneFoundation`` and ``Egress`` (one per zone and site)
- :mod:`infra.tenant`     ``Tenant`` (project, quotas, groups, roles) and ``Segment`` (network, subnet,
                          router interface)
- :mod:`infra.system`     ``SystemDeployment`` (security group, server group, ports, servers, volumes)
                          and ``Standby`` (the DR counterpart of one system: hot, warm or cold)
- :mod:`infra.program`    one stack's program: which components, which outputs
- :mod:`infra.preview`    the same program run in-process under ``pulumi.runtime.Mocks``
"""
