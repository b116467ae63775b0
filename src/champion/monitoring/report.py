"""The monitoring report as one self-contained HTML page: the verdict, the drift table,
live performance, and a reference-vs-current plot per feature (PNG images inline, so
the file works anywhere, offline, and as an MLflow artifact)."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io

import matplotlib

matplotlib.use("Agg")  # no display: figures are only ever written to bytes
import matplotlib.pyplot as plt
import numpy as np

from champion.monitoring.monitor import MonitorReport

REFERENCE_COLOUR, CURRENT_COLOUR = "#4c5fd5", "#e8590c"
TOP_CATEGORIES = 12


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1f2330; padding: 0 1rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; font-size: .9rem; }
th, td { border-bottom: 1px solid #e3e6ef; padding: .35rem .5rem; text-align: left;
         vertical-align: top; }
tr.drifted td { background: #fff1e6; }
.verdict { font-size: 1.4rem; font-weight: 700; }
.ALARM { color: #c92a2a; } .OK { color: #2b8a3e; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr));
         gap: 1rem; }
figure { margin: 0; } figure img { width: 100%; }
"""


def render_html(report: MonitorReport) -> str:
    """The report page."""
    return page(
        f"{report.model} monitoring report",
        f"<h1>{_e(report.model)}: monitoring report</h1>{render_sections(report)}",
    )


def page(title: str, body: str) -> str:
    """A whole HTML document with the report's style around ``body``."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>{STYLE}</style></head><body>{body}</body></html>"""


def render_sections(report: MonitorReport) -> str:
    """The verdict, the drift table, live performance and the plots per feature."""
    drift = report.drift
    verdict = "ALARM" if report.alarm else "OK"
    rows = "".join(
        f"<tr class='{'drifted' if f.drifted else ''}'><td>{_e(f.feature)}</td>"
        f"<td>{_e(f.kind)}</td><td>{_e(f.test)}</td><td>{_num(f.score)}</td>"
        f"<td>{_num(f.threshold)}</td><td>{'drift' if f.drifted else 'ok'}</td>"
        f"<td>{_e(f.detail)}</td></tr>"
        for f in [*drift.features, *(x for x in (drift.prediction, drift.multivariate) if x)]
    )
    performance = "".join(
        f"<tr><td>{_e(p.version)}</td><td>{_e(p.arm)}</td><td>{p.rows}</td>"
        f"<td>{p.labelled}</td><td>{_metrics(p.metrics)}</td><td>{_metrics(p.holdout, p.metrics)}"
        f"</td><td>{_metrics(p.drops)}</td></tr>"
        for p in report.performance
    )
    plots = "".join(_feature_plot(report, f.feature) for f in drift.features)
    when = dt.datetime.fromtimestamp(report.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    notes = "".join(f"<li>{_e(n)}</li>" for n in drift.notes)
    return f"""
<p>Champion version {_e(report.version)} ({_e(report.task)}), {when}.
{drift.rows_current} logged rows compared with {drift.rows_reference} training rows.</p>
<p class="verdict {verdict}" id="verdict">{verdict}:
{len(drift.drifted_features)} of {len(drift.features)} features drifted
(share {drift.share_drifted:.2f}, policy {drift.share_threshold:.2f}){_joint(report)}\
{_degraded(report)}</p>
<ul>{notes}</ul>
<h2>Drift</h2>
<table id="drift"><tr><th>feature</th><th>kind</th><th>test</th><th>score</th>
<th>threshold</th><th>verdict</th><th>detail</th></tr>{rows}</table>
<h2>Live performance</h2>
<p>On predictions with a true label; the primary metric is {_e(report.primary_metric)},
degraded when worse than on the holdout by more than {report.max_drop:g}
(with at least {report.min_labelled} labels).</p>
<table id="performance"><tr><th>version</th><th>arm</th><th>rows</th><th>labelled</th>
<th>live</th><th>holdout</th><th>drop</th></tr>{performance}</table>
<h2>Reference and current, per feature</h2>
<div class="plots" id="plots">{plots}</div>"""


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
    return f"; degraded: {_e(parts)}"


def _feature_plot(report: MonitorReport, feature: str) -> str:
    summary = report.profile.get("features", {}).get(feature)
    if summary is None or report.window is None:
        return ""
    current = report.window.get(feature)
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
        return f"<figure>{figure_img(figure, feature)}</figure>"
    finally:
        plt.close(figure)


def figure_img(figure, alt: str) -> str:
    """``figure`` as an ``<img>`` with the PNG inline (the page needs no other file)."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    data = base64.b64encode(buffer.getvalue()).decode()
    return f"<img alt='{_e(alt)}' src='data:image/png;base64,{data}'>"


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
        values = np.asarray(current, dtype=float)
        values = values[np.isfinite(values)]
        if values.size:
            low, high = min(edges[0], values.min()), max(edges[-1], values.max())
            bins = np.linspace(low, high, 30)
            axes.hist(
                values,
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
    return ", ".join(f"{_e(k)} {_num(values[k])}" for k in keys)


def _num(value) -> str:
    return "–" if value is None else f"{value:.4g}"


def _e(text) -> str:
    return html.escape(str(text))
