"""Feature columns by kind, and the preprocessing pipeline built from them.

:func:`resolve_features` decides which column is numeric, categorical, ordinal or
text (from the project file, else from the data's dtypes) and which are left out;
:func:`build_preprocessor` turns that into a ``ColumnTransformer`` that lives inside
the model's Pipeline, so training and serving run the same code on the same columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)

from champion.errors import DataError
from champion.project.categories import canonical_category, is_missing
from champion.project.data import mixed_types
from champion.project.spec import FeaturesSpec, PreprocessingSpec
from champion.project.transformers import (
    AsCategories,
    OutlierCapper,
    SkewLogTransformer,
    TextColumn,
)

_ID_NAME = re.compile(r"(^|_)id$", re.IGNORECASE)
TEXT_MIN_MEAN_WORDS = 4
CATEGORICAL_MAX_UNIQUE_SHARE = 0.5


@dataclass(frozen=True)
class FeatureSet:
    """The model's input columns by kind, and the columns left out with the reason."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    ordinal: dict[str, list] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """Every input column, in a stable order: numeric, categorical, ordinal, text."""
        return [*self.numeric, *self.categorical, *self.ordinal, *self.text]

    @classmethod
    def from_dict(cls, document: dict) -> FeatureSet:
        """The feature set from its logged form (``features.json``, model metadata)."""
        kinds = ("numeric", "categorical", "ordinal", "text", "dropped")
        return cls(**{kind: document[kind] for kind in kinds if kind in document})

    def kind_of(self, column: str) -> str:
        """``numeric``, ``categorical``, ``ordinal`` or ``text``."""
        for kind in ("numeric", "categorical", "ordinal", "text"):
            if column in getattr(self, kind):
                return kind
        raise KeyError(column)


def resolve_features(frame: pd.DataFrame, spec: FeaturesSpec, targets: list[str]) -> FeatureSet:
    """Decide each column's kind.

    Columns named in ``spec`` keep the kind given; the rest are inferred: numbers are
    numeric, short strings and booleans categorical, long free text is text. Left out:
    the target(s), ``spec.exclude``, empty columns and identifier-like columns
    (named ``id``/``*_id``, or unique on every row).

    Raises:
        DataError: a named column is missing, or an inferred column mixes numbers and text.
    """
    named = {
        "numeric": spec.numeric,
        "categorical": spec.categorical,
        "ordinal": list(spec.ordinal),
        "text": spec.text,
    }
    for kind, columns in named.items():
        for column in columns or []:
            if column not in frame.columns:
                raise DataError(
                    f"features.{kind}: column '{column}' is not in the data; "
                    f"columns are: {', '.join(map(str, frame.columns))}",
                    field=f"features.{kind}",
                )
            if column in targets:
                raise DataError(
                    f"features.{kind}: '{column}' is the target and cannot be a feature",
                    field=f"features.{kind}",
                )
    explicit = any(named[k] for k in ("numeric", "categorical", "text")) or bool(spec.ordinal)
    result = FeatureSet(
        numeric=list(spec.numeric or []),
        categorical=list(spec.categorical or []),
        ordinal=dict(spec.ordinal),
        text=list(spec.text or []),
    )
    if explicit:
        # The user listed features: those are the model's inputs, nothing more.
        for column in result.numeric:
            _check_numeric(frame[column], column)
        return result
    for column in frame.columns:
        column = str(column)
        if column in targets:
            continue
        if column in spec.exclude:
            result.dropped[column] = "excluded in the project file"
            continue
        kind, reason = _infer_kind(frame[column], column)
        if kind is None:
            result.dropped[column] = reason
        else:
            getattr(result, kind).append(column)
    if not result.columns:
        raise DataError(
            "features: no usable feature column was found; list them under features",
            field="features",
        )
    return result


def _infer_kind(values: pd.Series, column: str) -> tuple[str | None, str]:
    present = values.dropna()
    if present.empty:
        return None, "empty column"
    if _ID_NAME.search(column):
        return None, "identifier (name ends in id)"
    if pd.api.types.is_bool_dtype(values):
        return "categorical", ""
    if pd.api.types.is_numeric_dtype(values):
        if pd.api.types.is_integer_dtype(values) and present.is_unique and len(present) > 20:
            return None, "identifier (unique integer on every row)"
        return "numeric", ""
    mixed = mixed_types(values)
    if mixed:
        raise DataError(
            f"column '{column}' mixes types: {mixed}; clean it, or name its kind under "
            "features (numeric, categorical, text) or features.exclude",
            field=column,
        )
    text = present.astype(str)
    if text.str.split().str.len().mean() >= TEXT_MIN_MEAN_WORDS:
        return "text", ""
    if present.nunique() > CATEGORICAL_MAX_UNIQUE_SHARE * len(present) and len(present) > 20:
        return None, "identifier-like (almost every value is different)"
    return "categorical", ""


def _check_numeric(values: pd.Series, column: str) -> None:
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return
    numeric = pd.to_numeric(values.dropna(), errors="coerce")
    bad = values.dropna()[numeric.isna()]
    if len(bad):
        raise DataError(
            f"features.numeric: column '{column}' is not numeric: found {bad.iloc[0]!r} "
            f"({len(bad)} non-numeric values)",
            field=column,
        )


def model_inputs(frame: pd.DataFrame, features: FeatureSet) -> pd.DataFrame:
    """The model's input columns in the types its signature declares.

    Numbers become float64 (so a client may send ``80`` or ``80.0``), categories and
    text become Python strings with ``None`` for missing. Training, the gate and
    serving all call this, so they hand the model the same thing.
    """
    out = pd.DataFrame(index=frame.index)
    for column in features.numeric:
        # An infinity is no measurement a model can use: treat it as missing.
        values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        out[column] = values.replace([np.inf, -np.inf], np.nan)
    for column in [*features.categorical, *features.ordinal, *features.text]:
        values = frame[column].astype(object)
        out[column] = pd.Series(
            [
                None
                if is_missing(v)
                else (str(v) if column in features.text else canonical_category(v))
                for v in values
            ],
            index=frame.index,
            dtype=object,
        )
    return out


def build_preprocessor(features: FeatureSet, spec: PreprocessingSpec) -> ColumnTransformer:
    """The ``ColumnTransformer`` for ``features`` with the steps ``spec`` asks for.

    The output is dense (``sparse_output=False``, ``sparse_threshold=0``) so every
    estimator, including histogram gradient boosting, can take it.
    """
    parts: list[tuple[str, object, object]] = []
    if features.numeric:
        parts.append(("num", _numeric_steps(features.numeric, spec), features.numeric))
    if features.categorical:
        parts.append(("cat", _categorical_steps(spec), features.categorical))
    if features.ordinal:
        categories = [[canonical_category(v) for v in order] for order in features.ordinal.values()]
        encoder = OrdinalEncoder(
            categories=categories, handle_unknown="use_encoded_value", unknown_value=-1
        )
        parts.append(
            (
                "ord",
                Pipeline([("strings", AsCategories()), ("encode", encoder)]),
                list(features.ordinal),
            )
        )
    for column in features.text:
        tfidf = TfidfVectorizer(
            max_features=spec.text.max_features,
            ngram_range=(1, spec.text.ngram_max),
            min_df=spec.text.min_df,
            sublinear_tf=True,
            stop_words="english",
        )
        parts.append(
            (f"text_{column}", Pipeline([("select", TextColumn()), ("tfidf", tfidf)]), [column])
        )
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0)


def _numeric_steps(columns: list[str], spec: PreprocessingSpec) -> Pipeline:
    # keep_empty_features: a column with no value in the training rows stays (as 0), so the
    # positions given to SkewLogTransformer and the output columns do not shift.
    imputer = SimpleImputer(strategy=spec.impute_numeric, keep_empty_features=True)
    steps: list[tuple[str, object]] = [("impute", imputer)]
    if spec.cap_outliers is not None:
        steps.append(
            ("cap", OutlierCapper(lower=spec.cap_outliers.lower, upper=spec.cap_outliers.upper))
        )
    if spec.log_transform == "auto":
        steps.append(("log", SkewLogTransformer(threshold=spec.skew_threshold)))
    elif isinstance(spec.log_transform, list):
        unknown = [c for c in spec.log_transform if c not in columns]
        if unknown:
            raise DataError(
                f"preprocessing.log_transform: {unknown} are not numeric features; "
                f"numeric features are: {', '.join(columns)}",
                field="preprocessing.log_transform",
            )
        positions = [columns.index(c) for c in spec.log_transform]
        steps.append(("log", SkewLogTransformer(columns=positions)))
    scaler = {"standard": StandardScaler, "robust": RobustScaler, "minmax": MinMaxScaler}.get(
        spec.scaling
    )
    if scaler is not None:
        steps.append(("scale", scaler()))
    return Pipeline(steps)


def _categorical_steps(spec: PreprocessingSpec) -> Pipeline:
    rare = spec.rare_min_frequency or None
    if spec.encoding == "onehot":
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist", min_frequency=rare, sparse_output=False
        )
    else:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, min_frequency=rare
        )
    return Pipeline([("strings", AsCategories()), ("encode", encoder)])
