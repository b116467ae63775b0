"""Tests for champion.templating: the Jinja2 environment every HTML page is rendered
with."""

from __future__ import annotations

import json

import pytest
from jinja2 import UndefinedError

from champion.templating import environment

PACKAGES = ["champion.serving", "champion.monitoring"]


def test_values_are_html_escaped_in_text_and_attributes():
    template = environment("champion.serving").from_string('<p title="{{ x }}">{{ x }}</p>')
    escaped = "&lt;b&gt;&#34;it&#34; &amp; &#39;that&#39;&lt;/b&gt;"
    assert template.render(x="<b>\"it\" & 'that'</b>") == f'<p title="{escaped}">{escaped}</p>'


def test_a_variable_the_caller_did_not_pass_is_an_error():
    template = environment("champion.serving").from_string("<p>{{ missing }}</p>")
    with pytest.raises(UndefinedError, match="'missing' is undefined"):
        template.render()


def test_tojson_cannot_close_the_script_and_keeps_key_order():
    template = environment("champion.serving").from_string("<script>{{ data | tojson }}</script>")
    data = {"z": "</script><script>alert(1)</script>", "a": "<!-- & -->"}
    html = template.render(data=data)
    body = html.removeprefix("<script>").removesuffix("</script>")
    assert "<" not in body and ">" not in body and "&" not in body
    assert json.loads(body) == data
    assert list(json.loads(body)) == ["z", "a"]


def test_tojson_refuses_nan():
    template = environment("champion.serving").from_string("{{ data | tojson }}")
    with pytest.raises(ValueError, match="Out of range float values"):
        template.render(data={"x": float("nan")})


def test_static_inlines_a_package_file_unescaped():
    template = environment("champion.serving").from_string(
        '<script>{{ static("page.js") }}</script>'
    )
    html = template.render()
    assert '"use strict";' in html and "&#34;" not in html


def test_a_missing_static_file_is_an_error():
    template = environment("champion.serving").from_string('{{ static("nowhere.css") }}')
    with pytest.raises(FileNotFoundError):
        template.render()


@pytest.mark.parametrize("package", PACKAGES)
def test_every_template_of_a_package_compiles(package):
    env = environment(package)
    names = env.list_templates()
    assert names
    for name in names:
        env.get_template(name)
