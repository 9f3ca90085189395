"""The verification suite (T4.3) of one migrated system, run by :func:`migration.verify.run_suite`.

Its expectations (what the frozen sources hold, measured by :func:`migration.verify.measure_sources`)
are a JSON file named by ``$JIYUE_EXPECTATIONS``; by hand::

    JIYUE_EXPECTATIONS=runs/<run>/verify/<system>-verify/expectations.json pytest --pyargs migration.suite
"""
