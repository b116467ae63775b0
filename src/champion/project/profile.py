"""The reference profile: a compact summary of the training data, logged with each run.

Monitoring compares live traffic with it (:mod:`champion.monitoring.drift`), and the
serving page takes input ranges and category lists from it. It is plain JSON::

    {"version": 2, "rows": 812, "features": {
        "hp":    {"kind": "numeric", "count", "missing", "mean", "std", "min", "max",
                  "integer", "quantiles": {"0.01": ..},
                  "histogram": {"edges": [...], "counts": [...]},
                  "finite": 809, "distinct": 94,
                  "sample": "1 5 5 10 ...", "sample_size": 809,
                  "value_counts": null},
        "color": {"kind": "categorical", "count", "missing", "frequencies": {"red": 0.12, ..},
                  "other_share", "missing_label", "counts": {"red": 97, ..}, "other_count"},
        "flavor_text": {"kind": "text", "count", "missing", "vocabulary": {"fire": 0.05, ..},
                  "length": {...a numeric summary of words per document...},
                  "tokens": 40211, "oov_share": 0.07}},
     "prediction": {...same as a feature...}}

What version 2 adds, and why (version 1 has only the summaries):

- numeric ``sample``: a seeded random sample of up to :data:`SAMPLE_SIZE` finite values,
  sorted, as one space-separated string (a JSON list would take a line per number in
  the indented artifact). The Kolmogorov–Smirnov test and the Wasserstein distance need
  values, not a histogram; a sample keeps the profile to tens of KB per feature whatever
  the training size, and 5,000 values estimate both statistics far inside their drift
  thresholds. Values are rounded to a thousandth to a hundredth of the column's standard
  deviation (shorter text, the same statistics). When the training data has no more
  finite values than that, the sample is all of them.
- numeric ``value_counts``: exact counts when the column has at most
  :data:`VALUE_COUNTS_MAX` distinct values, for the tests of low-cardinality columns;
  such a column has no sample (``""``), the counts stand for it. ``finite`` counts the
  finite values (the reference size the tests use), ``distinct`` the distinct ones.
- categorical ``counts``: counts of the top categories (missing included, under
  ``missing_label``) and ``other_count`` for the rest: chi-square needs counts, not
  shares.
- text ``tokens`` and ``oov_share``: the out-of-vocabulary share of unseen text from the
  training data itself (split-half: a vocabulary built from even documents, measured on
  odd ones), the baseline for the live out-of-vocabulary share.

``PROFILE_VERSION`` says which of these a logged profile has; monitoring still reads
version 1 profiles, approximately (see :mod:`champion.monitoring.profile_v1`).
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pandas as pd

from champion.project.categories import MISSING
from champion.project.features import FeatureSet
from champion.project.transformers import AsCategories

PROFILE_VERSION = 2
QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
HISTOGRAM_BINS = 20
TOP_CATEGORIES = 200
TOP_TOKENS = 2000
SAMPLE_SIZE = 5000
VALUE_COUNTS_MAX = 20
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # TfidfVectorizer's default token pattern


def build_profile(
    frame: pd.DataFrame, features: FeatureSet, predictions=None, *, seed: int = 0
) -> dict:
    """Summarise every feature column of ``frame`` (and the model's predictions).

    ``seed`` fixes the numeric samples, so the same data gives the same profile.
    """
    profile = {
        "version": PROFILE_VERSION,
        "rows": len(frame),
        "features": {
            c: summarise(frame[c], features.kind_of(c), seed=seed) for c in features.columns
        },
    }
    if predictions is not None:
        values = prediction_series(predictions)
        numeric = pd.api.types.is_float_dtype(values)
        kind = "numeric" if numeric else "categorical"
        profile["prediction"] = summarise(values, kind, seed=seed)
    return profile


def prediction_series(predictions) -> pd.Series:
    """Predictions as one value per row: numbers, labels, or (multilabel) a list per row.

    Monitoring turns logged predictions into the same form before comparing them.
    """
    return pd.Series(np.asarray(predictions).tolist())


def summarise(values: pd.Series, kind: str, *, seed: int = 0) -> dict:
    """One column's summary for ``kind`` (numeric, categorical, ordinal, text)."""
    base = {"kind": kind, "count": int(values.notna().sum()), "missing": int(values.isna().sum())}
    if kind == "numeric":
        return base | numeric_summary(pd.to_numeric(values, errors="coerce"), seed=seed)
    if kind == "text":
        return base | text_summary(values, seed=seed)
    return base | categorical_summary(values)


def categorical_summary(values: pd.Series) -> dict:
    """Shares and counts of the :data:`TOP_CATEGORIES` most frequent categories.

    Categories are compared as :class:`AsCategories` spells them (``1``, ``1.0`` and
    ``"1"`` are one category; missing is the category ``missing_label``).
    """
    strings = AsCategories().fit_transform(values.to_frame())[:, 0]
    counts = pd.Series(strings).value_counts()
    top = counts.head(TOP_CATEGORIES)
    total = max(int(counts.sum()), 1)
    return {
        "frequencies": {str(k): float(v / total) for k, v in top.items()},
        "other_share": float(1 - top.sum() / total),
        "missing_label": MISSING,
        "counts": {str(k): int(v) for k, v in top.items()},
        "other_count": int(counts.sum() - top.sum()),
    }


def numeric_summary(values: pd.Series, *, seed: int = 0) -> dict:
    """Summary statistics, quantiles, a 20-bin quantile histogram and a sorted sample."""
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
            "finite": 0,
            "distinct": 0,
            "sample": "",
            "sample_size": 0,
            "value_counts": None,
        }
    edges = np.unique(np.quantile(present, np.linspace(0, 1, HISTOGRAM_BINS + 1)))
    if edges.size < 2:
        edges = np.array([present[0] - 0.5, present[0] + 0.5])
    counts, _ = np.histogram(present, bins=edges)
    distinct, distinct_counts = np.unique(present, return_counts=True)
    integer = bool(np.all(np.mod(present, 1) == 0))
    std = float(present.std())
    low_cardinality = distinct.size <= VALUE_COUNTS_MAX
    # Exact counts say more than a sample, in less space: no sample beside them.
    sample = np.empty(0) if low_cardinality else sample_values(present, seed=seed)
    return {
        "mean": float(present.mean()),
        "std": std,
        "min": float(present.min()),
        "max": float(present.max()),
        "integer": integer,
        "quantiles": {str(q): float(np.quantile(present, q)) for q in QUANTILES},
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
        "finite": int(present.size),
        "distinct": int(distinct.size),
        "sample": encode_sample(sample, std=std, integer=integer),
        "sample_size": int(sample.size),
        "value_counts": (
            {"values": distinct.tolist(), "counts": distinct_counts.tolist()}
            if low_cardinality
            else None
        ),
    }


def sample_values(present: np.ndarray, *, seed: int = 0, size: int = SAMPLE_SIZE) -> np.ndarray:
    """Up to ``size`` of ``present``, drawn without replacement with ``seed``, sorted."""
    if present.size > size:
        present = np.random.default_rng(seed).choice(present, size=size, replace=False)
    return np.sort(present)


def encode_sample(sample: np.ndarray, *, std: float, integer: bool) -> str:
    """The sorted sample as space-separated numbers (see the module docstring).

    Rounding to a step of 10^(floor(log10(std)) - 2), between a thousandth and a
    hundredth of a standard deviation, moves the normalised Wasserstein distance by at
    most 0.005 and keeps each number to a few characters.
    """
    if sample.size == 0:
        return ""
    if integer:
        return " ".join(str(int(v)) for v in sample)
    if std > 0:
        step = 10.0 ** (math.floor(math.log10(std)) - 2)
        sample = np.round(sample / step) * step
        # Enough significant digits to keep the rounded value, never more than a float has.
        top = float(np.max(np.abs(sample)))
        digits = math.floor(math.log10(top)) - math.floor(math.log10(step)) + 1 if top else 1
        fmt = f"{{:.{min(max(digits, 1), 17)}g}}"
        return " ".join(fmt.format(v) for v in sample)
    return " ".join(repr(float(v)) for v in sample)


def decode_sample(text: str) -> np.ndarray:
    """The sample :func:`encode_sample` wrote, as a sorted float array."""
    return np.array(text.split(), dtype=float) if text else np.empty(0)


def tokenize(text: str) -> list[str]:
    """The words of ``text`` as the profile counts them: lower case, TF-IDF's token rule."""
    return _TOKEN.findall(text.lower())


def text_summary(values: pd.Series, *, seed: int = 0) -> dict:
    """Document frequency of the top :data:`TOP_TOKENS` words, words per document, and
    the out-of-vocabulary baseline (see the module docstring)."""
    texts = values.dropna().astype(str)
    tokens = texts.map(tokenize)
    doc_freq = pd.Series([t for row in tokens for t in set(row)]).value_counts()
    n_docs = max(len(texts), 1)
    return {
        "vocabulary": {str(k): float(v / n_docs) for k, v in doc_freq.head(TOP_TOKENS).items()},
        "length": numeric_summary(tokens.map(len).astype(float), seed=seed),
        "tokens": int(tokens.map(len).sum()),
        "oov_share": _split_half_oov(list(tokens)),
    }


def _split_half_oov(tokens: list[list[str]]) -> float:
    """Share of the odd documents' words outside a vocabulary built like the profile's
    (top :data:`TOP_TOKENS` by document frequency) from the even documents.

    The in-sample share would be 0 whenever the vocabulary keeps every word, while any
    new text has words the training data never used; half the data gives a vocabulary
    a little smaller than the full one, so the baseline errs on the high side (fewer
    false alarms).
    """
    even, odd = tokens[0::2], tokens[1::2]
    if not even or not odd:
        return 0.0
    doc_freq = Counter(t for row in even for t in set(row))
    vocabulary = {t for t, _ in doc_freq.most_common(TOP_TOKENS)}
    total = sum(len(row) for row in odd)
    if total == 0:
        return 0.0
    outside = sum(1 for row in odd for t in row if t not in vocabulary)
    return float(outside / total)
