"""The pack over the real Pulumi program's offline preview (infra/preview.py)."""

from __future__ import annotations

from infra.preview import preview
from jiyue.facts import write_facts
from jiyue.registry import load_city
from policies.check import check_graphs

from .conftest import SAMPLE_CITY


def test_a_department_stack_of_the_real_program_passes_the_pack(facts_file):
    model = load_city(SAMPLE_CITY)
    stack = "intranet-primary-finance"
    resources = preview(model, stack).resources
    assert len(resources) > 20
    report = check_graphs([(stack, resources)], facts=facts_file, mode="direct")
    assert not report.blocking, [f"{f.rule}: {f.message}" for f in report.findings]


def test_a_retired_system_needs_no_dr_counterpart(tmp_path, retirable, retire_in_copy):
    """Retiring a system with an RPO (T1.2) takes it out of the DR stack, and the pack, reading the
    same registry, no longer asks for its counterpart; against the registry before the decision
    the same graph fails the DR rule for exactly that system."""
    model = load_city(SAMPLE_CITY)
    victim = retirable(model, with_dr=True)
    city = retire_in_copy(SAMPLE_CITY, tmp_path / "city", victim.id)
    stack = f"{victim.zone.value}-dr-{model.department_of[victim.id]}"
    graph = [(stack, preview(load_city(city), stack).resources)]

    def dr_findings(registry):
        facts = write_facts(load_city(registry), tmp_path / f"facts-{registry.name}.json")
        report = check_graphs(graph, facts=facts)
        return [f.message for f in report.findings if f.rule == "jiyue-dr-counterpart"]

    assert dr_findings(city) == []
    before = dr_findings(SAMPLE_CITY)
    assert before and all(victim.id in m for m in before), before
