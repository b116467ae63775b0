"""The one-vs-rest converter: tags thresholded as scikit-learn thresholds them, with
one tag or several, compared with scikit-learn; a non-linear tagger is refused."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from champion.onnx.compile import NotCompilable, compile_pipeline
from champion.onnx.runtime import columns_of
from support.onnx import assert_same_answers, awkward, fitted, synthetic


@pytest.mark.parametrize("n_tags", [1, 3])
def test_one_vs_rest_answers_the_pipelines_tags_and_probabilities(n_tags):
    inputs, features, score = synthetic(200)
    tags = np.stack([score > 0.5, inputs["x"].fillna(0) > 0, score > 1.5], axis=1)[:, :n_tags]
    estimator = OneVsRestClassifier(LogisticRegression(max_iter=2000))
    pipeline = fitted(features, estimator, inputs[:150], tags[:150].astype(int))

    compiled = compile_pipeline(pipeline, features, "multilabel", inputs[150:])

    rows = awkward(inputs[150:], features)
    # One tag is a binary problem to scikit-learn (one label column), several a tag matrix.
    assert compiled.predict(columns_of(rows, features)).shape == pipeline.predict(rows).shape
    assert_same_answers(compiled, pipeline, rows, features, "multilabel")


def test_one_vs_rest_over_a_non_linear_tagger_is_refused():
    from sklearn.tree import DecisionTreeClassifier

    inputs, features, score = synthetic(200)
    tags = np.stack([score > 0.5, inputs["x"].fillna(0) > 0], axis=1).astype(int)
    estimator = OneVsRestClassifier(DecisionTreeClassifier(max_depth=3, random_state=0))
    pipeline = fitted(features, estimator, inputs[:150], tags[:150])

    with pytest.raises(NotCompilable, match=r"OneVsRestClassifier over DecisionTreeClassifier"):
        compile_pipeline(pipeline, features, "multilabel", inputs[150:])
