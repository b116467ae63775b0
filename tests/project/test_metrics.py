"""Unit tests for champion.project.metrics, checked against scikit-learn and numpy directly."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from champion.project.metrics import DEFAULT_PRIMARY, METRICS_BY_TASK, evaluate, row_scores

BINARY_TRUE = np.array(["yes", "no", "no", "yes", "no", "yes", "no", "no"], dtype=object)
BINARY_PRED = np.array(["yes", "no", "yes", "no", "no", "yes", "no", "yes"], dtype=object)
# Probability of "yes", the second class in CLASSES order.
P_YES = np.array([0.9, 0.2, 0.6, 0.4, 0.1, 0.8, 0.3, 0.7])
BINARY_PROBA = np.column_stack([1 - P_YES, P_YES])
BINARY_CLASSES = np.array(["no", "yes"], dtype=object)


def test_evaluate_binary_matches_scikit_learn():
    result = evaluate(
        "binary", BINARY_TRUE, BINARY_PRED, BINARY_PROBA, BINARY_CLASSES, pos_label="yes"
    )

    assert result == pytest.approx(
        {
            "accuracy": skm.accuracy_score(BINARY_TRUE, BINARY_PRED),
            "precision": skm.precision_score(BINARY_TRUE, BINARY_PRED, pos_label="yes"),
            "recall": skm.recall_score(BINARY_TRUE, BINARY_PRED, pos_label="yes"),
            "f1": skm.f1_score(BINARY_TRUE, BINARY_PRED, pos_label="yes"),
            "roc_auc": skm.roc_auc_score(BINARY_TRUE == "yes", P_YES),
            "log_loss": skm.log_loss(BINARY_TRUE, BINARY_PROBA, labels=BINARY_CLASSES),
        }
    )
    assert set(result) == set(METRICS_BY_TASK["binary"])


def test_evaluate_binary_scores_the_requested_positive_class():
    result = evaluate(
        "binary", BINARY_TRUE, BINARY_PRED, BINARY_PROBA, BINARY_CLASSES, pos_label="no"
    )
    as_yes = evaluate(
        "binary", BINARY_TRUE, BINARY_PRED, BINARY_PROBA, BINARY_CLASSES, pos_label="yes"
    )

    assert result["precision"] == pytest.approx(
        skm.precision_score(BINARY_TRUE, BINARY_PRED, pos_label="no")
    )
    assert result["f1"] == pytest.approx(skm.f1_score(BINARY_TRUE, BINARY_PRED, pos_label="no"))
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(BINARY_TRUE == "no", 1 - P_YES))
    assert result["f1"] != pytest.approx(as_yes["f1"])


def test_evaluate_binary_without_probabilities_has_no_probability_metrics():
    result = evaluate("binary", BINARY_TRUE, BINARY_PRED, pos_label="yes")

    assert set(result) == {"accuracy", "precision", "recall", "f1"}
    assert result["accuracy"] == pytest.approx(np.mean(BINARY_TRUE == BINARY_PRED))


def test_evaluate_binary_skips_roc_auc_when_the_holdout_has_one_class():
    y_true = np.array(["yes", "yes", "yes"], dtype=object)

    result = evaluate(
        "binary", y_true, BINARY_PRED[:3], BINARY_PROBA[:3], BINARY_CLASSES, pos_label="yes"
    )

    assert "roc_auc" not in result
    assert "log_loss" not in result
    assert result["recall"] == pytest.approx(2 / 3)


MC_TRUE = np.array([0, 1, 2, 2, 1, 0, 2, 1, 0, 2])
MC_PRED = np.array([0, 2, 2, 2, 1, 0, 1, 1, 1, 2])
MC_PROBA = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.2, 0.3, 0.5],
        [0.1, 0.2, 0.7],
        [0.2, 0.1, 0.7],
        [0.1, 0.8, 0.1],
        [0.6, 0.3, 0.1],
        [0.2, 0.5, 0.3],
        [0.3, 0.6, 0.1],
        [0.4, 0.5, 0.1],
        [0.1, 0.1, 0.8],
    ]
)
MC_CLASSES = np.array([0, 1, 2])


def test_evaluate_multiclass_matches_scikit_learn():
    # MC_PROBA has ties within columns (0.1, 0.2): the AUC must rank them as given.
    result = evaluate("multiclass", MC_TRUE, MC_PRED, MC_PROBA, MC_CLASSES)

    assert result == pytest.approx(
        {
            "accuracy": skm.accuracy_score(MC_TRUE, MC_PRED),
            "precision_macro": skm.precision_score(MC_TRUE, MC_PRED, average="macro"),
            "recall_macro": skm.recall_score(MC_TRUE, MC_PRED, average="macro"),
            "f1_macro": skm.f1_score(MC_TRUE, MC_PRED, average="macro"),
            "roc_auc_ovr": skm.roc_auc_score(MC_TRUE, MC_PROBA, multi_class="ovr"),
            "log_loss": skm.log_loss(MC_TRUE, MC_PROBA),
        }
    )
    assert set(result) == set(METRICS_BY_TASK["multiclass"])


def test_evaluate_multiclass_ranks_only_the_classes_in_the_holdout():
    # Class 3 is known to the model but absent from these rows. No ties in a column, so
    # rescaling the other three columns keeps their ranking.
    seen = np.random.default_rng(0).dirichlet(np.ones(3), size=len(MC_TRUE))
    proba = np.column_stack([seen * 0.9, np.full(len(MC_TRUE), 0.1)])
    classes = np.array([0, 1, 2, 3])

    result = evaluate("multiclass", MC_TRUE, MC_PRED, proba, classes)

    assert result["roc_auc_ovr"] == pytest.approx(
        skm.roc_auc_score(MC_TRUE, seen, multi_class="ovr")
    )
    assert result["log_loss"] == pytest.approx(skm.log_loss(MC_TRUE, proba, labels=classes))


def test_evaluate_regression_matches_numpy():
    y_true = np.array([3.0, -0.5, 2.0, 7.0, 4.2])
    y_pred = np.array([2.5, 0.0, 2.0, 8.0, 3.0])

    result = evaluate("regression", y_true, y_pred)

    error = y_pred - y_true
    r2 = 1 - np.sum(error**2) / np.sum((y_true - y_true.mean()) ** 2)
    assert result == pytest.approx(
        {"rmse": np.sqrt(np.mean(error**2)), "mae": np.mean(np.abs(error)), "r2": r2}
    )
    assert set(result) == set(METRICS_BY_TASK["regression"])


ML_TRUE = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
ML_PRED = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 1]])


def test_evaluate_multilabel_matches_scikit_learn():
    result = evaluate("multilabel", ML_TRUE, ML_PRED)

    assert result == pytest.approx(
        {
            "jaccard": skm.jaccard_score(ML_TRUE, ML_PRED, average="samples", zero_division=0),
            "f1_micro": skm.f1_score(ML_TRUE, ML_PRED, average="micro"),
            "f1_macro": skm.f1_score(ML_TRUE, ML_PRED, average="macro"),
            "hamming_loss": np.mean(ML_TRUE != ML_PRED),
            "prediction_rate": 3 / 4,  # row 3 has no predicted tag
        }
    )
    assert set(result) == set(METRICS_BY_TASK["multilabel"])


def test_evaluate_returns_plain_floats():
    result = evaluate("regression", np.array([1.0, 2.0]), np.array([1.5, 2.5]))

    assert all(type(value) is float for value in result.values())


@pytest.mark.parametrize("task", sorted(DEFAULT_PRIMARY))
def test_default_primary_metric_is_computed_for_its_task(task):
    assert DEFAULT_PRIMARY[task] in METRICS_BY_TASK[task]


def test_row_scores_classification_is_one_when_correct():
    scores = row_scores("binary", BINARY_TRUE, BINARY_PRED)

    assert scores.tolist() == (BINARY_TRUE == BINARY_PRED).astype(float).tolist()
    assert scores.mean() == pytest.approx(skm.accuracy_score(BINARY_TRUE, BINARY_PRED))


def test_row_scores_regression_is_minus_the_absolute_error():
    scores = row_scores("regression", [1.0, 2.0, 3.0], [1.5, 2.0, 1.0])

    assert scores.tolist() == [-0.5, 0.0, -2.0]


def test_row_scores_multilabel_is_the_row_jaccard_index():
    y_true = np.vstack([ML_TRUE, [0, 0, 0]])
    y_pred = np.vstack([ML_PRED, [0, 0, 0]])

    scores = row_scores("multilabel", y_true, y_pred)

    expected = [
        skm.jaccard_score(t, p, zero_division=1.0) for t, p in zip(y_true, y_pred, strict=True)
    ]
    assert scores.tolist() == pytest.approx(expected)
    assert scores[-1] == 1.0  # nothing to predict and nothing predicted is right
