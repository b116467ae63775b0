"""The gate with decision thresholds and business values: each version is scored at
its own threshold, both by the challenger's business values, and a business primary
metric is compared with a paired test on each row's value."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from champion import artifacts
from champion.project.spec import load_spec
from champion.registry.promote import promote
from champion.registry.register import register
from champion.registry.tracking import client, use_tracking
from champion.settings import Settings
from champion.training.train import train_project
from support.projects import POKEMON, sqlite_store, write_project

pytestmark = pytest.mark.integration

PROJECT = f"""
name: legendary_gate
data: {POKEMON}/generation-*.csv
target: is_legendary
task: binary
features:
  numeric: [hp, attack, defense, special_attack, special_defense, speed]
candidates: [{{name: linear, estimator: linear}}]
"""
VALUES = "business: {true_positive: 50, false_positive: -1, false_negative: -20}\n"


def test_gate_reports_business_value_at_each_versions_threshold(tmp_path, sqlite_template):
    settings = Settings.from_env(tmp_path, environ=sqlite_store(tmp_path, sqlite_template))
    first = train_project(
        load_spec(write_project(tmp_path, PROJECT + "threshold: 0.5\n")), settings
    )
    register(settings, "legendary_gate", run_id=first.best.run_id)
    promote(settings, "legendary_gate")
    second = train_project(
        load_spec(write_project(tmp_path, PROJECT + VALUES + "metric: business_value\n")),
        settings,
    )
    register(settings, "legendary_gate", run_id=second.best.run_id)

    decision = promote(settings, "legendary_gate")

    assert decision.metric == "business_value"
    # Scored by each row's value, not by whether it is right: a paired bootstrap.
    assert decision.test is not None and decision.test.name == "paired_bootstrap"
    mlflow_client = client(settings)
    gate_run = mlflow_client.get_model_version("legendary_gate", "2").tags["gate.run_id"]
    metrics = mlflow_client.get_run(gate_run).data.metrics
    with use_tracking(settings):
        holdout = artifacts.load_holdout(second.best.run_id)
        evidence = mlflow.artifacts.load_dict(f"runs:/{gate_run}/gate_evidence.json")
        values = {}
        for version in ("1", "2"):
            model = mlflow.pyfunc.load_model(f"models:/legendary_gate/{version}")
            columns = model.metadata.get_input_schema().input_names()
            said = np.asarray(model.predict(holdout[columns].astype(float)))
            truth = holdout["is_legendary"].to_numpy().astype(bool)
            values[version] = (
                50 * np.sum(said & truth) - np.sum(said & ~truth) - 20 * np.sum(~said & truth)
            )
    assert metrics["challenger_business_value"] == values["2"]
    assert metrics["champion_business_value"] == values["1"]
    assert evidence["champion"]["decision_threshold"] == 0.5
    tuned = float(mlflow_client.get_run(second.best.run_id).data.params["decision_threshold"])
    assert evidence["challenger"]["decision_threshold"] == pytest.approx(tuned)
    assert tuned != 0.5
