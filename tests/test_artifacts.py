"""The run contract: each artifact written by its writer and read back by its loader
through a real MLflow run on a SQLite store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest

from champion import artifacts
from champion.errors import NotFoundError
from champion.project.features import FeatureSet
from champion.project.profile import build_profile
from champion.registry.tracking import ensure_experiment, use_tracking
from champion.settings import Settings
from support.projects import sqlite_store

NUMERIC = ["mean radius", "mean texture", "worst area"]
EXAMPLES = [
    {"name": "a benign one", "values": {"mean radius": 11.2, "clinic": "north"}},
    {"name": "no clinic", "values": {"mean radius": None, "clinic": None}},
    {"name": "Ünïcode ✓", "values": {"mean radius": 20, "clinic": "east"}},
]


@pytest.fixture(scope="module")
def settings(tmp_path_factory, sqlite_template) -> Settings:
    folder = tmp_path_factory.mktemp("artifacts")
    return Settings.from_env(folder, environ=sqlite_store(folder, sqlite_template))


@pytest.fixture(scope="module")
def holdout(breast_cancer_csv: Path) -> pd.DataFrame:
    """Rows as training loads them: read from CSV, with gaps in a number and a category."""
    frame = pd.read_csv(breast_cancer_csv).iloc[::7]
    assert frame["mean radius"].isna().any() and frame["clinic"].isna().any()
    return frame


@pytest.fixture(scope="module")
def features() -> FeatureSet:
    return FeatureSet(numeric=NUMERIC, categorical=["clinic"])


def _run(settings: Settings, tmp_path: Path, *writes) -> str:
    """A finished run whose artifacts are what ``writes`` put in a folder."""
    folder = tmp_path / "run-artifacts"
    folder.mkdir()
    for write in writes:
        write(folder)
    experiment = ensure_experiment(settings, "artifacts")
    with use_tracking(settings), mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_artifacts(str(folder))
    return run.info.run_id


def test_every_writer_round_trips_through_its_loader(settings, holdout, features, tmp_path) -> None:
    profile = build_profile(holdout, features, holdout["diagnosis"].to_numpy())
    run_id = _run(
        settings,
        tmp_path,
        lambda folder: artifacts.write_holdout(folder, holdout),
        lambda folder: artifacts.write_profile(folder, profile),
        lambda folder: artifacts.write_examples(folder, EXAMPLES),
        lambda folder: artifacts.write_features(folder, {"numeric": NUMERIC, "dropped": {}}),
    )
    with use_tracking(settings):
        loaded_holdout = artifacts.load_holdout(run_id)
        loaded_profile = artifacts.load_profile(run_id)
        loaded_examples = artifacts.load_examples(run_id)
        loaded_features = artifacts.load_features(run_id)
        listed = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id)}
    # Every column, in order, with its dtype and its gaps; the index is not kept.
    pd.testing.assert_frame_equal(loaded_holdout, holdout.reset_index(drop=True))
    assert loaded_profile == profile
    assert loaded_examples == EXAMPLES
    assert loaded_features == {"numeric": NUMERIC, "dropped": {}}
    assert listed == {
        artifacts.HOLDOUT,
        artifacts.PROFILE,
        artifacts.EXAMPLES,
        artifacts.FEATURES,
    }


def test_load_examples_is_empty_for_a_run_without_examples(settings, holdout, tmp_path) -> None:
    run_id = _run(settings, tmp_path, lambda folder: artifacts.write_holdout(folder, holdout))
    with use_tracking(settings):
        assert artifacts.load_examples(run_id) == []
        assert len(artifacts.load_holdout(run_id)) == len(holdout)  # the run itself is fine


@pytest.mark.parametrize(
    ("loader", "match"),
    [
        (artifacts.load_holdout, artifacts.HOLDOUT),
        (artifacts.load_profile, artifacts.PROFILE),
    ],
    ids=["holdout", "profile"],
)
def test_missing_artifact_is_not_found(settings, tmp_path, loader, match) -> None:
    # MLflow answers RESOURCE_DOES_NOT_EXIST for a path the run never logged; the
    # tracking block turns it into champion's NotFoundError (404), not a TrackingError.
    run_id = _run(settings, tmp_path, lambda folder: artifacts.write_examples(folder, EXAMPLES))
    with pytest.raises(NotFoundError, match=match) as excinfo, use_tracking(settings):
        loader(run_id)
    assert isinstance(excinfo.value.__cause__, mlflow.exceptions.MlflowException)
    assert excinfo.value.__cause__.error_code == "RESOURCE_DOES_NOT_EXIST"
