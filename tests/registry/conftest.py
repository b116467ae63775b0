"""The registry modules' tests start from one training, shared by the session."""

from __future__ import annotations

import pytest

from champion.project.spec import load_spec
from champion.settings import Settings
from champion.training.train import train_project
from support.projects import sqlite_store, write_project
from support.registry import TUMOURS_DESCRIPTION, TUMOURS_PROJECT


@pytest.fixture(scope="session")
def tumours(tmp_path_factory, sqlite_template, breast_cancer_csv):
    """(the store's file, the training report): the tumours project trained, nothing
    registered. Tests work on copies of the file (``support.registry.copy_of``)."""
    folder = tmp_path_factory.mktemp("tumours")
    settings = Settings.from_env(folder, environ=sqlite_store(folder, sqlite_template))
    text = TUMOURS_PROJECT.format(description=TUMOURS_DESCRIPTION, data=breast_cancer_csv)
    report = train_project(load_spec(write_project(folder, text)), settings)
    return folder / "mlflow.db", report
