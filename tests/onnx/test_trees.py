"""Tree converters: the forests, trees and boosters the table lists beyond the
built-in candidates, compiled in small pipelines and compared with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from champion.onnx.compile import compile_pipeline
from support.onnx import assert_same_answers, awkward, fitted, synthetic


@pytest.mark.parametrize(
    ("estimator", "task"),
    [
        (ExtraTreesClassifier(n_estimators=10, random_state=0), "multiclass"),
        (DecisionTreeClassifier(max_depth=4, random_state=0), "binary"),
        (ExtraTreesRegressor(n_estimators=10, random_state=0), "regression"),
        (DecisionTreeRegressor(max_depth=4, random_state=0), "regression"),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str) else value,
)
def test_trees_compile_to_the_pipelines_answers(estimator, task):
    inputs, features, score = synthetic(200)
    y = {
        "multiclass": np.array(["low", "mid", "high"])[np.digitize(score, [0.0, 1.0])],
        "binary": score > 0.7,
        "regression": score,
    }[task]
    pipeline = fitted(features, estimator, inputs[:150], y[:150])

    compiled = compile_pipeline(pipeline, features, task, inputs[150:])

    assert_same_answers(compiled, pipeline, awkward(inputs[150:], features), features, task)
