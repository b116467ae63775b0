"""What a mistake costs: the project file's ``business:`` section and its arithmetic.

One value per row, summed over the rows (``business_value``) and averaged
(``business_value_per_row``); higher is better, so costs are negative values:

==============  =====================================================  ==================
task            ``business:``                                          a row's value
==============  =====================================================  ==================
binary          ``true_positive``, ``false_positive``,                 the value of its
                ``true_negative``, ``false_negative``: a number each   outcome
                (an outcome left out is worth 0)
multiclass      a matrix: actual class → predicted class → number      the matrix's cell
                (a cell left out is worth 0)
regression      ``over``, ``under``: a cost (>= 0) per unit of error   minus the cost of
                when the prediction is above, below the truth          its error
==============  =====================================================  ==================

Training logs both metrics on the holdout, the gate reports them (and can compare by
them), monitoring computes them on labelled predictions, and the threshold of a
binary model can be tuned to maximise them: all through this module, so each computes
the same thing. Free of scikit-learn.

Example (a marketing campaign: a sale earns 100, a call costs 5)::

    business:
      true_positive: 95
      false_positive: -5
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from champion.errors import SpecError
from champion.project.categories import canonical_category

OUTCOMES = ("true_positive", "false_positive", "true_negative", "false_negative")
COSTS = ("over", "under")
TOTAL = "business_value"
PER_ROW = "business_value_per_row"
METRICS = (TOTAL, PER_ROW)
#: Metrics whose value grows with the number of rows: a live total cannot be compared
#: with the holdout's, so monitoring reports it but measures no drop on it.
SIZE_DEPENDENT = frozenset({TOTAL})


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key}: must be a finite number; got {value!r}")
    return float(value)


def check(section: Any, task: str) -> dict:
    """The ``business:`` section validated for ``task``, with every value a float
    (multiclass class names in their canonical spelling).

    Raises:
        ValueError: ``"business.<key>: what is wrong"``, naming the key at fault.
    """
    if task == "multilabel":
        raise ValueError("business: not available for task multilabel")
    if not isinstance(section, dict) or not section:
        raise ValueError(f"business: must be a non-empty mapping for task {task}")
    if task == "multiclass":
        matrix: dict[str, dict[str, float]] = {}
        for actual, row in section.items():
            key = f"business.{actual}"
            if not isinstance(row, dict):
                raise ValueError(
                    f"{key}: a multiclass business section maps actual class → predicted "
                    f"class → value; got {row!r}"
                )
            matrix[canonical_category(actual)] = {
                canonical_category(predicted): _number(value, f"{key}.{predicted}")
                for predicted, value in row.items()
            }
        return matrix
    allowed = OUTCOMES if task == "binary" else COSTS
    values = {}
    for name, value in section.items():
        if name not in allowed:
            raise ValueError(
                f"business.{name}: unknown for task {task}; allowed: {', '.join(allowed)}"
            )
        values[name] = _number(value, f"business.{name}")
        if task == "regression" and values[name] < 0:
            raise ValueError(f"business.{name}: a cost per unit of error must be >= 0")
    return values


def check_classes(matrix: dict, classes) -> None:
    """A multiclass matrix names only classes of the target.

    Raises:
        SpecError: naming the first unknown class and the classes there are.
    """
    known = {canonical_category(c) for c in classes}
    for actual, row in matrix.items():
        for name, where in [(actual, actual), *((p, f"{actual}.{p}") for p in row)]:
            if name not in known:
                raise SpecError(
                    f"business.{where}: '{name}' is not a class of the target; classes "
                    f"are: {', '.join(sorted(known))}",
                    field=f"business.{where}",
                )


def row_values(task: str, values: dict, y_true, y_pred, pos_label=None) -> np.ndarray:
    """Each row's business value (see the module's table)."""
    if task == "regression":
        error = np.asarray(y_pred, dtype=float) - np.asarray(y_true, dtype=float)
        over, under = values.get("over", 0.0), values.get("under", 0.0)
        return -(over * np.clip(error, 0, None) + under * np.clip(-error, 0, None))
    if task == "binary":
        actual = np.asarray(y_true) == pos_label
        predicted = np.asarray(y_pred) == pos_label
        table = np.array(
            [
                [values.get("true_negative", 0.0), values.get("false_positive", 0.0)],
                [values.get("false_negative", 0.0), values.get("true_positive", 0.0)],
            ]
        )
        return table[actual.astype(int), predicted.astype(int)]
    spelled = {}

    def cell(actual, predicted) -> float:
        # Few distinct pairs, many rows: spell each pair once.
        pair = (actual, predicted)
        if pair not in spelled:
            row = values.get(canonical_category(actual), {})
            spelled[pair] = row.get(canonical_category(predicted), 0.0)
        return spelled[pair]

    return np.array([cell(a, p) for a, p in zip(y_true, y_pred, strict=True)], dtype=float)


def business_metrics(task: str, values: dict, y_true, y_pred, pos_label=None) -> dict:
    """``business_value`` (the total) and ``business_value_per_row`` (the mean); no
    rows: an empty dict (never a NaN)."""
    rows = row_values(task, values, y_true, y_pred, pos_label)
    if not len(rows):
        return {}
    return {TOTAL: float(rows.sum()), PER_ROW: float(rows.mean())}


def per_row(y_true, y_pred, *, task: str, values: dict, pos_label=None) -> float:
    """The mean value per row: a score function for ``sklearn.metrics.make_scorer``
    (what tunes a binary model's threshold)."""
    return float(row_values(task, values, y_true, y_pred, pos_label).mean())
