"""Candidate estimators: the built-in defaults per task, import paths, search spaces.

A candidate is named in the project file by a built-in name (``linear``,
``random_forest``, ``hist_gradient_boosting``, ``svm``) or by the import path of any
scikit-learn-compatible estimator (``sklearn.neighbors.KNeighborsClassifier``).
:func:`make_estimator` is the one place estimators are constructed.
"""

from __future__ import annotations

import importlib
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multiclass import OneVsRestClassifier
from sklearn.svm import SVC, SVR, LinearSVC

from champion.errors import SpecError
from champion.project.spec import CandidateSpec, SearchSpec

SVM_MAX_ROWS = 10_000

# Built-in estimators by task; each factory takes the seed.
BUILTIN: dict[str, dict[str, Any]] = {
    "linear": {
        "classification": lambda seed: LogisticRegression(max_iter=2000, random_state=seed),
        "regression": lambda seed: Ridge(),
        "multilabel": lambda seed: LogisticRegression(max_iter=2000, random_state=seed),
    },
    "random_forest": {
        "classification": lambda seed: RandomForestClassifier(
            class_weight="balanced_subsample", random_state=seed
        ),
        "regression": lambda seed: RandomForestRegressor(random_state=seed),
        "multilabel": lambda seed: RandomForestClassifier(random_state=seed),
    },
    "hist_gradient_boosting": {
        "classification": lambda seed: HistGradientBoostingClassifier(random_state=seed),
        "regression": lambda seed: HistGradientBoostingRegressor(random_state=seed),
    },
    "svm": {
        "classification": lambda seed: SVC(random_state=seed),
        "regression": lambda seed: SVR(),
        "multilabel": lambda seed: LinearSVC(random_state=seed),
    },
}

# Estimators that take a tag matrix natively; the others are wrapped one-vs-rest.
_NATIVE_MULTILABEL = (RandomForestClassifier,)
# Built-ins wrapped after their parameters are set: an SVC gets probabilities by
# calibration (scikit-learn's replacement for the deprecated ``probability=True``).
_WRAPPERS = {("svm", "classification"): lambda est: CalibratedClassifierCV(est, ensemble=False)}


def _family(task: str) -> str:
    return task if task in ("regression", "multilabel") else "classification"


def default_candidates(task: str, n_rows: int) -> list[CandidateSpec]:
    """The candidates tried when the project file names none.

    Linear, random forest and histogram gradient boosting (not for multilabel, where
    one booster per tag is slow), plus an SVM when the data is small enough for it.
    """
    family = _family(task)
    names = [n for n, by_task in BUILTIN.items() if family in by_task]
    if n_rows > SVM_MAX_ROWS and family != "multilabel":
        names.remove("svm")
    if family == "multilabel":
        names = [n for n in names if n != "hist_gradient_boosting"]
    return [CandidateSpec(name=n, estimator=n) for n in names]


def make_estimator(candidate: CandidateSpec, task: str, seed: int, params: dict | None = None):
    """Construct the estimator for ``candidate`` with its parameters (or ``params``).

    Raises:
        SpecError: unknown built-in, an import path that does not resolve to an
            estimator, or a parameter the estimator does not have.
    """
    family = _family(task)
    where = f"candidates.{candidate.name}"
    params = candidate.params if params is None else params
    if candidate.estimator in BUILTIN:
        factory = BUILTIN[candidate.estimator].get(family)
        if factory is None:
            raise SpecError(
                f"{where}.estimator: '{candidate.estimator}' does not support task '{task}'",
                field=f"{where}.estimator",
            )
        estimator = factory(seed)
    else:
        estimator = _import_estimator(candidate.estimator, where)
    try:
        estimator.set_params(**params)
    except ValueError as e:
        raise SpecError(f"{where}.params: {e}", field=f"{where}.params") from None
    if candidate.class_weight is not None:
        _set_class_weight(estimator, candidate, task)
    wrapper = _WRAPPERS.get((candidate.estimator, family))
    if wrapper is not None:
        return wrapper(estimator)
    if family == "multilabel" and not isinstance(estimator, _NATIVE_MULTILABEL):
        return OneVsRestClassifier(estimator)
    return estimator


def _set_class_weight(estimator, candidate: CandidateSpec, task: str) -> None:
    """``candidate.class_weight`` on the estimator (before any wrapper), or an error
    naming the candidate when the estimator takes no class weights."""
    where = f"candidates.{candidate.name}.class_weight"
    if "class_weight" in candidate.params:
        raise SpecError(
            f"{where}: set both here and in params; keep one (class_weight: balanced)",
            field=where,
        )
    if task not in ("binary", "multiclass"):
        raise SpecError(
            f"{where}: only classification tasks weigh classes; task is {task}", field=where
        )
    if "class_weight" not in estimator.get_params(deep=False):
        raise SpecError(
            f"{where}: '{candidate.estimator}' ({type(estimator).__name__}) takes no "
            "class_weight; leave it out, or choose an estimator that does",
            field=where,
        )
    estimator.set_params(class_weight=None if candidate.class_weight == "none" else "balanced")


def _import_estimator(path: str, where: str) -> BaseEstimator:
    module_name, _, class_name = path.rpartition(".")
    builtins = ", ".join(BUILTIN)
    if not module_name:
        raise SpecError(
            f"{where}.estimator: unknown estimator '{path}'; use one of {builtins} "
            "or an import path such as sklearn.neighbors.KNeighborsClassifier",
            field=f"{where}.estimator",
        )
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise SpecError(
            f"{where}.estimator: cannot import '{path}'; use one of {builtins} or an "
            "importable class path",
            field=f"{where}.estimator",
        ) from None
    try:
        estimator = cls()
    except TypeError as e:
        raise SpecError(
            f"{where}.estimator: cannot construct '{path}': {e}", field=f"{where}.estimator"
        ) from None
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
        raise SpecError(
            f"{where}.estimator: '{path}' is not an estimator (needs fit and predict)",
            field=f"{where}.estimator",
        )
    return estimator


def suggest_params(trial, search: SearchSpec) -> dict[str, Any]:
    """Draw one set of parameters from ``search.space`` with an Optuna trial."""
    params: dict[str, Any] = {}
    for name, dist in search.space.items():
        kind = dist["type"]
        if kind == "int":
            params[name] = trial.suggest_int(
                name, int(dist["low"]), int(dist["high"]), log=bool(dist.get("log", False))
            )
        elif kind == "float":
            params[name] = trial.suggest_float(
                name, float(dist["low"]), float(dist["high"]), log=bool(dist.get("log", False))
            )
        else:
            params[name] = trial.suggest_categorical(name, list(dist["choices"]))
    return params
