"""The reference profile: a compact summary of the training data, logged with each run.

Monitoring compares live traffic with it, and the serving page takes input ranges and
category lists from it. It is plain JSON::

    {"version": 1, "rows": 812, "features": {
        "hp":    {"kind": "numeric", "count", "missing", "mean", "std", "min", "max",
                  "quantiles": {"0.01": ..}, "histogram": {"edges": [...], "counts": [...]}},
        "color": {"kind": "categorical", "count", "missing", "frequencies": {"red": 0.12, ..}},
        "flavor_text": {"kind": "text", "count", "missing", "vocabulary": {"fire": 0.05, ..},
                  "length": {"quantiles": .., "histogram": ..}}},
     "prediction": {...same as a feature...}}
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from champion.features import FeatureSet
from champion.transformers import MISSING, AsCategories

PROFILE_VERSION = 1
QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
HISTOGRAM_BINS = 20
TOP_CATEGORIES = 200
TOP_TOKENS = 2000
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # TfidfVectorizer's default token pattern


def build_profile(frame: pd.DataFrame, features: FeatureSet, predictions=None) -> dict:
    """Summarise every feature column of ``frame`` (and the model's predictions)."""
    profile = {
        "version": PROFILE_VERSION,
        "rows": len(frame),
        "features": {c: summarise(frame[c], features.kind_of(c)) for c in features.columns},
    }
    if predictions is not None:
        predictions = pd.Series(np.asarray(predictions).tolist())
        numeric = pd.api.types.is_float_dtype(predictions)
        profile["prediction"] = summarise(predictions, "numeric" if numeric else "categorical")
    return profile


def summarise(values: pd.Series, kind: str) -> dict:
    """One column's summary for ``kind`` (numeric, categorical, ordinal, text)."""
    base = {"kind": kind, "count": int(values.notna().sum()), "missing": int(values.isna().sum())}
    if kind == "numeric":
        return base | numeric_summary(pd.to_numeric(values, errors="coerce"))
    if kind == "text":
        return base | text_summary(values)
    strings = AsCategories().fit_transform(values.to_frame())[:, 0]
    freq = pd.Series(strings).value_counts(normalize=True)
    top = freq.head(TOP_CATEGORIES)
    return base | {
        "frequencies": {str(k): float(v) for k, v in top.items()},
        "other_share": float(1 - top.sum()),
        "missing_label": MISSING,
    }


def numeric_summary(values: pd.Series) -> dict:
    present = values.dropna().to_numpy(dtype=float)
    # Infinities would turn the statistics into NaN, which is not JSON.
    present = present[np.isfinite(present)]
    if present.size == 0:
        return {
            "mean": None,
            "std": None,
            "min": None,
            "max": None,
            "integer": None,
            "quantiles": {},
            "histogram": None,
        }
    edges = np.unique(np.quantile(present, np.linspace(0, 1, HISTOGRAM_BINS + 1)))
    if edges.size < 2:
        edges = np.array([present[0] - 0.5, present[0] + 0.5])
    counts, _ = np.histogram(present, bins=edges)
    return {
        "mean": float(present.mean()),
        "std": float(present.std()),
        "min": float(present.min()),
        "max": float(present.max()),
        "integer": bool(np.all(np.mod(present, 1) == 0)),
        "quantiles": {str(q): float(np.quantile(present, q)) for q in QUANTILES},
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
    }


def text_summary(values: pd.Series) -> dict:
    texts = values.dropna().astype(str)
    tokens = texts.str.lower().map(_TOKEN.findall)
    doc_freq = pd.Series([t for row in tokens for t in set(row)]).value_counts()
    n_docs = max(len(texts), 1)
    return {
        "vocabulary": {str(k): float(v / n_docs) for k, v in doc_freq.head(TOP_TOKENS).items()},
        "length": numeric_summary(tokens.map(len).astype(float)),
    }
