"""Which way a metric is better, and the sort key that ranks runs by it.

Kept apart from :mod:`champion.project.metrics` (which computes metrics with
scikit-learn) so that comparing and listing runs, which only sort numbers MLflow
already stored, start without importing scikit-learn.

May import: nothing of champion's.
"""

from __future__ import annotations

import numpy as np

LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss", "hamming_loss", "fit_time_s"})


def rank_key(value: float | None, direction: str) -> tuple[bool, float]:
    """Sort key that puts the best value first and missing or NaN values last."""
    missing = value is None or np.isnan(value)
    return (missing, 0.0 if missing else (-value if direction == "maximize" else value))


def direction_of(metric: str) -> str:
    """``minimize`` for errors and losses, ``maximize`` otherwise."""
    return "minimize" if metric in LOWER_IS_BETTER else "maximize"
