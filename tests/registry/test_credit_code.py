"""Unified social credit codes (GB 32100-2015), the catalog's provider codes: the check characters
computed by the standard's algorithm on known-good and known-bad codes, and the registry's check.

The samples are synthetic codes computed with the published algorithm (they belong to no real
organisation): the facts are kept here so the tests do not depend on anything outside the
repository.
"""

from __future__ import annotations

import pytest
import yaml

from jiyue import creditcode
from jiyue.registry import DEFAULT_CITY, load_city
from jiyue.status import ExitStatus

VALID = ["11210200481749871M", "11210202612193034L", "11210203661057725C", "112102112173384082",
         "11210213714328956Q", "112102049262212889"]
INVALID = {
    "11210200481749871N": "its check character is 'N', GB 32100 gives 'M'",  # final check wrong
    "112102026121930308": "organization code 61219303-0 has the wrong check character",  # GB 11714 wrong
    "11210I03661057725C": "contains 'I'",
    "11210211217338408": "has 17 characters",
    "11210213714328956q": "lower case is not allowed",
}


@pytest.mark.parametrize("code", VALID)
def test_a_valid_code_passes_and_its_check_characters_are_the_standards(code):
    assert creditcode.problem(code) is None
    assert creditcode.check_character(code[:17]) == code[17]
    assert creditcode.organization_check(code[8:16]) == code[16]
    assert creditcode.make(code[2:8], code[8:16]) == code


@pytest.mark.parametrize("code,says", INVALID.items())
def test_an_invalid_code_says_what_is_wrong(code, says):
    assert says in (creditcode.problem(code) or "")


def test_every_sample_department_has_a_valid_code_of_its_own():
    model = load_city(DEFAULT_CITY)
    codes = {d.id: d.credit_code for d in model.departments.values()}
    assert all(c and creditcode.problem(c) is None for c in codes.values()), codes
    assert len(set(codes.values())) == len(codes)
    assert all(c[2:6] == "2102" for c in codes.values())  # registered in Dalian or one of its districts


def test_two_departments_with_one_code_are_refused_at_the_second(mini_city, cli):
    deps = sorted((mini_city / "departments").glob("*.yaml"))[:2]
    for path in deps:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["credit_code"] = VALID[0]
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    r = cli("validate", "--city", mini_city)
    assert r.exit_code == ExitStatus.BAD_INPUT
    line = next(ln for ln in r.stderr.splitlines() if "is already the code of" in ln)
    assert f"{deps[1].name}:" in line and f"credit_code: {VALID[0]} is already the code of {deps[0].stem}" in line


def test_the_catalog_names_each_provider_by_its_code():
    from jiyue.catalog import build_catalog

    model = load_city(DEFAULT_CITY)
    resources = build_catalog(model).resources
    assert resources and all(r.provider_code == model.departments[r.provider.department].credit_code
                             for r in resources)
    assert all(r.provider_code and creditcode.problem(r.provider_code) is None for r in resources)
