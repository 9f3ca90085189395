"""The pack's rules, one per module; ALL is their stable order (the report's order too)."""

from __future__ import annotations

from types import ModuleType

from . import (
    classified_intranet_only,
    classified_volume_encrypted,
    dr_counterpart,
    dr_matches_primary,
    egress_deny_by_default,
    egress_single_gateway,
    filing_gate,
    ingress_admin_from_management,
    ingress_no_allow_all,
    ingress_public_web_only,
    intranet_no_external_gateway,
    intranet_no_external_network,
    intranet_no_floating_ip,
    intranet_nothing_shared,
    pack_context,
    platform_built_once,
    quota_within_allowance,
    router_own_zone,
    subnet_city_plan,
    subnet_in_plan,
    subnet_no_overlap,
    tags_required,
)

ALL: list[ModuleType] = [
    intranet_no_external_gateway,
    intranet_no_floating_ip,
    intranet_no_external_network,
    intranet_nothing_shared,
    egress_single_gateway,
    ingress_public_web_only,
    ingress_admin_from_management,
    ingress_no_allow_all,
    egress_deny_by_default,
    classified_intranet_only,
    classified_volume_encrypted,
    dr_counterpart,
    dr_matches_primary,
    router_own_zone,
    subnet_no_overlap,
    subnet_city_plan,
    subnet_in_plan,
    tags_required,
    quota_within_allowance,
    platform_built_once,
    filing_gate,
    pack_context,
]
BY_NAME = {m.META.name: m for m in ALL}
assert len(BY_NAME) == len(ALL), "rule names must be unique"
