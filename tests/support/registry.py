"""One trained project the registry tests share, copies of its store, and runs logged
by hand as training (or the gate, a rollback, the monitor) would tag them."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from champion.registry.tracking import ROLE_TAG
from champion.settings import Settings
from support.projects import sqlite_store

TUMOURS = "tumours"
TUMOURS_DESCRIPTION = "Is this tumour malignant? From ten cell measurements."
# Two candidates on breast cancer: a real model and a baseline it beats.
TUMOURS_PROJECT = """
name: tumours
description: {description}
data: {data}
target: diagnosis
task: binary
positive_class: malignant
split: {{method: stratified, test_size: 0.25}}
candidates:
  - {{name: linear, estimator: linear}}
  - name: majority
    estimator: sklearn.dummy.DummyClassifier
    params: {{strategy: most_frequent}}
"""


def copy_of(database: Path, folder: Path) -> Settings:
    """Settings on a copy, in ``folder``, of the SQLite store ``database``."""
    return Settings.from_env(folder, environ=sqlite_store(folder, database))


def log_run(
    mlflow_client: MlflowClient,
    experiment_id: str,
    role: str,
    name: str,
    metrics: dict[str, float],
    *,
    metric: str = "f1",
    direction: str = "maximize",
    status: str = "FINISHED",
) -> str:
    """A run logged by hand as training (or the gate, rollback, monitor) would tag it,
    with no model logged."""
    tags = {
        ROLE_TAG: role,
        "champion.candidate": name,
        "champion.primary_metric": metric,
        "champion.direction": direction,
    }
    run = mlflow_client.create_run(experiment_id, tags=tags, run_name=name)
    for key, value in metrics.items():
        mlflow_client.log_metric(run.info.run_id, key, value)
    if status != "RUNNING":
        mlflow_client.set_terminated(run.info.run_id, status)
    return run.info.run_id
