"""The Pulumi program of the city data center (T3.1–T3.6, T4.5, T6–T9).

``pulumi`` runs ``infra/__main__.py`` (thin wiring); the components live in the modules here:

- :mod:`infra.config`     the stack's settings, read from its Pulumi config in one place
- :mod:`infra.plan`       pure decisions from the city model and the IP plan (addresses, rules, DR mode,
                          quotas, volume classes): no Pulumi, shared by the program, the lab and tests
- :mod:`infra.outputs`    the stack-output contract: key constants and the per-system target data
- :mod:`infra.labels`     department, system and classification on every resource (name and tags)
- :mod:`infra.foundation` ``ZoneFoundation`` and ``Egress`` (one per zone and site)
- :mod:`infra.tenant`     ``Tenant`` (project, quotas, groups, roles) and ``Segment`` (network, subnet,
                          router interface)
- :mod:`infra.system`     ``SystemDeployment`` (security group, server group, ports, servers, volumes)
                          and ``Standby`` (the DR counterpart of one system: hot, warm or cold)
- :mod:`infra.program`    one stack's program: which components, which outputs
- :mod:`infra.mocks`      the engine and the OpenStack provider, mocked, recording every registration
- :mod:`infra.preview`    the same program run in-process under ``pulumi.runtime.Mocks``
- :mod:`infra.render`     a preview as text, laid out like ``pulumi preview``
"""
