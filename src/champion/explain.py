"""Explanations of a fitted champion pipeline: SHAP values and feature importance.

SHAP runs on the model's own input space (after preprocessing) with the cheapest exact
explainer that fits the final estimator (tree, linear), else the model-agnostic
permutation explainer. :func:`group_by_source` adds up the contributions of the columns
one input produced (one-hot levels, TF-IDF terms): additive, so still a SHAP value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline

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


def shap_values(
    pipeline: Pipeline, rows: pd.DataFrame, background: pd.DataFrame, task: str, pos_label=None
) -> ShapResult:
    """Explain ``rows`` against ``background`` (both raw input rows).

    Binary classification explains the positive class, multiclass and multilabel the
    predicted class or top tag of each row, regression the predicted value.
    """
    import shap

    preprocessor, model = pipeline[:-1], pipeline[-1]
    data = np.asarray(preprocessor.transform(rows), dtype=float)
    back = np.asarray(preprocessor.transform(background), dtype=float)
    names, sources = feature_sources(pipeline[0])
    kind = type(model).__name__
    if any(kind.startswith(t) for t in _TREE_MODELS):
        explainer = shap.TreeExplainer(model, back, feature_perturbation="interventional")
        explanation = explainer(data, check_additivity=False)
    elif hasattr(model, "coef_") and task != "multilabel":
        explanation = shap.LinearExplainer(model, back)(data)
    else:
        explanation = shap.PermutationExplainer(_output_function(model, task), back)(
            data, max_evals=2 * data.shape[1] + 1, silent=True
        )
    values = np.asarray(explanation.values, dtype=float)
    base = np.asarray(explanation.base_values, dtype=float)
    if values.ndim == 2:
        labels = ["value" if task == "regression" else str(pos_label)] * len(rows)
        base = (
            base.reshape(len(rows), -1)[:, 0] if base.size > 1 else np.full(len(rows), float(base))
        )
        return ShapResult(values, data, base, names, sources, labels)
    classes = _output_labels(model, values.shape[2])
    if task == "binary":
        chosen = np.full(len(rows), classes.index(pos_label) if pos_label in classes else 1)
    else:
        chosen = np.asarray(_output_function(model, task)(data)).argmax(axis=1)
    picked = values[np.arange(len(rows)), :, chosen]
    base = base.reshape(len(rows), -1)[np.arange(len(rows)), chosen]
    return ShapResult(picked, data, base, names, sources, [str(classes[i]) for i in chosen])


def _output_function(model, task: str):
    if task == "regression":
        return model.predict
    if hasattr(model, "predict_proba"):
        return _stacked_proba(model) if task == "multilabel" else model.predict_proba
    return model.decision_function


def _stacked_proba(model):
    def proba(data):
        out = model.predict_proba(data)
        if isinstance(out, list):  # multi-output forests: one (n, 2) array per tag
            return np.column_stack([p[:, -1] for p in out])
        return out

    return proba


def _output_labels(model, n_outputs: int) -> list:
    classes = getattr(model, "classes_", None)
    if classes is not None and np.ndim(classes) == 1 and len(classes) == n_outputs:
        return list(classes)
    return list(range(n_outputs))


def native_importance(pipeline: Pipeline) -> pd.DataFrame | None:
    """The final estimator's own importance (``feature_importances_`` or ``|coef_|``),
    per model feature, most important first; None if it has neither."""
    model = pipeline[-1]
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
    result = permutation_importance(pipeline, X, y, scoring=scoring, n_repeats=5, random_state=seed)
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
