"""Custom scikit-learn transformers used inside champion's preprocessing pipelines.

Each follows the estimator contract: keyword hyperparameters stored as given in
``__init__``, learned state ending in ``_``, so they clone, pickle, grid-search and
serialise with skops like any scikit-learn transformer. This module imports only
numpy, pandas, scikit-learn and :mod:`champion.project.categories` because a logged
model ships it (MLflow ``code_paths``) and loads it wherever the model is served.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from champion.project.categories import MISSING, canonical_category, is_missing


class _AcceptsMissing:
    """Declares to scikit-learn that missing values pass through the transformer by
    design (the imputer may come later, or not at all)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class OutlierCapper(_AcceptsMissing, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Clip each column to the ``lower``/``upper`` quantiles seen in ``fit``.

    Missing values pass through untouched.
    """

    def __init__(self, *, lower: float = 0.01, upper: float = 0.99) -> None:
        self.lower = lower
        self.upper = upper

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        if not 0 <= self.lower < self.upper <= 1:
            raise ValueError(
                f"OutlierCapper needs 0 <= lower < upper <= 1; got {self.lower}, {self.upper}"
            )
        with np.errstate(all="ignore"):
            self.lower_bounds_ = np.nanquantile(X, self.lower, axis=0)
            self.upper_bounds_ = np.nanquantile(X, self.upper, axis=0)
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return np.clip(X, self.lower_bounds_, self.upper_bounds_)


class SkewLogTransformer(_AcceptsMissing, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Apply a sign-preserving ``log1p`` to the columns whose skewness in ``fit`` exceeds
    ``threshold`` (or to the columns at ``columns``, a list of positions, if given).

    The sign-preserving form keeps negative values (unseen in training) finite.
    """

    def __init__(self, *, threshold: float = 1.0, columns: list[int] | None = None) -> None:
        self.threshold = threshold
        self.columns = columns

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        if self.columns is not None:
            mask = np.zeros(X.shape[1], dtype=bool)
            mask[list(self.columns)] = True
        else:
            mask = np.abs(np.nan_to_num(pd.DataFrame(X).skew().to_numpy())) > self.threshold
        self.log_columns_ = mask
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        out = X.copy()
        cols = self.log_columns_
        out[:, cols] = np.sign(X[:, cols]) * np.log1p(np.abs(X[:, cols]))
        return out


class AsCategories(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Turn every value into its string form and a missing value into ``"__missing__"``.

    Serving receives JSON (``true``, ``"1"``, ``1``) where training read CSV; comparing
    strings makes both agree, and "missing" becomes a category of its own.
    """

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1] if np.ndim(X) == 2 else 1
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        values = np.asarray(X, dtype=object)
        return _as_strings(values)


class TextColumn(TransformerMixin, BaseEstimator):
    """Select one text column as a 1-D array of strings (missing becomes ``""``), the
    input ``TfidfVectorizer`` expects."""

    def fit(self, X, y=None):
        self.n_features_in_ = 1
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        values = np.asarray(X, dtype=object)
        if values.ndim == 2:
            if values.shape[1] != 1:
                raise ValueError(f"TextColumn takes one column; got {values.shape[1]}")
            values = values[:, 0]
        return np.array(["" if is_missing(v) else str(v) for v in values], dtype=object)

    def get_feature_names_out(self, input_features=None):
        return np.asarray(input_features if input_features is not None else ["text"], dtype=object)


def _as_strings(values: np.ndarray) -> np.ndarray:
    out = np.empty(values.shape, dtype=object)
    for index, value in np.ndenumerate(values):
        out[index] = MISSING if is_missing(value) else canonical_category(value)
    return out
