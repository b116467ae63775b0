"""Plots logged with each run: confusion matrix, ROC curve, residuals, feature
importance and the SHAP summary. Each function returns a matplotlib ``Figure`` built
without pyplot's global state (except SHAP's, which needs it; see :func:`shap_summary`)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay


def confusion_matrix(y_true, y_pred, labels) -> Figure:
    """Counts of true vs predicted labels."""
    fig = Figure(figsize=(max(4, 0.5 * len(labels) + 3), max(3.5, 0.5 * len(labels) + 2.5)))
    ax = fig.subplots()
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=labels, ax=ax, colorbar=False, xticks_rotation="vertical"
    )
    ax.set_title("Confusion matrix (holdout)")
    fig.tight_layout()
    return fig


def roc_curve(y_true, proba, classes, pos_label=None) -> Figure:
    """ROC curve of the positive class (binary), or one curve per class (multiclass)."""
    fig = Figure(figsize=(5, 4.5))
    ax = fig.subplots()
    targets = [pos_label] if pos_label is not None else list(classes)
    y_true = np.asarray(y_true)
    for label in targets:
        if not (y_true == label).any() or (y_true == label).all():
            continue
        column = list(classes).index(label)
        RocCurveDisplay.from_predictions(y_true == label, proba[:, column], name=str(label), ax=ax)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set_title("ROC curve (holdout)")
    fig.tight_layout()
    return fig


def residuals(y_true, y_pred) -> Figure:
    """Residuals against predictions, and predicted against true values."""
    fig = Figure(figsize=(9, 4))
    left, right = fig.subplots(1, 2)
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    left.scatter(y_pred, y_true - y_pred, s=8, alpha=0.6)
    left.axhline(0, color="grey", linewidth=1)
    left.set_xlabel("predicted")
    left.set_ylabel("true - predicted")
    left.set_title("Residuals (holdout)")
    right.scatter(y_true, y_pred, s=8, alpha=0.6)
    lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    right.plot([lo, hi], [lo, hi], color="grey", linewidth=1)
    right.set_xlabel("true")
    right.set_ylabel("predicted")
    right.set_title("Predicted vs true")
    fig.tight_layout()
    return fig


def feature_importance(importance: pd.DataFrame, top: int = 20) -> Figure:
    """Horizontal bars of the ``top`` most important features (``feature``, ``importance``)."""
    shown = importance.head(top).iloc[::-1]
    fig = Figure(figsize=(6, 0.3 * len(shown) + 1.5))
    ax = fig.subplots()
    ax.barh(shown["feature"].astype(str), shown["importance"])
    ax.set_xlabel(importance.attrs.get("method", "importance"))
    ax.set_title("Feature importance")
    fig.tight_layout()
    return fig


def shap_summary(values: np.ndarray, data: np.ndarray, names: list[str]):
    """SHAP's beeswarm summary of one output's values (``values`` is rows × features)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window, also where there is a screen
    import matplotlib.pyplot as plt
    import shap

    plt.close("all")
    with warnings.catch_warnings():
        # shap seeds NumPy's global RNG to jitter the dots; NumPy warns about that.
        warnings.simplefilter("ignore", FutureWarning)
        shap.summary_plot(values, data, feature_names=names, show=False, max_display=20)
    fig = plt.gcf()
    fig.tight_layout()
    return fig
