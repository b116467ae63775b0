"""Unit tests for champion.project.business: what a mistake costs, per task."""

from __future__ import annotations

import numpy as np
import pytest

from champion.errors import SpecError
from champion.project.business import business_metrics, check, check_classes, row_values
from champion.project.metrics import evaluate


def test_binary_value_is_the_sum_of_each_outcome_value():
    values = check({"true_positive": 95, "false_positive": -5, "false_negative": -20}, "binary")
    y_true = np.array(["yes", "yes", "no", "no", "no", "yes"])
    y_pred = np.array(["yes", "no", "yes", "no", "no", "yes"])

    result = business_metrics("binary", values, y_true, y_pred, pos_label="yes")

    # 2 true positives, 1 false negative, 1 false positive, 2 true negatives (worth 0).
    assert result["business_value"] == 2 * 95 - 20 - 5
    assert result["business_value_per_row"] == pytest.approx((2 * 95 - 20 - 5) / 6)


def test_multiclass_value_reads_the_matrix_actual_then_predicted():
    values = check({"cat": {"dog": -3, "cat": 1}, 2: {"cat": -10}}, "multiclass")
    y_true = np.array(["cat", "cat", "2", "2", "dog"], dtype=object)
    y_pred = np.array(["dog", "cat", "cat", "2", "cat"], dtype=object)

    values_by_row = row_values("multiclass", values, y_true, y_pred)

    # Cells left out are worth 0: (2 → 2) and (dog → cat).
    assert values_by_row.tolist() == [-3.0, 1.0, -10.0, 0.0, 0.0]


def test_regression_charges_over_and_under_per_unit_of_error():
    values = check({"over": 2, "under": 5}, "regression")

    rows = row_values("regression", values, [10.0, 10.0, 10.0], [12.0, 7.0, 10.0])

    assert rows.tolist() == [-4.0, -15.0, 0.0]


def test_evaluate_adds_business_metrics_only_with_a_section():
    y = np.array([1, 0, 1, 1])
    pred = np.array([1, 1, 0, 1])

    plain = evaluate("binary", y, pred, pos_label=1)
    valued = evaluate("binary", y, pred, pos_label=1, business={"false_positive": -7.0})

    assert "business_value" not in plain
    assert valued["business_value"] == -7.0
    assert valued["f1"] == plain["f1"]


def test_no_rows_give_no_business_metrics_rather_than_nan():
    assert business_metrics("binary", {"true_positive": 1.0}, [], [], pos_label=1) == {}


def test_multiclass_matrix_names_only_known_classes():
    matrix = check({"setosa": {"virginica": -1}}, "multiclass")

    check_classes(matrix, ["setosa", "virginica", "versicolor"])
    with pytest.raises(SpecError, match=r"business\.setosa\.virginica: 'virginica' is not"):
        check_classes(matrix, ["setosa", "versicolor"])


def test_multilabel_has_no_business_section():
    with pytest.raises(ValueError, match="business: not available for task multilabel"):
        check({"true_positive": 1}, "multilabel")
