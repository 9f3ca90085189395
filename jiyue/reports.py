"""HTML reports from jinja2 templates in jiyue/templates (autoescaped)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from . import __version__

_env = Environment(loader=PackageLoader("jiyue", "templates"), autoescape=select_autoescape(["html", "j2"]),
                   trim_blocks=True, lstrip_blocks=True)


def render_html(template: str, **context: Any) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return _env.get_template(template).render(version=__version__, generated=now, **context)
