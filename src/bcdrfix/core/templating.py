"""jinja2 rendering of the files in the repository's ``templates/`` folder."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import jinja2

# src/bcdrfix/core/templating.py -> repository root / templates (the package is installed editable)
TEMPLATES_DIR = Path(
    os.environ.get("BCDRFIX_TEMPLATES", Path(__file__).resolve().parents[3] / "templates")
)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=jinja2.select_autoescape(["html", "htm", "xml"]),
    )


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)
