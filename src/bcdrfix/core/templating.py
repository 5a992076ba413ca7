"""jinja2 rendering of bcdrfix's templates, loaded from the installed package.

The repository keeps them in its top-level ``templates/`` folder; the build ships that folder as
the package ``bcdrfix.templates`` (see setup.py), so the same loader works from a clone (editable
install) and from a wheel, whatever the current directory.
"""

from __future__ import annotations

from functools import lru_cache

import jinja2

TEMPLATES_PACKAGE = "bcdrfix.templates"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader(TEMPLATES_PACKAGE, "."),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=jinja2.select_autoescape(["html", "htm", "xml"]),
    )


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)
