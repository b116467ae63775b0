"""The try-it page at ``GET /``."""

from __future__ import annotations

import html

from champion.serving.model import ServedModel


def render_page(model: ServedModel) -> str:
    """The HTML of the try-it page for ``model``."""
    return f"<!doctype html><title>{html.escape(model.name)}</title>"
