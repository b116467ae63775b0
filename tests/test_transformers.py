"""Models logged by champion 0.1.0 still load and serve: their skops files name the
transformers ``champion.transformers.*``, the path :mod:`champion.transformers` keeps.

The store in ``tests/fixtures/store-0.1.0.tar.gz`` was written by 0.1.0 (see the
fixtures' README); this test unpacks it, points its artifact paths at the copy, and
serves its champion over real HTTP."""

from __future__ import annotations

import sqlite3
import tarfile
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
import yaml

from champion.project import transformers
from champion.registry.tracking import use_tracking
from champion.serving.app import create_app
from champion.settings import Settings
from support.projects import REPO
from support.serving import running

pytestmark = pytest.mark.integration

STORE = REPO / "tests" / "fixtures" / "store-0.1.0.tar.gz"
WRITTEN_AT = "/tmp/oldmodel"
NAME = "pokemon_legendary"
STATS = ["hp", "attack", "defense", "special_attack", "special_defense", "speed"]
MEWTWO_AND_PIKACHU = [[106, 110, 90, 154, 90, 130], [35, 55, 40, 50, 50, 90]]


def _unpack(folder: Path) -> Settings:
    with tarfile.open(STORE) as archive:
        archive.extractall(folder, filter="data")
    database = sqlite3.connect(folder / "mlflow.db")
    with database:
        for (table,) in database.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            for column in database.execute(f"PRAGMA table_info('{table}')"):
                if column[2].upper().startswith(("VARCHAR", "TEXT")):
                    database.execute(
                        f'UPDATE "{table}" SET "{column[1]}" = replace("{column[1]}", ?, ?)',
                        (WRITTEN_AT, str(folder)),
                    )
    database.close()
    return Settings.from_env(
        folder, environ={"MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlflow.db"}
    )


def test_the_old_store_names_its_transformers_by_the_old_path(tmp_path: Path):
    _unpack(tmp_path)
    mlmodel = next((tmp_path / "mlartifacts").rglob("MLmodel"))
    trusted = yaml.safe_load(mlmodel.read_text())["flavors"]["sklearn"]["skops_trusted_types"]
    assert "champion.transformers.OutlierCapper" in trusted
    assert not any(name.startswith("champion.project.") for name in trusted)


def test_a_model_logged_by_0_1_0_is_served(tmp_path: Path):
    settings = _unpack(tmp_path)
    with use_tracking(settings):
        pipeline = mlflow.sklearn.load_model(f"models:/{NAME}@champion")
    capper = pipeline.named_steps["preprocess"].named_transformers_["num"].named_steps
    assert any(isinstance(step, transformers.OutlierCapper) for step in capper.values())
    with running(create_app(settings, NAME, reload_interval=0)) as url:
        response = httpx.post(
            f"{url}/invocations",
            json={"dataframe_split": {"columns": STATS, "data": MEWTWO_AND_PIKACHU}},
        )
        version = httpx.get(f"{url}/version").json()
    assert response.status_code == 200, response.text
    expected = pipeline.predict(pd.DataFrame(MEWTWO_AND_PIKACHU, columns=STATS, dtype=float))
    assert response.json() == {"predictions": expected.tolist()}
    assert response.headers["x-model-version"] == "1"
    assert version["version"] == "1"
