"""Jinja2 environments for champion's HTML pages (imports nothing of champion's).

A package that renders pages keeps its templates in ``<package>/templates/`` and its
CSS and JavaScript in ``<package>/static/``; :func:`environment` gives that package's
:class:`jinja2.Environment`:

- autoescape is on for every template, so ``{{ value }}`` is HTML-escaped and nothing
  is escaped by hand;
- :class:`jinja2.StrictUndefined`: a variable the caller did not pass is an error when
  the template uses it, not an empty string on the page;
- ``{{ value | tojson }}`` is Jinja's JSON filter, safe inside ``<script>`` (``<``,
  ``>``, ``&`` and ``'`` become ``\\u`` escapes); here it keeps key order, refuses NaN
  and writes what JSON has no type for (a date from a YAML file) as its ``str``;
- ``{{ static("page.css") }}`` is the text of a static file, unescaped and not parsed as
  a template. Pages inline their CSS and JavaScript this way so that the rendered HTML
  is one self-contained file (a report opened offline, an MLflow artifact, a try-it
  page on a machine with no internet), while the sources stay real ``.css`` and ``.js``
  files for linters and reviewers.

Example::

    html = environment("champion.serving").get_template("page.html").render(model=view)
"""

from __future__ import annotations

import functools
from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

TEMPLATES = "templates"
STATIC = "static"


@functools.cache
def environment(package: str) -> Environment:
    """The environment for ``package``'s templates (one per package: templates are
    compiled once and cached by it)."""
    env = Environment(
        loader=PackageLoader(package, TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        # Block tags take their line with them, so the output reads like hand-written HTML.
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "allow_nan": False, "default": str}
    env.globals["static"] = functools.partial(static_text, package)
    return env


@functools.cache
def static_text(package: str, name: str) -> Markup:
    """The text of ``<package>/static/<name>``, marked safe: it is our own CSS or
    JavaScript, and HTML-escaping it would break it inside ``<style>`` or ``<script>``."""
    return Markup(resources.files(package).joinpath(STATIC, name).read_text(encoding="utf-8"))
