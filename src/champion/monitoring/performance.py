"""Live performance: the metrics of logged predictions that got their true label, per
model version and arm, and the drop against the version's own holdout metrics
(concept drift: the world changed, not only its inputs).

The metrics are :func:`champion.project.metrics.evaluate`'s, the ones training logs, so a live
value and its holdout value are the same computation on different rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

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
    """

    version: str
    arm: str
    rows: int
    labelled: int
    metrics: dict[str, float] = field(default_factory=dict)
    holdout: dict[str, float] = field(default_factory=dict)
    drops: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def live_performance(
    window: pd.DataFrame,
    task: str,
    *,
    positive_class=None,
    tags: list[str] | None = None,
    holdout: dict[str, dict[str, float]] | None = None,
) -> list[LivePerformance]:
    """Metrics per (version, arm) of ``window`` (a :meth:`PredictionLog.window` frame).

    Args:
        positive_class: the binary task's positive class.
        tags: the multilabel task's tag names (the columns of its indicator matrix).
        holdout: version → its holdout metrics (from its training run).
    """
    holdout = holdout or {}
    results = []
    for (version, arm), group in window.groupby(["version", "arm"], sort=True):
        labelled = group[group["label"].notna()]
        metrics = _metrics(labelled, task, positive_class, tags) if len(labelled) else {}
        if task == "multilabel":
            predicted = [o.get("predicted_tags") or [] for o in group["output"]]
            metrics["prediction_rate"] = float(np.mean([bool(t) for t in predicted]))
        reference = holdout.get(str(version), {})
        drops = {
            name: _drop(name, reference[name], value)
            for name, value in metrics.items()
            if name in reference and math.isfinite(reference[name])
        }
        results.append(
            LivePerformance(
                str(version), str(arm), len(group), len(labelled), metrics, dict(reference), drops
            )
        )
    return results


def _drop(metric: str, holdout_value: float, live_value: float) -> float:
    """Positive when live is worse than the holdout, in the metric's own units."""
    if direction_of(metric) == "maximize":
        return float(holdout_value - live_value)
    return float(live_value - holdout_value)


def _metrics(rows: pd.DataFrame, task: str, positive_class, tags) -> dict[str, float]:
    outputs = list(rows["output"])
    if task == "regression":
        return evaluate(task, rows["label"].astype(float), [o["value"] for o in outputs])
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
    return evaluate(task, y_true, y_pred, proba=proba, classes=classes, pos_label=pos_label)


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
            value = _metrics(labelled, task, positive_class, tags).get(metric)
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
