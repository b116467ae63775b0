"""A small promoted model the data-plane and lifecycle tests share."""

from __future__ import annotations

import pandas as pd
import pytest

from support.projects import promoted

WINE = "wine"


@pytest.fixture(scope="session")
def wine_model(tmp_path_factory, sqlite_template, wine_csv):
    """A promoted multiclass model on a SQLite store: (settings, six rows of its inputs).
    Tests that write to its default prediction log must be the only ones that do."""
    trained = promoted(
        tmp_path_factory.mktemp("wine"),
        sqlite_template,
        f"""
name: {WINE}
data: {wine_csv}
target: cultivar
task: multiclass
candidates: [{{name: linear, estimator: linear}}]
""",
    )
    columns = list(trained.report.best.pipeline.feature_names_in_)
    return trained.settings, pd.read_csv(wine_csv)[columns].head(6)
