"""Running a compiled graph: :class:`CompiledModel` answers like the pipeline it came from.

A :class:`CompiledModel` takes the model's inputs column by column, as
:func:`champion.project.features.model_inputs` produces them (see :func:`columns_of`),
feeds them to an onnxruntime session and answers what ``pipeline.predict`` /
``pipeline.predict_proba`` answer: the same labels (same dtype), values, tag indicator
rows and probabilities. What turns the graph's outputs into those answers is a
:class:`Plan`, written by :mod:`champion.onnx.compile`.

This module is the serving hot path: it does per request only what the plan says
(no conversion, no checks). It imports onnxruntime when the first session is made,
and of champion only ``champion.project``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from champion.project.categories import MISSING, canonical_category, is_missing
from champion.project.features import FeatureSet


@dataclass(frozen=True)
class InputColumn:
    """One model input column and how its values are fed to the graph."""

    column: str
    name: str  # the ONNX input name
    kind: str  # "numeric", "category" (read by AsCategories) or "text" (by TextColumn)


@dataclass(frozen=True)
class Plan:
    """What, besides the graph, turns columns into the pipeline's answers.

    ``decode`` says what the graph's first output holds: ``"values"`` (regression
    values, or a 0/1 tag matrix), ``"classes"`` (class labels as skl2onnx spells them:
    str, or int64 for integer and boolean classes) or ``"tag_index"`` (per tag, the
    position of the predicted class in that tag's ``classes_``: multi-output forests).
    """

    inputs: tuple[InputColumn, ...]
    label_output: str
    proba_output: str | None
    decode: str
    predict_dtype: np.dtype
    predict_ndim: int
    classes: np.ndarray | None = None
    label_keys: np.ndarray | None = None  # the classes as the graph spells them, sorted
    label_order: np.ndarray | None = None  # where each sorted key sits in ``classes``
    tag_classes: tuple[np.ndarray, ...] = ()
    proba_split: tuple[int, ...] = ()  # columns per tag when probabilities are per tag

    def feeds(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {}
        for item in self.inputs:
            values = columns[item.column]
            if item.kind == "numeric":
                feeds[item.name] = np.asarray(values, dtype=np.float64).reshape(-1, 1)
            else:
                feeds[item.name] = _strings(values, item.kind).reshape(-1, 1)
        return feeds

    def predictions(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw)
        n_rows = raw.shape[0]
        if self.decode == "classes":
            return self._classes_of(raw.ravel())
        if self.decode == "tag_index":
            index = raw.reshape(n_rows, -1)
            out = np.empty(index.shape, dtype=self.predict_dtype)
            for k, classes in enumerate(self.tag_classes):
                out[:, k] = classes.take(index[:, k])
            return out
        shape = (n_rows,) if self.predict_ndim == 1 else (n_rows, -1)
        return raw.reshape(shape).astype(self.predict_dtype, copy=False)

    def probabilities(self, raw: np.ndarray) -> np.ndarray | list[np.ndarray]:
        proba = np.asarray(raw, dtype=np.float64)
        if not self.proba_split:
            return proba
        bounds = np.cumsum(self.proba_split)[:-1]
        return np.split(proba, bounds, axis=1)

    def _classes_of(self, raw: np.ndarray) -> np.ndarray:
        """The graph's labels as the pipeline's classes (their values and dtype)."""
        # In place and without np.array_equal's checks: on a one-row request these
        # few calls cost as much as running the graph.
        keys = raw.astype(self.label_keys.dtype, copy=False)
        positions = self.label_keys.searchsorted(keys)
        np.minimum(positions, len(self.label_keys) - 1, out=positions)
        if not (self.label_keys[positions] == keys).all():
            raise ValueError("the graph answered a label that is not a class")
        return self.classes[self.label_order[positions]]


class CompiledModel:
    """A Pipeline compiled to ONNX, run with onnxruntime.

    Inputs are columnar: ``{column: 1-D array}`` for every column of the feature set,
    numeric columns float64 with NaN for missing, the others object arrays of str with
    None for missing (what ``model_inputs`` holds; see :func:`columns_of`).

    The inference session is created on first use in each process (``os.getpid()``):
    the server loads models and then forks its workers, and an onnxruntime session
    must not cross a fork. A session runs on one thread: a request is usually one row,
    and the server runs several worker processes.

    Attributes:
        path: ``"onnx"``, the name of this inference path (the fallback is scikit-learn).
        onnx_bytes: the serialised ONNX model.
        nbytes: its size in bytes.
    """

    path = "onnx"

    def __init__(self, onnx_bytes: bytes, plan: Plan) -> None:
        self.onnx_bytes = onnx_bytes
        self._plan = plan
        self._session = None
        self._pid: int | None = None

    @property
    def nbytes(self) -> int:
        return len(self.onnx_bytes)

    def predict(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """What ``pipeline.predict`` returns for the same rows: labels (the original
        classes, same dtype), values (float64), or the tag indicator matrix."""
        raw = self._run(columns, self._plan.label_output)
        return self._plan.predictions(raw)

    def predict_proba(
        self, columns: Mapping[str, np.ndarray]
    ) -> np.ndarray | list[np.ndarray] | None:
        """What ``pipeline.predict_proba`` returns for the same rows (float64, columns
        in ``pipeline.classes_`` order), or None when the pipeline gives none
        (regression, or an estimator without ``predict_proba`` such as a one-vs-rest
        LinearSVC).

        Multilabel models answer like scikit-learn: one-vs-rest gives a rows × tags
        matrix of each tag's probability; a random forest a list with one rows ×
        classes array per tag.
        """
        if self._plan.proba_output is None:
            return None
        return self._plan.probabilities(self._run(columns, self._plan.proba_output))

    def _run(self, columns: Mapping[str, np.ndarray], output: str) -> np.ndarray:
        return self._session_here().run([output], self._plan.feeds(columns))[0]

    def _session_here(self):
        pid = os.getpid()
        if self._session is None or self._pid != pid:
            self._session = _new_session(self.onnx_bytes)
            self._pid = pid
        return self._session

    def __getstate__(self) -> dict:
        # A session belongs to one process: ship the bytes, build it again on arrival.
        return {**self.__dict__, "_session": None, "_pid": None}


def _new_session(onnx_bytes: bytes):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(
        onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
    )


def _strings(values, kind: str) -> np.ndarray:
    """String values as the pipeline's first step makes them, since an ONNX string
    tensor has no missing value: ``AsCategories`` spells missing ``"__missing__"`` and
    every value canonically, ``TextColumn`` spells missing ``""``."""
    if kind == "text":
        out = ["" if is_missing(v) else str(v) for v in values]
    else:
        out = [
            MISSING if is_missing(v) else (v if type(v) is str else canonical_category(v))
            for v in values
        ]
    return np.array(out, dtype=object)


def columns_of(frame: pd.DataFrame, features: FeatureSet) -> dict[str, np.ndarray]:
    """A :func:`~champion.project.features.model_inputs` DataFrame as ``{column: 1-D array}``:
    float64 for numeric columns, object arrays of str (None for missing) for the rest."""
    columns = {}
    for column in features.columns:
        values = frame[column]
        if column in features.numeric:
            columns[column] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            columns[column] = np.array([None if is_missing(v) else v for v in values], dtype=object)
    return columns


def plan_of(compiled: CompiledModel) -> Plan:
    """The plan ``compiled`` answers by (what :mod:`champion.onnx.artifact` saves)."""
    return compiled._plan
