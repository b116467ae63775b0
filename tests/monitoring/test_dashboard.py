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
    {
        "start": 1_800_000_000.0 + 60 * i,
        "end": 1_800_000_060.0 + 60 * i,
        "rows": 10,
        "labelled": 5,
        "value": 0.8,
    }
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
    assert page.count(PNG) == len(report.drift.features)
    assert 'aria-label="predictions and live f1 over time"' in page
    assert '<meta http-equiv="refresh" content="60">' in page


def _slices(start: float, seconds: float, rows: list[int], value=0.8) -> list[dict]:
    """Timeline slices of ``seconds`` each from ``start``, holding ``rows``."""
    return [
        {
            "start": start + seconds * i,
            "end": start + seconds * (i + 1),
            "rows": n,
            "labelled": n,
            "value": value if n else None,
        }
        for i, n in enumerate(rows)
    ]


NOV_30_1400 = 1_796_047_200.0  # 2026-11-30 14:00:00 UTC


def _axes(browser, timeline: list[dict]) -> dict[str, list[str]]:
    """The timeline's labels as Chromium shows them, by axis."""
    page = browser.new_page()
    try:
        page.set_content(render_dashboard(monitor_report(), ARMS, [], timeline))
        labels = {
            axis: page.locator(f"#timeline svg text.{axis}").all_text_contents()
            for axis in ("time", "rows", "value", "caption")
        }
        box = page.locator("#timeline svg").bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 80
        return labels
    finally:
        page.close()


@pytest.mark.parametrize(
    ("timeline", "times", "caption"),
    [
        # 12 five-minute slices from 14:00: a morning's minutes, the day once below.
        (
            _slices(NOV_30_1400, 300, [5] * 12),
            ["14:00", "14:15", "14:30", "14:45", "15:00"],
            "time (UTC, Nov 30 2026)",
        ),
        # Two days: every label says which day.
        (
            _slices(NOV_30_1400, 4 * 3600, [5] * 12),
            ["Dec 1 00:00", "Dec 1 12:00", "Dec 2 00:00", "Dec 2 12:00"],
            "time (UTC)",
        ),
        # A burst of a minute: seconds, not "43:46.400000".
        (
            _slices(NOV_30_1400 + 5, 5, [5] * 12),
            ["14:00:15", "14:00:30", "14:00:45", "14:01:00"],
            "time (UTC, Nov 30 2026)",
        ),
    ],
    ids=["hours", "days", "seconds"],
)
def test_the_time_axis_reads_as_times(browser, timeline, times, caption):
    axes = _axes(browser, timeline)
    assert axes["time"] == times
    assert axes["caption"][0] == caption
    assert axes["rows"] == ["0", "5"]
    assert axes["value"] == ["0.75", "0.8", "0.85"]  # a flat line sits in the middle


def test_a_timeline_with_one_point_says_so_instead_of_drawing_a_lone_bar(browser):
    # Every prediction at one moment: one slice holds them all.
    timeline = _slices(NOV_30_1400, 1 / 12, [7] + [0] * 11)
    page = browser.new_page()
    try:
        page.set_content(render_dashboard(monitor_report(), ARMS, [], timeline))
        assert page.locator("#timeline svg").count() == 0
        assert page.locator("#timeline").inner_text() == (
            "One point so far: 7 predictions at Nov 30 14:00:00, live f1 0.8. "
            "The chart appears when predictions span more than one moment."
        )
    finally:
        page.close()


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
