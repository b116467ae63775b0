"""Compile at registration: ``register`` compiles the version's pipeline to ONNX, logs the
graph and its plan to the run, and tags the version with where they are, their digests
and the verification's evidence; a model without a converter is tagged with the reason.
On both stores: a SQLite file and a real ``mlflow server`` (PostgreSQL, served
artifacts)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import mlflow
import numpy as np
import pytest

from champion import artifacts
from champion.onnx import artifact
from champion.onnx.runtime import columns_of
from champion.project.features import FeatureSet, model_inputs
from champion.project.spec import load_spec
from champion.registry.compare import compare
from champion.registry.compiled import COMPILED, NOT_COMPILABLE, OnnxRecord, load_compiled
from champion.registry.modelio import load_version
from champion.registry.register import register
from champion.registry.tracking import use_tracking
from champion.training.train import train_project
from support.projects import write_project

pytestmark = pytest.mark.integration

# A model that compiles and one that has no converter (KernelRidge), both quick to fit.
PROJECT = """
name: {name}
data: {data}
target: target
task: regression
candidates:
  - {{name: linear, estimator: linear}}
  - name: kernel
    estimator: sklearn.kernel_ridge.KernelRidge
"""


@pytest.fixture
def trained(settings, unique_name, diabetes_csv, tmp_path):
    """(settings, model name, candidate → run id) after training both candidates."""
    config = write_project(tmp_path, PROJECT.format(name=unique_name, data=diabetes_csv))
    train_project(load_spec(config), settings)
    runs = {row.candidate: row.run_id for row in compare(settings, unique_name)}
    return settings, unique_name, runs


def test_register_logs_the_graph_and_tags_the_version_with_its_evidence(trained, tmp_path):
    settings, name, runs = trained

    version = register(settings, name, run_id=runs["linear"])

    record = OnnxRecord.from_tags(version.tags)
    assert record.status == COMPILED
    assert record.path == f"onnx/{record.model_sha256[:16]}"
    with use_tracking(settings):
        holdout = artifacts.load_holdout(version.run_id)
        folder = Path(
            mlflow.artifacts.download_artifacts(
                f"runs:/{version.run_id}/{record.path}", dst_path=str(tmp_path)
            )
        )
    # The whole holdout, plus the all-missing and unseen-category rows.
    assert record.rows_checked == len(holdout) + 2
    assert 0 <= record.max_value_diff <= 1e-6
    assert record.max_proba_diff is None  # a regression has no probabilities
    assert sorted(p.name for p in folder.iterdir()) == [artifact.MODEL, artifact.PLAN]
    for file, digest in (
        (artifact.MODEL, record.model_sha256),
        (artifact.PLAN, record.plan_sha256),
    ):
        assert hashlib.sha256((folder / file).read_bytes()).hexdigest() == digest


def test_the_logged_graph_answers_like_the_registered_pipeline(trained):
    settings, name, runs = trained
    version = register(settings, name, run_id=runs["linear"])
    record = OnnxRecord.from_tags(version.tags)

    with use_tracking(settings):
        compiled = load_compiled(record, version.run_id)
        pipeline = load_version(f"models:/{name}/{version.version}")
        holdout = artifacts.load_holdout(version.run_id)
        features = FeatureSet.from_dict(artifacts.load_features(version.run_id))
    rows = model_inputs(holdout, features)

    np.testing.assert_allclose(
        compiled.predict(columns_of(rows, features)), pipeline.predict(rows), rtol=1e-9
    )


def test_a_model_without_converter_registers_with_the_reason(trained):
    settings, name, runs = trained

    version = register(settings, name, run_id=runs["kernel"])

    assert version.aliases == ["challenger"]  # registered all the same
    assert version.tags["champion.onnx"] == NOT_COMPILABLE
    assert "no ONNX converter for KernelRidge" in version.tags["champion.onnx.reason"]
    assert not any(tag in version.tags for tag in ("champion.onnx.path", "champion.onnx.sha256"))
