"""Metrics per task, the primary metric's default and direction, and per-row scores.

:func:`evaluate` computes every holdout metric of a task; :func:`row_scores` gives the
per-row quantity the promotion gate pairs between two models. A metric's direction and
the ranking key live in :mod:`champion.project.ranking`, free of scikit-learn.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from champion.project import business as business_values

DEFAULT_PRIMARY = {
    "binary": "f1",
    "multiclass": "f1_macro",
    "regression": "rmse",
    "multilabel": "jaccard",
}

# What evaluate always computes; with a ``business:`` section it adds
# champion.project.business.METRICS, which can then be the primary metric too.
METRICS_BY_TASK = {
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"),
    "multiclass": (
        "accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "roc_auc_ovr",
        "log_loss",
    ),
    "regression": ("rmse", "mae", "r2"),
    "multilabel": ("jaccard", "f1_micro", "f1_macro", "hamming_loss", "prediction_rate"),
}


def evaluate(
    task: str, y_true, y_pred, proba=None, classes=None, pos_label=None, *, business=None
) -> dict[str, float]:
    """Holdout metrics for ``task``.

    Args:
        y_true, y_pred: labels (values for regression, indicator matrices for multilabel).
        proba: class probabilities (n_rows, n_classes) if the model has them.
        classes: the column order of ``proba``.
        pos_label: the positive class for binary precision, recall and F1.
        business: the project's validated ``business:`` section, if any: adds
            ``business_value`` and ``business_value_per_row``
            (:mod:`champion.project.business`).
    Returns:
        metric name -> value; probability metrics are absent without ``proba``, business
        metrics without ``business``.
    """
    result = _evaluate(task, y_true, y_pred, proba, classes, pos_label)
    if business:
        result |= business_values.business_metrics(task, business, y_true, y_pred, pos_label)
    return result


def _evaluate(task: str, y_true, y_pred, proba, classes, pos_label) -> dict[str, float]:
    if task == "regression":
        return {
            "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
            "mae": float(skm.mean_absolute_error(y_true, y_pred)),
            "r2": float(skm.r2_score(y_true, y_pred)),
        }
    if task == "multilabel":
        y_true = np.asarray(y_true)
        y_pred = np.asarray(y_pred)
        return {
            "jaccard": float(skm.jaccard_score(y_true, y_pred, average="samples", zero_division=0)),
            "f1_micro": float(skm.f1_score(y_true, y_pred, average="micro", zero_division=0)),
            "f1_macro": float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0)),
            "hamming_loss": float(skm.hamming_loss(y_true, y_pred)),
            "prediction_rate": float(np.mean(y_pred.sum(axis=1) > 0)),
        }
    if task == "binary":
        result = {
            "accuracy": float(skm.accuracy_score(y_true, y_pred)),
            "precision": float(
                skm.precision_score(y_true, y_pred, pos_label=pos_label, zero_division=0)
            ),
            "recall": float(skm.recall_score(y_true, y_pred, pos_label=pos_label, zero_division=0)),
            "f1": float(skm.f1_score(y_true, y_pred, pos_label=pos_label, zero_division=0)),
        }
        if proba is not None and len(np.unique(y_true)) == 2:
            positive = list(classes).index(pos_label)
            result["roc_auc"] = float(
                skm.roc_auc_score(np.asarray(y_true) == pos_label, proba[:, positive])
            )
            result["log_loss"] = float(skm.log_loss(y_true, proba, labels=classes))
        return result
    result = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "precision_macro": float(
            skm.precision_score(y_true, y_pred, average="macro", zero_division=0)
        ),
        "recall_macro": float(skm.recall_score(y_true, y_pred, average="macro", zero_division=0)),
        "f1_macro": float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }
    if proba is not None:
        result["log_loss"] = float(skm.log_loss(y_true, proba, labels=classes))
        present = np.isin(classes, np.unique(y_true))
        if present.sum() > 2:
            # Classes absent from the holdout cannot be ranked; score the others. Only
            # renormalise then: dividing by sums of ~1 breaks ties and moves the AUC.
            kept = proba[:, present]
            if not present.all():
                kept = kept / kept.sum(axis=1, keepdims=True)
            result["roc_auc_ovr"] = float(
                skm.roc_auc_score(
                    y_true, kept, multi_class="ovr", labels=np.asarray(classes)[present]
                )
            )
    return result


def row_scores(task: str, y_true, y_pred) -> np.ndarray:
    """Per-row quality, higher is better, for a paired comparison of two models.

    Classification: 1 if correct else 0. Regression: minus the absolute error.
    Multilabel: the row's Jaccard index.
    """
    if task == "regression":
        return -np.abs(np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float))
    if task == "multilabel":
        y_true = np.asarray(y_true, dtype=bool)
        y_pred = np.asarray(y_pred, dtype=bool)
        union = (y_true | y_pred).sum(axis=1)
        inter = (y_true & y_pred).sum(axis=1)
        return np.where(union == 0, 1.0, inter / np.maximum(union, 1))
    return (np.asarray(y_true) == np.asarray(y_pred)).astype(float)
