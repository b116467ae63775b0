"""The dashboard page (champion.monitoring.dashboard), rendered from reports built in
memory and, where it matters, opened in a real headless Chromium: escaping, a row and a
plot per drifted feature, an empty window, and a page that needs nothing from elsewhere.
(The dashboard served by a real server is tested in test_monitoring.py.)"""

from __future__ import annotations

import html
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from champion.monitoring.alerts import AlertEvent
from champion.monitoring.dashboard import render_dashboard
from support.browser import chromium
from support.reports import EXTERNAL, HOSTILE_FEATURE, HOSTILE_MODEL, monitor_report

PNG = "data:image/png;base64,"
HOSTILE_ARM = "arm'\"><script>alert(3)</script>"
HOSTILE_MESSAGE = "drift in <script>alert(4)</script> & </script>"
ARMS = [
    {
        "arm": HOSTILE_ARM,
        "reference": "champion",
        "version": "3",
        "traffic_percent": 100.0,
        "inference_path": "onnx",
    }
]
TIMELINE = [
    {"start": 1_800_000_000.0 + 60 * i, "end": 1_800_000_060.0 + 60 * i, "rows": 10, "value": 0.8}
    for i in range(4)
]


def _alert(message: str = HOSTILE_MESSAGE) -> AlertEvent:
    return AlertEvent(
        rule="drifted_features",
        signal="drift_share",
        severity="warning",
        value=0.5,
        threshold=0.3,
        model=HOSTILE_MODEL,
        version="3",
        message=message,
        fired_at=time.time(),
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_hostile_strings_are_escaped_and_shown_as_text(browser):
    page_html = render_dashboard(monitor_report(), ARMS, [_alert()], TIMELINE)
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        page.set_content(page_html.replace('http-equiv="refresh"', 'name="no-refresh"'))
        assert dialogs == [] and page.locator("script").count() == 0
        assert page.locator("h1").inner_text() == f"{HOSTILE_MODEL}: dashboard"
        assert page.locator("#arms tr[data-arm]").get_attribute("data-arm") == HOSTILE_ARM
        assert page.locator("#alerts td").nth(5).inner_text() == HOSTILE_MESSAGE
        assert HOSTILE_FEATURE in page.locator("#drift").inner_text()
    finally:
        page.close()


def test_each_drifted_feature_has_its_row_and_a_plot():
    report = monitor_report()
    page = render_dashboard(report, ARMS, [], TIMELINE)
    for feature in report.drift.drifted_features:
        assert f"<tr class='drifted'><td>{html.escape(feature)}</td>" in page
        assert f'<img alt="{html.escape(feature)}" src="{PNG}' in page
    assert page.count(PNG) == len(report.drift.features) + 1  # and the timeline
    assert f'<figure id="timeline"><img alt="live f1 over time" src="{PNG}' in page
    assert '<meta http-equiv="refresh" content="60">' in page


def test_an_empty_window_renders_no_data_text():
    report = monitor_report(rows=0)
    page = render_dashboard(report, ARMS, [], [])
    assert '<p id="timeline">No predictions in the window yet.</p>' in page
    assert "p50 – ms, p99 – ms\n(0 predictions)" in page
    assert '<tr><td colspan="6">no alerts</td></tr>' in page
    assert "0 logged rows compared with 2000 training rows." in page


def test_the_dashboard_loads_nothing_from_elsewhere():
    page = render_dashboard(monitor_report(), ARMS, [_alert("see https://example.com")], TIMELINE)
    assert EXTERNAL.findall(page) == []
    assert "<link" not in page and "<script" not in page
