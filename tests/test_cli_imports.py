"""Commands that answer at once: ``--help``, ``models``, ``compare``, ``rollback`` and
``feedback`` each run in a fresh interpreter on a real SQLite store, do their job, and
exit without having imported scikit-learn, skops, SHAP or the training code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from champion.monitoring.log import PredictionLog, Scored
from champion.registry.compare import compare
from champion.registry.promote import promote
from champion.registry.register import register
from support.projects import promoted

pytestmark = pytest.mark.integration

HEAVY_PACKAGES = ("sklearn", "skops", "shap")
MODEL = "quick_start"
PROJECT = """
name: quick_start
data: {data}
target: diagnosis
task: binary
positive_class: malignant
candidates:
  - {{name: linear, estimator: linear}}
  - name: majority
    estimator: sklearn.dummy.DummyClassifier
    params: {{strategy: most_frequent}}
"""

# Runs the console-script entry point as ``champion ARGS...`` would, then writes its
# exit code and the heavy modules it left in sys.modules to the file named first.
PROBE = f"""
import json, sys
from champion.cli import main

report, sys.argv = sys.argv[1], ["champion", *sys.argv[2:]]
try:
    main()
    code = 0
except SystemExit as e:
    code = e.code
heavy = sorted(
    name for name in sys.modules
    if name.split(".")[0] in {HEAVY_PACKAGES!r} or name.split(".")[:2] == ["champion", "training"]
)
with open(report, "w") as out:
    json.dump({{"code": code, "heavy": heavy}}, out)
"""


@pytest.fixture(scope="session")
def registry_folder(tmp_path_factory, sqlite_template, breast_cancer_csv) -> Path:
    """A project folder whose store holds two versions, each champion in turn (so there
    is one to roll back to), and a prediction log with request ``req-1`` in it."""
    folder = tmp_path_factory.mktemp("registry")
    start = promoted(folder, sqlite_template, PROJECT.format(data=breast_cancer_csv))
    majority = next(r for r in compare(start.settings, MODEL) if r.candidate == "majority")
    register(start.settings, MODEL, run_id=majority.run_id)
    promote(start.settings, MODEL, force=True)
    log = PredictionLog(start.settings.prediction_log)
    inputs = {"mean radius": np.array([14.0])}
    log.record(Scored("req-1", time.time(), MODEL, "2", "champion", inputs, [{"label": "x"}], 1))
    log.close()
    return folder


@pytest.fixture
def project(registry_folder: Path, tmp_path: Path) -> Path:
    """A copy of the registry folder's store, log and project file, for one test."""
    for name in ("mlflow.db", "predictions.db", "champion.yaml"):
        shutil.copyfile(registry_folder / name, tmp_path / name)
    return tmp_path / "champion.yaml"


def _cold_run(project: Path, *args: str) -> tuple[int, str, list[str]]:
    """``champion ARGS`` in a fresh interpreter: exit code, stdout, heavy modules."""
    report = project.parent / "probe.json"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHAMPION_"))}
    environ |= {"MLFLOW_TRACKING_URI": f"sqlite:///{project.parent / 'mlflow.db'}"}
    environ |= {"COLUMNS": "200", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *args],
        capture_output=True,
        text=True,
        cwd=project.parent,
        env=environ,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    result = json.loads(report.read_text())
    return result["code"], done.stdout, result["heavy"]


def test_help_imports_no_training_stack(project):
    code, out, heavy = _cold_run(project, "--help")
    assert code == 0
    assert "models" in out and "rollback" in out
    assert heavy == []


def test_models_lists_versions_without_training_stack(project):
    code, out, heavy = _cold_run(project, "models", "-c", str(project), "--json")
    assert code == 0
    versions = {row["version"]: row for row in json.loads(out)}
    assert versions["2"]["aliases"] == ["champion"] and versions["1"]["aliases"] == []
    assert versions["1"]["tags"]["archived"] == "true"
    assert heavy == []


def test_compare_ranks_runs_without_training_stack(project):
    code, out, heavy = _cold_run(project, "compare", "-c", str(project), "--json")
    assert code == 0
    assert [row["candidate"] for row in json.loads(out)] == ["linear", "majority"]
    assert heavy == []


def test_rollback_moves_champion_without_training_stack(project):
    code, out, heavy = _cold_run(project, "rollback", "-c", str(project))
    assert code == 0
    assert f"{MODEL}@champion is version 1 again" in out
    uri = f"sqlite:///{project.parent / 'mlflow.db'}"
    store = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert str(store.get_registered_model(MODEL).aliases["champion"]) == "1"
    assert heavy == []


def test_feedback_stores_labels_without_training_stack(project):
    labels = project.parent / "labels.csv"
    labels.write_text("request_id,label\nreq-1,malignant\n")
    code, out, heavy = _cold_run(project, "feedback", str(labels), "-c", str(project))
    assert code == 0
    assert "Stored 1 label(s)" in out
    assert heavy == []
