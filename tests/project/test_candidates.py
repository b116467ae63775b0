"""Candidate estimators: defaults per task, built-ins, import paths, search spaces."""

from __future__ import annotations

import optuna
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multiclass import OneVsRestClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC, SVR, LinearSVC

from champion.errors import SpecError
from champion.project.candidates import (
    SVM_MAX_ROWS,
    default_candidates,
    make_estimator,
    suggest_params,
)
from champion.project.spec import CandidateSpec, SearchSpec


def _names(task: str, n_rows: int) -> list[str]:
    return [c.name for c in default_candidates(task, n_rows)]


@pytest.mark.parametrize(
    ("task", "n_rows", "expected"),
    [
        ("binary", 500, ["linear", "random_forest", "hist_gradient_boosting", "svm"]),
        ("multiclass", 500, ["linear", "random_forest", "hist_gradient_boosting", "svm"]),
        ("regression", 500, ["linear", "random_forest", "hist_gradient_boosting", "svm"]),
        ("multilabel", 500, ["linear", "random_forest", "svm"]),
        ("binary", SVM_MAX_ROWS + 1, ["linear", "random_forest", "hist_gradient_boosting"]),
        ("regression", SVM_MAX_ROWS + 1, ["linear", "random_forest", "hist_gradient_boosting"]),
        # A linear SVM per tag scales to many rows, so multilabel keeps it.
        ("multilabel", SVM_MAX_ROWS + 1, ["linear", "random_forest", "svm"]),
    ],
    ids=[
        "binary",
        "multiclass",
        "regression",
        "multilabel-no-boosting",
        "binary-large-no-svm",
        "regression-large-no-svm",
        "multilabel-large-keeps-svm",
    ],
)
def test_default_candidates_per_task_and_size(task: str, n_rows: int, expected: list[str]) -> None:
    candidates = default_candidates(task, n_rows)
    assert [c.name for c in candidates] == expected
    # Each default names its own built-in, with no parameters of its own.
    assert all(c.estimator == c.name and c.params == {} for c in candidates)


def test_svm_cut_off_is_inclusive_of_the_limit() -> None:
    assert "svm" in _names("binary", SVM_MAX_ROWS)
    assert "svm" not in _names("binary", SVM_MAX_ROWS + 1)


@pytest.mark.parametrize(
    ("builtin", "task", "outer", "inner", "random_state"),
    [
        ("linear", "binary", LogisticRegression, None, 7),
        # Ridge's default solver is deterministic on dense inputs: it is left unseeded.
        ("linear", "regression", Ridge, None, None),
        ("linear", "multilabel", OneVsRestClassifier, LogisticRegression, 7),
        ("random_forest", "multiclass", RandomForestClassifier, None, 7),
        ("random_forest", "regression", RandomForestRegressor, None, 7),
        ("random_forest", "multilabel", RandomForestClassifier, None, 7),
        ("hist_gradient_boosting", "binary", HistGradientBoostingClassifier, None, 7),
        ("hist_gradient_boosting", "regression", HistGradientBoostingRegressor, None, 7),
        ("svm", "binary", CalibratedClassifierCV, SVC, 7),
        ("svm", "regression", SVR, None, None),
        ("svm", "multilabel", OneVsRestClassifier, LinearSVC, 7),
    ],
    ids=[
        "linear-binary",
        "linear-regression",
        "linear-multilabel",
        "forest-multiclass",
        "forest-regression",
        "forest-multilabel-native",
        "boosting-binary",
        "boosting-regression",
        "svm-binary-calibrated",
        "svm-regression",
        "svm-multilabel",
    ],
)
def test_builtin_gives_the_estimator_for_the_task(
    builtin: str, task: str, outer: type, inner: type | None, random_state: int | None
) -> None:
    estimator = make_estimator(CandidateSpec(name="c", estimator=builtin), task, seed=7)
    assert type(estimator) is outer
    if inner is not None:
        assert type(estimator.estimator) is inner
    base = estimator.estimator if inner is not None else estimator
    assert base.get_params().get("random_state") == random_state


def test_builtin_params_are_set_before_wrapping() -> None:
    candidate = CandidateSpec(name="svm", estimator="svm", params={"C": 3.5, "kernel": "linear"})
    estimator = make_estimator(candidate, "binary", seed=0)
    assert isinstance(estimator, CalibratedClassifierCV)
    assert estimator.estimator.C == 3.5
    assert estimator.estimator.kernel == "linear"


def test_params_argument_replaces_the_candidates_own() -> None:
    candidate = CandidateSpec(name="rf", estimator="random_forest", params={"n_estimators": 5})
    estimator = make_estimator(candidate, "regression", seed=0, params={"max_depth": 3})
    assert estimator.max_depth == 3
    assert estimator.n_estimators == RandomForestRegressor().n_estimators


def test_import_path_builds_that_class_with_params() -> None:
    candidate = CandidateSpec(
        name="knn",
        estimator="sklearn.neighbors.KNeighborsClassifier",
        params={"n_neighbors": 3, "weights": "distance"},
    )
    estimator = make_estimator(candidate, "binary", seed=0)
    assert type(estimator) is KNeighborsClassifier
    assert estimator.get_params()["n_neighbors"] == 3
    assert estimator.get_params()["weights"] == "distance"


def test_import_path_for_multilabel_is_wrapped_one_vs_rest() -> None:
    candidate = CandidateSpec(name="knn", estimator="sklearn.neighbors.KNeighborsClassifier")
    estimator = make_estimator(candidate, "multilabel", seed=0)
    assert isinstance(estimator, OneVsRestClassifier)
    assert type(estimator.estimator) is KNeighborsClassifier


@pytest.mark.parametrize(
    ("estimator", "params", "task", "field", "match"),
    [
        (
            "boosted_magic",
            {},
            "binary",
            "candidates.c.estimator",
            "unknown estimator 'boosted_magic'",
        ),
        (
            "sklearn.neighbors.NoSuchClassifier",
            {},
            "binary",
            "candidates.c.estimator",
            "cannot import 'sklearn.neighbors.NoSuchClassifier'",
        ),
        (
            "no_such_package.Model",
            {},
            "binary",
            "candidates.c.estimator",
            "cannot import 'no_such_package.Model'",
        ),
        (
            "collections.OrderedDict",
            {},
            "binary",
            "candidates.c.estimator",
            "'collections.OrderedDict' is not an estimator",
        ),
        (
            "sklearn.pipeline.Pipeline",
            {},
            "binary",
            "candidates.c.estimator",
            "cannot construct 'sklearn.pipeline.Pipeline'",
        ),
        (
            "hist_gradient_boosting",
            {},
            "multilabel",
            "candidates.c.estimator",
            "'hist_gradient_boosting' does not support task 'multilabel'",
        ),
        (
            "random_forest",
            {"n_trees": 10},
            "binary",
            "candidates.c.params",
            "n_trees",
        ),
        (
            "sklearn.neighbors.KNeighborsClassifier",
            {"depth": 2},
            "binary",
            "candidates.c.params",
            "depth",
        ),
    ],
    ids=[
        "unknown-builtin",
        "missing-class",
        "missing-module",
        "not-an-estimator",
        "needs-arguments",
        "builtin-not-for-task",
        "builtin-bad-param",
        "import-path-bad-param",
    ],
)
def test_bad_candidate_raises_spec_error_naming_the_field(
    estimator: str, params: dict, task: str, field: str, match: str
) -> None:
    candidate = CandidateSpec(name="c", estimator=estimator, params=params)
    with pytest.raises(SpecError, match=match) as excinfo:
        make_estimator(candidate, task, seed=0)
    assert excinfo.value.field == field
    assert excinfo.value.message.startswith(f"{field}:")


SPACE = {
    "n_estimators": {"type": "int", "low": 2, "high": 9},
    "max_features": {"type": "float", "low": 0.2, "high": 0.8},
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
    "max_leaf_nodes": {"type": "int", "low": 4, "high": 256, "log": True},
    "criterion": {"type": "categorical", "choices": ["gini", "entropy", "log_loss"]},
}


def test_suggest_params_stays_inside_the_search_space() -> None:
    search = SearchSpec(space=SPACE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    drawn = []
    for _ in range(40):
        trial = study.ask()
        params = suggest_params(trial, search)
        assert params == trial.params
        drawn.append(params)
        study.tell(trial, 0.0)
        # The log flag reaches Optuna's distribution, not only the bounds.
        assert trial.distributions["learning_rate"].log is True
        assert trial.distributions["max_leaf_nodes"].log is True
        assert trial.distributions["max_features"].log is False

    for params in drawn:
        assert set(params) == set(SPACE)
        assert isinstance(params["n_estimators"], int)
        assert 2 <= params["n_estimators"] <= 9
        assert isinstance(params["max_leaf_nodes"], int)
        assert 4 <= params["max_leaf_nodes"] <= 256
        assert 0.2 <= params["max_features"] <= 0.8
        assert 1e-4 <= params["learning_rate"] <= 1.0
        assert params["criterion"] in SPACE["criterion"]["choices"]
    # Log sampling spreads draws over the decades: some land below 0.01.
    assert any(p["learning_rate"] < 1e-2 for p in drawn)
    assert len({p["criterion"] for p in drawn}) == 3


def test_suggested_params_build_the_estimator() -> None:
    search = SearchSpec(space={"n_estimators": {"type": "int", "low": 2, "high": 4}})
    candidate = CandidateSpec(name="rf", estimator="random_forest", search=search)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    params = suggest_params(trial, search)
    estimator = make_estimator(candidate, "binary", seed=0, params=params)
    assert estimator.n_estimators == params["n_estimators"]


@pytest.mark.parametrize(
    ("estimator", "task", "expected"),
    [
        ("linear", "binary", "balanced"),
        ("hist_gradient_boosting", "multiclass", "balanced"),
        ("sklearn.tree.DecisionTreeClassifier", "binary", "balanced"),
    ],
    ids=["linear", "boosting", "import-path"],
)
def test_class_weight_balanced_reaches_the_estimator(estimator, task, expected):
    candidate = CandidateSpec(name="c", estimator=estimator, class_weight="balanced")

    made = make_estimator(candidate, task, 0)

    assert made.get_params()["class_weight"] == expected


def test_class_weight_reaches_a_wrapped_svm_and_none_turns_off_a_default():
    svm = make_estimator(
        CandidateSpec(name="s", estimator="svm", class_weight="balanced"), "binary", 0
    )
    forest = make_estimator(
        CandidateSpec(name="f", estimator="random_forest", class_weight="none"), "binary", 0
    )

    assert svm.estimator.class_weight == "balanced"  # inside the calibration wrapper
    assert forest.class_weight is None  # the built-in default is balanced_subsample


@pytest.mark.parametrize(
    ("candidate", "task", "match"),
    [
        (
            CandidateSpec(name="r", estimator="random_forest", class_weight="balanced"),
            "regression",
            r"candidates\.r\.class_weight: only classification tasks weigh classes",
        ),
        (
            CandidateSpec(
                name="l", estimator="linear", class_weight="balanced", params={"class_weight": None}
            ),
            "binary",
            r"candidates\.l\.class_weight: set both here and in params",
        ),
    ],
    ids=["regression", "also-in-params"],
)
def test_class_weight_where_it_cannot_apply_names_the_candidate(candidate, task, match):
    with pytest.raises(SpecError, match=match) as info:
        make_estimator(candidate, task, 0)

    assert info.value.field == f"candidates.{candidate.name}.class_weight"
