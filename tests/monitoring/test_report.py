"""The HTML monitoring report (champion.monitoring.report), rendered from reports built
in memory: escaping, a row and a plot per drifted feature, an empty window, and a file
that needs nothing from elsewhere."""

from __future__ import annotations

import html

from champion.monitoring.report import render_html
from support.reports import EXTERNAL, HOSTILE_FEATURE, HOSTILE_MODEL, monitor_report

PNG = "data:image/png;base64,"


def test_a_hostile_feature_and_model_name_are_escaped():
    page = render_html(monitor_report())
    # The report has no script of its own: any <script or </script> came from data.
    assert "<script" not in page and "</script" not in page
    assert f"<h1>{html.escape(HOSTILE_MODEL)}: monitoring report</h1>" in page
    assert f"<td>{html.escape(HOSTILE_FEATURE)}</td>" in page
    assert f'alt="{html.escape(HOSTILE_FEATURE)}"' in page


def test_each_drifted_feature_has_its_row_and_a_plot():
    report = monitor_report()
    page = render_html(report)
    drifted = report.drift.drifted_features
    assert set(drifted) == {"hp", HOSTILE_FEATURE}
    for feature in drifted:
        assert f"<tr class='drifted'><td>{html.escape(feature)}</td>" in page
        assert f'<img alt="{html.escape(feature)}" src="{PNG}' in page
    assert "<tr class=''><td>speed</td>" in page
    assert page.count(PNG) == len(report.drift.features)
    assert 'id="verdict">ALARM:' in page


def test_an_empty_window_renders_no_data_text():
    report = monitor_report(rows=0)
    page = render_html(report)
    assert "0 logged rows compared with 2000 training rows." in page
    assert page.count("not enough data: 0 rows in the window") == len(report.drift.features)
    assert 'id="verdict">OK:\ndrift: not enough data (0 rows; each feature needs 30)' in page


def test_a_report_without_a_window_has_no_plots():
    report = monitor_report()
    report.window = None
    page = render_html(report)
    assert PNG not in page
    assert '<div class="plots" id="plots">\n</div>' in page


def test_the_report_loads_nothing_from_elsewhere():
    page = render_html(monitor_report())
    assert EXTERNAL.findall(page) == []
    assert "<link" not in page
    assert "tr.drifted td {" in page  # the style is inlined
