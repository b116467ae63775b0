"""A registered model version loaded for serving: inputs in, predictions out.

:func:`load_served_model` resolves ``models:/NAME@ALIAS`` once and keeps the fitted
scikit-learn pipeline with what a server needs to describe it (task, features, tag
names, the training profile). It never imports the web framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mlflow
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from champion.errors import ChampionError, RequestError
from champion.explain import NoFastExplainer, shap_values
from champion.features import FeatureSet, model_inputs
from champion.registry import download_holdout, require_alias
from champion.settings import Settings
from champion.spec import CLASSIFICATION_TASKS
from champion.tracking import use_tracking
from champion.training import EXAMPLES_ARTIFACT, PROFILE_ARTIFACT

BACKGROUND_ROWS = 100


@dataclass(frozen=True)
class ServedModel:
    """One loaded model version.

    Attributes:
        name, version, alias: which registry entry this is.
        pipeline: the fitted scikit-learn Pipeline (preprocessing and estimator).
        task: binary, multiclass, regression or multilabel.
        features: the input columns by kind.
        tags: the tag names of a multilabel model, in output order.
        profile: the reference profile of the training data (ranges, categories).
        background: prepared rows the SHAP explanations are measured against.
        examples: named inputs to try, ``[{"name", "values": {column: value}}]``.
    """

    name: str
    version: str
    alias: str
    pipeline: Pipeline
    task: str
    features: FeatureSet
    tags: list[str] = field(default_factory=list)
    positive_class: object = None
    profile: dict = field(default_factory=dict)
    run_id: str = ""
    background: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    examples: list[dict] = field(default_factory=list)

    @property
    def classes(self) -> list:
        return list(getattr(self.pipeline, "classes_", []))

    def prepare(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Check ``rows`` against the model's inputs and convert them to its types.

        Extra columns are ignored; numeric columns must hold numbers (or be empty).

        Raises:
            RequestError: a column is missing, or a numeric column holds text.
        """
        missing = [c for c in self.features.columns if c not in rows.columns]
        if missing:
            raise RequestError(
                f"missing column(s) {missing}; the model needs: {', '.join(self.features.columns)}",
                field=missing[0],
            )
        for column in self.features.numeric:
            values = rows[column]
            if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
                continue
            present = values.dropna()
            for value in present:
                # One by one: a JSON list or object in a cell is no number either.
                if isinstance(value, bool) or not _is_number(value):
                    raise RequestError(
                        f"column '{column}' must be a number; got {value!r}", field=column
                    )
        return model_inputs(rows, self.features)

    def predict(self, inputs: pd.DataFrame) -> np.ndarray:
        """The pipeline's predictions for prepared ``inputs`` (labels, values or tag rows)."""
        return self.pipeline.predict(inputs)

    def predict_proba(self, inputs: pd.DataFrame) -> np.ndarray | None:
        """Class probabilities (rows × classes) for classification, else None."""
        if self.task in CLASSIFICATION_TASKS and hasattr(self.pipeline, "predict_proba"):
            return self.pipeline.predict_proba(inputs)
        return None

    def explain(self, rows: pd.DataFrame) -> list[dict]:
        """Per row, each input column's SHAP contribution to the explained output.

        Raises:
            RequestError: (422) the model has no explainer that answers in time.
        """
        inputs = self.prepare(rows)
        try:
            result = shap_values(
                self.pipeline, inputs, self.background, self.task, self.positive_class, self.tags
            )
        except NoFastExplainer as e:
            raise RequestError(f"no explanation for this model: {e}", status=422) from None
        contributions = result.by_source()
        answers = []
        for index in range(len(inputs)):
            row = contributions.iloc[index]
            ordered = row.reindex(row.abs().sort_values(ascending=False).index)
            answers.append(
                {
                    "explained_output": result.outputs[index],
                    "base_value": float(result.base_values[index]),
                    "contributions": {str(k): float(v) for k, v in ordered.items()},
                }
            )
        return answers

    def describe(self, rows: pd.DataFrame) -> list[dict]:
        """Friendly per-row answers: label and probabilities, value, or predicted tags."""
        inputs = self.prepare(rows)
        predictions = self.predict(inputs)
        if self.task == "regression":
            return [{"value": float(v)} for v in predictions]
        if self.task == "multilabel":
            return [
                {"predicted_tags": [t for t, on in zip(self.tags, row, strict=True) if on]}
                for row in np.asarray(predictions)
            ]
        proba = self.predict_proba(inputs)
        answers = []
        for index, label in enumerate(predictions):
            answer = {"label": _plain(label)}
            if proba is not None:
                answer["probabilities"] = {
                    str(_plain(c)): float(p)
                    for c, p in zip(self.classes, proba[index], strict=True)
                }
            answers.append(answer)
        return answers


def _is_number(value) -> bool:
    if isinstance(value, int | float | np.number):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def _plain(value):
    """A NumPy scalar as the Python value JSON can carry."""
    return value.item() if hasattr(value, "item") else value


def load_served_model(settings: Settings, name: str, alias: str = "champion") -> ServedModel:
    """Load ``models:/name@alias`` with its metadata and training profile.

    Raises:
        NotFoundError: no such model or alias.
        ChampionError: the version was not trained by champion (no metadata).
    """
    version = require_alias(settings, name, alias)
    uri = f"models:/{name}/{version.version}"
    with use_tracking(settings):
        info = mlflow.models.get_model_info(uri)
        meta = (info.metadata or {}).get("champion")
        if meta is None:
            raise ChampionError(
                f"{uri} was not trained by champion: its MLmodel has no champion metadata"
            )
        pipeline = mlflow.sklearn.load_model(uri)
        profile = _load_profile(version.run_id)
        examples = _load_examples(version.run_id)
        background = download_holdout(version.run_id).head(BACKGROUND_ROWS)
    features = FeatureSet.from_dict(meta["features"])
    return ServedModel(
        name=name,
        version=str(version.version),
        alias=alias,
        pipeline=pipeline,
        task=meta["task"],
        features=features,
        tags=list(meta.get("tags") or []),
        positive_class=meta.get("positive_class"),
        profile=profile,
        run_id=version.run_id or "",
        background=model_inputs(background, features),
        examples=examples,
    )


def _load_profile(run_id: str | None) -> dict:
    return mlflow.artifacts.load_dict(f"runs:/{run_id}/{PROFILE_ARTIFACT}") if run_id else {}


def _load_examples(run_id: str | None) -> list[dict]:
    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{EXAMPLES_ARTIFACT}") if run_id else []
    except mlflow.exceptions.MlflowException:  # trained before examples were logged
        return []
