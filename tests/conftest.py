"""Shared fixtures: real tracking stores and datasets that are not about Pokémon.

``store`` runs a test twice: on a SQLite file, and against a real ``mlflow server``
process (PostgreSQL backend store, ``--serve-artifacts``) over HTTP. The server and
its fresh database live for the whole session.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn import datasets

from champion.registry.tracking import quiet_mlflow
from champion.settings import Settings
from support.projects import sqlite_store
from support.tracking_server import MlflowServer, create_postgres_database, to_libpq_url

quiet_mlflow()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MlflowServer, str]]:
    """A real ``mlflow server`` on a fresh PostgreSQL database: ``(server, database URL)``."""
    db_url, drop_db = create_postgres_database()
    try:
        with MlflowServer(db_url, tmp_path_factory.mktemp("mlflow-server")) as server:
            yield server, db_url
    finally:
        drop_db()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, fully migrated MLflow SQLite store; copying it saves each test the
    ten seconds of schema migrations a new file costs."""
    path = tmp_path_factory.mktemp("sqlite-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(params=["sqlite", "server"])
def store(request, tmp_path: Path) -> dict[str, str]:
    """The environment that selects a tracking store: a SQLite file, or the server."""
    if request.param == "sqlite":
        return sqlite_store(tmp_path, request.getfixturevalue("sqlite_template"))
    server, _ = request.getfixturevalue("mlflow_server")
    return {"MLFLOW_TRACKING_URI": server.url}


@pytest.fixture
def settings(store: dict[str, str], tmp_path: Path) -> Settings:
    return Settings.from_env(tmp_path, environ=store)


@pytest.fixture
def unique_name() -> str:
    """A model name no other test uses (the server is shared by the session)."""
    return f"m_{uuid.uuid4().hex[:10]}"


def _write(frame: pd.DataFrame, folder: Path, name: str) -> Path:
    path = folder / name
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def breast_cancer_csv(data_dir: Path) -> Path:
    """scikit-learn's breast cancer data (binary), plus a categorical column with gaps."""
    frame = datasets.load_breast_cancer(as_frame=True).frame
    frame = frame.iloc[:, [0, 1, 2, 3, 4, 5, 6, 7, 20, 21, 22, 23, -1]].copy()
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    clinics = pd.Series(["north", "south", "east", "west"] * (len(frame) // 4 + 1))
    frame["clinic"] = clinics.iloc[: len(frame)].to_numpy()
    frame.loc[frame.index % 17 == 0, "clinic"] = None
    frame.loc[frame.index % 23 == 0, "mean radius"] = None
    return _write(frame, data_dir, "breast_cancer.csv")


@pytest.fixture(scope="session")
def wine_csv(data_dir: Path) -> Path:
    """scikit-learn's wine data (multiclass, 3 cultivars)."""
    frame = datasets.load_wine(as_frame=True).frame
    frame["cultivar"] = frame.pop("target").map({0: "barolo", 1: "grignolino", 2: "barbera"})
    return _write(frame, data_dir, "wine.csv")


@pytest.fixture(scope="session")
def diabetes_csv(data_dir: Path) -> Path:
    """scikit-learn's diabetes data (regression)."""
    return _write(
        datasets.load_diabetes(as_frame=True, scaled=False).frame, data_dir, "diabetes.csv"
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """Where a prediction log lives: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'predictions.db'}"
        return
    url, drop = create_postgres_database()
    try:
        yield to_libpq_url(url)  # a plain postgresql:// URL, as a user would give it
    finally:
        drop()
