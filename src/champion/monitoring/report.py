"""The monitoring report as one self-contained HTML page: the verdict, the drift table,
live performance, and a reference-vs-current plot per feature (PNG images inline, so
the file works anywhere, offline, and as an MLflow artifact).

This module is the report's view model: :func:`report_sections` turns a
:class:`MonitorReport` into the values ``templates/sections.html`` shows (numbers
formatted, table rows, plots as PNG data URIs), which the dashboard shows too;
:func:`render_html` renders ``templates/report.html``. The style is
``static/report.css``, inlined by ``templates/layout.html`` (see
:mod:`champion.templating`); every string is escaped by Jinja2's autoescape.

Imports from champion: :mod:`champion.templating` and
:mod:`champion.monitoring.monitor`.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from champion.monitoring.monitor import MonitorReport
from champion.templating import environment

REFERENCE_COLOUR, CURRENT_COLOUR = "#4c5fd5", "#e8590c"
TOP_CATEGORIES = 12


@dataclass(frozen=True)
class DriftRow:
    """A row of the drift table: one feature's (or the prediction's, or the joint
    test's) verdict, its numbers formatted."""

    feature: str
    kind: str
    test: str
    score: str
    threshold: str
    drifted: bool
    detail: str
    pvalue: str = "–"
    verdict: str = "ok"


@dataclass(frozen=True)
class PerformanceRow:
    """A row of the live performance table: one version and arm."""

    version: str
    arm: str
    rows: int
    labelled: int
    live: str
    holdout: str
    drop: str
    verdict: str = "judged"


@dataclass(frozen=True)
class Plot:
    """A feature's reference-vs-current figure as a PNG data URI."""

    feature: str
    png: str


def render_html(report: MonitorReport) -> str:
    """The report page."""
    template = environment("champion.monitoring").get_template("report.html")
    return template.render(model=report.model, **report_sections(report))


def report_sections(report: MonitorReport) -> dict:
    """What ``templates/sections.html`` shows: the verdict, the drift table, live
    performance and the plots per feature."""
    drift = report.drift
    results = [*drift.features, *(x for x in (drift.prediction, drift.multivariate) if x)]
    return {
        "version": report.version,
        "task": report.task,
        "when": dt.datetime.fromtimestamp(report.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rows_current": drift.rows_current,
        "rows_reference": drift.rows_reference,
        "verdict": "ALARM" if report.alarm else "OK",
        "drifted_count": len(drift.drifted_features),
        "feature_count": len(drift.features),
        "judged_count": drift.features_judged,
        "drift_verdict": drift.verdict,
        "min_rows": drift.min_rows,
        "correction": f"{drift.correction} at p {drift.dataset_pvalue:g}",
        "skipped_count": len(report.skipped),
        "skipped": report.skipped[:5],
        "share": f"{drift.share_drifted:.2f}",
        "share_threshold": f"{drift.share_threshold:.2f}",
        "joint": _joint(report),
        "degraded": _degraded(report),
        "notes": list(drift.notes),
        "drift_rows": [
            DriftRow(
                f.feature,
                f.kind,
                f.test,
                short_number(f.score),
                short_number(f.threshold),
                f.drifted,
                f.detail,
                short_number(f.adjusted_pvalue),
                f.verdict,
            )
            for f in results
        ],
        "primary_metric": report.primary_metric,
        "max_drop": f"{report.max_drop:g}",
        "min_labelled": report.min_labelled,
        "performance_rows": [
            PerformanceRow(
                p.version,
                p.arm,
                p.rows,
                p.labelled,
                _metrics(p.metrics),
                _metrics(p.holdout, p.metrics),
                _metrics(p.drops),
                p.verdict,
            )
            for p in report.performance
        ],
        "plots": [
            Plot(f.feature, png)
            for f in drift.features
            if (png := _feature_plot(report, f.feature)) is not None
        ],
    }


def _joint(report: MonitorReport) -> str:
    joint = report.drift.multivariate
    if joint is None or not joint.drifted:
        return ""
    return f"; the domain classifier tells live rows from training rows (AUC {joint.score:.2f})"


def _degraded(report: MonitorReport) -> str:
    if not report.degraded:
        return "; no degradation"
    parts = ", ".join(
        f"version {v} ({a}) {report.primary_metric} -{d:.3f}" for v, a, d in report.degraded
    )
    return f"; degraded: {parts}"


def _feature_plot(report: MonitorReport, feature: str) -> str | None:
    """The figure of ``feature`` as a PNG data URI; None without a profile or window."""
    summary = report.profile.get("features", {}).get(feature)
    if summary is None or report.window is None:
        return None
    current = report.window.get(feature)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(4.4, 2.6), dpi=90)
    try:
        if summary["kind"] == "numeric" and summary.get("histogram"):
            _numeric(axes, summary, current)
        elif summary["kind"] == "text":
            _text(axes, summary, current)
        else:
            _categories(axes, summary, current)
        axes.set_title(feature, fontsize=10)
        axes.legend(fontsize=7)
        return png_data_uri(figure)
    finally:
        plt.close(figure)


def _pyplot():
    """matplotlib's pyplot, imported when the first plot is drawn: the server imports
    this module (for the dashboard), and pyplot would add half a second to its start."""
    import matplotlib

    matplotlib.use("Agg")  # no display: figures are only ever written to bytes
    import matplotlib.pyplot as plt

    return plt


def png_data_uri(figure) -> str:
    """``figure`` as a PNG ``data:`` URI, for an ``<img src>`` that needs no other file."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _numeric(axes, summary: dict, current) -> None:
    edges = np.asarray(summary["histogram"]["edges"], dtype=float)
    counts = np.asarray(summary["histogram"]["counts"], dtype=float)
    widths = np.diff(edges)
    axes.stairs(
        counts / max(counts.sum(), 1) / widths,
        edges,
        label="reference",
        color=REFERENCE_COLOUR,
        fill=True,
        alpha=0.35,
    )
    if current is not None:
        # A stored value that is not a number is missing here too, as in the drift.
        values = pd.to_numeric(pd.Series(current, dtype=object), errors="coerce")
        values = values.to_numpy(dtype=float, na_value=np.nan)
        values = values[np.isfinite(values)]
        if values.size:
            # The reference's range widened to the bulk of the window; a few extreme
            # values are drawn in the end bins rather than stretching the axis (two
            # values near ±1e308 would overflow it).
            low, high = np.percentile(values, [1, 99], method="nearest")
            low, high = min(edges[0], low), max(edges[-1], high)
            with np.errstate(over="ignore"):
                span = high - low
            bins = np.linspace(low, high, 30) if np.isfinite(span) and span > 0 else edges
            axes.hist(
                np.clip(values, bins[0], bins[-1]),
                bins=bins,
                density=True,
                histtype="step",
                linewidth=1.5,
                color=CURRENT_COLOUR,
                label="current",
            )


def _categories(axes, summary: dict, current) -> None:
    reference = summary.get("frequencies", {})
    shares = {}
    if current is not None:
        values = current.astype(object).where(current.notna(), summary.get("missing_label"))
        shares = values.astype(str).value_counts(normalize=True).to_dict()
    keys = sorted(
        set(reference) | set(shares), key=lambda k: -max(reference.get(k, 0), shares.get(k, 0))
    )
    keys = keys[:TOP_CATEGORIES]
    x = np.arange(len(keys))
    axes.bar(
        x - 0.2, [reference.get(k, 0) for k in keys], 0.4, label="reference", color=REFERENCE_COLOUR
    )
    axes.bar(x + 0.2, [shares.get(k, 0) for k in keys], 0.4, label="current", color=CURRENT_COLOUR)
    axes.set_xticks(x, [str(k)[:12] for k in keys], rotation=45, ha="right", fontsize=7)


def _text(axes, summary: dict, current) -> None:
    length = summary.get("length") or {}
    if length.get("histogram"):
        _numeric(
            axes,
            length,
            None if current is None else current.dropna().astype(str).str.split().map(len),
        )
    axes.set_xlabel("words", fontsize=8)


def _metrics(values: dict, only: dict | None = None) -> str:
    keys = [k for k in values if only is None or k in only]
    return ", ".join(f"{k} {short_number(values[k])}" for k in keys)


def short_number(value) -> str:
    """Four significant digits, or a dash for None."""
    return "–" if value is None else f"{value:.4g}"
