"""The ONNX inference path: real champion pipelines, trained by the project's own code
(``prepare`` + ``build_pipeline``), compiled and compared with scikit-learn on held-out
rows, rows with missing values and unseen categories; what cannot be compiled is
refused with a reason."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.kernel_ridge import KernelRidge
from sklearn.pipeline import Pipeline

from champion.project.candidates import make_estimator
from champion.project.features import FeatureSet, build_preprocessor, model_inputs
from champion.project.spec import CandidateSpec, PreprocessingSpec, load_spec
from champion.serving.onnx.compile import NotCompilable, compile_pipeline
from champion.serving.onnx.runtime import CompiledModel, columns_of
from champion.training.train import build_pipeline, prepare
from support.projects import write_project

# The compiled graph computes in double like scikit-learn: it agrees far more tightly
# than compile_pipeline's own verification demands.
CLOSE = {"rtol": 1e-9, "atol": 1e-12}


@pytest.fixture(scope="module")
def multilabel_csv(breast_cancer_csv: Path, tmp_path_factory) -> Path:
    """The breast cancer rows tagged from their own measurements (and clinic)."""
    frame = pd.read_csv(breast_cancer_csv).drop(columns=["diagnosis"])
    tags = [
        "|".join(
            tag
            for tag, on in (
                ("large", row["worst radius"] > 16),
                ("rough", row["mean texture"] > 20),
                ("northern", row["clinic"] == "north"),
            )
            if on
        )
        or None
        for _, row in frame.iterrows()
    ]
    frame["tags"] = tags
    path = tmp_path_factory.mktemp("multilabel") / "tagged.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def contexts(breast_cancer_csv, wine_csv, diabetes_csv, multilabel_csv, tmp_path_factory):
    """The prepared data of one project per task (no tracking store involved)."""
    projects = {
        "binary": (breast_cancer_csv, "diagnosis"),
        "multiclass": (wine_csv, "cultivar"),
        "regression": (diabetes_csv, "target"),
        "multilabel": (multilabel_csv, "tags"),
    }
    prepared = {}
    for task, (data, target) in projects.items():
        folder = tmp_path_factory.mktemp(task)
        config = write_project(
            folder, f"name: {task}\ndata: {data}\ntarget: {target}\ntask: {task}\n"
        )
        prepared[task] = prepare(load_spec(config))
    return prepared


def _trained(context, estimator: str) -> Pipeline:
    pipeline = build_pipeline(context, CandidateSpec(name=estimator, estimator=estimator))
    pipeline.fit(*context.part(context.split.train))
    return pipeline


def _held_out(context) -> pd.DataFrame:
    return context.part(context.split.test)[0]


def _awkward(rows: pd.DataFrame, features: FeatureSet) -> pd.DataFrame:
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


def _assert_same_answers(compiled: CompiledModel, pipeline: Pipeline, rows, features, task):
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
    pipeline = _trained(context, estimator)
    held_out = _held_out(context)

    compiled = compile_pipeline(pipeline, context.features, task, held_out)

    assert compiled.path == "onnx"
    assert compiled.nbytes == len(compiled.onnx_bytes) > 0
    rows = _awkward(held_out, context.features)
    _assert_same_answers(compiled, pipeline, rows, context.features, task)
    # The server's usual request: one row.
    _assert_same_answers(compiled, pipeline, rows.iloc[[3]], context.features, task)


def test_the_binary_holdout_has_gaps_that_the_graph_fills_like_the_pipeline(contexts):
    # The fixture's categorical column and a numeric one have missing values; they must
    # reach the compared rows for the test above to mean something.
    context = contexts["binary"]
    held_out = _held_out(context)

    assert held_out["clinic"].isna().any()
    assert held_out["mean radius"].isna().any()
    pipeline = _trained(context, "random_forest")
    compiled = compile_pipeline(pipeline, context.features, "binary", held_out)
    gaps = held_out[held_out["clinic"].isna() | held_out["mean radius"].isna()]
    np.testing.assert_array_equal(
        compiled.predict(columns_of(gaps, context.features)), pipeline.predict(gaps)
    )


def _synthetic(n: int = 400) -> tuple[pd.DataFrame, FeatureSet, np.ndarray]:
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
    inputs, features, score = _synthetic()
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

    rows = _awkward(inputs[300:], features)
    _assert_same_answers(compiled, pipeline, rows, features, task)
    assert compiled.predict(columns_of(rows, features)).dtype == y.dtype


@pytest.mark.filterwarnings("ignore:Label .* is present in all training examples")
@pytest.mark.parametrize("estimator", ["linear", "random_forest", "svm"])
def test_a_tag_that_never_varied_keeps_scikit_learns_answers(estimator):
    # A constant tag gets a constant predictor; placed first, it also makes one-vs-rest
    # threshold every tag's decision at 0.5 instead of 0, and claim probabilities a
    # LinearSVC cannot give.
    inputs, features, score = _synthetic()
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

    rows = _awkward(inputs[300:], features)
    columns = columns_of(rows, features)
    np.testing.assert_array_equal(compiled.predict(columns), pipeline.predict(rows))
    if estimator == "svm":
        assert compiled.predict_proba(columns) is None
    else:
        _assert_same_answers(compiled, pipeline, rows, features, "multilabel")


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
        compile_pipeline(pipeline, context.features, "regression", _held_out(context))


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
    pipeline = _trained(context, "linear")
    # The fitted scaler now computes something its learned state (what the converter
    # reads) does not describe: the graph and the pipeline disagree.
    scaler = pipeline.named_steps["preprocess"].named_transformers_["num"]["scale"]
    original = scaler.transform
    scaler.transform = lambda X, copy=None: original(X) * 2
    held_out = _held_out(context)

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
    pipeline, rows = break_it(_trained(context, "linear"), _held_out(context))

    with pytest.raises(NotCompilable, match=reason):
        compile_pipeline(pipeline, context.features, "binary", rows)


def test_a_session_is_made_again_in_a_new_process(contexts):
    context = contexts["binary"]
    pipeline = _trained(context, "hist_gradient_boosting")
    held_out = _held_out(context)
    compiled = compile_pipeline(pipeline, context.features, "binary", held_out)
    columns = columns_of(held_out, context.features)
    before = compiled.predict_proba(columns)
    session = compiled._session
    assert session is not None and compiled._pid == os.getpid()
    options = session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)

    compiled._pid = -1  # as if this were a worker forked after the session was made

    np.testing.assert_array_equal(compiled.predict_proba(columns), before)
    assert compiled._session is not session
    assert compiled._pid == os.getpid()
    reused = compiled._session
    compiled.predict(columns)
    assert compiled._session is reused  # same process: the session is kept


def test_a_pickled_model_travels_without_its_session(contexts):
    context = contexts["multiclass"]
    pipeline = _trained(context, "random_forest")
    held_out = _held_out(context)
    compiled = compile_pipeline(pipeline, context.features, "multiclass", held_out)
    columns = columns_of(held_out, context.features)
    compiled.predict(columns)

    copy = pickle.loads(pickle.dumps(compiled))

    assert copy._session is None
    np.testing.assert_array_equal(copy.predict(columns), pipeline.predict(held_out))


def test_columns_of_round_trips_a_model_inputs_frame(contexts):
    context = contexts["binary"]
    features = context.features
    frame = _held_out(context)
    frame.loc[frame.index[0], "clinic"] = None
    frame.loc[frame.index[1], "mean radius"] = np.nan

    columns = columns_of(frame, features)

    assert list(columns) == features.columns
    assert all(columns[c].dtype == np.float64 for c in features.numeric)
    assert columns["clinic"].dtype == object and columns["clinic"][0] is None
    assert all(v is None or isinstance(v, str) for v in columns["clinic"])
    rebuilt = pd.DataFrame(
        {c: pd.Series(v, index=frame.index, dtype=v.dtype) for c, v in columns.items()}
    )
    pd.testing.assert_frame_equal(rebuilt, frame[features.columns])
