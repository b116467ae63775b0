"""Unit tests for champion.project.decision: the threshold inside the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from champion.project.decision import labels_at, threshold_of, with_threshold, without_threshold


def _fitted() -> tuple[Pipeline, pd.DataFrame]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    y = np.where(X["a"] + rng.normal(scale=1.0, size=400) > 1.2, "rare", "common")
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    return pipeline.fit(X, y), X


def test_predict_says_positive_exactly_when_its_probability_reaches_the_threshold():
    pipeline, X = _fitted()

    decided = with_threshold(pipeline, 0.2, "rare")

    proba = decided.predict_proba(X)[:, list(decided.classes_).index("rare")]
    expected = np.where(proba >= 0.2, "rare", "common")
    assert (decided.predict(X) == expected).all()
    # A lower threshold says the rare class more often than the estimator's own 0.5.
    assert (decided.predict(X) == "rare").sum() > (pipeline.predict(X) == "rare").sum()


def test_the_threshold_is_read_back_and_the_bare_estimator_recovered():
    pipeline, X = _fitted()
    decided = with_threshold(pipeline, 0.3, "rare")

    bare = without_threshold(decided)

    assert threshold_of(decided) == 0.3
    assert threshold_of(pipeline) is None
    assert bare[-1] is pipeline[-1]
    assert (bare.predict(X) == pipeline.predict(X)).all()


def test_labels_at_applies_the_same_rule_to_probabilities():
    pipeline, X = _fitted()
    decided = with_threshold(pipeline, 0.35, "rare")

    labels = labels_at(pipeline.predict_proba(X), pipeline.classes_, "rare", 0.35)

    assert (labels == decided.predict(X)).all()
