"""Helpers of the ONNX tests: champion pipelines trained by the project's own code, rows
a server may receive, and the check that a compiled model answers like its pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from champion.onnx.runtime import CompiledModel, columns_of
from champion.project.features import FeatureSet, build_preprocessor, model_inputs
from champion.project.spec import CandidateSpec, PreprocessingSpec
from champion.training.train import build_pipeline

# The compiled graph computes in double like scikit-learn: it agrees far more tightly
# than compile_pipeline's own verification demands.
CLOSE = {"rtol": 1e-9, "atol": 1e-12}


def trained(context, estimator: str) -> Pipeline:
    """The built-in candidate ``estimator`` trained on ``context``'s training rows."""
    pipeline = build_pipeline(context, CandidateSpec(name=estimator, estimator=estimator))
    pipeline.fit(*context.part(context.split.train))
    return pipeline


def holdout_of(context) -> pd.DataFrame:
    """The prepared rows of ``context`` held out from training."""
    return context.part(context.split.test)[0]


def awkward(rows: pd.DataFrame, features: FeatureSet) -> pd.DataFrame:
    """Copies of ``rows`` a server may receive: values missing, categories never
    seen, numbers far outside the training range (negative ones too)."""
    missing, unseen, extreme = rows.copy(), rows.copy(), rows.copy()
    for column in features.numeric:
        missing.loc[missing.index[::2], column] = np.nan
        extreme[column] = extreme[column] * np.where(np.arange(len(rows)) % 2, 1e6, -1e3)
    for column in [*features.categorical, *features.ordinal]:
        missing.loc[missing.index[1::2], column] = None
        unseen[column] = "atlantis"
    return pd.concat([rows, missing, unseen, extreme], ignore_index=True)


def assert_same_answers(compiled: CompiledModel, pipeline: Pipeline, rows, features, task):
    """``compiled`` predicts (same dtype) and gives probabilities like ``pipeline``."""
    columns = columns_of(rows, features)
    got, expected = compiled.predict(columns), pipeline.predict(rows)
    assert got.dtype == expected.dtype
    if task == "regression":
        np.testing.assert_allclose(got, expected, **CLOSE)
    else:
        np.testing.assert_array_equal(got, expected)
    if not hasattr(pipeline, "predict_proba") or task == "regression":
        assert compiled.predict_proba(columns) is None
        return
    proba, expected_proba = compiled.predict_proba(columns), pipeline.predict_proba(rows)
    if isinstance(expected_proba, list):  # a multilabel forest: one array per tag
        assert isinstance(proba, list) and len(proba) == len(expected_proba)
        for part, reference in zip(proba, expected_proba, strict=True):
            assert part.dtype == np.float64
            np.testing.assert_allclose(part, reference, **CLOSE)
    else:
        assert proba.dtype == np.float64
        np.testing.assert_allclose(proba, expected_proba, **CLOSE)


def synthetic(n: int = 400) -> tuple[pd.DataFrame, FeatureSet, np.ndarray]:
    """Several categorical columns (one with a rare category), an ordinal one, a
    skewed number, gaps everywhere, and a score to derive targets from."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "amount": rng.lognormal(size=n) * 100,
            "colour": rng.choice(
                ["red", "green", "blue", "violet", None], size=n, p=[0.4, 0.3, 0.2, 0.02, 0.08]
            ),
            "flag": rng.choice([True, False, None], size=n),
            "code": rng.choice([1, 2, 3, 4.0], size=n),
            "size": rng.choice(["S", "M", "L", None], size=n),
        }
    )
    frame.loc[::11, "x"] = np.nan
    features = FeatureSet(
        numeric=["x", "amount"],
        categorical=["colour", "flag", "code"],
        ordinal={"size": ["S", "M", "L"]},
    )
    inputs = model_inputs(frame, features)
    score = (
        inputs["x"].fillna(0) + 1.5 * (inputs["colour"] == "red") + (inputs["size"] == "L")
    ).to_numpy()
    return inputs, features, score


def fitted(features: FeatureSet, estimator, inputs, y, spec: PreprocessingSpec | None = None):
    """champion's preprocessing for ``features`` (per ``spec``), then ``estimator``,
    fitted on ``inputs`` and ``y``."""
    preprocess = build_preprocessor(features, spec or PreprocessingSpec())
    pipeline = Pipeline([("preprocess", preprocess), ("model", estimator)])
    return pipeline.fit(inputs, y)
