"""Fit a binary candidate together with its decision threshold.

The threshold is tuned by scikit-learn's ``TunedThresholdClassifierCV`` on the
cross-validation folds of the training rows (the holdout stays unseen), then kept in
the model as a ``FixedThresholdClassifier`` final step (:mod:`champion.project.decision`).
What it is tuned for:

==========================================  ==========================================
project file                                objective of the tuning
==========================================  ==========================================
a ``business:`` section                     ``business_value_per_row``
primary metric ``f1`` or ``accuracy``       that metric
any other primary metric                    ``f1``: precision alone is maximised by
                                            saying yes almost never, recall by always;
                                            ``roc_auc``, ``log_loss`` do not depend on
                                            a threshold
==========================================  ==========================================

``threshold: <number>`` fixes it (``0.5`` is the estimator's own: no tuning). Minimum
sample: with fewer than :data:`MIN_POSITIVES` rows of either class among the training
rows, tuning is "not enough data" and the threshold stays 0.5; so does a model without
``predict_proba`` (no threshold step at all), and one whose probabilities are the same
for every row of a fold (nothing to choose from).

Cost: one fit per fold plus the final fit on every training row (the final model is
``TunedThresholdClassifierCV``'s refit). Above :data:`TUNING_ROWS` training rows the
folds are drawn from a stratified sample of that many rows, so the tuning costs at most
three fits on two thirds of it plus one on all of it, whatever the size of the data; the
final model is then fitted on every training row and given the threshold the sample
chose (a threshold is one number: a few thousand rows of each class pin it down).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import make_scorer
from sklearn.model_selection import TunedThresholdClassifierCV
from sklearn.pipeline import Pipeline

from champion.project import business as business_values
from champion.project.decision import DEFAULT, with_threshold
from champion.project.spec import ProjectSpec
from champion.project.splits import cv_folds

#: The fewest training rows of each class the tuning rests on: with fewer, each fold
#: holds a handful of the rare class and the tuned threshold is noise.
MIN_POSITIVES = 20
#: Candidate thresholds tried between the lowest and highest CV probability.
CANDIDATE_THRESHOLDS = 100
#: The most training rows the threshold's cross-validation fits on (see the docstring).
TUNING_ROWS = 10_000


@dataclass(frozen=True)
class Decision:
    """How a binary model decides.

    Attributes:
        threshold: the probability of the positive class at which it says positive,
            or None when the model has no threshold step (no ``predict_proba``).
        objective: what it was tuned for, or ``fixed`` (from the project file) or
            ``default`` (not tuned, see ``note``).
        cv_score: the objective's mean over the CV folds at that threshold (tuned only).
        note: why it was not tuned, when it was not.
    """

    threshold: float | None
    objective: str
    cv_score: float | None = None
    note: str = ""


def objective_of(spec: ProjectSpec, metric: str) -> str:
    """What the threshold is tuned for (see the module's table)."""
    if spec.business:
        return business_values.PER_ROW
    return metric if metric in ("f1", "accuracy") else "f1"


def tuning_rows(y, seed: int) -> np.ndarray:
    """The positions of the training rows the threshold is tuned on: all of them up to
    :data:`TUNING_ROWS`, else a sample of that many, stratified by class and seeded."""
    positions = np.arange(len(y))
    if len(y) <= TUNING_ROWS:
        return positions
    from sklearn.model_selection import train_test_split

    sample, _ = train_test_split(
        positions, train_size=TUNING_ROWS, stratify=np.asarray(y), random_state=seed
    )
    return np.sort(sample)


def fit_decided(
    pipeline: Pipeline, X, y, frame, *, spec: ProjectSpec, metric: str, pos_label
) -> tuple[Pipeline, Decision]:
    """Fit ``pipeline`` on ``X``, ``y`` (a binary task) and give it its threshold.

    Args:
        frame: the training rows of the project's table (what a grouped or ordered
            split's CV folds are made from), aligned with ``X``.
    Returns:
        the fitted pipeline (with its threshold step) and how it decides.
    """
    if not hasattr(pipeline, "predict_proba"):
        pipeline.fit(X, y)
        return pipeline, Decision(None, "default", note="the estimator has no predict_proba")
    if spec.threshold != "auto":
        pipeline.fit(X, y)
        fixed = float(spec.threshold)
        return with_threshold(pipeline, fixed, pos_label), Decision(fixed, "fixed")
    smallest = int(min(np.sum(np.asarray(y) == pos_label), np.sum(np.asarray(y) != pos_label)))
    if smallest < MIN_POSITIVES:
        pipeline.fit(X, y)
        note = (
            f"not enough data: {smallest} training rows of the rarer class, tuning needs "
            f"at least {MIN_POSITIVES}"
        )
        return with_threshold(pipeline, DEFAULT, pos_label), Decision(DEFAULT, "default", note=note)
    objective = objective_of(spec, metric)
    # Sampled and split only now, past the checks: a class too rare to tune on is too
    # rare to stratify a sample by.
    rows = tuning_rows(y, spec.seed)
    sampled = len(rows) < len(y)
    X_tune, y_tune = (X.iloc[rows], np.asarray(y)[rows]) if sampled else (X, y)
    folds = cv_folds(spec.task, spec.split, frame.iloc[rows], y_tune, spec.seed)
    tuner = TunedThresholdClassifierCV(
        pipeline,
        scoring=_scorer(objective, spec, pos_label),
        response_method="predict_proba",
        thresholds=CANDIDATE_THRESHOLDS,
        cv=folds,
        refit=True,
        random_state=spec.seed,
    )
    try:
        tuned = tuner.fit(X_tune, y_tune)
    except ValueError as e:
        # One probability for every row of a fold: there is no threshold to choose.
        if "constant predictions" not in str(e):
            raise
        pipeline.fit(X, y)
        note = "not tuned: the model gives one probability for every row of a CV fold"
        return with_threshold(pipeline, DEFAULT, pos_label), Decision(DEFAULT, "default", note=note)
    threshold = float(tuned.best_threshold_)
    decision = Decision(threshold, objective, float(tuned.best_score_))
    if sampled:  # the tuner's refit saw the sample only; the model sees every row
        pipeline.fit(X, y)
        return with_threshold(pipeline, threshold, pos_label), decision
    return with_threshold(tuned.estimator_, threshold, pos_label), decision


def f1_fast(y_true, y_pred, *, pos_label) -> float:
    """F1 of ``pos_label`` (0 when it is never said nor true), as scikit-learn's
    ``f1_score(..., zero_division=0)``. The tuner scores every candidate threshold on
    every fold; scikit-learn's checks of its inputs made that 300 calls of about 3 ms
    each, more than the fits of a small model."""
    truth = np.asarray(y_true) == pos_label
    said = np.asarray(y_pred) == pos_label
    true_positives = np.sum(truth & said)
    denominator = np.sum(truth) + np.sum(said)
    return float(2 * true_positives / denominator) if denominator else 0.0


def accuracy_fast(y_true, y_pred, *, pos_label=None) -> float:
    """The share of rows right. Takes ``pos_label`` so the tuner knows which
    probability column is the positive class."""
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _scorer(objective: str, spec: ProjectSpec, pos_label):
    pos_label = pos_label.item() if hasattr(pos_label, "item") else pos_label
    if objective == business_values.PER_ROW:
        return make_scorer(
            business_values.per_row, task="binary", values=spec.business, pos_label=pos_label
        )
    if objective == "accuracy":
        return make_scorer(accuracy_fast, pos_label=pos_label)
    return make_scorer(f1_fast, pos_label=pos_label)
