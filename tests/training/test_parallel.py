"""Candidates trained side by side in worker processes: the same runs as one after the
other, each its own MLflow run, and progress events that come from the workers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from champion.project.spec import load_spec
from champion.settings import Settings
from champion.training.explain import MIN_SHAP_ROWS
from champion.training.progress import ProgressEvent
from champion.training.train import TrainingReport, train_project
from support.projects import sqlite_store, write_project

TRIALS = 2


@dataclass(frozen=True)
class Trained:
    settings: Settings
    report: TrainingReport
    events: list[ProgressEvent]


def _train(folder: Path, template: Path, data: Path, jobs: int) -> Trained:
    settings = Settings.from_env(folder, environ=sqlite_store(folder, template))
    config = write_project(
        folder,
        f"""
name: cancer
data: {data}
target: diagnosis
task: binary
candidates:
  - {{name: linear, estimator: linear}}
  - {{name: forest, estimator: random_forest, params: {{n_estimators: 30}}}}
  - name: boosting
    estimator: hist_gradient_boosting
    params: {{max_iter: 20}}
    search:
      trials: {TRIALS}
      space: {{learning_rate: {{type: float, low: 0.05, high: 0.3, log: true}}}}
""",
    )
    events: list[ProgressEvent] = []
    report = train_project(load_spec(config), settings, progress=events.append, jobs=jobs)
    return Trained(settings, report, events)


@pytest.fixture(scope="module")
def serial(tmp_path_factory, sqlite_template, breast_cancer_csv) -> Trained:
    return _train(tmp_path_factory.mktemp("serial"), sqlite_template, breast_cancer_csv, 1)


@pytest.fixture(scope="module")
def side_by_side(tmp_path_factory, sqlite_template, breast_cancer_csv) -> Trained:
    return _train(tmp_path_factory.mktemp("parallel"), sqlite_template, breast_cancer_csv, 2)


def _runs(trained: Trained) -> dict[str, mlflow.entities.Run]:
    client = mlflow.MlflowClient(tracking_uri=trained.settings.tracking_uri)
    return {c.name: client.get_run(c.run_id) for c in trained.report.candidates}


def _artifacts(trained: Trained, run_id: str) -> set[str]:
    client = mlflow.MlflowClient(tracking_uri=trained.settings.tracking_uri)
    found, folders = set(), [""]
    while folders:
        for item in client.list_artifacts(run_id, folders.pop()):
            (folders.append(item.path) if item.is_dir else found.add(item.path))
    return found


def _inputs(run: mlflow.entities.Run) -> list[tuple]:
    return sorted(
        (d.dataset.name, d.dataset.digest, sorted((t.key, t.value) for t in d.tags))
        for d in run.inputs.dataset_inputs
    )


def test_parallel_training_gives_the_metrics_of_serial_training(serial, side_by_side):
    ours = {c.name: c.metrics for c in side_by_side.report.candidates}
    theirs = {c.name: c.metrics for c in serial.report.candidates}
    assert set(ours) == {"linear", "forest", "boosting"}
    for name, metrics in theirs.items():
        assert ours[name] == pytest.approx(metrics), name
    assert [c.name for c in side_by_side.report.candidates] == [
        c.name for c in serial.report.candidates
    ]


def test_each_parallel_candidate_logs_what_a_serial_one_logs(serial, side_by_side):
    ours, theirs = _runs(side_by_side), _runs(serial)
    for name, run in theirs.items():
        other = ours[name]
        assert other.info.status == "FINISHED" and other.info.run_name == name
        assert set(other.data.metrics) == set(run.data.metrics)
        # Every param alike, but for the count of rows SHAP explained: that is bounded
        # by a time budget, so it depends on the machine's load at that moment. These
        # candidates have exact (tree, linear) explainers: never skipped.
        timed = "shap.rows"
        assert MIN_SHAP_ROWS <= int(other.data.params.pop(timed)) <= 50
        assert MIN_SHAP_ROWS <= int(run.data.params.pop(timed)) <= 50
        assert other.data.params == run.data.params
        assert _inputs(other) == _inputs(run) and len(_inputs(run)) == 2
        assert _artifacts(side_by_side, other.info.run_id) == _artifacts(serial, run.info.run_id)
        assert {"shap_values.csv", "holdout.csv"} <= _artifacts(serial, run.info.run_id)
        # Its own top-level run, not nested in another candidate's.
        assert "mlflow.parentRunId" not in other.data.tags
        assert other.data.tags["champion.candidate"] == name
    assert len({r.info.run_id for r in ours.values()}) == 3


def test_progress_events_come_from_the_workers(side_by_side):
    by_candidate: dict[str, list[ProgressEvent]] = {}
    for event in side_by_side.events:
        by_candidate.setdefault(event.candidate, []).append(event)
    assert set(by_candidate) == {"linear", "forest", "boosting"}
    for name, events in by_candidate.items():
        assert events[0].step == "queued" and events[0].pid == os.getpid()
        worked = events[1:]
        assert worked and all(e.pid != os.getpid() for e in worked), name
        assert [e.step for e in worked][-5:] == ["fit", "evaluate", "explain", "log", "done"]
        assert [e.done for e in worked] == sorted(e.done for e in worked)
        assert worked[-1].done == worked[-1].total
    trials = [e.detail for e in by_candidate["boosting"] if e.step == "trial"]
    assert trials == [f"{k}/{TRIALS}" for k in range(1, TRIALS + 1)]
    assert by_candidate["boosting"][-1].total == TRIALS + 4
    # Two workers: the work is split between two processes.
    assert len({e.pid for e in side_by_side.events if e.step != "queued"}) == 2


def test_serial_training_reports_the_same_steps_from_this_process(serial, side_by_side):
    def steps(trained: Trained) -> dict[str, list[tuple[str, int]]]:
        out: dict[str, list[tuple[str, int]]] = {}
        for e in trained.events:
            out.setdefault(e.candidate, []).append((e.step, e.done))
        return out

    assert steps(serial) == steps(side_by_side)
    assert {e.pid for e in serial.events} == {os.getpid()}


def test_a_worker_hands_back_the_fitted_pipeline(serial, side_by_side, breast_cancer_csv):
    rows = pd.read_csv(breast_cancer_csv).drop(columns="diagnosis").head(50)
    theirs = {c.name: c.pipeline for c in serial.report.candidates}
    for candidate in side_by_side.report.candidates:
        np.testing.assert_allclose(
            candidate.pipeline.predict_proba(rows), theirs[candidate.name].predict_proba(rows)
        )


def test_a_worker_that_dies_is_a_one_line_error_naming_the_candidates():
    from champion.errors import WorkerDied
    from champion.training import parallel
    from support.workers import die

    with pytest.raises(WorkerDied, match=r"^a training worker .* while training a, b; try"):
        parallel.run(die, None, ["a", "b"], jobs=2, progress=lambda event: None)


def test_a_workers_error_keeps_its_field():
    from champion.errors import SpecError
    from champion.training import parallel
    from support.workers import refuse

    with pytest.raises(SpecError) as raised:
        parallel.run(refuse, None, ["a", "b"], jobs=2, progress=lambda event: None)

    assert raised.value.field == "candidates.a"
    assert raised.value.message == "candidates.a.params: no such parameter"
