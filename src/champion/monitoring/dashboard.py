"""The dashboard at ``GET /dashboard`` of ``champion serve``: what is served and to whom,
how fast, how the inputs drift, how live performance moves, and the alerts.

One self-contained page (plots as inline PNG), built from the latest monitoring report
(:mod:`monitor`), the server's arms and the alert store. It reloads itself every
minute; the server refreshes the report in the background.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from champion.monitoring.alerts import AlertEvent
from champion.monitoring.monitor import MonitorReport
from champion.monitoring.report import _e, _num, figure_img, page, plt, render_sections

REFRESH_S = 60


def render_dashboard(
    report: MonitorReport, arms: list[dict], alerts: list[AlertEvent], timeline: list[dict]
) -> str:
    """The dashboard page.

    Args:
        arms: per arm ``{"arm", "reference", "version", "traffic_percent",
            "inference_path"}`` as ``GET /version`` lists them.
        alerts: recent alert events, newest first.
        timeline: :func:`performance_over_time` of the window.
    """
    window = report.window
    latency = window["latency_ms"].to_numpy() if window is not None and len(window) else []
    p50, p99 = np.percentile(latency, [50, 99]) if len(latency) else (None, None)
    arm_rows = "".join(
        f"<tr data-arm='{_e(a['arm'])}'><td>{_e(a['arm'])}</td><td>{_e(a['reference'])}</td>"
        f"<td>{_e(a['version'])}</td><td>{_num(a['traffic_percent'])}%</td>"
        f"<td>{_e(a['inference_path'])}</td><td>{_served(report, a)}</td></tr>"
        for a in arms
    )
    alert_rows = (
        "".join(
            f"<tr class='{_e(a.severity)}'><td>{_when(a.fired_at)}</td><td>{_e(a.rule)}</td>"
            f"<td>{_e(a.severity)}</td><td>{_num(a.value)}</td><td>{_num(a.threshold)}</td>"
            f"<td>{_e(a.message)}</td></tr>"
            for a in alerts
        )
        or "<tr><td colspan='6'>no alerts</td></tr>"
    )
    body = f"""
<meta http-equiv="refresh" content="{REFRESH_S}">
<h1>{_e(report.model)}: dashboard</h1>
<h2>Models and traffic</h2>
<table id="arms"><tr><th>arm</th><th>follows</th><th>version</th><th>traffic</th>
<th>inference</th><th>rows in the window</th></tr>{arm_rows}</table>
<p id="latency">Latency over the window: p50 {_num(p50)} ms, p99 {_num(p99)} ms
({len(latency)} predictions).</p>
<h2>Alerts</h2>
<table id="alerts"><tr><th>fired</th><th>rule</th><th>severity</th><th>value</th>
<th>threshold</th><th>message</th></tr>{alert_rows}</table>
<h2>Live performance over time</h2>
{_timeline_plot(timeline, report.primary_metric)}
{render_sections(report)}"""
    return page(f"{report.model} dashboard", body)


def _served(report: MonitorReport, arm: dict) -> int:
    return report.traffic.get((arm["arm"], arm["version"]), 0)


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _timeline_plot(timeline: list[dict], metric: str) -> str:
    if not timeline:
        return "<p id='timeline'>No predictions in the window yet.</p>"
    figure, volume = plt.subplots(figsize=(9, 2.8), dpi=90)
    try:
        middles = [(t["start"] + t["end"]) / 2 for t in timeline]
        times = [dt.datetime.fromtimestamp(m, dt.UTC) for m in middles]
        width = (timeline[0]["end"] - timeline[0]["start"]) / 86400 * 0.8
        volume.bar(
            times, [t["rows"] for t in timeline], width=width, color="#d0d5f5", label="predictions"
        )
        volume.set_ylabel("predictions", fontsize=8)
        quality = volume.twinx()
        points = [
            (x, t["value"]) for x, t in zip(times, timeline, strict=True) if t["value"] is not None
        ]
        if points:
            quality.plot(*zip(*points, strict=True), marker="o", color="#e8590c", label=metric)
        quality.set_ylabel(f"live {metric}", fontsize=8)
        figure.autofmt_xdate()
        image = figure_img(figure, f"live {metric} over time")
    finally:
        plt.close(figure)
    return f"<figure id='timeline'>{image}</figure>"
