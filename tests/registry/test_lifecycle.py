"""The whole path on a real tracking store, twice: a SQLite file, and a PostgreSQL-backed
``mlflow server`` over HTTP. Train → compare → register → promote (gate) → refuse →
force → rollback, and the champion loads anywhere with the trained predictions."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from champion.errors import ConflictError, NotFoundError, PromotionRefused
from champion.project.features import FeatureSet, model_inputs
from champion.project.spec import load_spec
from champion.registry.compare import compare
from champion.registry.promote import promote
from champion.registry.register import register
from champion.registry.rollback import rollback
from champion.registry.tracking import ROLE_TAG, client, use_tracking
from champion.registry.versions import list_versions
from champion.training.train import train_project
from support.projects import write_project

pytestmark = pytest.mark.integration

PROJECT = """
name: {name}
data: {data}
target: diagnosis
task: binary
positive_class: malignant
split: {{method: stratified, test_size: 0.25}}
candidates:
  - name: linear
    estimator: linear
  - name: forest
    estimator: random_forest
    params: {{n_estimators: 30, max_depth: 6}}
  - name: majority
    estimator: sklearn.dummy.DummyClassifier
    params: {{strategy: most_frequent}}
"""


def _holdout_inputs(settings, run_id: str, features: FeatureSet) -> pd.DataFrame:
    with use_tracking(settings):
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="holdout.csv")
    return model_inputs(pd.read_csv(path), features)


def test_lifecycle_from_training_to_rollback(
    settings, tmp_path: Path, unique_name, breast_cancer_csv
):
    project = load_spec(
        write_project(tmp_path, PROJECT.format(name=unique_name, data=breast_cancer_csv))
    )
    report = train_project(project, settings)

    # Every candidate is a run with metrics, params, datasets and artifacts.
    assert {c.name for c in report.candidates} == {"linear", "forest", "majority"}
    assert report.metric == "f1"
    scores = [c.metrics["f1"] for c in report.candidates]
    assert scores == sorted(scores, reverse=True)
    assert report.candidates[-1].name == "majority"  # predicts "benign": f1 on malignant is 0
    mlflow_client = client(settings)
    run = mlflow_client.get_run(report.best.run_id)
    assert set(run.data.metrics) >= {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "fit_time_s",
    }
    assert run.data.params["positive_class"] == "malignant"
    assert run.data.params["features.categorical"] == "clinic"
    contexts = {
        {t.key: t.value for t in d.tags}["mlflow.data.context"] for d in run.inputs.dataset_inputs
    }
    assert contexts == {"training", "evaluation"}
    digests = {d.dataset.digest for d in run.inputs.dataset_inputs}
    assert len(digests) == 2 and all(digests)
    artifacts = {a.path for a in mlflow_client.list_artifacts(report.best.run_id)}
    assert {
        "holdout.csv",
        "reference_profile.json",
        "feature_importance.csv",
        "shap_values.csv",
        "plots",
    } <= artifacts
    plots = {a.path for a in mlflow_client.list_artifacts(report.best.run_id, "plots")}
    assert {
        "plots/confusion_matrix.png",
        "plots/roc_curve.png",
        "plots/feature_importance.png",
        "plots/shap_summary.png",
    } <= plots
    with use_tracking(settings):
        profile = json.loads(
            mlflow.artifacts.load_text(f"runs:/{report.best.run_id}/reference_profile.json")
        )
    assert profile["features"]["clinic"]["kind"] == "categorical"
    assert profile["features"]["mean radius"]["missing"] > 0

    # compare ranks the same way, best first.
    rows = compare(settings, unique_name)
    assert [r.run_id for r in rows] == [c.run_id for c in report.candidates]

    # register --best: version 1, alias challenger, a description that says what it is.
    v1 = register(settings, unique_name)
    assert str(v1.version) == "1" and v1.aliases == ["challenger"]
    assert report.best.name in v1.description and "f1 = " in v1.description
    assert v1.tags["candidate"] == report.best.name

    # The first version is promoted directly.
    decision = promote(settings, unique_name)
    assert decision.promote and decision.champion_score is None
    versions = {v.version: v for v in list_versions(settings, unique_name)}
    assert versions["1"].aliases == ["champion"]

    # Load anywhere: the registry's champion predicts exactly what the trained pipeline did.
    with use_tracking(settings):
        features_doc = mlflow.artifacts.load_dict(f"runs:/{report.best.run_id}/features.json")
    features = FeatureSet.from_dict(features_doc)
    X = _holdout_inputs(settings, report.best.run_id, features)
    with use_tracking(settings):
        served = mlflow.pyfunc.load_model(f"models:/{unique_name}@champion").predict(X)
    np.testing.assert_array_equal(np.asarray(served), report.best.pipeline.predict(X))

    # A worse challenger is refused with evidence; the champion does not move.
    majority = next(c for c in report.candidates if c.name == "majority")
    v2 = register(settings, unique_name, run_id=majority.run_id)
    with pytest.raises(PromotionRefused, match="was not promoted") as refused:
        promote(settings, unique_name)
    evidence = refused.value.evidence
    assert evidence["champion"]["version"] == "1" and evidence["challenger"]["version"] == str(
        v2.version
    )
    assert evidence["challenger"]["metrics"]["f1"] < evidence["champion"]["metrics"]["f1"]
    versions = {v.version: v for v in list_versions(settings, unique_name)}
    assert versions["1"].aliases == ["champion"] and versions["2"].aliases == ["challenger"]
    assert versions["2"].tags["gate.decision"] == "refused"
    gate_run = mlflow_client.get_run(versions["2"].tags["gate.run_id"])
    assert gate_run.data.tags[ROLE_TAG] == "gate" and gate_run.data.tags["decision"] == "refuse"
    assert gate_run.data.metrics["champion_f1"] > gate_run.data.metrics["challenger_f1"]

    # --force promotes anyway, and says so; the old champion is archived with a reason.
    promote(settings, unique_name, force=True)
    versions = {v.version: v for v in list_versions(settings, unique_name)}
    assert versions["2"].aliases == ["champion"] and versions["2"].tags["gate.decision"] == "forced"
    assert versions["1"].tags["archived"] == "true"
    assert "replaced by version 2" in versions["1"].tags["archived_reason"]

    # Rollback restores version 1 and archives version 2.
    restored = rollback(settings, unique_name, reason="test rollback")
    assert str(restored.version) == "1"
    versions = {v.version: v for v in list_versions(settings, unique_name)}
    assert versions["1"].aliases == ["champion"] and "archived" not in versions["1"].tags
    assert (
        versions["2"].tags["archived"] == "true"
        and "test rollback" in versions["2"].tags["archived_reason"]
    )
    with pytest.raises(ConflictError, match="no previous champion") as conflict:
        rollback(settings, unique_name)
    assert conflict.value.http_status == 409


def test_promote_without_challenger_names_the_aliases(
    settings, tmp_path, unique_name, breast_cancer_csv
):
    project = load_spec(
        write_project(tmp_path, PROJECT.format(name=unique_name, data=breast_cancer_csv))
    )
    report = train_project(project, settings, only=["majority"])
    register(settings, unique_name, run_id=report.best.run_id)
    promote(settings, unique_name)
    with pytest.raises(
        NotFoundError, match=f"Model '{unique_name}' has no alias 'challenger'; it has: champion"
    ):
        promote(settings, unique_name)
    with pytest.raises(NotFoundError, match="no registered model 'nope"):
        promote(settings, "nope_" + unique_name)
    client(settings).set_registered_model_alias(unique_name, "challenger", "1")
    with pytest.raises(
        ConflictError, match=f"version 1 of '{unique_name}' is already the champion"
    ):
        promote(settings, unique_name)
