"""The Optuna search: a study shared by two real ``champion train --only`` processes on
PostgreSQL, trials pruned by the median pruner, and where the storage comes from."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import pytest

from champion.errors import SpecError
from champion.project.spec import load_spec, parse_spec
from champion.settings import Settings
from champion.training.search import StudyStorage, check_storage, study_storage
from champion.training.train import train_project
from support.projects import sqlite_store, write_project
from support.tracking_server import create_postgres_database

TRIALS = 3


@pytest.fixture
def optuna_database():
    """A fresh PostgreSQL database for Optuna's tables (SQLAlchemy URL, psycopg2)."""
    url, drop = create_postgres_database()
    try:
        yield url
    finally:
        drop()


def _champion(*argv: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "champion", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHAMPION_"))}
    return env | extra


def _searching_project(folder: Path, data: Path, name: str, storage: str, **search) -> Path:
    options = "".join(f"  {key}: {value}\n" for key, value in search.items())
    return write_project(
        folder,
        f"""
name: {name}
data: {data}
target: diagnosis
task: binary
candidates:
  - name: logit
    estimator: linear
    search:
      trials: {TRIALS}
      space:
        C: {{type: float, low: 0.001, high: 100, log: true}}
  - name: forest
    estimator: random_forest
search:
  storage: {storage}
{options}""",
    )


@pytest.mark.integration
def test_two_processes_share_one_study_and_one_parent_run(
    tmp_path, mlflow_server, optuna_database, breast_cancer_csv, unique_name
):
    server, _ = mlflow_server
    config = _searching_project(
        tmp_path, breast_cancer_csv, unique_name, optuna_database, pruner="none"
    )
    env = _clean_env(MLFLOW_TRACKING_URI=server.url)
    processes = [
        _champion("train", "-c", str(config), "--only", "logit", env=env, cwd=tmp_path)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr

    client = mlflow.MlflowClient(tracking_uri=server.url)
    experiment = client.get_experiment_by_name(unique_name)
    runs = client.search_runs([experiment.experiment_id])
    candidates = [r for r in runs if r.data.tags.get("champion.role") == "candidate"]
    assert len(candidates) == 2
    assert {r.data.tags["champion.candidate"] for r in candidates} == {"logit"}  # --only
    studies = {r.data.tags["champion.study"] for r in candidates}
    parents = {r.data.tags["champion.search_run_id"] for r in candidates}
    assert len(studies) == 1 and len(parents) == 1  # both processes agreed
    (name,), (parent_id,) = studies, parents
    assert name.startswith(f"{unique_name}.logit.")

    study = optuna.load_study(study_name=name, storage=optuna_database)
    assert len(study.trials) == 2 * TRIALS  # both processes' trials, in one study
    assert study.user_attrs["mlflow_parent_run_id"] == parent_id
    search_runs = [r for r in runs if r.data.tags.get("champion.study") == name]
    search_runs = [r for r in search_runs if r.data.tags.get("champion.role") == "search"]
    assert [r.info.run_id for r in search_runs] == [parent_id]  # created once

    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id]
    assert sorted(int(r.data.tags["champion.trial"]) for r in trials) == sorted(
        t.number for t in study.trials
    )
    by_process: dict[str, int] = {}
    for run in trials:
        pid = run.data.tags["champion.pid"]
        by_process[pid] = by_process.get(pid, 0) + 1
    assert sorted(by_process.values()) == [TRIALS, TRIALS]  # each process ran its share
    for run in trials:
        trial = study.trials[int(run.data.tags["champion.trial"])]
        assert float(run.data.params["model.C"]) == pytest.approx(trial.params["C"])
        assert run.data.metrics["cv_f1"] == pytest.approx(trial.value)

    # The process that finished last saw every trial and fits the study's best.
    last = max(candidates, key=lambda r: int(r.data.tags["champion.study_trials"]))
    assert int(last.data.tags["champion.study_trials"]) == 2 * TRIALS
    assert int(last.data.tags["champion.best_trial"]) == study.best_trial.number
    assert float(last.data.params["model.C"]) == pytest.approx(study.best_params["C"])
    assert last.data.metrics["best_cv_f1"] == pytest.approx(study.best_value)


def test_a_pruned_trial_is_pruned_in_the_study_and_killed_in_mlflow(
    tmp_path, sqlite_template, diabetes_csv
):
    settings = Settings.from_env(tmp_path, environ=sqlite_store(tmp_path, sqlite_template))
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    config = write_project(
        tmp_path,
        f"""
name: pruning
data: {diabetes_csv}
target: target
task: regression
candidates:
  - name: ridge
    estimator: linear
    search:
      trials: 12
      space:
        alpha: {{type: float, low: 0.001, high: 100000, log: true}}
search:
  storage: {storage}
  pruner: median
  startup_trials: 1
  warmup_folds: 0
""",
    )
    report = train_project(load_spec(config), settings)
    client = mlflow.MlflowClient(tracking_uri=settings.tracking_uri)
    run = client.get_run(report.best.run_id)
    study = optuna.load_study(study_name=run.data.tags["champion.study"], storage=storage)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, [t.state for t in study.trials]

    parent_id = run.data.tags["champion.search_run_id"]
    trials = client.search_runs(
        [report.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    state_of = {int(r.data.tags["champion.trial"]): r for r in trials}
    for trial in study.trials:
        mlflow_run = state_of[trial.number]
        if trial.state == optuna.trial.TrialState.PRUNED:
            assert mlflow_run.info.status == "KILLED"
            assert mlflow_run.data.tags["champion.trial_state"] == "pruned"
            # It stopped before the last fold, at the step the study recorded.
            folds = int(mlflow_run.data.tags["champion.folds_run"])
            assert folds < 3 and max(trial.intermediate_values) == folds - 1
            assert mlflow_run.data.metrics["cv_rmse"] == pytest.approx(
                trial.intermediate_values[folds - 1]
            )
        else:
            assert trial.state == optuna.trial.TrialState.COMPLETE
            assert mlflow_run.info.status == "FINISHED"
            assert mlflow_run.data.tags["champion.trial_state"] == "complete"
            assert mlflow_run.data.tags["champion.folds_run"] == "3"
    assert float(run.data.params["model.alpha"]) == pytest.approx(study.best_params["alpha"])


def test_without_a_pruner_every_trial_runs_every_fold(tmp_path, sqlite_template, diabetes_csv):
    settings = Settings.from_env(tmp_path, environ=sqlite_store(tmp_path, sqlite_template))
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    config = write_project(
        tmp_path,
        f"""
name: no_pruning
data: {diabetes_csv}
target: target
task: regression
candidates:
  - name: ridge
    estimator: linear
    search:
      trials: 12
      space:
        alpha: {{type: float, low: 0.001, high: 100000, log: true}}
search: {{storage: "{storage}", pruner: none, startup_trials: 1, warmup_folds: 0}}
""",
    )
    report = train_project(load_spec(config), settings)
    run = mlflow.MlflowClient(tracking_uri=settings.tracking_uri).get_run(report.best.run_id)
    study = optuna.load_study(study_name=run.data.tags["champion.study"], storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 12


def _check_after(barrier, url: str, answers) -> None:
    barrier.wait()
    try:
        check_storage(StudyStorage(url, "search.storage"))
        answers.put("ok")
    except SpecError as e:
        answers.put(e.message)


@pytest.mark.integration
def test_processes_that_start_together_on_an_empty_database_all_get_the_storage():
    # Each creates Optuna's tables at the same moment; PostgreSQL fails all but one.
    context = multiprocessing.get_context("fork")
    for _ in range(3):
        url, drop = create_postgres_database()
        try:
            barrier, answers = context.Barrier(3), context.Queue()
            processes = [
                context.Process(target=_check_after, args=(barrier, url, answers)) for _ in range(3)
            ]
            for process in processes:
                process.start()
            for process in processes:
                process.join(timeout=120)
            assert [answers.get(timeout=5) for _ in processes] == ["ok"] * 3
        finally:
            drop()


def test_the_environment_wins_over_the_project_file(tmp_path):
    project = parse_spec(
        {
            "name": "p",
            "data": "x.csv",
            "target": "y",
            "task": "binary",
            "search": {"storage": "postgresql://file@db/optuna"},
        }
    )
    from_file = study_storage(project.spec, Settings.from_env(tmp_path, environ={}))
    assert from_file == StudyStorage("postgresql+psycopg2://file@db/optuna", "search.storage")
    environ = {"CHAMPION_SEARCH_STORAGE": "sqlite:///shared.db"}
    from_env = study_storage(project.spec, Settings.from_env(tmp_path, environ=environ))
    assert from_env == StudyStorage("sqlite:///shared.db", "CHAMPION_SEARCH_STORAGE")
    alone = parse_spec({"name": "p", "data": "x.csv", "target": "y", "task": "binary"})
    assert study_storage(alone.spec, Settings.from_env(tmp_path, environ={})) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql+psycopg2://postgres:secret@127.0.0.1:1/optuna",
            r"^search\.storage: cannot reach the search storage "
            r"postgresql\+psycopg2://postgres:\*\*\*@127\.0\.0\.1:1/optuna: .+",
        ),
        ("nosuchdb://host/x", r"^search\.storage: 'nosuchdb://host/x' is not a database URL"),
    ],
    ids=["unreachable", "unknown-driver"],
)
def test_a_storage_that_cannot_work_is_one_line_naming_the_key(url, message):
    with pytest.raises(SpecError, match=message) as caught:
        check_storage(StudyStorage(url, "search.storage"))
    assert caught.value.field == "search.storage"
    assert "\n" not in caught.value.message
    assert "secret" not in caught.value.message


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"storage": "optuna.db"}, r"'search\.storage': must be a database URL"),
        ({"pruner": "hyperband"}, r"'search\.pruner': Input should be 'median' or 'none'"),
        ({"startup_trials": -1}, r"'search\.startup_trials': Input should be greater than"),
        ({"storag": "sqlite:///s.db"}, r"unknown key 'search\.storag'; allowed keys here: st"),
    ],
    ids=["storage-not-a-url", "unknown-pruner", "negative-startup", "misspelt-key"],
)
def test_the_project_file_refuses_a_search_section_that_cannot_work(search, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(
            {"name": "p", "data": "x.csv", "target": "y", "task": "binary", "search": search}
        )


UNREACHABLE = "postgresql://postgres@127.0.0.1:1/optuna"


@pytest.mark.parametrize("key", ["search.storage", "CHAMPION_SEARCH_STORAGE"])
def test_cli_unreachable_storage_exits_2_and_writes_nothing(key, tmp_path, breast_cancer_csv):
    in_file = key == "search.storage"
    config = _searching_project(
        tmp_path, breast_cancer_csv, "unreachable", UNREACHABLE if in_file else "null"
    )
    env = _clean_env() if in_file else _clean_env(CHAMPION_SEARCH_STORAGE=UNREACHABLE)
    process = _champion("train", "-c", str(config), "--only", "logit", env=env, cwd=tmp_path)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 2
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith(f"SpecError: {key}: cannot reach the search storage"), stderr
    # The default store is a SQLite file beside the project file: never created.
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "mlartifacts").exists()
