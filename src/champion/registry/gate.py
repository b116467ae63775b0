"""The promotion gate's arithmetic: paired tests and the decision, free of MLflow.

The challenger and the champion are scored on the same holdout rows, so the test is
paired: McNemar's exact test on the rows exactly one of them gets right
(classification), or a paired bootstrap of the per-row score difference (regression,
multilabel). The gate refuses a challenger that does not beat the champion's primary
metric by ``min_gain``, or that the paired test shows to be worse at level ``alpha``.
Below ``min_rows`` holdout rows there is no verdict on the pair at all: "not enough
data", with the count and the minimum, so a handful of rows never passes a challenger.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import binomtest


@dataclass(frozen=True)
class PairedTest:
    """The outcome of a paired comparison (challenger vs champion).

    ``p_worse`` is the one-sided p-value of "the challenger is worse"; a small value
    is evidence against the challenger.
    """

    name: str
    p_worse: float
    detail: dict


@dataclass(frozen=True)
class Decision:
    """What the gate decided and why."""

    promote: bool
    reason: str
    metric: str
    direction: str
    challenger_score: float
    champion_score: float | None
    gain: float | None
    min_gain: float
    test: PairedTest | None
    alpha: float
    rows: int | None = None
    min_rows: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def mcnemar(challenger_correct: np.ndarray, champion_correct: np.ndarray) -> PairedTest:
    """McNemar's exact test on the discordant rows."""
    challenger_correct = np.asarray(challenger_correct, dtype=bool)
    champion_correct = np.asarray(champion_correct, dtype=bool)
    only_champion = int(np.sum(champion_correct & ~challenger_correct))
    only_challenger = int(np.sum(challenger_correct & ~champion_correct))
    discordant = only_champion + only_challenger
    p = (
        1.0
        if discordant == 0
        else binomtest(only_challenger, discordant, 0.5, alternative="less").pvalue
    )
    detail = {"only_challenger_right": only_challenger, "only_champion_right": only_champion}
    return PairedTest("mcnemar_exact", float(p), detail)


def paired_bootstrap(
    challenger_scores: np.ndarray, champion_scores: np.ndarray, samples: int = 1000, seed: int = 0
) -> PairedTest:
    """Bootstrap the mean per-row score difference (higher is better for both)."""
    diff = np.asarray(challenger_scores, dtype=float) - np.asarray(champion_scores, dtype=float)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(samples, len(diff)))].mean(axis=1)
    # One-sided: how often the resampled challenger is not better than the champion.
    p = float((np.sum(means >= 0) + 1) / (samples + 1))
    low, high = np.quantile(means, [0.025, 0.975])
    detail = {"mean_difference": float(diff.mean()), "ci95": [float(low), float(high)]}
    return PairedTest("paired_bootstrap", p, detail)


def decide(
    metric: str,
    direction: str,
    challenger_score: float,
    champion_score: float | None,
    test: PairedTest | None,
    *,
    min_gain: float = 0.0,
    alpha: float = 0.05,
    rows: int | None = None,
    min_rows: int = 0,
) -> Decision:
    """Promote when there is no champion, or when the challenger gains at least
    ``min_gain`` on ``metric`` and ``test`` does not show it worse at level ``alpha``.

    With a champion to compare against and fewer than ``min_rows`` holdout ``rows``,
    refuse: "not enough data", whatever the scores say.
    """
    common = dict(
        metric=metric,
        direction=direction,
        challenger_score=challenger_score,
        champion_score=champion_score,
        min_gain=min_gain,
        test=test,
        alpha=alpha,
        rows=rows,
        min_rows=min_rows,
    )
    if champion_score is None:
        return Decision(
            True, "no current champion: the first version is promoted", gain=None, **common
        )
    if rows is not None and rows < min_rows:
        reason = (
            f"not enough data: {rows} holdout rows, the gate needs at least {min_rows} "
            "to compare the challenger with the champion"
        )
        return Decision(False, reason, gain=None, **common)
    if np.isnan(challenger_score) or np.isnan(champion_score):
        return Decision(
            False, f"{metric} could not be computed for both models", gain=None, **common
        )
    sign = 1 if direction == "maximize" else -1
    gain = sign * (challenger_score - champion_score)
    # 0.85 - 0.80 is 0.0499999...: a gain equal to min_gain up to rounding is enough.
    tolerance = 1e-9 * max(1.0, abs(challenger_score), abs(champion_score))
    if gain < min_gain - tolerance:
        reason = (
            f"{metric} {challenger_score:.4f} vs champion {champion_score:.4f}: "
            f"gain {gain:+.4f} is below the minimum {min_gain:+.4f}"
        )
        return Decision(False, reason, gain=gain, **common)
    if test is not None and test.p_worse < alpha:
        reason = f"{test.name} shows the challenger worse (p={test.p_worse:.4f} < alpha={alpha})"
        return Decision(False, reason, gain=gain, **common)
    reason = f"{metric} {challenger_score:.4f} vs champion {champion_score:.4f} (gain {gain:+.4f})"
    if test is not None:
        reason += f"; {test.name} p(worse)={test.p_worse:.4f}"
    return Decision(True, reason, gain=gain, **common)
