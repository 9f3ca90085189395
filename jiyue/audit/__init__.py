"""The audit (T1): the zombie score (T1.2) of the evidence collected from live hosts, and each
department's integration list (T2.1)."""
