"""Live performance on logged predictions with labels: the training metrics, per version
and arm, and the drop against each version's holdout."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import jaccard_score, mean_absolute_error, mean_squared_error

from champion.monitoring.performance import live_performance, performance_over_time


def _window(outputs, labels, versions=None, arms=None, ts=None) -> pd.DataFrame:
    n = len(outputs)
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "row": 0,
            "ts": ts if ts is not None else np.arange(n, dtype=float),
            "version": versions or ["1"] * n,
            "arm": arms or ["champion"] * n,
            "latency_ms": 1.0,
            "output": pd.Series(outputs, dtype=object),
            "label": pd.Series(labels, dtype=object),
        }
    )


def test_regression_rmse_and_mae_against_the_holdout():
    predicted, truth = [10.0, 20.0, 30.0, 40.0], [12.0, 18.0, 33.0, None]
    window = _window([{"value": v} for v in predicted], truth)
    [perf] = live_performance(window, "regression", holdout={"1": {"rmse": 1.0, "mae": 3.0}})
    assert perf.rows == 4 and perf.labelled == 3
    expected_rmse = math.sqrt(mean_squared_error(truth[:3], predicted[:3]))
    assert perf.metrics["rmse"] == pytest.approx(expected_rmse)
    assert perf.metrics["mae"] == pytest.approx(mean_absolute_error(truth[:3], predicted[:3]))
    # rmse is an error: higher live is worse, so the drop is live - holdout.
    assert perf.drops["rmse"] == pytest.approx(expected_rmse - 1.0)
    assert perf.drops["mae"] == pytest.approx(perf.metrics["mae"] - 3.0)


def test_multilabel_jaccard_and_the_prediction_rate_per_arm():
    outputs = [
        {"predicted_tags": ["fire"]},
        {"predicted_tags": []},
        {"predicted_tags": ["water", "ice"]},
        {"predicted_tags": ["grass"]},
    ]
    labels = [["fire", "flying"], ["water"], ["water"], None]
    window = _window(outputs, labels, arms=["champion", "champion", "canary", "canary"])
    by_arm = {p.arm: p for p in live_performance(window, "multilabel")}
    assert by_arm["champion"].metrics["prediction_rate"] == 0.5
    assert by_arm["canary"].metrics["prediction_rate"] == 1.0  # unlabelled rows count
    # Tags in the order fire, flying, water: the champion's two labelled rows.
    expected = jaccard_score(
        [[1, 1, 0], [0, 0, 1]], [[1, 0, 0], [0, 0, 0]], average="samples", zero_division=0
    )
    assert by_arm["champion"].metrics["jaccard"] == pytest.approx(expected)
    assert by_arm["canary"].labelled == 1 and by_arm["canary"].metrics["jaccard"] == 0.5


def test_versions_are_scored_apart_and_compared_with_their_own_holdout():
    outputs = [{"label": "True"}, {"label": "False"}, {"label": "True"}, {"label": "True"}]
    labels = ["True", "False", "False", "False"]
    window = _window(outputs, labels, versions=["1", "1", "2", "2"])
    holdout = {"1": {"accuracy": 0.9}, "2": {"accuracy": 0.8}}
    perf = {
        p.version: p
        for p in live_performance(window, "binary", positive_class=True, holdout=holdout)
    }
    assert perf["1"].metrics["accuracy"] == 1.0 and perf["1"].drops["accuracy"] == pytest.approx(
        -0.1
    )
    assert perf["2"].metrics["accuracy"] == 0.0 and perf["2"].drops["accuracy"] == pytest.approx(
        0.8
    )
    assert "roc_auc" not in perf["1"].metrics  # no probabilities were logged


def test_performance_over_time_slices_the_window():
    outputs = [{"label": "True"}] * 6
    labels = ["True", "True", "True", "False", "False", None]
    window = _window(outputs, labels, ts=[0.0, 1.0, 2.0, 7.0, 8.0, 9.0])
    timeline = performance_over_time(window, "binary", "accuracy", positive_class=True, buckets=3)
    assert [t["rows"] for t in timeline] == [3, 0, 3]
    assert [t["labelled"] for t in timeline] == [3, 0, 2]
    assert [t["value"] for t in timeline] == [1.0, None, 0.0]
    assert performance_over_time(window.iloc[:0], "binary", "accuracy") == []
