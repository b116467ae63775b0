"""A registered model version loaded for serving: inputs in, predictions out.

:func:`load_served_model` loads one version (named, or behind an alias) and keeps the
fitted scikit-learn pipeline with what a server needs to describe it (task, features,
tag names, the training profile, examples), after checking it on its input example. It
never imports the web framework.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import mlflow
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from champion import artifacts
from champion.errors import ModelUnavailable, NotExplainable, NotFoundError
from champion.monitoring.log import Outputs
from champion.onnx.artifact import BadArtifact
from champion.project.decision import labels_at, threshold_of, without_threshold
from champion.project.features import FeatureSet, model_inputs
from champion.project.spec import CLASSIFICATION_TASKS
from champion.registry.compiled import COMPILED, NOT_COMPILABLE, OnnxRecord, load_compiled
from champion.registry.modelio import download_model, load_pipeline
from champion.registry.tracking import client, translate_errors, use_tracking
from champion.registry.versions import require_alias
from champion.serving.inputs import Inputs, as_frame, to_inputs
from champion.serving.protocol import Rows
from champion.settings import Settings
from champion.training.explain import NoFastExplainer, shap_values

if TYPE_CHECKING:
    from champion.onnx.runtime import CompiledModel

log = logging.getLogger("champion.serving")

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
        compiled: the pipeline compiled to ONNX and verified on the holdout, or None.
        compile_note: why there is no compiled model (or what was verified).
        decision_threshold: a binary model's threshold on the positive class's
            probability (inside ``pipeline``; the ONNX path applies it to the graph's
            probabilities), else None.
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
    compiled: CompiledModel | None = field(default=None, repr=False, compare=False)
    compile_note: str = ""
    decision_threshold: float | None = None

    @property
    def inference_path(self) -> str:
        """``onnx`` when a verified ONNX graph answers, else ``sklearn`` (the pipeline)."""
        return "onnx" if self.compiled is not None else "sklearn"

    @property
    def classes(self) -> list:
        return list(getattr(self.pipeline, "classes_", []))

    def prepare(self, rows: Rows) -> Inputs:
        """Check ``rows`` against the model's inputs and convert them to its types.

        Raises:
            RequestError: a column is missing, or a numeric column holds no number.
        """
        return to_inputs(rows, self.features)

    def predict(self, inputs: Inputs) -> np.ndarray:
        """Predictions for prepared ``inputs``: labels, values, or rows of 0/1 per tag."""
        if self.compiled is not None:
            if self.decision_threshold is not None:  # the graph is the bare estimator's
                proba = self.compiled.predict_proba(inputs)
                positive = self.pipeline[-1].pos_label  # the threshold step's
                return labels_at(proba, self.classes, positive, self.decision_threshold)
            return self.compiled.predict(inputs)
        return self.pipeline.predict(as_frame(inputs))

    def predict_proba(self, inputs: Inputs) -> np.ndarray | None:
        """Class probabilities (rows × classes) for classification, else None."""
        if self.task not in CLASSIFICATION_TASKS:
            return None
        if self.compiled is not None:
            return self.compiled.predict_proba(inputs)
        if hasattr(self.pipeline, "predict_proba"):
            return self.pipeline.predict_proba(as_frame(inputs))
        return None

    def explain(self, rows: Rows) -> list[dict]:
        """Per row, each input column's SHAP contribution to the explained output (of the
        scikit-learn pipeline, whichever path serves predictions).

        Raises:
            NotExplainable: the model has no explainer that answers in time (422).
        """
        inputs = as_frame(self.prepare(rows))
        try:
            result = shap_values(
                self.pipeline, inputs, self.background, self.task, self.positive_class, self.tags
            )
        except NoFastExplainer as e:
            raise NotExplainable(f"no explanation for this model: {e}") from None
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

    def warm_explanations(self) -> bool:
        """Explain one row once, so that the first ``/explain`` costs what the next does:
        the first call imports SHAP (a second or more) and builds its first explainer.
        Returns whether an explanation was made (False for a model with no fast
        explainer, or no row to explain; either way ``/explain`` answers as before).
        Run it off the event loop: a request that comes first simply does the same work.
        """
        if self.background is None or len(self.background) == 0:
            return False
        try:
            self.explain(Rows.from_frame(self.background.head(1)))
        except NotExplainable:
            return False
        return True

    def outputs(self, predictions: np.ndarray) -> list[dict]:
        """Per row, the prediction alone, JSON-ready: ``{"label"}``, ``{"value"}`` or
        ``{"predicted_tags"}`` (what the prediction log keeps for ``/invocations``)."""
        return Outputs(self.task, np.asarray(predictions), tuple(self.tags)).rows()

    def describe(self, inputs: Inputs, predictions: np.ndarray) -> list[dict]:
        """Friendly per-row answers for prepared ``inputs`` and their ``predictions``:
        label and probabilities, value, or predicted tags."""
        answers = self.outputs(predictions)
        proba = self.predict_proba(inputs)
        if proba is not None:
            classes = [str(_plain(c)) for c in self.classes]
            for answer, row in zip(answers, proba, strict=True):
                answer["probabilities"] = {c: float(p) for c, p in zip(classes, row, strict=True)}
        return answers


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
    settings: Settings,
    name: str,
    alias: str = "champion",
    *,
    version: str | None = None,
    inference: str = "auto",
) -> ServedModel:
    """Load ``models:/name/version`` (by default the version behind ``alias``) with its
    metadata, training profile, named examples and holdout background, then warm it up
    and check it on its logged input example.

    ``inference``: ``auto`` serves the ONNX graph when the pipeline compiles and gives
    its predictions on the holdout (else the pipeline itself); ``sklearn`` never runs a
    graph; ``onnx`` requires one. The graph compiled when the version was registered is
    downloaded and checked against its digests (:mod:`champion.registry.compiled`), not
    compiled again; a version registered before that, or whose graph fails its digest
    (a warning is logged and the file is not used), is compiled here; a version tagged
    ``not_compilable`` at registration is served by the pipeline without trying again.

    Raises:
        NotFoundError: no such model, version or alias.
        ModelUnavailable: the version was not trained by champion (no metadata), is not
            a skops model within champion's allow-list (checked before any of it is
            deserialized: :mod:`champion.registry.trust`), it does not give one valid
            prediction per row of its input example, or ``onnx`` was required and the
            pipeline does not compile.
    """
    version = version or resolve_version(settings, name, alias)
    uri = f"models:/{name}/{version}"
    with use_tracking(settings), translate_errors(), tempfile.TemporaryDirectory() as tmp:
        record = OnnxRecord.from_tags(client(settings).get_model_version(name, version).tags)
        local = download_model(uri, tmp)
        logged = mlflow.models.Model.load(local)
        meta = (logged.metadata or {}).get("champion")
        if meta is None:
            raise ModelUnavailable(
                f"{uri} was not trained by champion: its MLmodel has no champion metadata"
            )
        pipeline = load_pipeline(local, uri)  # checks the format before reading it
        example = logged.load_input_example(local)
        run_id = logged.run_id
        profile = artifacts.load_profile(run_id) if run_id else {}
        examples = artifacts.load_examples(run_id) if run_id else []
        background = artifacts.load_holdout(run_id).head(BACKGROUND_ROWS)
        registered = None
        if inference != "sklearn" and record.status == COMPILED and run_id:
            registered = _registered_graph(record, run_id, uri)
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
        decision_threshold=threshold_of(pipeline),
    )
    check_on_example(model, example)
    if inference == "sklearn":
        return replace(model, compile_note="not compiled: --inference sklearn")
    if registered is not None:
        compiled = replace(model, compiled=registered, compile_note=f"ONNX, {record.evidence()}")
    elif record.status == NOT_COMPILABLE:
        reason = f"{record.reason} (found at registration)"
        if inference == "onnx":
            raise ModelUnavailable(f"version {model.version} cannot be served by ONNX: {reason}")
        return replace(model, compile_note=f"not compiled: {reason}")
    else:
        compiled = _compiled(model, inference)
    check_on_example(compiled, example)  # the ONNX session warms up here too
    return compiled


def _registered_graph(record: OnnxRecord, run_id: str, uri: str) -> CompiledModel | None:
    """The graph compiled at registration, or None (with a warning) when its files are
    missing or differ from the digests the version records: it is not the graph that
    was verified, so the server compiles the pipeline itself."""
    try:
        return load_compiled(record, run_id)
    except (BadArtifact, NotFoundError) as e:
        log.warning("%s: the ONNX graph logged at registration is not used: %s", uri, e)
        return None


def _compiled(model: ServedModel, inference: str) -> ServedModel:
    """``model`` with its pipeline compiled to ONNX, or unchanged with the reason."""
    from champion.onnx.compile import NotCompilable, compile_pipeline

    try:
        # The graph gives probabilities; ``predict`` applies the threshold to them.
        compiled = compile_pipeline(
            without_threshold(model.pipeline),
            model.features,
            model.task,
            model.background,
            classes=model.classes,
        )
    except NotCompilable as e:
        if inference == "onnx":
            raise ModelUnavailable(
                f"version {model.version} cannot be served by ONNX: {e}"
            ) from None
        log.info("version %s serves through scikit-learn: %s", model.version, e)
        return replace(model, compile_note=f"not compiled: {e}")
    note = f"ONNX, compiled at load, verified on {len(model.background)} holdout rows"
    return replace(model, compiled=compiled, compile_note=note)


def check_on_example(model: ServedModel, example: pd.DataFrame | None) -> None:
    """Warm ``model`` up on its input example and check its answers are usable: one per
    row, a known class for classification, finite numbers for regression.

    Raises:
        ModelUnavailable: naming what is wrong.
    """
    if example is None or len(example) == 0:
        raise ModelUnavailable(f"version {model.version} has no input example to check it on")
    try:
        predictions = np.asarray(model.predict(model.prepare(Rows.from_frame(example))))
    except Exception as e:  # any failure here means: do not serve this version
        raise ModelUnavailable(
            f"version {model.version} failed on its input example: {type(e).__name__}: {e}"
        ) from None
    if len(predictions) != len(example):
        raise ModelUnavailable(
            f"version {model.version} gave {len(predictions)} predictions for "
            f"{len(example)} example rows"
        )
    if model.task in CLASSIFICATION_TASKS and not set(predictions.tolist()) <= set(model.classes):
        raise ModelUnavailable(f"version {model.version} predicted classes it does not know")
    if model.task == "regression" and not np.isfinite(predictions.astype(float)).all():
        raise ModelUnavailable(f"version {model.version} predicted non-finite values")
