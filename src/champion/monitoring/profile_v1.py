"""Version-1 reference profiles, read as version 2 so drift deals with one shape.

Version 1 (:mod:`champion.project.profile`) logged summaries only: quantiles, a
histogram and category shares. Version 2 adds what the tests need (a numeric sample,
exact value counts, category counts, a text out-of-vocabulary baseline).
:func:`as_version_2` fills in what a summary lacks, approximately:

    version-2 field             rebuilt from (version 1)
    numeric ``finite``          ``count``, else the histogram's counts (text lengths)
    numeric ``sample``          evenly spaced quantiles of the function the quantiles
                                and histogram describe (:func:`approximate_sample`)
    numeric ``value_counts``    that sample's distinct values, when at most
      and ``distinct``          ``VALUE_COUNTS_MAX`` (the sample is then ``""``)
    categorical ``counts``      shares times rows, missing under ``MISSING``
      and ``other_count``
    text ``oov_share``          0: version 1 had no baseline

Summaries that have the version-2 fields pass through unchanged, so a version-2
profile comes back as it is (a new dict; the input is never changed). The caller
says the reference is approximate (:data:`APPROXIMATE_NOTE`).

Imports :mod:`champion.project.profile` and :mod:`champion.project.categories` only.
"""

from __future__ import annotations

import numpy as np

from champion.project.categories import MISSING
from champion.project.profile import SAMPLE_SIZE, VALUE_COUNTS_MAX

APPROXIMATE_NOTE = (
    "reference profile version {version}: numeric samples rebuilt from quantiles "
    "and category counts from shares, so the tests are approximate; retrain to "
    "log a version-2 profile"
)


def as_version_2(profile: dict) -> dict:
    """The profile with every feature and prediction summary in the version-2 shape.

    Which summary is which is read from its fields, not its ``kind``: category
    ``frequencies``, a text ``vocabulary``, numeric ``quantiles`` or ``histogram``.
    """
    upgraded = dict(profile)
    upgraded["features"] = {
        name: _summary(summary) for name, summary in (profile.get("features") or {}).items()
    }
    if profile.get("prediction") is not None:
        upgraded["prediction"] = _summary(profile["prediction"])
    return upgraded


def approximate_sample(summary: dict, size: int = SAMPLE_SIZE) -> np.ndarray:
    """A sorted sample drawn evenly from the quantile function that a version-1
    summary's quantiles and histogram describe (linear between known points).

    Integer columns are rounded back to integers. Shapes between the known points are
    lost, so tests on it are approximate; the report says so.
    """
    points: list[tuple[float, float]] = [
        (float(q), float(v)) for q, v in (summary.get("quantiles") or {}).items()
    ]
    histogram = summary.get("histogram") or {}
    counts = np.asarray(histogram.get("counts") or [], dtype=float)
    if counts.sum() > 0:
        cumulative = np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])
        points += list(zip(cumulative.tolist(), histogram["edges"], strict=True))
    if not points:
        return np.empty(0)
    points.sort()
    probs = np.array([p for p, _ in points])
    values = np.maximum.accumulate(np.array([v for _, v in points]))
    probs, last = np.unique(probs[::-1], return_index=True)  # keep the largest value per prob
    values = values[::-1][last]
    n = int(min(size, max(present_count(summary), 1)))
    sample = np.interp((np.arange(n) + 0.5) / n, probs, values)
    return np.round(sample) if summary.get("integer") else sample


def present_count(summary: dict) -> int:
    """How many finite values a numeric summary describes. A version-1 text length
    summary has no count of its own: its histogram counts every value."""
    for key in ("finite", "count"):
        if summary.get(key) is not None:
            return int(summary[key])
    histogram = summary.get("histogram") or {}
    return int(sum(histogram.get("counts") or []))


def _summary(summary: dict) -> dict:
    if "frequencies" in summary:
        return _categorical(summary)
    if "vocabulary" in summary:
        return _text(summary)
    if "quantiles" in summary or "histogram" in summary:
        return _numeric(summary)
    return summary


def _numeric(summary: dict) -> dict:
    if summary.get("finite") is not None and (summary.get("value_counts") or summary.get("sample")):
        return summary
    out = dict(summary, finite=present_count(summary))
    if out.get("value_counts") or out.get("sample"):
        return out
    sample = approximate_sample(summary)
    values, counts = np.unique(sample, return_counts=True)
    if out.get("distinct") is None:
        out["distinct"] = int(values.size)
    if 0 < values.size <= VALUE_COUNTS_MAX:
        # Version 2's shape for few distinct values: exact counts stand for the sample.
        out["value_counts"] = {"values": values.tolist(), "counts": counts.tolist()}
        out["sample"] = ""
    else:
        # repr() round-trips every float exactly; the profile's own encoding rounds.
        out["value_counts"] = None
        out["sample"] = " ".join(repr(v) for v in sample.tolist())
    out["sample_size"] = int(sample.size)
    return out


def _categorical(summary: dict) -> dict:
    if "counts" in summary:
        return summary
    total = int(summary.get("count") or 0) + int(summary.get("missing") or 0)
    counts = {str(k): float(v) * total for k, v in (summary.get("frequencies") or {}).items()}
    missing_label = summary.get("missing_label", MISSING)
    if missing_label in counts:
        counts[MISSING] = counts.pop(missing_label)
    other_count = float(summary.get("other_share") or 0.0) * total
    return dict(summary, counts=counts, other_count=other_count, missing_label=MISSING)


def _text(summary: dict) -> dict:
    out = dict(summary)
    if summary.get("length"):
        out["length"] = _numeric(summary["length"])
    if out.get("oov_share") is None:
        out["oov_share"] = 0.0
    return out
