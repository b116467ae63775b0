"""Compiling and verifying: real champion pipelines, trained by the project's own code
(``prepare`` + ``build_pipeline``), compiled and compared with scikit-learn on held-out
rows, rows with missing values and unseen categories; what cannot be compiled, or
answers differently, is refused with a reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from champion.onnx.compile import NotCompilable, compile_pipeline
from champion.onnx.runtime import columns_of
from champion.project.candidates import make_estimator
from champion.project.features import FeatureSet, build_preprocessor, model_inputs
from champion.project.spec import CandidateSpec, PreprocessingSpec
from support.onnx import assert_same_answers, awkward, fitted, holdout_of, synthetic, trained

BUILT_IN = [
    ("binary", "linear"),
    ("binary", "random_forest"),
    ("binary", "hist_gradient_boosting"),
    ("binary", "svm"),
    ("multiclass", "linear"),
    ("multiclass", "random_forest"),
    ("multiclass", "hist_gradient_boosting"),
    ("multiclass", "svm"),
    ("regression", "linear"),
    ("regression", "random_forest"),
    ("regression", "hist_gradient_boosting"),
    ("regression", "svm"),
    ("multilabel", "linear"),
    ("multilabel", "random_forest"),
    ("multilabel", "svm"),
]


@pytest.mark.parametrize(("task", "estimator"), BUILT_IN)
def test_compiled_model_answers_like_the_pipeline(contexts, task, estimator):
    context = contexts[task]
    pipeline = trained(context, estimator)
    held_out = holdout_of(context)

    compiled = compile_pipeline(pipeline, context.features, task, held_out)

    assert compiled.path == "onnx"
    assert compiled.nbytes == len(compiled.onnx_bytes) > 0
    rows = awkward(held_out, context.features)
    assert_same_answers(compiled, pipeline, rows, context.features, task)
    # The server's usual request: one row.
    assert_same_answers(compiled, pipeline, rows.iloc[[3]], context.features, task)


def test_the_binary_holdout_has_gaps_that_the_graph_fills_like_the_pipeline(contexts):
    # The fixture's categorical column and a numeric one have missing values; they must
    # reach the compared rows for the test above to mean something.
    context = contexts["binary"]
    held_out = holdout_of(context)

    assert held_out["clinic"].isna().any()
    assert held_out["mean radius"].isna().any()
    pipeline = trained(context, "random_forest")
    compiled = compile_pipeline(pipeline, context.features, "binary", held_out)
    gaps = held_out[held_out["clinic"].isna() | held_out["mean radius"].isna()]
    np.testing.assert_array_equal(
        compiled.predict(columns_of(gaps, context.features)), pipeline.predict(gaps)
    )


@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
@pytest.mark.parametrize(
    ("task", "labels"),
    [
        ("multiclass", lambda score: np.digitize(score, [0.0, 1.0])),  # int64 classes 0, 1, 2
        ("binary", lambda score: score > 0.7),  # bool classes
    ],
    ids=["int-classes", "bool-classes"],
)
@pytest.mark.parametrize("estimator", ["linear", "random_forest", "hist_gradient_boosting"])
def test_labels_keep_their_type_through_rare_and_ordinal_categories(
    encoding, task, labels, estimator
):
    inputs, features, score = synthetic()
    y = labels(score)
    spec = PreprocessingSpec(encoding=encoding, rare_min_frequency=0.05)
    candidate = CandidateSpec(name=estimator, estimator=estimator)
    pipeline = Pipeline(
        [
            ("preprocess", build_preprocessor(features, spec)),
            ("model", make_estimator(candidate, task, seed=0)),
        ]
    )
    pipeline.fit(inputs[:300], y[:300])
    encoder = pipeline.named_steps["preprocess"].named_transformers_["cat"]["encode"]
    assert encoder.infrequent_categories_[0] is not None  # "violet" is grouped as rare

    compiled = compile_pipeline(pipeline, features, task, inputs[300:])

    rows = awkward(inputs[300:], features)
    assert_same_answers(compiled, pipeline, rows, features, task)
    assert compiled.predict(columns_of(rows, features)).dtype == y.dtype


@pytest.mark.filterwarnings("ignore:Label .* is present in all training examples")
@pytest.mark.parametrize("estimator", ["linear", "random_forest", "svm"])
def test_a_tag_that_never_varied_keeps_scikit_learns_answers(estimator):
    # A constant tag gets a constant predictor; placed first, it also makes one-vs-rest
    # threshold every tag's decision at 0.5 instead of 0, and claim probabilities a
    # LinearSVC cannot give.
    inputs, features, score = synthetic()
    tags = np.stack([np.ones(len(score)), score > 0.5, inputs["x"].fillna(0) > 0], axis=1)
    candidate = CandidateSpec(name=estimator, estimator=estimator)
    pipeline = Pipeline(
        [
            ("preprocess", build_preprocessor(features, PreprocessingSpec())),
            ("model", make_estimator(candidate, "multilabel", seed=0)),
        ]
    )
    pipeline.fit(inputs[:300], tags[:300].astype(int))

    compiled = compile_pipeline(pipeline, features, "multilabel", inputs[300:])

    rows = awkward(inputs[300:], features)
    columns = columns_of(rows, features)
    np.testing.assert_array_equal(compiled.predict(columns), pipeline.predict(rows))
    if estimator == "svm":
        assert compiled.predict_proba(columns) is None
    else:
        assert_same_answers(compiled, pipeline, rows, features, "multilabel")


def test_an_estimator_without_converter_is_refused_naming_it(contexts):
    context = contexts["regression"]
    pipeline = Pipeline(
        [
            ("preprocess", build_preprocessor(context.features, context.spec.preprocessing)),
            ("model", KernelRidge()),
        ]
    )
    pipeline.fit(*context.part(context.split.train))

    with pytest.raises(NotCompilable, match=r"no ONNX converter for KernelRidge \(step 'model'\)"):
        compile_pipeline(pipeline, context.features, "regression", holdout_of(context))


def test_text_features_are_refused_with_the_reason(tmp_path):
    rng = np.random.default_rng(3)
    words = ["the", "tumour", "looks", "large", "and", "irregular", "smooth", "edges", "café"]
    frame = pd.DataFrame(
        {
            "size": rng.normal(size=120),
            "note": [" ".join(rng.choice(words, 6)) for _ in range(120)],
        }
    )
    features = FeatureSet(numeric=["size"], text=["note"])
    inputs = model_inputs(frame, features)
    pipeline = Pipeline(
        [
            ("preprocess", build_preprocessor(features, PreprocessingSpec())),
            ("model", make_estimator(CandidateSpec(name="l", estimator="linear"), "binary", 0)),
        ]
    )
    pipeline.fit(inputs, frame["size"] > 0)

    with pytest.raises(NotCompilable, match=r"TfidfVectorizer with sublinear_tf=True") as error:
        compile_pipeline(pipeline, features, "binary", inputs)
    assert "preprocess/text_note/tfidf" in str(error.value)


def test_a_graph_that_answers_differently_is_refused_with_how_many_rows(contexts):
    context = contexts["regression"]
    pipeline = trained(context, "linear")
    # The fitted scaler now computes something its learned state (what the converter
    # reads) does not describe: the graph and the pipeline disagree.
    scaler = pipeline.named_steps["preprocess"].named_transformers_["num"]["scale"]
    original = scaler.transform
    scaler.transform = lambda X, copy=None: original(X) * 2
    held_out = holdout_of(context)

    with pytest.raises(NotCompilable, match=rf"verification failed: \d+ of {len(held_out) + 2} "):
        compile_pipeline(pipeline, context.features, "regression", held_out)


@pytest.mark.parametrize(
    ("break_it", "reason"),
    [
        (lambda pipeline, rows: (pipeline, rows.drop(columns=["clinic"])), "KeyError"),
        (lambda pipeline, rows: (pipeline, rows.iloc[:0]), "no rows to verify"),
        (lambda pipeline, rows: (pipeline.named_steps["model"], rows), "not a champion pipeline"),
    ],
    ids=["missing-column", "no-rows", "not-a-pipeline"],
)
def test_nothing_but_not_compilable_escapes(contexts, break_it, reason):
    context = contexts["binary"]
    pipeline, rows = break_it(trained(context, "linear"), holdout_of(context))

    with pytest.raises(NotCompilable, match=reason):
        compile_pipeline(pipeline, context.features, "binary", rows)


def test_a_class_missing_from_the_table_and_skl2onnx_is_refused_naming_it():
    # A subclass of a class the table lists is neither in the table nor registered
    # with skl2onnx: it is named, not converted as its parent.
    class TunedRidge(Ridge):
        pass

    inputs, features, score = synthetic(120)
    pipeline = fitted(features, TunedRidge(), inputs, score)

    with pytest.raises(NotCompilable, match=r"no ONNX converter for TunedRidge \(step 'model'\)"):
        compile_pipeline(pipeline, features, "regression", inputs)
