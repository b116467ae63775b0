"""Bad input to the decision keys (``threshold``, ``business``, ``class_weight``) at the
command line: one line naming the key, exit 2, and nothing written to the tracking
store."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from champion.cli import run
from support.projects import write_project

BINARY = "name: cli_decision\ndata: data.csv\ntarget: label\ntask: {task}\n"


def _frame(n: int = 60) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "size": [float(i % 13) for i in range(n)],
            "colour": ["red", "blue", "green"] * (n // 3),
            "label": ["yes" if i % 13 > 6 else "no" for i in range(n)],
        }
    )


BAD_INPUT = [
    (
        "binary",
        "business: {true_positive: 10, false_postive: -1}\n",
        "business.false_postive",
        r"business\.false_postive: unknown for task binary; allowed: true_positive, "
        r"false_positive, true_negative, false_negative",
    ),
    (
        "binary",
        "business: {true_positive: ten}\n",
        "business.true_positive",
        r"business\.true_positive: must be a finite number; got 'ten'",
    ),
    (
        "binary",
        "business: {over: 1, under: 2}\n",
        "business.over",
        r"business\.over: unknown for task binary",
    ),
    (
        "regression",
        "business: {true_positive: 10}\n",
        "business.true_positive",
        r"business\.true_positive: unknown for task regression; allowed: over, under",
    ),
    (
        "regression",
        "business: {over: -2}\n",
        "business.over",
        r"business\.over: a cost per unit of error must be >= 0",
    ),
    (
        "multiclass",
        "business: {'yes': 3}\n",
        "business.yes",
        r"business\.yes: a multiclass business section maps actual class",
    ),
    (
        "multiclass",
        "business: {'yes': {maybe: -5}}\n",
        "business.yes.maybe",
        r"business\.yes\.maybe: 'maybe' is not a class of the target; classes are: no, yes",
    ),
    (
        "binary",
        "business: [1, 2]\n",
        "business",
        r"'business': Input should be a valid dictionary",
    ),
    (
        "binary",
        "threshold: 1.5\n",
        "threshold",
        r"'threshold': must be 'auto' or a number in \(0, 1\); got 1\.5",
    ),
    (
        "binary",
        "threshold: 0\n",
        "threshold",
        r"'threshold': must be 'auto' or a number in \(0, 1\); got 0",
    ),
    (
        "binary",
        "threshold: high\n",
        "threshold",
        r"'threshold': must be 'auto' or a number in \(0, 1\); got 'high'",
    ),
    (
        "multiclass",
        "threshold: 0.3\n",
        "threshold",
        r"threshold: only binary tasks have a decision threshold; task is multiclass",
    ),
    (
        "binary",
        "metric: business_value\n",
        "metric",
        r"metric: 'business_value' needs a 'business:' section",
    ),
    (
        "binary",
        "business: {true_positive: 1}\nmonitoring: {alerts: {rules: "
        "[{name: value, signal: metric_drop, metric: business_value, threshold: 1}]}}\n",
        "monitoring.alerts.rules.0.metric",
        r"monitoring\.alerts\.rules\.0\.metric: a total has no drop .*; watch "
        r"business_value_per_row",
    ),
    (
        "binary",
        "monitoring: {alerts: {rules: "
        "[{name: value, signal: metric_drop, metric: business_value_per_row, threshold: 1}]}}\n",
        "monitoring.alerts.rules.0.metric",
        r"'business_value_per_row' needs a 'business:' section",
    ),
    (
        "binary",
        "candidates: [{name: knn, estimator: sklearn.neighbors.KNeighborsClassifier, "
        "class_weight: balanced}]\n",
        "candidates.knn.class_weight",
        r"candidates\.knn\.class_weight: 'sklearn\.neighbors\.KNeighborsClassifier' "
        r"\(KNeighborsClassifier\) takes no class_weight",
    ),
    (
        "binary",
        "candidates: [{name: lin, estimator: linear, class_weight: heavy}]\n",
        "candidates.0.class_weight",
        r"'candidates\.0\.class_weight': Input should be 'balanced' or 'none'",
    ),
]


@pytest.mark.parametrize(
    ("task", "extra", "key", "message"),
    BAD_INPUT,
    ids=[
        "business-unknown-outcome",
        "business-not-a-number",
        "business-regression-keys-for-binary",
        "business-binary-keys-for-regression",
        "business-negative-cost",
        "business-multiclass-not-a-matrix",
        "business-multiclass-unknown-class",
        "business-not-a-mapping",
        "threshold-above-one",
        "threshold-zero",
        "threshold-not-a-number",
        "threshold-for-multiclass",
        "business-metric-without-section",
        "alert-on-a-business-total",
        "alert-on-business-without-section",
        "class-weight-not-taken",
        "class-weight-unknown-value",
    ],
)
def test_train_rejects_bad_decision_input(task, extra, key, message, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _frame().to_csv(tmp_path / "data.csv", index=False)
    write_project(tmp_path, BINARY.format(task=task) + extra)

    code = run(["train", "-c", str(tmp_path / "champion.yaml")])

    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("SpecError: "), err
    assert re.search(message, err), err
    assert key in err
    assert "Traceback" not in err
    # Nothing was accepted, so nothing was written: no tracking store was even created.
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "mlartifacts").exists()
