"""Training each task on a real SQLite tracking store: what every run logs, nested
search trials, and the text-tagging task. Data is not only Pokémon: scikit-learn's
wine and diabetes sets are written to CSV by fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import jaccard_score, mean_squared_error

from champion.project.spec import load_spec
from champion.registry.tracking import use_tracking
from champion.settings import Settings
from champion.training.explain import MIN_SHAP_ROWS
from champion.training.train import IMPORTANCE_ROWS, SHAP_ROWS, prepare, train_project
from support.projects import POKEMON, sqlite_store, write_project


@pytest.fixture
def local(tmp_path, sqlite_template) -> Settings:
    return Settings.from_env(tmp_path, environ=sqlite_store(tmp_path, sqlite_template))


def _artifacts(settings: Settings, run_id: str, path: str = "") -> set[str]:
    client = mlflow.MlflowClient(tracking_uri=settings.tracking_uri)
    return {a.path for a in client.list_artifacts(run_id, path)}


def test_multiclass_on_wine_logs_metrics_plots_and_a_signature(tmp_path, local, wine_csv):
    config = write_project(
        tmp_path,
        f"name: wine\ndata: {wine_csv}\ntarget: cultivar\ntask: multiclass\n"
        "candidates: [{name: linear, estimator: linear}]\n",
    )
    report = train_project(load_spec(config), local)
    run = mlflow.MlflowClient(tracking_uri=local.tracking_uri).get_run(report.best.run_id)
    assert report.metric == "f1_macro"
    assert set(run.data.metrics) >= {
        "accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "roc_auc_ovr",
        "log_loss",
    }
    assert report.best.metrics["accuracy"] > 0.8  # wine is easy; a broken pipeline is not
    assert {
        "plots/confusion_matrix.png",
        "plots/roc_curve.png",
        "plots/shap_summary.png",
    } <= _artifacts(local, report.best.run_id, "plots")
    with use_tracking(local):
        info = mlflow.models.get_model_info(report.best.model_uri)
    inputs = {c.name: c.type.name for c in info.signature.inputs.inputs}
    assert inputs["alcohol"] == "double" and len(inputs) == 13
    assert info.metadata["champion"]["task"] == "multiclass"
    assert info.flavors["sklearn"]["serialization_format"] == "skops"


def test_regression_search_nests_one_run_per_trial(tmp_path, local, diabetes_csv):
    config = write_project(
        tmp_path,
        f"""
name: diabetes
data: {diabetes_csv}
target: target
task: regression
candidates:
  - name: boosting
    estimator: hist_gradient_boosting
    params: {{max_iter: 30}}
    search:
      trials: 3
      space:
        learning_rate: {{type: float, low: 0.03, high: 0.3, log: true}}
        max_leaf_nodes: {{type: int, low: 4, high: 16}}
""",
    )
    project = load_spec(config)
    report = train_project(project, local)
    parent = report.best
    client = mlflow.MlflowClient(tracking_uri=local.tracking_uri)
    trials = client.search_runs(
        [report.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.run_id}'"
    )
    assert len(trials) == 3
    assert all("cv_rmse" in t.data.metrics for t in trials)
    best_trial = min(trials, key=lambda t: t.data.metrics["cv_rmse"])
    assert (
        client.get_run(parent.run_id).data.params["model.learning_rate"]
        == best_trial.data.params["model.learning_rate"]
    )
    # The logged RMSE is the holdout's, recomputed here from the returned pipeline.
    context = prepare(project)
    X, y = context.part(context.split.test)
    expected = float(np.sqrt(mean_squared_error(y, parent.pipeline.predict(X))))
    assert parent.metrics["rmse"] == pytest.approx(expected)
    assert "plots/residuals.png" in _artifacts(local, parent.run_id, "plots")
    importance = pd.read_csv(
        client.download_artifacts(parent.run_id, "feature_importance.csv", str(tmp_path))
    )
    # Boosting has no native importance: permutation importance over the input columns.
    assert set(importance["feature"]) == set(X.columns)


def test_text_tags_from_pokedex_entries(tmp_path, local):
    config = write_project(
        tmp_path,
        f"""
name: tags
data: {{path: {POKEMON}/generation-*.csv, filter: generation <= 2}}
target: [type_1, type_2]
task: multilabel
features: {{text: [flavor_text, genera]}}
split: {{method: group, column: species_id}}
candidates: [{{name: linear, estimator: linear, params: {{C: 4.0, class_weight: balanced}}}}]
""",
    )
    project = load_spec(config)
    report = train_project(project, local)
    metrics = report.best.metrics
    assert set(metrics) == {"jaccard", "f1_micro", "f1_macro", "hamming_loss", "prediction_rate"}
    context = prepare(project)
    X, Y = context.part(context.split.test)
    predicted = report.best.pipeline.predict(X)
    assert metrics["jaccard"] == pytest.approx(
        jaccard_score(Y, predicted, average="samples", zero_division=0)
    )
    assert metrics["prediction_rate"] == pytest.approx(np.mean(predicted.sum(axis=1) > 0))
    tags = context.target.tags
    assert "fire" in tags and "water" in tags and len(tags) == Y.shape[1]
    client = mlflow.MlflowClient(tracking_uri=local.tracking_uri)
    shap_rows = pd.read_csv(
        client.download_artifacts(report.best.run_id, "shap_values.csv", str(tmp_path))
    )
    assert set(shap_rows["explained_output"]) <= set(tags)
    assert {"flavor_text", "genera"} <= set(shap_rows.columns)
    path = client.download_artifacts(report.best.run_id, "reference_profile.json", str(tmp_path))
    profile = json.loads(Path(path).read_text())
    assert profile["features"]["flavor_text"]["kind"] == "text"
    assert 0 < profile["features"]["flavor_text"]["vocabulary"]["pokemon"] <= 1


@pytest.fixture(scope="module")
def large_csv(tmp_path_factory) -> Path:
    """12,000 rows: a holdout of 2,400, more than any explanation sample."""
    rng = np.random.default_rng(7)
    n = 12_000
    frame = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"])
    frame["colour"] = rng.choice(["red", "green", "blue"], size=n)
    margin = frame["a"] - frame["b"] + (frame["colour"] == "red") + rng.normal(size=n)
    frame["y"] = np.where(margin > 0.5, "yes", "no")
    path = tmp_path_factory.mktemp("large") / "large.csv"
    frame.to_csv(path, index=False)
    return path


def test_explanations_of_a_large_table_are_bounded_samples(tmp_path, local, large_csv):
    config = write_project(
        tmp_path,
        f"""
name: large
data: {large_csv}
target: y
task: binary
candidates:
  - {{name: boosting, estimator: hist_gradient_boosting, params: {{max_iter: 20}}}}
  - {{name: bayes, estimator: sklearn.naive_bayes.GaussianNB}}
""",
    )
    report = train_project(load_spec(config), local, jobs=1)
    client = mlflow.MlflowClient(tracking_uri=local.tracking_uri)
    runs = {c.name: client.get_run(c.run_id) for c in report.candidates}
    boosting = runs["boosting"]
    assert boosting.data.params["rows.holdout"] == "2400"
    # Permutation importance shuffles a sample of the holdout, not all of it.
    assert boosting.data.params["importance.rows"] == str(IMPORTANCE_ROWS)
    # SHAP explains at most SHAP_ROWS holdout rows (fewer if its time budget runs out).
    explained = int(boosting.data.params["shap.rows"])
    assert MIN_SHAP_ROWS <= explained <= SHAP_ROWS
    shap_rows = pd.read_csv(
        client.download_artifacts(boosting.info.run_id, "shap_values.csv", str(tmp_path))
    )
    assert len(shap_rows) == explained
    assert set(shap_rows["row"]) <= set(range(12_000))
    # Naive Bayes needs the model-agnostic explainer: within its budget, it explains at
    # most SHAP_ROWS rows, and says so when it explains fewer or none.
    bayes = runs["bayes"]
    explained = int(bayes.data.params["shap.rows"])
    artifacts = {a.path for a in client.list_artifacts(bayes.info.run_id)}
    if explained == 0:
        assert bayes.data.tags["champion.shap"].startswith("skipped: ")
        assert "shap_values.csv" not in artifacts
    else:
        assert explained <= SHAP_ROWS
        bayes_rows = pd.read_csv(
            client.download_artifacts(bayes.info.run_id, "shap_values.csv", str(tmp_path / "k"))
        )
        assert len(bayes_rows) == explained
        if explained < SHAP_ROWS:
            assert "budget" in bayes.data.tags["champion.shap"]
