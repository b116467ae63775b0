"""Tests for champion.monitoring.stattests: each test against SciPy or a hand
computation, degenerate inputs, and the registry."""

from __future__ import annotations

import math
import typing

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from champion.monitoring.stattests import (
    NORM_FLOOR,
    STATTESTS,
    NumericReference,
    adjust_pvalues,
    auc_pvalue,
    binned_psi,
    chisquare_test,
    contingency_chisquare,
    jensenshannon_distance,
    ks_test,
    normalised_wasserstein,
    oov_share,
    population_stability_index,
    unseen_share,
    wasserstein_sorted,
    z_test,
)
from champion.project.spec import DriftSpec

# --------------------------------------------------------------------------- against SciPy


@pytest.mark.parametrize(
    ("m", "n"), [(50, 80), (3000, 9000), (3000, 20_000)], ids=["exact", "exact-large", "asymp"]
)
def test_ks_test_matches_scipy(m, n):
    rng = np.random.default_rng(m + n)
    reference = np.sort(rng.poisson(40, m).astype(float))  # ties on both sides
    current = np.sort(rng.poisson(41, n).astype(float))

    d, p = ks_test(reference, current)

    expected = stats.ks_2samp(reference, current)
    assert d == pytest.approx(expected.statistic, rel=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9)


@pytest.mark.parametrize(
    ("m", "n", "offset"),
    [(1, 1, 0.0), (3, 7, 0.0), (7, 3, 0.0), (10, 10, 0.0), (500, 20_000, 0.0), (50, 999, 1e9)],
)
def test_wasserstein_sorted_matches_scipy(m, n, offset):
    rng = np.random.default_rng(m * n)
    a = np.sort(np.round(rng.normal(size=m), 1)) + offset  # rounded: ties on both sides
    b = np.sort(np.round(rng.normal(0.3, 1.5, size=n), 1)) + offset

    assert wasserstein_sorted(a, b) == pytest.approx(
        stats.wasserstein_distance(a, b), rel=1e-9, abs=1e-9
    )


def test_psi_matches_a_hand_computation():
    # shares 0.5/0.3/0.2 -> 0.3/0.3/0.4:
    # (0.5-0.3)*ln(0.5/0.3) + 0 + (0.2-0.4)*ln(0.2/0.4) = 0.102165 + 0.138629
    assert population_stability_index([50, 30, 20], [30, 30, 40]) == pytest.approx(
        0.2 * math.log(0.5 / 0.3) + 0.2 * math.log(2), rel=1e-12
    )
    # An empty reference bin counts as a share of 0.0001 (Evidently's rule), not zero.
    assert population_stability_index([50, 50, 0], [50, 40, 10]) == pytest.approx(
        (0.5 - 0.5) * 0 + (0.5 - 0.4) * math.log(0.5 / 0.4) + (0.0001 - 0.1) * math.log(0.001),
        rel=1e-12,
    )


def test_categorical_statistics_match_scipy_and_evidently():
    reference = np.array([120.0, 60.0, 20.0])
    current = np.array([40.0, 50.0, 10.0])

    expected_counts = reference * current.sum() / reference.sum()
    assert chisquare_test(reference, current) == pytest.approx(
        stats.chisquare(current, expected_counts).pvalue, rel=1e-12
    )
    assert jensenshannon_distance(reference, current) == pytest.approx(
        distance.jensenshannon(reference / reference.sum(), current / current.sum()), rel=1e-12
    )
    # A category the reference never had: chi-square's expected count is 0, so p = 0.
    assert chisquare_test(np.array([5.0, 5.0, 0.0]), np.array([5.0, 5.0, 1.0])) == 0.0


def test_z_test_matches_a_hand_computation():
    # First-category shares 0.6 and 0.4 of 100 each: pooled 0.5, spread sqrt(0.005),
    # z = 0.2 / sqrt(0.005) = 2*sqrt(2), two-sided p = erfc(z / sqrt(2)) = erfc(2).
    assert z_test(np.array([60.0, 40.0]), np.array([40.0, 60.0])) == pytest.approx(
        math.erfc(2), rel=1e-9
    )


def test_jensenshannon_of_disjoint_categories_is_its_maximum():
    assert jensenshannon_distance(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(
        distance.jensenshannon([1, 0], [0, 1]), rel=1e-12
    )
    assert jensenshannon_distance(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(
        math.sqrt(math.log(2)), rel=1e-12
    )


def test_binned_psi_puts_values_beyond_the_range_in_the_outer_bins():
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    current = np.array([-5.0, 1.0, 10.0, 10.0])  # 1.0 is an inner edge: the bin on its right

    assert binned_psi(edges, np.array([1.0, 1.0, 1.0]), current) == pytest.approx(
        population_stability_index([1, 1, 1], [1, 1, 2]), rel=1e-12
    )


def test_normalised_wasserstein_floors_a_constant_reference():
    assert normalised_wasserstein(0.5, 2.0) == 0.25
    assert normalised_wasserstein(0.5, 0.0) == pytest.approx(0.5 / NORM_FLOOR)


def test_unseen_share_counts_categories_the_reference_does_not_list():
    reference, current = {"a": 50.0, "b": 50.0}, {"a": 30, "c": 10}

    assert unseen_share(reference, current) == pytest.approx(10 / 40)
    # 10 of 110 reference values were pooled as "other": that share is not news.
    assert unseen_share(reference, current, other=10.0) == pytest.approx(10 / 40 - 10 / 110)
    assert unseen_share(reference, {"a": 10}, other=10.0) == 0.0  # never below 0


def test_oov_share_counts_repeated_words():
    documents = [["fire", "banana", "and"], ["apple", "ice", "ice"]]

    assert oov_share(documents, {"fire", "and", "ice"}) == pytest.approx(2 / 6)


# --------------------------------------------------------------------------- degenerate

EMPTY = np.empty(0)
ALL_MISSING = np.full(5, np.nan)[np.isfinite(np.full(5, np.nan))]  # what the caller passes


@pytest.mark.parametrize(
    ("compute", "expected"),
    [
        (lambda: ks_test(np.array([1.0, 2.0]), EMPTY), (0.0, 1.0)),
        (lambda: ks_test(np.array([1.0, 2.0]), ALL_MISSING), (0.0, 1.0)),
        (lambda: ks_test(np.full(3, 5.0), np.full(4, 5.0)), (0.0, 1.0)),
        (lambda: wasserstein_sorted(EMPTY, np.array([1.0])), 0.0),
        (lambda: wasserstein_sorted(np.full(3, 5.0), np.full(9, 5.0)), 0.0),
        (lambda: population_stability_index([10, 0], []), 0.0),
        (lambda: population_stability_index([10], [3]), 0.0),
        (lambda: binned_psi(np.array([1.0]), np.array([]), np.array([1.0])), 0.0),
        (lambda: chisquare_test(np.array([10.0]), np.array([3.0])), 1.0),
        (lambda: chisquare_test(np.array([5.0, 5.0]), np.array([0.0, 0.0])), 1.0),
        (lambda: chisquare_test(np.array([5.0, 0.0]), np.array([5.0, 1.0])), 0.0),
        (lambda: z_test(np.array([10.0, 0.0]), np.array([4.0, 0.0])), 1.0),
        (lambda: z_test(np.array([10.0, 0.0]), np.array([0.0, 0.0])), 1.0),
        (lambda: jensenshannon_distance(np.array([10.0]), np.array([3.0])), 0.0),
        (lambda: jensenshannon_distance(np.array([1.0, 1.0]), np.array([0.0, 0.0])), 0.0),
        (lambda: unseen_share({"a": 1.0}, {}), 0.0),
        (lambda: oov_share([[], []], {"fire"}), 0.0),
    ],
    ids=[
        "ks-empty",
        "ks-all-missing",
        "ks-constant",
        "wasserstein-empty",
        "wasserstein-constant",
        "psi-empty",
        "psi-one-bin",
        "binned-psi-one-edge",
        "chisquare-one-category",
        "chisquare-empty",
        "chisquare-unseen-category",
        "z-one-category",
        "z-empty",
        "jensenshannon-one-category",
        "jensenshannon-empty",
        "unseen-empty",
        "oov-no-words",
    ],
)
def test_degenerate_inputs_give_a_defined_number(compute, expected):
    result = compute()

    assert result == expected
    assert all(math.isfinite(x) for x in np.atleast_1d(result))


# --------------------------------------------------------------------------- registry


def _policy_names(field: str) -> set[str]:
    return set(typing.get_args(DriftSpec.model_fields[field].annotation)) - {"auto"}


def test_registry_has_every_test_the_project_file_can_name():
    numeric = {t.name for t in STATTESTS.values() if t.kind == "numeric"}
    categorical = {t.name for t in STATTESTS.values() if t.kind == "categorical"}

    assert numeric == _policy_names("numeric_test")
    assert categorical == _policy_names("categorical_test") | {"z"}  # z: picked by auto
    assert all(t.threshold_field in DriftSpec.model_fields for t in STATTESTS.values())


@pytest.mark.parametrize(
    ("name", "score", "threshold", "drifted"),
    [
        ("ks", 0.05, 0.05, True),
        ("ks", 0.051, 0.05, False),
        ("chisquare", 0.05, 0.05, False),
        ("chisquare", 0.049, 0.05, True),
        ("z", 0.05, 0.05, False),
        ("wasserstein", 0.1, 0.1, True),
        ("psi", 0.099, 0.1, False),
        ("jensenshannon", 0.1, 0.1, True),
    ],
    ids=[
        "ks-p-at-threshold-drifts",
        "ks-p-above",
        "chisquare-p-at-threshold-holds",
        "chisquare-p-below",
        "z-p-at-threshold-holds",
        "wasserstein-at-threshold-drifts",
        "psi-below",
        "jensenshannon-at-threshold-drifts",
    ],
)
def test_registry_direction_is_evidentlys(name, score, threshold, drifted):
    assert STATTESTS[name].drifted(score, threshold) is drifted


def test_registry_numeric_tests_compute_the_plain_functions():
    rng = np.random.default_rng(7)
    sample = np.sort(rng.normal(size=400))
    current = np.sort(rng.normal(0.2, 1.0, 700))
    edges = np.quantile(sample, np.linspace(0, 1, 11))
    counts = np.histogram(sample, bins=edges)[0].astype(float)
    reference = NumericReference(sample, float(sample.std()), edges, counts)

    ks = STATTESTS["ks"].compute(reference, current)
    wasserstein = STATTESTS["wasserstein"].compute(reference, current)
    psi = STATTESTS["psi"].compute(reference, current)

    d, p = ks_test(sample, current)
    assert (ks.score, ks.statistic, ks.pvalue) == (p, d, p)
    assert wasserstein.statistic == wasserstein_sorted(sample, current)
    assert wasserstein.score == wasserstein.statistic / sample.std()
    assert psi.score == binned_psi(edges, counts, current)
    assert STATTESTS["ks"].describe(ks) == f"KS p-value {p:.3g} (D={d:.3f})"


def test_registry_categorical_tests_compute_the_plain_functions():
    reference, current = np.array([120.0, 80.0]), np.array([40.0, 60.0])

    assert STATTESTS["chisquare"].compute(reference, current).score == chisquare_test(
        reference, current
    )
    assert STATTESTS["z"].compute(reference, current).pvalue == z_test(reference, current)
    assert STATTESTS["jensenshannon"].compute(reference, current).score == (
        jensenshannon_distance(reference, current)
    )


# --------------------------------------------------------------------------- issue 10


def test_contingency_chisquare_is_scipys_two_sample_test_when_cells_are_large():
    reference = np.array([500.0, 300.0, 200.0])
    current = np.array([40.0, 35.0, 25.0])

    expected = stats.chi2_contingency(np.vstack([reference, current]), correction=False).pvalue

    assert contingency_chisquare(reference, current) == pytest.approx(expected)


def test_contingency_chisquare_pools_rare_categories():
    # 30 current rows over 8 categories: most expected counts are under 5.
    reference = np.array([400.0, 300.0, 100.0, 80.0, 50.0, 40.0, 20.0, 10.0])
    current = np.array([12.0, 9.0, 3.0, 2.0, 2.0, 1.0, 1.0, 0.0])
    pooled_reference = np.array([400.0, 300.0, 100.0 + 80.0 + 50.0 + 40.0 + 20.0 + 10.0])
    pooled_current = np.array([12.0, 9.0, 3.0 + 2.0 + 2.0 + 1.0 + 1.0 + 0.0])

    expected = stats.chi2_contingency(
        np.vstack([pooled_reference, pooled_current]), correction=False
    ).pvalue

    assert contingency_chisquare(reference, current) == pytest.approx(expected)


@pytest.mark.parametrize("method", ["bh", "bonferroni"])
def test_adjusted_pvalues_match_scipy(method):
    p = np.array([0.001, 0.04, 0.03, 0.5, 0.2, 0.012])

    adjusted = adjust_pvalues(p, "benjamini-hochberg" if method == "bh" else "bonferroni")

    if method == "bh":
        assert adjusted == pytest.approx(stats.false_discovery_control(p, method="bh"))
    else:
        assert adjusted == pytest.approx(np.minimum(p * 6, 1.0))


def test_auc_pvalue_is_the_mann_whitney_normal_approximation():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 200), rng.normal(0.3, 1, 200)
    u = stats.mannwhitneyu(b, a, alternative="greater", method="asymptotic", use_continuity=False)

    assert auc_pvalue(u.statistic / (200 * 200), 200, 200) == pytest.approx(u.pvalue, rel=1e-6)
