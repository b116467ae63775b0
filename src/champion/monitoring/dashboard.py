"""The dashboard at ``GET /dashboard`` of ``champion serve``: what is served and to whom,
how fast, how the inputs drift, how live performance moves, and the alerts.

One self-contained page (the feature plots as inline PNG, the timeline as inline SVG),
built from the latest monitoring report (:mod:`monitor`), the server's arms and the
alert store. It reloads itself every minute; the server refreshes the report in the
background.

This module is the dashboard's view model: it formats the arms, latency and alerts,
lays out the live-performance timeline (:func:`timeline_chart`: bars of predictions
and the live metric, on a time axis labelled in readable UTC times such as ``14:05``
or ``Nov 30 14:05``; a sentence instead of a chart when the window holds a single
point in time), and renders ``templates/dashboard.html`` with the report's sections
(:func:`champion.monitoring.report.report_sections`) below them.

Imports from champion: :mod:`champion.templating`, :mod:`champion.monitoring.alerts`,
:mod:`champion.monitoring.monitor` and :mod:`champion.monitoring.report`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from champion.monitoring.alerts import AlertEvent
from champion.monitoring.monitor import MonitorReport
from champion.monitoring.report import report_sections, short_number
from champion.templating import environment

REFRESH_S = 60
# The timeline's box, in SVG units: the plot area and room for the axes' labels.
WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 64, 12, 40
# Time-axis steps, in seconds: the smallest that gives at most MAX_TICKS labels wins.
STEPS = (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
DAY = 86400
MAX_TICKS = 6


@dataclass(frozen=True)
class Tick:
    """An axis label and where it goes (x for the time axis, y for the others)."""

    at: float
    label: str


@dataclass(frozen=True)
class Bar:
    """One slice of the window: its predictions as a bar, and what a hover says."""

    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Point:
    """The live metric over one slice with labels."""

    x: float
    y: float
    title: str


@dataclass(frozen=True)
class TimelineChart:
    """The timeline laid out for ``templates/timeline.html``: SVG coordinates and the
    axes' labels, every label already text."""

    metric: str
    bars: list[Bar]
    points: list[Point]
    times: list[Tick]
    rows: list[Tick]
    values: list[Tick]
    caption: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def line(self) -> str:
        """The metric's points as an SVG ``points`` list."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


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
                _fired(a.fired_at),
                a.rule,
                a.severity,
                short_number(a.value),
                short_number(a.threshold),
                a.message,
            )
            for a in alerts
        ],
        timeline=timeline_chart(timeline, report.primary_metric),
        **report_sections(report),
    )


def _served(report: MonitorReport, arm: dict) -> int:
    return report.traffic.get((arm["arm"], arm["version"]), 0)


def _fired(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def timeline_chart(timeline: list[dict], metric: str) -> TimelineChart | str | None:
    """The timeline as a chart, or as a sentence when it holds one point in time
    (a lone bar tells nothing), or None when the window holds no predictions.

    Args:
        timeline: :func:`~champion.monitoring.performance.performance_over_time`
            slices, oldest first.
    """
    filled = [t for t in timeline if t["rows"]]
    if not filled:
        return None
    if len(filled) == 1:
        only = filled[0]
        value = "" if only["value"] is None else f", live {metric} {short_number(only['value'])}"
        return (
            f"One point so far: {only['rows']} predictions at "
            f"{_when(only['start'], with_day=True, seconds=True)}{value}. "
            "The chart appears when predictions span more than one moment."
        )
    start, end = timeline[0]["start"], timeline[-1]["end"]
    span = end - start
    plot_width, plot_height = WIDTH - RIGHT - LEFT, HEIGHT - BOTTOM - TOP

    def x_of(ts: float) -> float:
        return LEFT + (ts - start) / span * plot_width

    most = max(t["rows"] for t in timeline)
    bars = [
        Bar(
            x_of(t["start"]) + 1,
            TOP + plot_height * (1 - t["rows"] / most),
            max(x_of(t["end"]) - x_of(t["start"]) - 2, 1),
            plot_height * t["rows"] / most,
            f"{t['rows']} predictions, {_when(t['start'], True)} to {_when(t['end'], True)}",
        )
        for t in filled
    ]
    values = [t["value"] for t in timeline if t["value"] is not None and math.isfinite(t["value"])]
    low, high = _value_range(values)
    points = [
        Point(
            x_of((t["start"] + t["end"]) / 2),
            TOP + plot_height * (1 - (t["value"] - low) / (high - low)),
            f"live {metric} {short_number(t['value'])} on {t['labelled']} labels",
        )
        for t in timeline
        if t["value"] is not None and math.isfinite(t["value"])
    ]
    ticks, step = _time_ticks(start, end)
    one_day = _day(start) == _day(end)
    seconds = step < 60
    return TimelineChart(
        metric=metric,
        bars=bars,
        points=points,
        times=[Tick(x_of(t), _when(t, not one_day, seconds)) for t in ticks],
        rows=[Tick(TOP + plot_height, "0"), Tick(TOP, str(most))],
        values=[]
        if not values
        else [
            Tick(TOP + plot_height * (1 - f), short_number(low + f * (high - low)))
            for f in (0.0, 0.5, 1.0)
        ],
        caption="time (UTC" + (f", {_day(start)})" if one_day else ")"),
    )


def _time_ticks(start: float, end: float) -> tuple[list[float], int]:
    """Round times between ``start`` and ``end`` (whole minutes, hours, days, UTC) for
    at most :data:`MAX_TICKS` labels, and the step between them in seconds."""
    span = end - start
    step = next((s for s in STEPS if span / s <= MAX_TICKS - 1), None)
    if step is None:  # days: a whole number of them
        step = DAY * math.ceil(span / DAY / (MAX_TICKS - 1))
    first = math.ceil(start / step) * step
    return [float(first + k * step) for k in range(int((end - first) // step) + 1)], step


def _value_range(values: list[float]) -> tuple[float, float]:
    """The metric axis: from the lowest value to the highest, widened when they are
    equal so that a flat line sits in the middle."""
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    if high - low < 1e-12:
        pad = max(abs(low) * 0.05, 0.05)
        return low - pad, high + pad
    return low, high


def _day(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return f"{moment:%b} {moment.day} {moment.year}"


def _when(timestamp: float, with_day: bool = False, seconds: bool = False) -> str:
    """``14:05``, ``14:05:30``, ``Nov 30 14:05``: a time as people read it (UTC)."""
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    text = moment.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{moment:%b} {moment.day} {text}" if with_day else text
