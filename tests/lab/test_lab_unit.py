"""Parts of the lab engine that need neither root nor a machine to run on."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from lab import HostSpec, ImageRecipe, Lab, LabError, NotRootError
from lab import image as image_module
from lab.lab import _machine_needs, lab_tag
from lab.state import LabState


def test_image_digest_follows_the_package_list() -> None:
    base = ImageRecipe()
    assert base.digest == ImageRecipe().digest
    assert ImageRecipe(packages=base.packages + ("vim-tiny",)).digest != base.digest
    assert ImageRecipe(packages=tuple(reversed(base.packages))).digest == base.digest
    assert base.path().name == f"image-{base.digest}"


def test_no_mirror_name_in_the_recipe() -> None:
    source = Path(image_module.__file__).read_text()
    # no mirror URL at all: debootstrap's default mirror is used
    assert "http://" not in source and "https://" not in source and ".debian.org" not in source


def test_lab_tags_are_short_and_distinct() -> None:
    assert lab_tag("demo") == "demo"
    assert len(lab_tag("default")) <= 6
    assert lab_tag("default") != lab_tag("default2")
    lab = Lab("a-very-long-lab-name")
    assert len(lab.root_ifname("bas0")) <= 15
    with pytest.raises(LabError):
        Lab("demo").root_ifname("much-too-long")
    with pytest.raises(LabError):
        Lab("Bad Name")


def test_state_journal_round_trips(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "state.json"
    state = LabState.load(path, "x", "x")
    res = state.intend("netns", name="jl-x-a")
    assert LabState.load(path, "x", "x").resources[0].status == "intended"
    state.created(res)
    loaded = LabState.load(path, "x", "x")
    assert loaded.resources[0].status == "created"
    assert loaded.find("netns", name="jl-x-a") is not None


@pytest.mark.skipif(os.geteuid() == 0, reason="checks the message non-root users get")
def test_non_root_gets_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotRootError, match="need root"):
        Lab("x", base_dir=tmp_path).up_hosts([HostSpec("h")])


def test_a_lab_range_never_covers_what_the_machine_needs(tmp_path):
    """A lab range over the machine's name server or default gateway would cut it off its
    package registries: refused before anything is created."""
    needs = _machine_needs()
    if not needs:
        pytest.skip("this machine has no name server or default gateway to protect")
    addr, what = needs[0]
    net_ = ipaddress.ip_network(f"{addr}/{24 if addr.version == 4 else 64}", strict=False)
    lab = Lab("guard", base_dir=tmp_path)
    with pytest.raises(LabError, match="would cut the machine off"):
        lab._check_not_machine_network(net_, other_labs_ok=True)
