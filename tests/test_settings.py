"""Settings come from the environment given, and using a store leaves it as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from champion.registry.tracking import client, use_tracking
from champion.settings import Settings, database_url


def test_default_store_is_a_sqlite_file_in_the_project_folder(tmp_path: Path):
    settings = Settings.from_env(tmp_path, environ={})
    assert settings.tracking_uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert settings.registry_uri == settings.tracking_uri
    assert settings.artifact_root == (tmp_path.resolve() / "mlartifacts").as_uri()
    assert settings.prediction_log == f"sqlite:///{tmp_path.resolve() / 'predictions.db'}"


def test_environment_chooses_the_store_and_a_server_keeps_its_artifacts(tmp_path: Path):
    settings = Settings.from_env(tmp_path, environ={"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"})
    assert settings.tracking_uri == "http://127.0.0.1:5000"
    assert settings.artifact_root is None  # the server decides (--serve-artifacts)


@pytest.mark.parametrize("before", [None, "sqlite:////somewhere/else.db"], ids=["unset", "set"])
def test_use_tracking_leaves_the_environment_as_it_was(tmp_path, monkeypatch, before):
    if before is None:
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", before)
    settings = Settings.from_env(tmp_path, environ={})
    with use_tracking(settings):
        assert os.environ.get("MLFLOW_TRACKING_URI") == settings.tracking_uri
        client(settings).search_experiments()
    assert os.environ.get("MLFLOW_TRACKING_URI") == before


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"CHAMPION_CACHE": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, Path("/c")),
        ({"XDG_CACHE_HOME": "/x", "HOME": "/h"}, Path("/x/champion")),
        ({"HOME": "/h"}, Path("/h/.cache/champion")),
        ({}, None),
    ],
    ids=["champion-cache", "xdg", "home", "nothing"],
)
def test_cache_folder_comes_from_the_environment_given(tmp_path, environ, expected):
    assert Settings.from_env(tmp_path, environ=environ).cache_dir == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@db:5432/log", "postgresql+psycopg2://u@db:5432/log"),
        ("postgres://u@db/log", "postgresql+psycopg2://u@db/log"),
        ("postgresql+psycopg2://u@db/log", "postgresql+psycopg2://u@db/log"),
        ("sqlite:///predictions.db", "sqlite:///predictions.db"),
    ],
    ids=["postgresql", "postgres", "explicit-driver", "sqlite"],
)
def test_a_bare_postgresql_url_gets_psycopg2(url, expected):
    assert database_url(url) == expected
