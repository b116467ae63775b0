"""The statistical tests of drift: pure functions of plain inputs, and one registry.

Each function takes NumPy arrays (a sorted reference sample and a sorted current
sample, or two count vectors over the same categories) and returns a finite number:
a statistic, a p-value, or both. None of them knows a profile, a policy or a verdict;
:mod:`champion.monitoring.drift` reads the profile, picks a test from :data:`STATTESTS`
and turns its score into a verdict. Imports NumPy and SciPy only, no champion module.

The registry, by the names the project file's ``monitoring.drift.numeric_test`` and
``categorical_test`` use (Evidently's ``stattest`` names; ``z`` is picked by ``auto``
only)::

    name           kind         score                                   drift when
    ks             numeric      Kolmogorov–Smirnov two-sided p-value    score <= ks_pvalue
    wasserstein    numeric      Wasserstein distance / reference std    score >= wasserstein
    psi            numeric      PSI on the reference's quantile bins    score >= psi
    chisquare      categorical  chi-square p-value                      score < chisquare_pvalue
    z              categorical  two-proportion z-test p-value           score < chisquare_pvalue
    jensenshannon  categorical  Jensen–Shannon distance (natural log)   score >= jensenshannon

KS drifts at ``p <= threshold`` and chi-square and z at ``p < threshold``, as in Evidently.

Degenerate inputs give a defined number, never NaN: chi-square and z on one category
give p = 1, a category the reference never had gives chi-square p = 0, PSI fills empty
bins with a small share, a constant reference normalises Wasserstein by
:data:`NORM_FLOOR`, empty inputs give 0 (a distance or share) or 1 (a p-value).
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from scipy import special, stats

KS_EXACT_MAX = 10_000  # SciPy's ks_2samp is exact up to this many values per side
NORM_FLOOR = 0.001  # Evidently's floor for the Wasserstein normaliser (constant reference)
MIN_EXPECTED = 5  # Cochran's rule: the chi-square approximation needs 5 expected per cell


class Score(NamedTuple):
    """What a registered test returns.

    Attributes:
        score: the number the threshold is compared with (the p-value of a p-value test).
        statistic: the test's statistic (KS D, the raw Wasserstein distance, the distance
            itself for a distance).
        pvalue: the p-value, or None for a distance.
    """

    score: float
    statistic: float
    pvalue: float | None = None


@dataclass(frozen=True)
class NumericReference:
    """What the numeric tests compare a current sample with.

    Attributes:
        sample: sorted finite reference values (a sample of them, or all).
        std: the standard deviation of every reference value (normalises Wasserstein).
        bin_edges: PSI's bins, ascending (the reference's quantile edges); the outer
            bins are open-ended.
        bin_counts: every reference value's count per bin.
    """

    sample: np.ndarray
    std: float
    bin_edges: np.ndarray
    bin_counts: np.ndarray


# --------------------------------------------------------------------------- numeric


def ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov statistic and two-sided p-value, as SciPy's
    ``ks_2samp`` gives them; both arrays sorted, finite and non-empty.

    For up to :data:`KS_EXACT_MAX` values per side this is ``ks_2samp`` itself. For
    more, the statistic is computed exactly from the reference values (the largest
    gap between the two CDFs is at a reference value or just before one) and the
    p-value with SciPy's asymptotic formula, ``kstwo.sf(D, round(m*n/(m+n)))``.
    An empty side gives ``(0.0, 1.0)``: no evidence of a difference.
    """
    m, n = reference.size, current.size
    if m == 0 or n == 0:
        return 0.0, 1.0
    if max(m, n) <= KS_EXACT_MAX:
        with warnings.catch_warnings():
            # "Exact calculation unsuccessful. Switching to method=asymp": SciPy's own
            # fallback, the same number Evidently gets; not the caller's problem.
            warnings.simplefilter("ignore", RuntimeWarning)
            result = stats.ks_2samp(reference, current)
        return float(result.statistic), _probability(result.pvalue)
    points = np.unique(reference)
    f_ref = np.searchsorted(reference, points, side="right") / m
    f_at = np.searchsorted(current, points, side="right") / n
    f_before = np.searchsorted(current, points, side="left") / n
    d = max(
        float(f_before[0]),  # below the smallest reference value the reference CDF is 0
        float(np.max(np.abs(f_ref - f_at))),
        float(np.max(np.abs(f_ref[:-1] - f_before[1:]))) if points.size > 1 else 0.0,
    )
    big, small = max(m, n), min(m, n)
    en = big * small / (big + small)
    return d, _probability(stats.kstwo.sf(d, np.round(en)))


def wasserstein_sorted(a: np.ndarray, b: np.ndarray) -> float:
    """The first Wasserstein distance between the empirical distributions of two sorted
    arrays: the area between their quantile functions, exactly (SciPy's
    ``wasserstein_distance`` gives the same number). An empty side gives 0.

    On a grid of ``m*n`` quantile steps, the smaller array's value ``a[i]`` covers
    ``(i*n, (i+1)*n]`` and the larger one's ``b[k]`` covers ``(k*m, (k+1)*m]``. For each
    ``a[i]`` the ``b`` values it faces are a contiguous run, whole except at its two
    ends; the sum of ``|a[i] - b[k]|`` over the run comes from prefix sums of ``b``
    split where ``b`` passes ``a[i]``. So the cost is one cumulative sum over ``b``
    plus work on ``a``'s length, whatever the size of ``b``.
    """
    if a.size > b.size:
        a, b = b, a
    m, n = a.size, b.size
    if m == 0:
        return 0.0
    # Centre both on a's median: the prefix sums then stay small and exact enough
    # even for large values with a small spread.
    centre = a[m // 2]
    a = a - centre
    b = b - centre
    prefix = np.concatenate([[0.0], np.cumsum(b)])
    i = np.arange(m, dtype=np.int64)
    first = (i * n) // m  # the first b index facing a[i]
    last = ((i + 1) * n - 1) // m  # the last one
    split = np.clip(np.searchsorted(b, a, side="left"), first, last + 1)  # b < a[i] before
    run = (
        (split - first) * a
        - (prefix[split] - prefix[first])
        + (prefix[last + 1] - prefix[split])
        - (last + 1 - split) * a
    )
    # The run's two end values face a[i] over only part of their m steps.
    first_overlap = np.minimum((first + 1) * m, (i + 1) * n) - i * n
    last_overlap = (i + 1) * n - np.maximum(last * m, i * n)
    total = (
        m * run
        - (m - first_overlap) * np.abs(a - b[first])
        - np.where(last > first, (m - last_overlap) * np.abs(a - b[last]), 0.0)
    )
    return max(float(np.sum(total)) / (m * n), 0.0)


def normalised_wasserstein(distance: float, reference_std: float) -> float:
    """The Wasserstein distance in reference standard deviations; a constant reference
    is normalised by :data:`NORM_FLOOR` instead, as Evidently does."""
    return distance / max(reference_std, NORM_FLOOR)


def population_stability_index(
    reference_counts: Sequence[float] | np.ndarray, current_counts: Sequence[float] | np.ndarray
) -> float:
    """PSI = sum over bins of (current share - reference share) * ln(current / reference).

    Empty bins get Evidently's small share (0.0001, or a millionth of the smallest
    non-empty share when that is smaller), so one empty bin does not make it infinite.
    0.1 is the usual threshold of a moderate shift, 0.25 of a significant one. An
    empty side gives 0.
    """
    reference = np.asarray(reference_counts, dtype=float)
    current = np.asarray(current_counts, dtype=float)
    if reference.sum() == 0 or current.sum() == 0:
        return 0.0
    reference = _fill_zeros(reference)
    current = _fill_zeros(current)
    return float(np.sum((reference - current) * np.log(reference / current)))


def binned_psi(bin_edges: np.ndarray, reference_counts: np.ndarray, current: np.ndarray) -> float:
    """PSI of a sorted current sample on the reference's bins (edges and counts).

    The outer bins are open-ended: a current value beyond the reference range falls in
    the first or last bin, not out of the test. Fewer than two edges, or no reference
    counts, give 0.
    """
    edges = np.asarray(bin_edges, dtype=float)
    counts = np.asarray(reference_counts, dtype=float)
    if edges.size < 2 or counts.sum() == 0:
        return 0.0
    # np.histogram's bins are [e0, e1), [e1, e2), ...: a value equal to an inner edge
    # belongs to the bin on its right.
    below = np.searchsorted(current, edges[1:-1], side="left")
    current_counts = np.diff(np.concatenate([[0], below, [current.size]]))
    return population_stability_index(counts, current_counts)


def _fill_zeros(counts: np.ndarray) -> np.ndarray:
    shares = counts / counts.sum()
    smallest = shares[shares > 0].min()
    shares[shares == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return shares


# --------------------------------------------------------------------------- categorical


def chisquare_test(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Evidently's chi-square p-value: current counts against the reference counts
    scaled to the current total. A category the reference never had gives p = 0;
    one category, or an empty side, gives p = 1."""
    if reference_counts.size < 2 or reference_counts.sum() == 0 or current_counts.sum() == 0:
        return 1.0
    expected = reference_counts * (current_counts.sum() / reference_counts.sum())
    if np.any((expected == 0) & (current_counts > 0)):
        return 0.0
    used = expected > 0
    statistic = float(np.sum((current_counts[used] - expected[used]) ** 2 / expected[used]))
    return _probability(stats.chi2.sf(statistic, reference_counts.size - 1))


def contingency_chisquare(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Two-sample chi-square p-value: are the two count vectors draws from one
    distribution? Unlike :func:`chisquare_test`, which takes the reference shares as
    exact, both sides are samples here, so a small reference does not inflate false
    alarms. Categories whose expected count (on either side) is under
    :data:`MIN_EXPECTED` are pooled, rarest first, so the chi-square approximation
    holds on small windows. Fewer than two categories left, or an empty side, give 1.
    """
    reference = np.asarray(reference_counts, dtype=float)
    current = np.asarray(current_counts, dtype=float)
    total = reference + current
    keep = total > 0
    reference, current, total = reference[keep], current[keep], total[keep]
    n_ref, n_cur = reference.sum(), current.sum()
    if reference.size < 2 or n_ref == 0 or n_cur == 0:
        return 1.0
    smaller = min(n_ref, n_cur) / (n_ref + n_cur)  # expected = total * smaller, at least
    order = np.argsort(total, kind="stable")
    cells: list[tuple[float, float]] = []
    pooled = [0.0, 0.0]
    for i in order:
        if total[i] * smaller < MIN_EXPECTED:  # ascending: the small cells come first
            pooled = [pooled[0] + reference[i], pooled[1] + current[i]]
        else:
            cells.append((reference[i], current[i]))
    if pooled[0] + pooled[1] > 0:
        if (pooled[0] + pooled[1]) * smaller < MIN_EXPECTED and cells:
            first = cells.pop(0)  # the smallest cell left takes the remainder
            pooled = [pooled[0] + first[0], pooled[1] + first[1]]
        cells.append((pooled[0], pooled[1]))
    if len(cells) < 2:
        return 1.0
    table = np.array(cells, dtype=float).T
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return _probability(stats.chi2.sf(statistic, len(cells) - 1))


def auc_pvalue(auc: float, n_reference: int, n_current: int) -> float:
    """One-sided p-value of a ROC AUC above 0.5 for a classifier that cannot tell the
    sides apart: the AUC is then the Mann–Whitney statistic over ``n_reference * n_current``
    pairs, about normal with mean 0.5 and variance ``(n1 + n2 + 1) / (12 n1 n2)``."""
    if n_reference <= 0 or n_current <= 0:
        return 1.0
    spread = math.sqrt((n_reference + n_current + 1) / (12 * n_reference * n_current))
    return _probability(stats.norm.sf((auc - 0.5) / spread))


def adjust_pvalues(pvalues: Sequence[float], method: str) -> list[float]:
    """P-values adjusted for testing them all at once: ``benjamini-hochberg`` (the
    false discovery rate; any one adjusted p-value <= alpha happens under no drift at
    all with probability at most alpha, for independent or positively dependent
    tests), ``bonferroni`` (times the number of tests; the same guarantee for any
    dependence, less power), or ``none``. Same order as given; each in [0, 1]."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0 or method == "none":
        return [float(v) for v in p]
    if method == "bonferroni":
        return [min(float(v) * m, 1.0) for v in p]
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]  # step-up: monotone from the top
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(ranked, 1.0)
    return [float(v) for v in adjusted]


def z_test(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Evidently's two-proportion z-test p-value on the share of the first category,
    for columns of at most two categories (in sorted order, as Evidently sorts them).
    The same single category on both sides, or an empty side, gives p = 1."""
    n1, n2 = reference_counts.sum(), current_counts.sum()
    if n1 == 0 or n2 == 0:
        return 1.0
    ref_present = reference_counts > 0
    cur_present = current_counts > 0
    if ref_present.sum() == 1 and cur_present.sum() == 1 and np.all(ref_present == cur_present):
        return 1.0
    # Evidently marks a row 0 when it is the first key, 1 otherwise.
    p1 = 1 - reference_counts[0] / n1
    p2 = 1 - current_counts[0] / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 1.0
    z = (p1 - p2) / spread
    return _probability(2 * (1 - stats.norm.cdf(abs(z))))


def jensenshannon_distance(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Jensen–Shannon distance (natural log, so between 0 and sqrt(ln 2) = 0.83) of the
    two count vectors' shares; SciPy's ``jensenshannon`` gives the same number. An
    empty side gives 0."""
    if reference_counts.sum() == 0 or current_counts.sum() == 0:
        return 0.0
    p = reference_counts / reference_counts.sum()
    q = current_counts / current_counts.sum()
    m = (p + q) / 2
    divergence = (np.sum(special.rel_entr(p, m)) + np.sum(special.rel_entr(q, m))) / 2
    return float(math.sqrt(max(float(divergence), 0.0)))


def unseen_share(
    reference_counts: Mapping[str, float], current_counts: Mapping[str, float], other: float = 0.0
) -> float:
    """The share of current values whose category the reference does not list, less
    the reference's own share of unlisted categories (``other``: the count of those a
    profile pooled as "other"), never below 0. An empty side gives 0."""
    current_n = sum(current_counts.values())
    reference_n = sum(reference_counts.values()) + other
    if current_n == 0 or reference_n == 0:
        return 0.0
    outside = sum(v for k, v in current_counts.items() if k not in reference_counts)
    return max(outside / current_n - other / reference_n, 0.0)


# --------------------------------------------------------------------------- text


def oov_share(documents: Sequence[Sequence[str]], vocabulary: Collection[str]) -> float:
    """The share of the documents' words (tokens, repeats counted) outside
    ``vocabulary``; no words at all give 0."""
    total = sum(len(words) for words in documents)
    if total == 0:
        return 0.0
    outside = sum(1 for words in documents for w in words if w not in vocabulary)
    return outside / total


# --------------------------------------------------------------------------- registry


def _ks(reference: NumericReference, current: np.ndarray) -> Score:
    d, p = ks_test(reference.sample, current)
    return Score(p, d, p)


def _wasserstein(reference: NumericReference, current: np.ndarray) -> Score:
    distance = wasserstein_sorted(reference.sample, current)
    return Score(normalised_wasserstein(distance, reference.std), distance)


def _psi(reference: NumericReference, current: np.ndarray) -> Score:
    value = binned_psi(reference.bin_edges, reference.bin_counts, current)
    return Score(value, value)


def _chisquare(reference_counts: np.ndarray, current_counts: np.ndarray) -> Score:
    p = chisquare_test(reference_counts, current_counts)
    return Score(p, p, p)


def _z(reference_counts: np.ndarray, current_counts: np.ndarray) -> Score:
    p = z_test(reference_counts, current_counts)
    return Score(p, p, p)


def _jensenshannon(reference_counts: np.ndarray, current_counts: np.ndarray) -> Score:
    value = jensenshannon_distance(reference_counts, current_counts)
    return Score(value, value)


_COMPARE = {"<=": operator.le, "<": operator.lt, ">=": operator.ge}


@dataclass(frozen=True)
class StatTest:
    """One registered test.

    Attributes:
        name: the project file's and Evidently's name for it.
        kind: ``numeric``: ``compute(reference: NumericReference, current)`` with
            ``current`` sorted and finite; ``categorical``: ``compute(reference_counts,
            current_counts)``, two count vectors over the same categories.
        compute: the function; returns a :class:`Score`.
        drift_when: how ``score`` compares with the threshold when it drifts.
        threshold_field: the field of the policy
            (:class:`~champion.project.spec.DriftSpec`) that holds the threshold.
        label: how the score reads in a sentence (``{score}`` and ``{statistic}``).
    """

    name: str
    kind: Literal["numeric", "categorical"]
    compute: Callable[..., Score]
    drift_when: Literal["<=", "<", ">="]
    threshold_field: str
    label: str

    @property
    def is_pvalue(self) -> bool:
        """A p-value test: small scores drift."""
        return self.drift_when in ("<=", "<")

    def drifted(self, score: float, threshold: float) -> bool:
        """The verdict of ``score`` against ``threshold``."""
        return bool(_COMPARE[self.drift_when](score, threshold))

    def describe(self, result: Score) -> str:
        """The score in words, e.g. ``KS p-value 0.0123 (D=0.114)``."""
        return self.label.format(score=result.score, statistic=result.statistic)


STATTESTS: dict[str, StatTest] = {
    test.name: test
    for test in (
        StatTest("ks", "numeric", _ks, "<=", "ks_pvalue",
                 "KS p-value {score:.3g} (D={statistic:.3f})"),
        StatTest("wasserstein", "numeric", _wasserstein, ">=", "wasserstein",
                 "Wasserstein {score:.3f} sd"),
        StatTest("psi", "numeric", _psi, ">=", "psi",
                 "PSI {score:.3f}"),
        StatTest("chisquare", "categorical", _chisquare, "<", "chisquare_pvalue",
                 "chi-square p-value {score:.3g}"),
        StatTest("z", "categorical", _z, "<", "chisquare_pvalue",
                 "z-test p-value {score:.3g}"),
        StatTest("jensenshannon", "categorical", _jensenshannon, ">=", "jensenshannon",
                 "Jensen–Shannon {score:.3f}"),
    )
}  # fmt: skip


def _probability(p: float) -> float:
    """A p-value clipped to [0, 1]; NaN (SciPy on degenerate input) counts as 0."""
    p = float(p)
    return min(max(p, 0.0), 1.0) if math.isfinite(p) else 0.0
