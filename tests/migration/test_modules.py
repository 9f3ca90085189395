"""The collection's modules' own logic, without a host: which nginx sites move with a copied
directory, and the TLS files' modes as the driver gives them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

COLLECTION = Path(__file__).resolve().parents[2] / "playbooks/collections/ansible_collections/jiyue/migration"
MODULES = COLLECTION / "plugins" / "modules"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"jiyue_module_{name}", MODULES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


nginx_sites = _load("nginx_sites")


@pytest.mark.parametrize(("conf", "moves"), [
    ("server {\n    root /srv/app;\n}\n", True),
    ("server {\n    root /srv/app/;\n}\n", True),
    ("server {\n    root /srv/app/public;\n}\n", True),          # a directory under a copied one
    ('server {\n    root "/srv/app";\n}\n', True),              # quoted
    ("server { location / { root /srv/app; } }\n", True),       # on one line
    ("server {\n    root /srv/application;\n}\n", False),       # a longer name is another directory
    ("server {\n    root /srv/other;\n}\n", False),
    ("server {\n    # root /srv/app;\n    root /var/www/html;\n}\n", False),  # a comment serves nothing
])
def test_a_site_moves_with_the_directory_it_serves(tmp_path: Path, conf: str, moves: bool) -> None:
    site = tmp_path / "site"
    site.write_text(conf)
    assert nginx_sites.serving(str(site), ["/srv/app", "/srv/data"]) is moves


def test_tls_modes_as_the_driver_gives_them() -> None:
    assert nginx_sites.mode_of({"path": "k", "mode": "0o640"}) == 0o640
    assert nginx_sites.mode_of({"path": "k", "mode": "0600"}) == 0o600
    assert nginx_sites.mode_of({"path": "k", "mode": 0o600}) == 0o600  # an int is the mode itself
    with pytest.raises(ValueError, match="not a file mode"):
        nginx_sites.mode_of({"path": "k", "mode": "0o77777"})
