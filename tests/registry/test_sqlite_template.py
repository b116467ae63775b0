"""A new local SQLite store starts as a copy of a migrated template, and behaves as a
store MLflow made itself."""

from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow import MlflowClient

from champion.registry.sqlite_template import seed_new_store
from champion.registry.tracking import client, ensure_experiment
from champion.settings import Settings


def _settings(folder: Path, cache: Path | None) -> Settings:
    environ = {"CHAMPION_CACHE": str(cache)} if cache else {}
    return Settings.from_env(folder, environ=environ)


def test_a_new_store_is_copied_from_the_template_and_has_a_default_experiment(tmp_path):
    cache = tmp_path / "cache"
    settings = _settings(tmp_path / "project", cache)
    assert seed_new_store(settings) is True
    assert (cache / f"mlflow-{mlflow.__version__}.db").is_file()
    store = tmp_path / "project" / "mlflow.db"
    assert store.is_file()
    experiments = MlflowClient(tracking_uri=settings.tracking_uri).search_experiments()
    # MLflow makes its Default experiment on first open, as for a file it migrated;
    # the template carries none (its artifact location would be the builder's).
    assert [e.name for e in experiments] == ["Default"]
    assert "cache" not in experiments[0].artifact_location
    # A second project copies the same template, without building it again.
    other = _settings(tmp_path / "other", cache)
    built = (cache / f"mlflow-{mlflow.__version__}.db").stat().st_mtime_ns
    assert seed_new_store(other) is True
    assert (cache / f"mlflow-{mlflow.__version__}.db").stat().st_mtime_ns == built


def test_an_existing_store_is_never_replaced(tmp_path):
    settings = _settings(tmp_path, tmp_path / "cache")
    experiment_id = ensure_experiment(settings, "kept")  # seeds, then writes to it
    assert seed_new_store(settings) is False
    assert client(settings).get_experiment(experiment_id).name == "kept"


def test_without_a_cache_folder_mlflow_makes_the_store_itself(tmp_path):
    settings = _settings(tmp_path, None)
    assert seed_new_store(settings) is False
    assert not (tmp_path / "mlflow.db").exists()
    assert [e.name for e in client(settings).search_experiments()] == ["Default"]


def test_only_a_sqlite_store_is_seeded(tmp_path):
    environ = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9", "CHAMPION_CACHE": str(tmp_path)}
    assert seed_new_store(Settings.from_env(tmp_path, environ=environ)) is False
    assert list(tmp_path.iterdir()) == []
