"""The lab's firewalls come from the flow table: the plan (pure), then a real lab of two
departments (name "fw1"): the egress host answers nothing from the Internet, a target reaches no
other department's legacy hosts, and its own system's only while its migration flows are open."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from infra.outputs import city_targets
from jiyue.ipam import IpPlan
from jiyue.ipam import plan as ip_plan
from jiyue.registry import DEFAULT_CITY, CityModel, load_city
from lab import Lab, LabError
from lab.bringup import lab_up
from lab.migrations import close_migration, open_flows, open_migration
from lab.probe import expected_matrix, probe
from lab.topology import LabPlan, plan_lab, plan_text

LAB_NAME = "fw1"
DEPARTMENTS = ("audit", "finance")
#: audit's target, finance's legacy host in the same zone (the extranet), finance's own target of it
OTHER, SOURCE, OWN = "audit-website-1", "finance-nontax-app1", "finance-nontax-1"


@pytest.fixture(scope="module")
def planned() -> tuple[CityModel, IpPlan, LabPlan]:
    model = load_city(DEFAULT_CITY)
    ip = ip_plan(model)
    return model, ip, plan_lab(model, ip, DEPARTMENTS, city_targets(model, ip))


def test_the_egress_host_accepts_only_ssh_from_its_management_segment(planned) -> None:
    _, ip, plan = planned
    nft = plan.egress_nft
    chain = nft[nft.index("chain input"):nft.index("chain forward")]
    assert "policy drop;" in chain
    accepts = [line.strip() for line in chain.splitlines() if line.strip().endswith("accept")]
    assert accepts == ['iif "lo" accept', "ct state established,related accept",
                       f'iifname "eth0" ip saddr {ip.management("extranet", "primary").cidr} tcp dport 22 accept']


def test_the_egress_forwards_only_the_internet_flows_of_the_labs_targets(planned) -> None:
    _, _, plan = planned
    forward = plan.egress_nft[plan.egress_nft.index("chain forward"):plan.egress_nft.index("chain postrouting")]
    extranet = {h.address for h in plan.hosts if h.role == "target" and h.zone == "extranet"}
    rule = next(line for line in forward.splitlines() if "oifname" in line)
    assert set(rule.split("{")[1].split("}")[0].replace(",", " ").split()) == extranet
    assert "tcp dport { 80, 443 }" in rule


def test_an_edge_opens_its_lans_to_the_bastion_and_to_the_migrating_set_only(planned) -> None:
    model, ip, plan = planned
    edge = next(r for r in plan.routers if r.node == "d-finance").nft or ""
    forward = edge[edge.index("chain forward"):]
    mgmt = {ip.management(z, "primary").cidr for z in ("intranet", "extranet")}
    for line in forward.splitlines():
        if "ct original ip daddr" in line and "@migrating" not in line:
            assert line.split("ip saddr ")[1].split()[0] in mgmt, line
    assert "elements" not in edge  # the migrating set starts empty
    assert "ip saddr . ct original ip daddr . tcp dport @migrating accept" in forward
    for system, flows in plan.migrations.items():
        legacy = {h.name for h in model.systems[system].legacy_hosts}
        assert {f.source for f in flows} == legacy and {f.port for f in flows} == {22}
        assert all(plan.host(f.target).system == system and plan.host(f.target).site == "primary" for f in flows)


def test_the_expected_matrix_follows_the_open_migration_flows(planned) -> None:
    model, _, plan = planned
    closed = expected_matrix(model, plan)
    assert closed[OTHER][f"{SOURCE}:22"] is False and closed[OTHER][f"{SOURCE}:80"] is False
    assert closed[OWN][f"{SOURCE}:22"] is False
    assert closed["internet"]["egress:22"] is False and closed["internet"]["egress:161/udp"] is False
    assert closed["extranet-primary"]["egress:22"] is True and closed["extranet-primary"][f"{SOURCE}:22"] is True
    opened = expected_matrix(model, plan, {"finance-nontax": plan.migrations["finance-nontax"]})
    assert opened[OWN][f"{SOURCE}:22"] is True and opened[OTHER][f"{SOURCE}:22"] is False
    assert opened[OWN][f"{SOURCE}:80"] is False


def test_a_pair_that_is_not_the_systems_own_is_refused_before_anything_opens(planned, tmp_path) -> None:
    _, _, plan = planned
    lab = Lab(LAB_NAME, base_dir=tmp_path)
    lab.dir.mkdir(parents=True)
    (lab.dir / "plan.json").write_text(plan_text(plan))
    with pytest.raises(LabError, match="not migration flows of 'finance-nontax'"):
        open_migration(lab, "finance-nontax", [(OTHER, SOURCE)])
    with pytest.raises(LabError, match="no migration flow of 'bigdata-exchange'"):
        open_migration(lab, "bigdata-exchange")
    assert open_flows(lab) == {}


# ----------------------------------------------------------------- on the real lab (root)


@dataclass(frozen=True)
class FlowLab:
    lab: Lab
    model: CityModel
    plan: LabPlan


@pytest.fixture(scope="module")
def flow_lab() -> Iterator[FlowLab]:
    """Audit and finance, seeded (the legacy hosts' web servers answer), taken down at the end."""
    model = load_city(DEFAULT_CITY)
    ip = ip_plan(model)
    with lab_up(Lab(LAB_NAME, progress=lambda _: None), model, ip, DEPARTMENTS, city_targets(model, ip)) as up:
        yield FlowLab(up.lab, model, up.plan)


@pytest.mark.lab
def test_the_probe_matches_the_flow_table(flow_lab, cli) -> None:
    result = cli("lab", "probe", "--name", LAB_NAME, "--format", "json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["differences"] == []
    seen = report["observed"]
    assert seen["internet"]["egress:22"] is False and seen["internet"]["egress:161/udp"] is False
    assert seen["extranet-primary"]["egress:22"] is True  # the lab still manages it
    assert seen[OTHER][f"{SOURCE}:22"] is False and seen[OTHER][f"{SOURCE}:80"] is False
    assert seen[OWN][f"{SOURCE}:22"] is False  # closed until its migration opens it
    assert seen["extranet-primary"][f"{SOURCE}:80"] is True and seen[OTHER]["internet"] is True


@pytest.mark.lab
def test_migration_flows_open_and_close(flow_lab, cli) -> None:
    lab, model, plan = flow_lab.lab, flow_lab.model, flow_lab.plan
    result = cli("lab", "flows", "--name", LAB_NAME, "--open", "finance-nontax", "--format", "json")
    assert result.exit_code == 0
    opened = [f for f in json.loads(result.stdout)["systems"]["finance-nontax"] if f["open"]]
    assert {(f["target"], f["source"]) for f in opened} == {(OWN, SOURCE), (OWN, "finance-nontax-db1")}
    assert open_migration(lab, "finance-nontax", [(OWN, SOURCE)]) == plan.migrations["finance-nontax"]  # idempotent
    status = json.loads(cli("lab", "status", "--name", LAB_NAME, "--format", "json").stdout)
    assert set(status["migrations_open"]) == {"finance-nontax"}

    seen = probe(lab, plan)
    assert seen == expected_matrix(model, plan, open_flows(lab))
    assert seen[OWN][f"{SOURCE}:22"] is True and seen[OWN][f"{SOURCE}:80"] is False
    assert seen[OTHER][f"{SOURCE}:22"] is False

    assert close_migration(lab, "finance-nontax") == plan.migrations["finance-nontax"]
    assert close_migration(lab, "finance-nontax") == []  # idempotent
    seen = probe(lab, plan)
    assert seen[OWN][f"{SOURCE}:22"] is False and seen == expected_matrix(model, plan)
