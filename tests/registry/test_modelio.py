"""Logging a pipeline as an MLflow model with skops: the trusted types, and what the
logged model holds, on a real SQLite tracking store."""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import skops.io
import yaml
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import champion
from champion.errors import SpecError
from champion.project.features import FeatureSet, build_preprocessor
from champion.project.spec import PreprocessingSpec
from champion.registry.modelio import (
    RUNTIME_DISTRIBUTIONS,
    log_pipeline,
    trusted_types,
)
from champion.registry.tracking import ensure_experiment, use_tracking
from champion.registry.trust import foreign_types
from champion.settings import Settings
from support.projects import REPO, sqlite_store

FEATURES = FeatureSet(
    numeric=["height", "weight"], categorical=["kind"], ordinal={"size": ["S", "M", "L"]}
)


class Doubler(TransformerMixin, BaseEstimator):
    """A transformer from outside the allow-list: skops would have to trust this module."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float) * 2


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 120
    height = rng.lognormal(size=n)  # skewed: the log step is fitted to do something
    frame = pd.DataFrame(
        {
            "height": height,
            "weight": rng.normal(50, 10, size=n),
            "kind": rng.choice(["fire", "water", "grass"], size=n).astype(object),
            "size": rng.choice(["S", "M", "L"], size=n).astype(object),
        }
    )
    frame.loc[::11, "weight"] = np.nan
    frame["label"] = np.where(frame["height"] > 1.0, "tall", "short")
    return frame


@pytest.fixture(scope="module")
def pipeline(data) -> Pipeline:
    pipe = Pipeline(
        [
            ("prep", build_preprocessor(FEATURES, PreprocessingSpec())),
            ("model", LogisticRegression(max_iter=500)),
        ]
    )
    return pipe.fit(data[FEATURES.columns], data["label"])


def test_trusted_types_name_champions_transformers_by_import_path(pipeline, data) -> None:
    types = trusted_types(pipeline)
    # scikit-learn's own estimators skops trusts already; champion's it must be told of.
    assert {t for t in types if t.startswith("champion.")} == {
        "champion.project.transformers.AsCategories",
        "champion.project.transformers.OutlierCapper",
        "champion.project.transformers.SkewLogTransformer",
    }
    assert types == sorted(types)
    assert foreign_types(types) == []
    # Without the list skops refuses the model; with it, the model loads and predicts.
    with pytest.raises(skops.io.exceptions.UntrustedTypesFoundException):
        skops.io.loads(skops.io.dumps(pipeline))
    loaded = skops.io.loads(skops.io.dumps(pipeline), trusted=types)
    X = data[FEATURES.columns]
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))


def test_trusted_types_refuse_a_type_from_outside_the_allow_list(data) -> None:
    foreign = Pipeline([("double", Doubler()), ("model", LogisticRegression())])
    foreign.fit(data[["height", "weight"]].fillna(0), data["label"])
    with pytest.raises(SpecError, match=r"cannot vouch for .*Doubler") as excinfo:
        trusted_types(foreign)
    assert f"{Doubler.__module__}.Doubler" in excinfo.value.message
    assert "estimator classes from sklearn, numpy, scipy or champion" in excinfo.value.message


@pytest.fixture(scope="module")
def logged(tmp_path_factory, sqlite_template, pipeline, data) -> tuple[Settings, str, Path]:
    """The pipeline logged to a fresh SQLite store: (settings, model URI, its files)."""
    folder = tmp_path_factory.mktemp("modelio")
    settings = Settings.from_env(folder, environ=sqlite_store(folder, sqlite_template))
    experiment = ensure_experiment(settings, "modelio")
    with use_tracking(settings), mlflow.start_run(experiment_id=experiment):
        uri = log_pipeline(pipeline, data[FEATURES.columns], {"champion": {"task": "binary"}})
    with use_tracking(settings):
        local = mlflow.artifacts.download_artifacts(uri, dst_path=str(folder / "download"))
    return settings, uri, Path(local)


def test_logged_model_is_stored_with_skops(logged) -> None:
    _, uri, local = logged
    assert uri.startswith("models:/m-")
    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    assert mlmodel["flavors"]["sklearn"]["serialization_format"] == "skops"
    assert mlmodel["metadata"] == {"champion": {"task": "binary"}}
    assert (local / mlmodel["flavors"]["sklearn"]["pickled_model"]).exists()


def test_logged_requirements_pin_the_installed_versions(logged) -> None:
    _, _, local = logged
    lines = (local / "requirements.txt").read_text().split()
    assert lines == [f"{name}=={version(name)}" for name in RUNTIME_DISTRIBUTIONS]
    assert f"scikit-learn=={version('scikit-learn')}" in lines


def test_logged_model_carries_the_whole_champion_package(logged) -> None:
    _, _, local = logged
    package = Path(champion.__file__).parent
    assert package == REPO / "src" / "champion"  # the code logged is this worktree's
    source = {p.relative_to(package) for p in package.rglob("*.py")}
    copied = {
        p.relative_to(local / "code" / "champion")
        for p in (local / "code" / "champion").rglob("*.py")
    }
    assert source == copied
    assert Path("project/transformers.py") in copied
    assert (local / "code" / "champion" / "project" / "transformers.py").read_text() == (
        package / "project" / "transformers.py"
    ).read_text()


def test_logged_model_loads_and_predicts_like_the_pipeline(
    logged, pipeline, data, monkeypatch
) -> None:
    settings, uri, _ = logged
    monkeypatch.setattr(sys, "path", list(sys.path))  # loading prepends the model's code/
    with use_tracking(settings):
        model = mlflow.pyfunc.load_model(uri)
    X = data[FEATURES.columns]
    np.testing.assert_array_equal(np.asarray(model.predict(X)), pipeline.predict(X))
    # Its input example and signature are the training columns.
    assert model.metadata.get_input_schema().input_names() == FEATURES.columns
