"""The audit (T1): evidence from live hosts, the zombie score (T1.2), integration lists (T2.1)."""
