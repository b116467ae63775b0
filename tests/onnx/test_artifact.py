"""A compiled model saved as files and read back answers like its pipeline, labels in
their own dtype; a file whose digest differs, or an unreadable plan, is refused."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from champion.onnx import artifact
from champion.onnx.compile import compile_pipeline, compile_verified
from champion.onnx.runtime import plan_of
from champion.project.candidates import make_estimator
from champion.project.features import build_preprocessor
from champion.project.spec import CandidateSpec, PreprocessingSpec
from support.onnx import assert_same_answers, awkward, holdout_of, synthetic, trained

CASES = [
    ("binary", "random_forest"),
    ("multiclass", "linear"),
    ("regression", "hist_gradient_boosting"),
    ("multilabel", "random_forest"),
    ("multilabel", "linear"),
]


@pytest.mark.parametrize(("task", "estimator"), CASES, ids=["-".join(c) for c in CASES])
def test_a_saved_model_loads_and_answers_like_its_pipeline(contexts, tmp_path, task, estimator):
    context = contexts[task]
    pipeline = trained(context, estimator)
    held_out = holdout_of(context)
    compiled = compile_pipeline(pipeline, context.features, task, held_out)

    digests = artifact.save(compiled, tmp_path)
    loaded = artifact.load(tmp_path, digests)

    assert loaded.onnx_bytes == compiled.onnx_bytes
    assert_same_answers(
        loaded, pipeline, awkward(held_out, context.features), context.features, task
    )


@pytest.mark.parametrize(
    "labels",
    [
        lambda s: (s > 0.5).astype(np.int64),
        lambda s: s > 0.5,
        lambda s: np.where(s > 0.5, "a", "b"),
    ],
    ids=["int-classes", "bool-classes", "str-classes"],
)
def test_labels_keep_their_dtype_through_the_plan(tmp_path, labels):
    inputs, features, score = synthetic()
    y = labels(score)
    candidate = CandidateSpec(name="linear", estimator="linear")
    pipeline = Pipeline(
        [
            ("preprocess", build_preprocessor(features, PreprocessingSpec())),
            ("model", make_estimator(candidate, "binary", seed=0)),
        ]
    )
    pipeline.fit(inputs[:300], y[:300])
    compiled = compile_pipeline(pipeline, features, "binary", inputs[300:])

    loaded = artifact.load(tmp_path, artifact.save(compiled, tmp_path))

    assert_same_answers(loaded, pipeline, awkward(inputs[300:], features), features, "binary")
    assert artifact.plan_to_json(
        artifact.plan_from_json(artifact.plan_to_json(plan_of(compiled)))
    ) == artifact.plan_to_json(plan_of(compiled))


def test_verification_reports_rows_and_the_worst_difference(contexts):
    context = contexts["binary"]
    pipeline = trained(context, "random_forest")
    held_out = holdout_of(context)

    _, evidence = compile_verified(pipeline, context.features, "binary", held_out)

    # The holdout plus the all-missing and unseen-category rows the pipeline accepts.
    assert evidence.rows == len(held_out) + 2
    assert 0 <= evidence.max_proba_diff <= 1e-5
    assert evidence.max_value_diff is None


@pytest.mark.parametrize("which", [artifact.MODEL, artifact.PLAN])
def test_a_file_whose_digest_differs_is_refused(contexts, tmp_path, which):
    context = contexts["binary"]
    compiled = compile_pipeline(
        trained(context, "linear"), context.features, "binary", holdout_of(context)
    )
    digests = artifact.save(compiled, tmp_path)
    path = tmp_path / which
    data = bytearray(path.read_bytes())
    data[-2] ^= 1  # one bit, and the JSON or graph would still parse
    path.write_bytes(bytes(data))

    with pytest.raises(artifact.BadArtifact, match=f"{which} has digest"):
        artifact.load(tmp_path, digests)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"not json", "cannot be read"),
        (b'{"format": 99}', "plan format 99"),
        (b'{"format": 1, "inputs": []}', "KeyError"),
    ],
    ids=["not-json", "other-format", "field-missing"],
)
def test_an_unreadable_plan_is_refused(text, message):
    with pytest.raises(artifact.BadArtifact, match=message):
        artifact.plan_from_json(text)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(artifact.BadArtifact, match="cannot read"):
        artifact.load(tmp_path, artifact.Digests(model="0" * 64, plan="0" * 64))
