"""The lab built from the city model: the plan (pure) and the real thing (root, session lab)."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest
import testinfra
from netaddr import IPAddress, IPNetwork, IPSet

from infra import outputs as contract
from jiyue.ipam import plan as ip_plan
from jiyue.registry import DEFAULT_CITY, load_city
from lab.probe import expected_matrix, probe
from lab.topology import plan_lab, plan_text

#: the sample city's pilot plan as recorded: plan_lab is pure and deterministic
RECORDED_PILOT_PLAN = Path(__file__).parent / "data" / "pilot_plan.json"


@pytest.fixture(scope="module")
def pilot():
    model = load_city(DEFAULT_CITY)
    ip = ip_plan(model)
    return model, ip, plan_lab(model, ip, model.city.pilot_departments, contract.city_targets(model, ip))


def test_the_pilot_plan_is_the_recorded_one(pilot):
    """Byte for byte what plan_lab gave before its layers were split; when the topology changes
    on purpose, record it again: the plan.json ``build`` writes, i.e. ``plan_text(plan)``."""
    _, _, plan = pilot
    assert plan_text(plan) == RECORDED_PILOT_PLAN.read_text(encoding="utf-8")


def test_the_plan_reads_the_targets_it_is_given(pilot):
    model, ip, _ = pilot
    targets = copy.deepcopy(contract.city_targets(model, ip))
    stack = "intranet-primary-finance"
    system = next(iter(targets[stack]))
    host = targets[stack][system]["hosts"][0]
    host["address"] = "10.0.99.99"
    plan = plan_lab(model, ip, ["finance"], targets)
    assert next(h for h in plan.hosts if h.name == host["name"]).address == "10.0.99.99"
    assert plan.outputs[stack]["systems"] == targets[stack]
    del targets[stack]
    with pytest.raises(KeyError, match=stack):
        plan_lab(model, ip, ["finance"], targets)


def test_targets_sit_where_the_stack_outputs_put_them(pilot):
    model, ip, plan = pilot
    targets = {h.name: h for h in plan.hosts if h.role == "target"}
    expected = {}
    for stack, data in plan.outputs.items():
        zone, site, dep = stack.split("-", 2)
        assert data["systems"] == contract.system_targets(model, ip, dep, zone, site)
        for sysdata in data["systems"].values():
            for h in sysdata["hosts"]:
                if h["state"] == "running":
                    expected[h["name"]] = h["address"]
    assert {n: h.address for n, h in targets.items()} == expected
    for h in targets.values():
        assert IPAddress(h.address) in IPNetwork(ip.segment(h.department, h.zone, h.site).cidr)


def test_legacy_hosts_keep_their_addresses_behind_a_per_department_map(pilot):
    model, ip, plan = pilot
    legacy = [h for h in plan.hosts if h.role == "legacy"]
    assert len(legacy) == sum(len(s.legacy_hosts) for d in model.city.pilot_departments
                              for s in model.departments[d].systems)
    seen = set()
    for h in legacy:
        reg = next(x for x in model.systems[h.system].legacy_hosts if x.name == h.legacy_name)
        assert h.cidr.split("/")[0] == reg.address  # the registry's own address, overlaps and all
        assert IPAddress(h.address) in IPNetwork(ip.legacy_block(h.department, reg.lan))
        assert h.address not in seen  # the mapped addresses are unique city-wide
        seen.add(h.address)


def test_every_lab_address_is_protected_and_none_is_the_machines(pilot):
    _, _, plan = pilot
    protected = IPSet(plan.protect)
    for h in plan.hosts:
        assert IPAddress(h.cidr.split("/")[0]) in protected, h
        assert IPAddress(h.address) in protected, h
    for *_, root_addr, _ in plan.root_links:
        assert IPAddress(root_addr.split("/")[0]) in protected
    assert not (protected & IPSet(["192.0.2.0/24"]))  # the machine's own network here


def test_expected_matrix_isolates_the_intranet(pilot):
    model, _, plan = pilot
    m = expected_matrix(model, plan)
    assert m["intranet-primary"]["intranet-dr"] is True
    assert not any(m["intranet-primary"][d] for d in ("extranet-primary", "extranet-dr", "internet"))
    # the Internet is the extranet systems' (the flow table's internet flows), not the bastions'
    assert m["extranet-dr"]["internet"] is False and m["audit-website-1"]["internet"] is True
    assert m["audit-website-1"]["internet:22"] is False
    assert not any(m["internet"].values())


# ----------------------------------------------------------------- on the real lab (root)


@pytest.mark.lab
def test_probe_matrix_matches_the_plan(city_lab):
    observed = probe(city_lab.lab, city_lab.plan)
    assert observed == expected_matrix(city_lab.model, city_lab.plan)


@pytest.mark.lab
def test_status_json(city_lab, cli):
    result = cli("lab", "status", "--name", city_lab.lab.name, "--format", "json")
    hosts = json.loads(result.stdout)["hosts"]
    assert {h["role"] for h in hosts} == {"legacy", "target", "bastion", "egress", "internet"}
    for h in hosts:
        assert {"name", "role", "zone", "site", "department", "address", "netns"} <= h.keys()
        assert h["netns"].startswith(city_lab.lab.netns_prefix) and h["running"]


@pytest.mark.lab
def test_outputs_file_has_the_stack_output_shape(city_lab):
    data = json.loads((city_lab.lab.dir / "outputs.json").read_text())
    for stack, outputs in data["stacks"].items():
        assert set(outputs) == {contract.ZONE, contract.SITE, contract.DEPARTMENT, contract.SEGMENT, contract.SYSTEMS}
        assert stack == f"{outputs['zone']}-{outputs['site']}-{outputs['department']}"


@pytest.mark.lab
def test_machine_namespace_guards_every_lab_range(city_lab):
    routes = subprocess.run(["ip", "-4", "route", "show", "type", "unreachable"], capture_output=True, text=True,
                            check=True).stdout
    guarded = IPSet(line.split()[1] for line in routes.splitlines() if line.strip())
    assert IPSet(city_lab.plan.protect) <= guarded


@pytest.mark.lab
def test_testinfra_over_real_ssh_through_the_bastion(city_lab):
    lab = city_lab.lab
    legacy = next(h for h in city_lab.plan.hosts if h.role == "legacy")
    target = next(h for h in city_lab.plan.hosts if h.role == "target")
    for h in (legacy, target):
        host = testinfra.get_host(f"ssh://{h.name}", ssh_config=str(lab.ssh_config))
        assert host.check_output("hostname") == h.name
        assert host.interface("eth0").addresses[0] == h.cidr.split("/")[0]
        assert host.process.filter(comm="sshd")
        effective = host.check_output("sshd -T")
        assert "passwordauthentication no" in effective and "permitrootlogin without-password" in effective


@pytest.mark.lab
def test_a_wrong_host_key_is_refused(city_lab, tmp_path):
    lab = city_lab.lab
    bad = tmp_path / "known_hosts"
    text = lab.known_hosts.read_text()
    first = text.splitlines()[0].split()
    bad.write_text(text.replace(first[2], "AAAAC3NzaC1lZDI1NTE5AAAAIJ2cLzL3bqgRDrrTMPTJHL6tbYtF6S4+0M3/WYJ0CF5o"))
    argv = lab.ssh_argv(first[0].split(",")[0], "true")
    argv[1:1] = ["-o", f"UserKnownHostsFile={bad}"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "Host key verification failed" in proc.stderr or "REMOTE HOST IDENTIFICATION" in proc.stderr
