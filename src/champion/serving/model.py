"""A registered model version loaded for serving: inputs in, predictions out.

:func:`load_served_model` loads one version (named, or behind an alias) and keeps the
fitted scikit-learn pipeline with what a server needs to describe it (task, features,
tag names, the training profile, examples), after checking it on its input example. It
never imports the web framework.
"""

from __future__ import annotations

import tempfile
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
from champion.tracking import client, translate_errors, use_tracking
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
    def inference_path(self) -> str:
        """``sklearn``: predictions come from the fitted pipeline itself."""
        return "sklearn"

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

    def describe(self, inputs: pd.DataFrame, predictions: np.ndarray) -> list[dict]:
        """Friendly per-row answers for prepared ``inputs`` and their ``predictions``:
        label and probabilities, value, or predicted tags."""
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


def resolve_version(settings: Settings, name: str, reference: str) -> str:
    """The version number ``reference`` names: a version itself, or an alias.

    Raises:
        NotFoundError: no such model, version or alias.
        TrackingError: the tracking store cannot be reached.
    """
    if reference.isdigit():
        with translate_errors():
            return str(client(settings).get_model_version(name, reference).version)
    return str(require_alias(settings, name, reference).version)


def load_served_model(
    settings: Settings, name: str, alias: str = "champion", *, version: str | None = None
) -> ServedModel:
    """Load ``models:/name/version`` (by default the version behind ``alias``) with its
    metadata, training profile, named examples and holdout background, then warm it up
    and check it on its logged input example.

    Raises:
        NotFoundError: no such model, version or alias.
        ChampionError: the version was not trained by champion (no metadata), or it does
            not give one valid prediction per row of its input example.
    """
    version = version or resolve_version(settings, name, alias)
    uri = f"models:/{name}/{version}"
    with use_tracking(settings), translate_errors(), tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(uri, dst_path=tmp)
        logged = mlflow.models.Model.load(local)
        meta = (logged.metadata or {}).get("champion")
        if meta is None:
            raise ChampionError(
                f"{uri} was not trained by champion: its MLmodel has no champion metadata"
            )
        pipeline = mlflow.sklearn.load_model(local)
        example = logged.load_input_example(local)
        run_id = logged.run_id
        profile = _load_profile(run_id)
        examples = _load_examples(run_id)
        background = download_holdout(run_id).head(BACKGROUND_ROWS)
    features = FeatureSet.from_dict(meta["features"])
    model = ServedModel(
        name=name,
        version=str(version),
        alias=alias,
        pipeline=pipeline,
        task=meta["task"],
        features=features,
        tags=list(meta.get("tags") or []),
        positive_class=meta.get("positive_class"),
        profile=profile,
        run_id=run_id or "",
        background=model_inputs(background, features),
        examples=examples,
    )
    check_on_example(model, example)
    return model


def check_on_example(model: ServedModel, example: pd.DataFrame | None) -> None:
    """Warm ``model`` up on its input example and check its answers are usable: one per
    row, a known class for classification, finite numbers for regression.

    Raises:
        ChampionError: naming what is wrong.
    """
    if example is None or len(example) == 0:
        raise ChampionError(f"version {model.version} has no input example to check it on")
    try:
        predictions = np.asarray(model.predict(model.prepare(example)))
    except Exception as e:  # any failure here means: do not serve this version
        raise ChampionError(
            f"version {model.version} failed on its input example: {type(e).__name__}: {e}"
        ) from None
    if len(predictions) != len(example):
        raise ChampionError(
            f"version {model.version} gave {len(predictions)} predictions for "
            f"{len(example)} example rows"
        )
    if model.task in CLASSIFICATION_TASKS and not set(predictions.tolist()) <= set(model.classes):
        raise ChampionError(f"version {model.version} predicted classes it does not know")
    if model.task == "regression" and not np.isfinite(predictions.astype(float)).all():
        raise ChampionError(f"version {model.version} predicted non-finite values")


def _load_profile(run_id: str | None) -> dict:
    return mlflow.artifacts.load_dict(f"runs:/{run_id}/{PROFILE_ARTIFACT}") if run_id else {}


def _load_examples(run_id: str | None) -> list[dict]:
    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{EXAMPLES_ARTIFACT}") if run_id else []
    except mlflow.exceptions.MlflowException:  # trained before examples were logged
        return []
