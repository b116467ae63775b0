"""Shared fixtures: real tracking stores and datasets that are not about Pokémon.

``store`` runs a test twice: on a SQLite file, and against a real ``mlflow server``
process (PostgreSQL backend store, ``--serve-artifacts``) over HTTP. The server and
its fresh database live for the whole session.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn import datasets

from champion.registry import promote, register
from champion.settings import Settings
from champion.spec import Project, load_spec
from champion.tracking import quiet_mlflow
from champion.training import TrainingReport, train_project
from tracking_server import MlflowServer, create_postgres_database, to_libpq_url

REPO = Path(__file__).resolve().parents[1]
POKEMON = REPO / "data" / "pokemon"

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


def sqlite_store(folder: Path, template: Path) -> dict[str, str]:
    """The environment of a fresh SQLite tracking store in ``folder``."""
    path = folder / "mlflow.db"
    shutil.copyfile(template, path)
    return {"MLFLOW_TRACKING_URI": f"sqlite:///{path}"}


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


def write_project(folder: Path, text: str) -> Path:
    """Write ``champion.yaml`` into ``folder`` and return its path."""
    path = folder / "champion.yaml"
    path.write_text(text)
    return path


@dataclass(frozen=True)
class Promoted:
    """A model trained, registered and promoted by :func:`promoted`."""

    settings: Settings
    config: Path
    project: Project
    report: TrainingReport


def promoted(folder: Path, template: Path, project_text: str) -> Promoted:
    """A fresh SQLite store in ``folder``, the project written there and trained, its
    best candidate registered and promoted: where a serving test starts."""
    settings = Settings.from_env(folder, environ=sqlite_store(folder, template))
    config = write_project(folder, project_text)
    project = load_spec(config)
    report = train_project(project, settings)
    register(settings, project.spec.name)
    promote(settings, project.spec.name)
    return Promoted(settings, config, project, report)


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
