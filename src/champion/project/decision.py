"""The decision threshold of a binary model: where it lives and how labels follow from it.

A binary model answers the probability of its positive class; the label is the
positive class when that probability is at least the threshold (``>=``, as
scikit-learn's ``FixedThresholdClassifier`` decides). champion keeps the threshold
*inside* the model: the logged Pipeline's final step is a ``FixedThresholdClassifier``
around the fitted estimator, so ``pipeline.predict`` and ``mlflow.pyfunc`` apply it
with no code of champion's. It is a scikit-learn estimator class, so
:mod:`champion.registry.trust` lets skops load it.

Whoever needs the bare estimator (explanations, logged parameters, the ONNX compiler,
whose graph gives probabilities) takes :func:`without_threshold`; whoever turns
probabilities into labels itself (the ONNX path) uses :func:`labels_at`, the same rule.

Free of champion's other modules; imports scikit-learn's threshold classifier lazily
(only :func:`with_threshold` builds one).
"""

from __future__ import annotations

import numpy as np

#: The threshold every probabilistic classifier uses unless told otherwise.
DEFAULT = 0.5


def _plain(value):
    """A NumPy scalar as its Python value (scikit-learn checks ``pos_label``'s type)."""
    return value.item() if hasattr(value, "item") else value


def with_threshold(pipeline, threshold: float, pos_label):
    """``pipeline`` (fitted, ending in a binary classifier with ``predict_proba``) with
    its final step wrapped so that ``predict`` says ``pos_label`` when the probability
    of ``pos_label`` is at least ``threshold``. The fitted estimator is kept, not refit.
    """
    from sklearn.base import clone
    from sklearn.model_selection import FixedThresholdClassifier
    from sklearn.pipeline import Pipeline

    name, estimator = pipeline.steps[-1]
    wrapped = FixedThresholdClassifier(
        clone(estimator),
        threshold=float(threshold),
        pos_label=_plain(pos_label),
        response_method="predict_proba",
    )
    # The state ``fit`` would leave (an unfitted template, the fitted ``estimator_``)
    # without refitting; the Pipeline checks ``estimator_`` before it predicts.
    wrapped.estimator_ = estimator
    return Pipeline([*pipeline.steps[:-1], (name, wrapped)])


def _is_threshold_step(step) -> bool:
    return type(step).__name__ == "FixedThresholdClassifier" and hasattr(step, "threshold")


def threshold_of(pipeline) -> float | None:
    """The decision threshold inside ``pipeline``, or None when its final step decides
    on its own (regression, multiclass, a model trained before thresholds)."""
    steps = getattr(pipeline, "steps", None)
    if not steps or not _is_threshold_step(steps[-1][1]):
        return None
    return float(steps[-1][1].threshold)


def without_threshold(pipeline):
    """``pipeline`` with the bare fitted estimator as its final step (unchanged when it
    has no threshold step)."""
    if threshold_of(pipeline) is None:
        return pipeline
    from sklearn.pipeline import Pipeline

    name, step = pipeline.steps[-1]
    return Pipeline([*pipeline.steps[:-1], (name, step.estimator_)])


def labels_at(proba: np.ndarray, classes, pos_label, threshold: float) -> np.ndarray:
    """Labels from class probabilities (rows × classes, columns in ``classes`` order):
    ``pos_label`` where its probability is at least ``threshold``, else the other class.
    """
    classes = np.asarray(classes)
    positive = int(np.flatnonzero(classes == pos_label)[0])
    negative = int(np.flatnonzero(classes != pos_label)[0])
    chosen = np.where(np.asarray(proba)[:, positive] >= threshold, positive, negative)
    return classes[chosen]
