"""Explanations of a fitted champion pipeline: SHAP values and feature importance.

SHAP runs on the model's own input space (after preprocessing) with the cheapest exact
explainer that fits the final estimator (tree, linear), else the model-agnostic
permutation explainer. :func:`group_by_source` adds up the contributions of the columns
one input produced (one-hot levels, TF-IDF terms): additive, so still a SHAP value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.inspection import permutation_importance
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline

from champion.project.decision import without_threshold

_TREE_MODELS = (
    "RandomForest",
    "ExtraTrees",
    "HistGradientBoosting",
    "GradientBoosting",
    "DecisionTree",
)


@dataclass(frozen=True)
class ShapResult:
    """SHAP values for ``rows`` of one output each.

    Attributes:
        values: rows × model features, the contribution to ``outputs[i]`` of row i.
        data: rows × model features, the preprocessed inputs.
        base_values: per row, the expected output the contributions start from.
        names: the model features' names (after preprocessing).
        sources: per model feature, the input column it came from.
        outputs: per row, which output was explained (class label or "value").
    """

    values: np.ndarray
    data: np.ndarray
    base_values: np.ndarray
    names: list[str]
    sources: list[str]
    outputs: list[str]

    def by_source(self) -> pd.DataFrame:
        """Contributions per input column (rows × input columns)."""
        return group_by_source(self.values, self.sources)

    def __len__(self) -> int:
        return len(self.values)

    def then(self, more: ShapResult) -> ShapResult:
        """These rows, then ``more``'s (same model, same features)."""
        return ShapResult(
            np.concatenate([self.values, more.values]),
            np.concatenate([self.data, more.data]),
            np.concatenate([self.base_values, more.base_values]),
            self.names,
            self.sources,
            self.outputs + more.outputs,
        )


def feature_sources(preprocessor: ColumnTransformer) -> tuple[list[str], list[str]]:
    """The names of the model features and the input column each comes from.

    One-to-one steps keep the column's name; one-hot levels read ``column=level``;
    TF-IDF terms read ``column:term``.
    """
    names: list[str] = []
    sources: list[str] = []
    for name, _, columns in preprocessor.transformers_:
        if name == "remainder" or not len(columns):
            continue
        columns = list(columns)
        produced = [
            str(n) for n in preprocessor.named_transformers_[name].get_feature_names_out(columns)
        ]
        if produced == columns:
            names += columns
            sources += columns
        elif len(columns) == 1 and name.startswith("text_"):
            names += [f"{columns[0]}:{term}" for term in produced]
            sources += columns * len(produced)
        else:  # one-hot: "<column>_<level>"; the longest matching column wins
            for out in produced:
                column = max((c for c in columns if out.startswith(f"{c}_")), key=len)
                names.append(f"{column}={out[len(column) + 1 :]}")
                sources.append(column)
    return names, sources


def group_by_source(values: np.ndarray, sources: list[str]) -> pd.DataFrame:
    """Sum the columns of ``values`` that share an input column."""
    frame = pd.DataFrame(values, columns=range(values.shape[1]))
    grouped = frame.T.groupby(np.asarray(sources), sort=False).sum().T
    return grouped


MAX_PERMUTATION_FEATURES = 200
MIN_SHAP_ROWS = 10  # fewer explained rows than this say too little to be worth logging
_PROBE_ROWS = 1_000  # rows predicted once to time the model for the estimate


class NoFastExplainer(Exception):
    """Raised when no SHAP algorithm can explain the model in reasonable time
    (a model-agnostic explainer over hundreds of TF-IDF columns takes hours)."""


def shap_values(
    pipeline: Pipeline,
    rows: pd.DataFrame,
    background: pd.DataFrame,
    task: str,
    pos_label=None,
    tags: list[str] | None = None,
) -> ShapResult:
    """Explain ``rows`` against ``background`` (both raw input rows).

    Binary classification explains the positive class, multiclass the predicted class
    and multilabel the top tag (named from ``tags``) of each row, regression the value.

    Raises:
        NoFastExplainer: the model needs the permutation explainer and has more than
            ``MAX_PERMUTATION_FEATURES`` model features.
    """
    # The probability is explained, not the threshold applied to it.
    pipeline = without_threshold(pipeline)
    preprocessor, model = pipeline[:-1], pipeline[-1]
    data = np.asarray(preprocessor.transform(rows), dtype=float)
    back = np.asarray(preprocessor.transform(background), dtype=float)
    names, sources = feature_sources(pipeline[0])
    if task == "multilabel":
        values, base, chosen = _explain_tags(model, data, back)
        labels = [str(tags[k]) if tags else str(k) for k in chosen]
        return ShapResult(values, data, base, names, sources, labels)
    explanation = _explain(model, data, back, task)
    values = np.asarray(explanation.values, dtype=float)
    base = np.asarray(explanation.base_values, dtype=float)
    if values.ndim == 2:
        labels = ["value" if task == "regression" else str(pos_label)] * len(rows)
        # One expected value for every row, or one per row.
        flat = base.reshape(-1)
        base = np.full(len(rows), flat[0]) if flat.size == 1 else flat.reshape(len(rows), -1)[:, 0]
        return ShapResult(values, data, base, names, sources, labels)
    classes = _output_labels(model, values.shape[2])
    if task == "binary":
        chosen = np.full(len(rows), classes.index(pos_label) if pos_label in classes else 1)
    else:
        chosen = np.asarray(_output_function(model, task)(data)).argmax(axis=1)
    picked = values[np.arange(len(rows)), :, chosen]
    base = base.reshape(len(rows), -1)[np.arange(len(rows)), chosen]
    return ShapResult(picked, data, base, names, sources, [str(classes[i]) for i in chosen])


def shap_values_within(
    pipeline: Pipeline,
    rows: pd.DataFrame,
    background: pd.DataFrame,
    task: str,
    budget_s: float,
    pos_label=None,
    tags: list[str] | None = None,
) -> ShapResult:
    """:func:`shap_values` of the first rows of ``rows`` that fit in ``budget_s``.

    The cost of a row depends on the model (a deep forest's tree paths, a model-agnostic
    explainer's thousands of predictions) and grows with the data the model was fitted
    on, so it is measured: the first ``MIN_SHAP_ROWS`` rows are explained and timed, then
    as many more as the rest of the budget allows at that rate. The result has at least
    ``min(MIN_SHAP_ROWS, len(rows))`` rows, in the order of ``rows``.

    Raises:
        NoFastExplainer: as :func:`shap_values`, and from :func:`affordable_rows` when a
            model-agnostic explanation of the first rows would already exceed the budget.
    """
    wanted = affordable_rows(pipeline, background, task, len(rows), budget_s)
    first = min(MIN_SHAP_ROWS, wanted)
    started = time.perf_counter()
    result = shap_values(pipeline, rows.iloc[:first], background, task, pos_label, tags)
    spent = time.perf_counter() - started
    more = min(wanted - first, int((budget_s - spent) * first / spent) if spent > 0 else wanted)
    if more > 0:
        rest = rows.iloc[first : first + more]
        result = result.then(shap_values(pipeline, rest, background, task, pos_label, tags))
    return result


def affordable_rows(
    pipeline: Pipeline, background: pd.DataFrame, task: str, wanted: int, budget_s: float
) -> int:
    """How many of ``wanted`` rows :func:`shap_values` can explain in about ``budget_s``
    seconds against ``background``.

    The tree and linear explainers cost little: all ``wanted``. The model-agnostic
    (permutation) explainer predicts ``2 × (features + 1) × len(background)`` rows
    per explained row; one timed prediction of ``_PROBE_ROWS`` rows gives the
    cost of a row, hence how many rows fit in the budget.

    Raises:
        NoFastExplainer: the permutation explainer is needed and cannot explain even
            ``MIN_SHAP_ROWS`` rows within the budget, or the model has more than
            ``MAX_PERMUTATION_FEATURES`` model features.
    """
    pipeline = without_threshold(pipeline)  # the estimator is what SHAP explains
    preprocessor, model = pipeline[:-1], pipeline[-1]
    if _exact_explainer(model, task):
        return wanted
    back = np.asarray(preprocessor.transform(background), dtype=float)
    _check_permutation_width(back.shape[1])
    function = _output_function(model, task)
    probe = np.resize(back, (_PROBE_ROWS, back.shape[1]))  # the background, repeated
    started = time.perf_counter()
    function(probe)
    per_row = (time.perf_counter() - started) / _PROBE_ROWS
    per_explained = 2 * (back.shape[1] + 1) * len(back) * per_row  # two walks
    affordable = int(budget_s // per_explained) if per_explained > 0 else wanted
    if affordable < min(MIN_SHAP_ROWS, wanted):
        raise NoFastExplainer(
            f"the model-agnostic explainer would take about "
            f"{per_explained * min(MIN_SHAP_ROWS, wanted):.1f} s for "
            f"{min(MIN_SHAP_ROWS, wanted)} rows, over its budget of {budget_s:.1f} s "
            "(the fit's time)"
        )
    return min(wanted, affordable)


def _exact_explainer(model, task: str) -> bool:
    """Whether :func:`shap_values` explains ``model`` with the tree or linear algorithm
    (a tree ensemble shap turns down still falls back to permutation there)."""
    if task == "multilabel":
        estimators = getattr(model, "estimators_", None)
        return isinstance(model, OneVsRestClassifier) and all(
            hasattr(e, "coef_") or not hasattr(e, "fit") for e in estimators
        )
    kind = type(model).__name__
    return any(kind.startswith(t) for t in _TREE_MODELS) or hasattr(model, "coef_")


def _explain(model, data: np.ndarray, background: np.ndarray, task: str):
    """SHAP values with the cheapest explainer that supports ``model``.

    Trees use the path-dependent tree algorithm (no background pass: fast enough for
    the forests of an 18-class problem); linear models the linear one; anything else,
    or a tree the tree algorithm does not support, the permutation explainer.
    """
    import shap

    kind = type(model).__name__
    if any(kind.startswith(t) for t in _TREE_MODELS):
        try:
            return shap.TreeExplainer(model)(data, check_additivity=False)
        except Exception:  # shap supports only some tree ensembles; fall through
            pass
    elif hasattr(model, "coef_"):
        return shap.LinearExplainer(model, background)(data)
    return _permutation(_output_function(model, task), data, background)


@dataclass(frozen=True)
class _Explanation:
    """What :func:`_permutation` returns: shap's ``Explanation`` fields that we use."""

    values: np.ndarray  # rows × features (× outputs)
    base_values: np.ndarray  # rows (× outputs)


def _permutation(function, data: np.ndarray, background: np.ndarray, seed: int = 0):
    """Permutation SHAP values: per row, one random order of the features walked
    forwards and backwards (shap's ``PermutationExplainer`` with
    ``max_evals = 2 × features + 1``, its cheapest exact-additivity setting).

    Walking an order, feature ``j`` is switched from the background to the row's value;
    its contribution is the change of the mean output over the background. Each walk
    sums to ``f(row) - mean f(background)``, so the values add up exactly. Written in
    NumPy rather than called from shap: shap's masker compiles with numba on first use
    in each process, seconds that a training worker or a server would pay every time.
    """
    _check_permutation_width(data.shape[1])
    rng = np.random.default_rng(seed)
    n_features, n_back = data.shape[1], len(background)
    values, bases = [], []
    for row in data:
        order = rng.permutation(n_features)
        walks = []
        for walk in (order, order[::-1]):
            # (features + 1) copies of the background; copy k has walk[:k] from the row.
            masked = np.repeat(background[None, :, :], n_features + 1, axis=0)
            for k in range(1, n_features + 1):
                masked[k:, :, walk[k - 1]] = row[walk[k - 1]]
            out = np.asarray(function(masked.reshape(-1, n_features)), dtype=float)
            means = out.reshape(n_features + 1, n_back, *out.shape[1:]).mean(axis=1)
            steps = np.diff(means, axis=0)  # step k: the contribution of walk[k]
            contribution = np.empty_like(steps)
            contribution[walk] = steps
            walks.append(contribution)
        values.append((walks[0] + walks[1]) / 2)
        bases.append(means[0])
    return _Explanation(np.asarray(values), np.asarray(bases))


def _check_permutation_width(features: int) -> None:
    if features > MAX_PERMUTATION_FEATURES:
        raise NoFastExplainer(
            f"{features} model features is too many for the permutation explainer "
            f"(limit {MAX_PERMUTATION_FEATURES}); use a linear or tree model for SHAP"
        )


def _explain_tags(model, data: np.ndarray, background: np.ndarray):
    """Per row, the contributions to its most probable tag.

    One-vs-rest linear models are explained tag by tag with the linear algorithm;
    others (a multi-output forest: shap's tree algorithm mixes its outputs up) with
    the permutation explainer on the stacked tag scores.
    """
    import shap

    proba = _tag_scores(model)(data)
    chosen = proba.argmax(axis=1)
    rows = np.arange(len(data))
    estimators = getattr(model, "estimators_", None)
    if isinstance(model, OneVsRestClassifier) and all(
        hasattr(e, "coef_") or not hasattr(e, "fit") for e in estimators
    ):
        values = np.zeros_like(data)
        base = proba[rows, chosen].astype(float)
        for tag in np.unique(chosen):
            estimator, mask = estimators[tag], chosen == tag
            if hasattr(estimator, "coef_"):  # a tag never seen in training has no model
                explanation = shap.LinearExplainer(estimator, background)(data[mask])
                values[mask] = np.asarray(explanation.values).reshape(mask.sum(), -1)
                base[mask] = np.asarray(explanation.base_values).reshape(-1)
        return values, base, chosen
    explanation = _permutation(_tag_scores(model), data, background)
    values = np.asarray(explanation.values)[rows, :, chosen]
    base = np.asarray(explanation.base_values).reshape(len(data), -1)[rows, chosen]
    return values, base, chosen


def _output_function(model, task: str):
    if task == "regression":
        return model.predict
    if task == "multilabel":
        return _tag_scores(model)
    return model.predict_proba if hasattr(model, "predict_proba") else model.decision_function


def _tag_scores(model):
    """Per-tag scores (rows × tags): probabilities where the model has them, else margins."""

    def scores(data):
        if not hasattr(model, "predict_proba"):
            return model.decision_function(data)
        out = model.predict_proba(data)
        if isinstance(out, list):  # multi-output forests: one (n, 2) array per tag
            return np.column_stack([p[:, -1] for p in out])
        return out

    return scores


def _output_labels(model, n_outputs: int) -> list:
    classes = getattr(model, "classes_", None)
    if classes is not None and np.ndim(classes) == 1 and len(classes) == n_outputs:
        return list(classes)
    return list(range(n_outputs))


def native_importance(pipeline: Pipeline) -> pd.DataFrame | None:
    """The final estimator's own importance (``feature_importances_`` or ``|coef_|``),
    per model feature, most important first; None if it has neither."""
    model = without_threshold(pipeline)[-1]
    names, _ = feature_sources(pipeline[0])
    if hasattr(model, "feature_importances_"):
        values, method = np.asarray(model.feature_importances_), "impurity importance"
    elif hasattr(model, "coef_"):
        coef = np.atleast_2d(model.coef_)
        values, method = np.abs(coef).mean(axis=0), "mean |coefficient| (scaled inputs)"
    elif hasattr(model, "estimators_") and all(hasattr(e, "coef_") for e in model.estimators_):
        coef = np.vstack([np.atleast_2d(e.coef_) for e in model.estimators_])
        values, method = np.abs(coef).mean(axis=0), "mean |coefficient| over tags"
    else:
        return None
    frame = pd.DataFrame({"feature": names, "importance": values})
    frame = frame.sort_values("importance", ascending=False, ignore_index=True)
    frame.attrs["method"] = method
    return frame


def permutation_importances(
    pipeline: Pipeline, X: pd.DataFrame, y, scoring, seed: int
) -> pd.DataFrame:
    """Permutation importance of each input column on held-out rows."""
    result = permutation_importance(pipeline, X, y, scoring=scoring, n_repeats=3, random_state=seed)
    frame = pd.DataFrame(
        {
            "feature": list(X.columns),
            "importance": result.importances_mean,
            "std": result.importances_std,
        }
    )
    frame = frame.sort_values("importance", ascending=False, ignore_index=True)
    frame.attrs["method"] = "permutation importance (drop in score)"
    return frame
