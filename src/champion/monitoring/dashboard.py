"""The dashboard at ``GET /dashboard`` of ``champion serve``: what is served and to whom,
how fast, how the inputs drift, how live performance moves, and the alerts.

One self-contained page (plots as inline PNG), built from the latest monitoring report
(:mod:`monitor`), the server's arms and the alert store. It reloads itself every
minute; the server refreshes the report in the background.

This module is the dashboard's view model: it formats the arms, latency and alerts,
draws the live-performance timeline, and renders ``templates/dashboard.html`` with the
report's sections (:func:`champion.monitoring.report.report_sections`) below them.

Imports from champion: :mod:`champion.templating`, :mod:`champion.monitoring.alerts`,
:mod:`champion.monitoring.monitor` and :mod:`champion.monitoring.report`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from champion.monitoring.alerts import AlertEvent
from champion.monitoring.monitor import MonitorReport
from champion.monitoring.report import plt, png_data_uri, report_sections, short_number
from champion.templating import environment

REFRESH_S = 60


@dataclass(frozen=True)
class ArmRow:
    """A row of the models-and-traffic table: one arm."""

    arm: str
    reference: str
    version: str
    traffic: str
    inference_path: str
    served: int


@dataclass(frozen=True)
class AlertRow:
    """A row of the alerts table: one alert event, its numbers formatted."""

    fired: str
    rule: str
    severity: str
    value: str
    threshold: str
    message: str


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
    template = environment("champion.monitoring").get_template("dashboard.html")
    return template.render(
        model=report.model,
        refresh_s=REFRESH_S,
        arms=[
            ArmRow(
                str(a["arm"]),
                str(a["reference"]),
                str(a["version"]),
                short_number(a["traffic_percent"]),
                str(a["inference_path"]),
                _served(report, a),
            )
            for a in arms
        ],
        p50=short_number(p50),
        p99=short_number(p99),
        predictions=len(latency),
        alerts=[
            AlertRow(
                _when(a.fired_at),
                a.rule,
                a.severity,
                short_number(a.value),
                short_number(a.threshold),
                a.message,
            )
            for a in alerts
        ],
        timeline=_timeline_plot(timeline, report.primary_metric),
        **report_sections(report),
    )


def _served(report: MonitorReport, arm: dict) -> int:
    return report.traffic.get((arm["arm"], arm["version"]), 0)


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _timeline_plot(timeline: list[dict], metric: str) -> str | None:
    """Predictions per interval and the live metric as a PNG data URI; None when the
    window holds no predictions."""
    if not timeline:
        return None
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
        return png_data_uri(figure)
    finally:
        plt.close(figure)
