"""Which way a metric is better, and ranking runs by it: best first, missing last.
(Moved from test_metrics.py with the functions, assertions unchanged.)"""

from __future__ import annotations

import pytest

from champion.project.ranking import LOWER_IS_BETTER, direction_of, rank_key


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("rmse", "minimize"),
        ("mae", "minimize"),
        ("log_loss", "minimize"),
        ("hamming_loss", "minimize"),
        ("fit_time_s", "minimize"),
        ("f1", "maximize"),
        ("roc_auc", "maximize"),
        ("r2", "maximize"),
        ("jaccard", "maximize"),
    ],
)
def test_direction_of(metric, direction):
    assert direction_of(metric) == direction
    assert (metric in LOWER_IS_BETTER) is (direction == "minimize")


@pytest.mark.parametrize(
    ("direction", "values", "expected"),
    [
        ("maximize", [0.5, float("nan"), 0.9, None, 0.7], [0.9, 0.7, 0.5]),
        ("minimize", [3.0, float("nan"), 1.0, 2.0], [1.0, 2.0, 3.0]),
    ],
    ids=["maximize", "minimize"],
)
def test_rank_key_puts_the_best_first_and_missing_last(direction, values, expected):
    ranked = sorted(values, key=lambda v: rank_key(v, direction))
    assert ranked[: len(expected)] == expected
    assert all(v is None or v != v for v in ranked[len(expected) :])
