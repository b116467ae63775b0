"""Live performance: the metrics of logged predictions that got their true label, per
model version and arm, and the drop against the version's own holdout metrics
(concept drift: the world changed, not only its inputs).

The metrics are :func:`champion.project.metrics.evaluate`'s, the ones training logs, so a live
value and its holdout value are the same computation on different rows. With the
version's ``business:`` values, ``business_value`` and ``business_value_per_row`` are
among them (:mod:`champion.project.business`); a drop is measured on the value per row
only, since a total grows with the rows. The labels are the logged ones, which the
served model decided at its own threshold, so the threshold applies here as it did
there.

Minimum sample: a version and arm with fewer than ``min_labelled`` labelled rows
(``monitoring.performance.min_labelled``) has its metrics computed and shown, but its
verdict is ``not enough data`` and it is never degraded.

Rows already stored are not trusted: :func:`usable_rows` drops a row whose output is not
what the task logs and unlabels a row whose label is not one for the task, each with a
one-line reason, so one bad row is reported and skipped and never fails a run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from champion.errors import ChampionError
from champion.monitoring.log import normalize_label
from champion.project import business as business_values
from champion.project.categories import canonical_category
from champion.project.metrics import evaluate
from champion.project.ranking import direction_of


@dataclass(frozen=True)
class LivePerformance:
    """One version and arm over a window.

    Attributes:
        rows: predictions in the window; labelled: those with a true label.
        metrics: metric → value on the labelled rows (empty when none is labelled),
            plus ``prediction_rate`` for multilabel (share of rows with any tag,
            labelled or not).
        holdout: the version's holdout metrics, for comparison.
        drops: metric → how much worse than on the holdout (positive = worse), for
            metrics both sides have.
        min_labelled: the fewest labelled rows the verdict needs.
    """

    version: str
    arm: str
    rows: int
    labelled: int
    metrics: dict[str, float] = field(default_factory=dict)
    holdout: dict[str, float] = field(default_factory=dict)
    drops: dict[str, float] = field(default_factory=dict)
    min_labelled: int = 1

    @property
    def enough_data(self) -> bool:
        """At least ``min_labelled`` labelled rows: the metrics can be judged."""
        return self.labelled >= self.min_labelled

    @property
    def verdict(self) -> str:
        """``judged`` or ``not enough data`` (never degraded)."""
        return "judged" if self.enough_data else "not enough data"

    def as_dict(self) -> dict:
        return dict(self.__dict__) | {"verdict": self.verdict}


def live_performance(
    window: pd.DataFrame,
    task: str,
    *,
    positive_class=None,
    tags: list[str] | None = None,
    holdout: dict[str, dict[str, float]] | None = None,
    min_labelled: int = 1,
    business: dict | None = None,
) -> list[LivePerformance]:
    """Metrics per (version, arm) of ``window`` (a :meth:`PredictionLog.window` frame,
    cleaned by :func:`usable_rows`).

    Args:
        positive_class: the binary task's positive class.
        tags: the multilabel task's tag names (the columns of its indicator matrix).
        holdout: version → its holdout metrics (from its training run).
        min_labelled: the fewest labelled rows a verdict needs.
        business: the ``business:`` values to score the labelled rows with, if any.
    """
    holdout = holdout or {}
    results = []
    for (version, arm), group in window.groupby(["version", "arm"], sort=True):
        labelled = group[group["label"].notna()]
        metrics = _metrics(labelled, task, positive_class, tags, business) if len(labelled) else {}
        if task == "multilabel":
            predicted = [o.get("predicted_tags") or [] for o in group["output"]]
            metrics["prediction_rate"] = float(np.mean([bool(t) for t in predicted]))
        reference = holdout.get(str(version), {})
        drops = {
            name: _drop(name, reference[name], value)
            for name, value in metrics.items()
            if name in reference
            and math.isfinite(reference[name])
            and name not in business_values.SIZE_DEPENDENT
        }
        results.append(
            LivePerformance(
                str(version),
                str(arm),
                len(group),
                len(labelled),
                metrics,
                dict(reference),
                drops,
                min_labelled,
            )
        )
    return results


_OUTPUT_KEY = {"regression": "value", "multilabel": "predicted_tags"}


def usable_rows(window: pd.DataFrame, task: str) -> tuple[pd.DataFrame, list[str]]:
    """``window`` without the rows monitoring cannot use, and why, one line per row.

    A row whose output is not an object with the task's key (``label``, ``value`` for
    regression, ``predicted_tags`` for multilabel) is dropped; a regression value that
    is not a finite number becomes NaN (missing, never a score); a label that is not
    one for the task (:func:`~champion.monitoring.log.normalize_label`) is dropped,
    keeping the row. Labels come back normalised.
    """
    if not len(window):
        return window, []
    key = _OUTPUT_KEY.get(task, "label")
    problems: list[str] = []
    keep = np.ones(len(window), dtype=bool)
    outputs, labels = [], []
    for i, (request, row, output, label) in enumerate(
        zip(window["request_id"], window["row"], window["output"], window["label"], strict=True)
    ):
        where = f"request {request} row {row}"
        if not isinstance(output, dict) or key not in output:
            problems.append(f"{where}: output {_short(output)} has no {key!r}; row skipped")
            keep[i] = False
            outputs.append(output)
            labels.append(None)
            continue
        if task == "regression":
            output = {**output, "value": _finite_or_nan(output[key])}
        elif "probabilities" in output and not _probabilities_ok(output["probabilities"]):
            problems.append(
                f"{where}: probabilities {_short(output['probabilities'])} are not finite "
                "numbers by class; probabilities ignored"
            )
            output = {k: v for k, v in output.items() if k != "probabilities"}
        elif task == "multilabel" and not isinstance(output[key], list):
            problems.append(f"{where}: predicted_tags {_short(output[key])} is not a list")
            keep[i] = False
        outputs.append(output)
        if label is not None:
            try:
                label = normalize_label(label, task)
            except ChampionError as e:
                problems.append(f"{where}: {e.message}; label ignored")
                label = None
        labels.append(label)
    cleaned = window.copy()
    cleaned["output"] = pd.Series(outputs, index=window.index, dtype=object)
    cleaned["label"] = pd.Series(labels, index=window.index, dtype=object)
    return cleaned[keep], problems


def _probabilities_ok(probabilities) -> bool:
    if not isinstance(probabilities, dict):
        return False
    return all(
        isinstance(p, int | float) and not isinstance(p, bool) and math.isfinite(p)
        for p in probabilities.values()
    )


def _finite_or_nan(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _drop(metric: str, holdout_value: float, live_value: float) -> float:
    """Positive when live is worse than the holdout, in the metric's own units."""
    if direction_of(metric) == "maximize":
        return float(holdout_value - live_value)
    return float(live_value - holdout_value)


def _metrics(
    rows: pd.DataFrame, task: str, positive_class, tags, business=None
) -> dict[str, float]:
    outputs = list(rows["output"])
    if task == "regression":
        values = np.array([o["value"] for o in outputs], dtype=float)
        known = np.isfinite(values)  # a value that was not a finite number is missing
        if not known.any():
            return {}
        return evaluate(task, rows["label"].astype(float)[known], values[known], business=business)
    if task == "multilabel":
        names = sorted(
            set(tags or [])
            | {t for o in outputs for t in o["predicted_tags"]}
            | {t for label in rows["label"] for t in label}
        )
        y_true = np.array([[t in set(label) for t in names] for label in rows["label"]])
        y_pred = np.array([[t in set(o["predicted_tags"]) for t in names] for o in outputs])
        return evaluate(task, y_true, y_pred)
    y_true = np.array([str(label) for label in rows["label"]], dtype=object)
    y_pred = np.array([canonical_category(o["label"]) for o in outputs], dtype=object)
    proba, classes = _probabilities(outputs)
    pos_label = None if positive_class is None else canonical_category(positive_class)
    if task == "binary" and pos_label is None:  # models trained by champion carry one
        pos_label = sorted(set(y_true) | set(y_pred))[-1]
    return evaluate(
        task, y_true, y_pred, proba=proba, classes=classes, pos_label=pos_label, business=business
    )


def _probabilities(outputs: list[dict]):
    """Probabilities when every row has them (``/predict`` logs them, ``/invocations``
    only labels), with the classes as canonical strings."""
    if not outputs or not all("probabilities" in o for o in outputs):
        return None, None
    classes = list(outputs[0]["probabilities"])
    proba = np.array([[o["probabilities"].get(c, 0.0) for c in classes] for o in outputs])
    return proba, [canonical_category(c) for c in classes]


def performance_over_time(
    window: pd.DataFrame,
    task: str,
    metric: str,
    *,
    positive_class=None,
    tags=None,
    buckets: int = 12,
    business: dict | None = None,
) -> list[dict]:
    """``metric`` and the traffic over ``buckets`` equal slices of the window's time
    span: ``[{"start", "end", "rows", "labelled", "value"}]`` (value None without
    labels in the slice)."""
    if not len(window):
        return []
    start, end = float(window["ts"].min()), float(window["ts"].max())
    edges = np.linspace(start, end if end > start else start + 1, buckets + 1)
    slot = np.clip(
        np.searchsorted(edges, window["ts"].to_numpy(), side="right") - 1, 0, buckets - 1
    )
    timeline = []
    for index in range(buckets):
        rows = window[slot == index]
        labelled = rows[rows["label"].notna()]
        value = None
        if len(labelled):
            value = _metrics(labelled, task, positive_class, tags, business).get(metric)
        timeline.append(
            {
                "start": float(edges[index]),
                "end": float(edges[index + 1]),
                "rows": len(rows),
                "labelled": len(labelled),
                "value": value,
            }
        )
    return timeline
