"""Unit tests for champion.registry.gate: the paired tests and the promotion decision."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from champion.registry.gate import PairedTest, decide, mcnemar, paired_bootstrap


def _pairs(both: int, only_champion: int, only_challenger: int, neither: int):
    """Per-row correctness of challenger and champion with the given counts."""
    challenger = [1] * both + [0] * only_champion + [1] * only_challenger + [0] * neither
    champion = [1] * both + [1] * only_champion + [0] * only_challenger + [0] * neither
    return np.array(challenger, dtype=bool), np.array(champion, dtype=bool)


def _exact_lower_tail(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2)."""
    return sum(comb(n, i) for i in range(k + 1)) / 2**n


def test_mcnemar_is_small_when_the_challenger_loses_the_discordant_rows():
    challenger, champion = _pairs(both=50, only_champion=15, only_challenger=2, neither=5)

    test = mcnemar(challenger, champion)

    assert test.name == "mcnemar_exact"
    assert test.p_worse == pytest.approx(_exact_lower_tail(2, 17))
    assert test.p_worse < 0.01
    assert test.detail == {"only_challenger_right": 2, "only_champion_right": 15}


def test_mcnemar_is_large_when_the_challenger_wins_the_discordant_rows():
    challenger, champion = _pairs(both=50, only_champion=2, only_challenger=15, neither=5)

    test = mcnemar(challenger, champion)

    assert test.p_worse == pytest.approx(_exact_lower_tail(15, 17))
    assert test.p_worse > 0.99


def test_mcnemar_is_one_without_discordant_rows():
    challenger, champion = _pairs(both=30, only_champion=0, only_challenger=0, neither=10)

    test = mcnemar(challenger, champion)

    assert test.p_worse == 1.0
    assert test.detail == {"only_challenger_right": 0, "only_champion_right": 0}


def test_mcnemar_accepts_zero_one_scores():
    challenger, champion = _pairs(both=5, only_champion=6, only_challenger=1, neither=0)

    as_bool = mcnemar(challenger, champion)
    as_float = mcnemar(challenger.astype(float), champion.astype(float))

    assert as_float.p_worse == as_bool.p_worse


def _scores(shift: float, n: int = 200):
    rng = np.random.default_rng(0)
    champion = -np.abs(rng.normal(size=n))
    challenger = champion + shift + rng.normal(scale=0.05, size=n)
    return challenger, champion


def test_paired_bootstrap_is_small_when_the_challenger_is_clearly_worse():
    challenger, champion = _scores(shift=-0.5)

    test = paired_bootstrap(challenger, champion, samples=500, seed=1)

    assert test.name == "paired_bootstrap"
    assert test.p_worse == pytest.approx(1 / 501)  # no resample favours the challenger
    assert test.detail["mean_difference"] == pytest.approx(np.mean(challenger - champion))
    low, high = test.detail["ci95"]
    assert low < test.detail["mean_difference"] < high < 0


def test_paired_bootstrap_is_large_when_the_challenger_is_clearly_better():
    challenger, champion = _scores(shift=0.5)

    test = paired_bootstrap(challenger, champion, samples=500, seed=1)

    assert test.p_worse == 1.0
    assert test.detail["ci95"][0] > 0


def test_paired_bootstrap_is_one_for_identical_models():
    _, champion = _scores(shift=0.0)

    test = paired_bootstrap(champion, champion, samples=200)

    assert test.p_worse == 1.0
    assert test.detail["ci95"] == [0.0, 0.0]


def test_paired_bootstrap_is_reproducible_for_a_seed():
    challenger, champion = _scores(shift=0.01)

    first = paired_bootstrap(challenger, champion, samples=300, seed=7)
    again = paired_bootstrap(challenger, champion, samples=300, seed=7)

    assert first == again
    assert 0 < first.p_worse < 1


def test_decide_promotes_the_first_version():
    decision = decide("f1", "maximize", 0.4, None, None, min_gain=0.5)

    assert decision.promote
    assert decision.gain is None
    assert "no current champion" in decision.reason


def test_decide_promotes_a_challenger_that_gains_enough():
    test = PairedTest("mcnemar_exact", 0.9, {})

    decision = decide("f1", "maximize", 0.85, 0.80, test, min_gain=0.01, alpha=0.05)

    assert decision.promote
    assert decision.gain == pytest.approx(0.05)
    assert "mcnemar_exact p(worse)=0.9000" in decision.reason


@pytest.mark.parametrize(
    ("challenger", "champion", "min_gain", "gain"),
    [(0.81, 0.80, 0.02, 0.01), (0.78, 0.80, 0.0, -0.02)],
    ids=["gain-below-minimum", "worse-score"],
)
def test_decide_refuses_a_gain_below_min_gain(challenger, champion, min_gain, gain):
    decision = decide("f1", "maximize", challenger, champion, None, min_gain=min_gain)

    assert not decision.promote
    assert decision.gain == pytest.approx(gain)
    assert f"gain {gain:+.4f} is below the minimum {min_gain:+.4f}" in decision.reason


@pytest.mark.parametrize(
    ("metric", "direction", "challenger", "champion"),
    [("f1", "maximize", 0.85, 0.80), ("rmse", "minimize", 0.80, 0.85)],
    ids=["maximize", "minimize"],
)
def test_decide_promotes_a_gain_equal_to_min_gain(metric, direction, challenger, champion):
    # In floating point 0.85 - 0.80 < 0.05; the gate must not refuse on rounding.
    decision = decide(metric, direction, challenger, champion, None, min_gain=0.05)

    assert decision.promote
    assert decision.gain == pytest.approx(0.05)


def test_decide_refuses_a_challenger_the_test_shows_worse():
    test = PairedTest("mcnemar_exact", 0.01, {})

    decision = decide("f1", "maximize", 0.85, 0.80, test, alpha=0.05)

    assert not decision.promote
    assert decision.reason == ("mcnemar_exact shows the challenger worse (p=0.0100 < alpha=0.05)")


def test_decide_accepts_a_p_value_at_alpha():
    test = PairedTest("paired_bootstrap", 0.05, {})

    assert decide("f1", "maximize", 0.85, 0.80, test, alpha=0.05).promote


@pytest.mark.parametrize(
    ("challenger", "champion", "promote", "gain"),
    [(9.0, 10.0, True, 1.0), (11.0, 10.0, False, -1.0)],
    ids=["lower-rmse-wins", "higher-rmse-loses"],
)
def test_decide_treats_lower_as_better_when_minimizing(challenger, champion, promote, gain):
    decision = decide("rmse", "minimize", challenger, champion, None)

    assert decision.promote is promote
    assert decision.gain == pytest.approx(gain)
    assert decision.direction == "minimize"


def test_decide_refuses_when_a_score_is_missing():
    decision = decide("roc_auc", "maximize", float("nan"), 0.9, None)

    assert not decision.promote
    assert decision.reason == "roc_auc could not be computed for both models"


def test_decision_to_dict_carries_the_evidence():
    test = PairedTest("mcnemar_exact", 0.5, {"only_challenger_right": 3})

    record = decide("f1", "maximize", 0.9, 0.8, test, min_gain=0.05, alpha=0.1).to_dict()

    assert record["promote"] is True
    assert record["test"] == {
        "name": "mcnemar_exact",
        "p_worse": 0.5,
        "detail": {"only_challenger_right": 3},
    }
    assert record["min_gain"] == 0.05
    assert record["alpha"] == 0.1
    assert record["champion_score"] == 0.8


@pytest.mark.parametrize("rows", [0, 1, 29], ids=["none", "one", "one-short"])
def test_decide_refuses_below_the_minimum_sample_whatever_the_gain(rows):
    test = PairedTest("mcnemar_exact", 1.0, {})

    decision = decide("f1", "maximize", 1.0, 0.1, test, rows=rows, min_rows=30)

    assert not decision.promote
    assert decision.reason.startswith(f"not enough data: {rows} holdout rows")
    assert "at least 30" in decision.reason
    assert (decision.rows, decision.min_rows) == (rows, 30)


def test_decide_judges_the_pair_at_the_minimum_sample():
    decision = decide("f1", "maximize", 0.9, 0.8, None, rows=30, min_rows=30)

    assert decision.promote
    assert not decision.reason.startswith("not enough data")


def test_decide_promotes_a_first_version_on_few_rows():
    # Nothing to compare against: the minimum sample is about comparing two models.
    decision = decide("f1", "maximize", 0.9, None, None, rows=5, min_rows=30)

    assert decision.promote
