"""A fitted champion Pipeline compiled to ONNX and run with onnxruntime.

:func:`compile_pipeline` converts the whole Pipeline (the ``ColumnTransformer``
preprocessing and the estimator) with skl2onnx, then runs the ONNX graph and the
Pipeline side by side on rows the caller supplies and keeps the graph only if both
answer the same. Anything it cannot convert, or that answers differently, raises
:class:`NotCompilable` with the reason, so the server falls back to scikit-learn.

A :class:`CompiledModel` takes the model's inputs column by column, as
:func:`champion.project.features.model_inputs` produces them, and answers what
``pipeline.predict`` / ``pipeline.predict_proba`` answer: the same labels (same
dtype), values, tag indicator rows and probabilities.

The graph computes in double precision, like scikit-learn (the trees of a forest
read their input as float32, as scikit-learn's do). Where skl2onnx would not, or
would answer differently, this module brings its own converter, passed to skl2onnx
per call so nothing is registered globally: the imputer (skl2onnx writes float32
fill values), one-hot and ordinal encoders (skl2onnx rejects unseen categories),
tree ensembles (float32 thresholds and sums; histogram boosting fails), SVC/SVR
(onnxruntime's SVM operators compute in float32, and SVMRegressor has no double
kernel) and one-vs-rest over tags (skl2onnx thresholds at 0.5 where scikit-learn
thresholds decision functions at 0); and champion's own transformers.
"""

from __future__ import annotations

import copy
import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import is_classifier
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.impute import SimpleImputer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder
from sklearn.svm import SVC, SVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from champion.project.categories import MISSING, canonical_category, is_missing
from champion.project.features import FeatureSet
from champion.project.transformers import (
    AsCategories,
    OutlierCapper,
    SkewLogTransformer,
    TextColumn,
)

# ONNX opsets of the graph: onnxruntime 1.23 runs opset 21. skl2onnx writes ai.onnx.ml
# up to 3; a graph with a TreeEnsemble node (ai.onnx.ml 5, whose thresholds, leaf
# values and sums are double, where version 3's sums are float32) is declared 5 after
# conversion. The other ai.onnx.ml operators written here (LabelEncoder and the like)
# mean the same in 5; a graph onnxruntime would not load fails verification.
TARGET_OPSET = {"": 21, "ai.onnx.ml": 3}
TREE_ENSEMBLE_OPSET = 5
# onnxruntime 1.23 reads models up to IR version 10 (onnx 1.20 writes newer ones).
IR_VERSION = 10
# Verification tolerances. The graph computes in double like scikit-learn, so its
# values differ only by the order of sums and by ulps of exp/log (about 1e-15
# relative). The bounds leave room for that while a wrong step or a flipped tree
# branch moves a prediction by far more: a regression value relative 1e-5 (absolute
# 1e-6 near zero), a probability 1e-5.
VALUE_RTOL = 1e-5
VALUE_ATOL = 1e-6
PROBA_ATOL = 1e-5
# The locale onnxruntime lowercases text in (StringNormalizer).
TEXT_LOCALE = "C.UTF-8"
# A category no training row had; the edge rows added to the checked rows carry it.
UNSEEN_CATEGORY = "__champion_unseen__"


class NotCompilable(Exception):
    """The pipeline cannot be served through ONNX; the message says why."""


# ---------------------------------------------------------------------------------------
# The compiled model


@dataclass(frozen=True)
class _Input:
    """One model input column and how its values are fed to the graph."""

    column: str
    name: str  # the ONNX input name
    kind: str  # "numeric", "category" (read by AsCategories) or "text" (by TextColumn)


@dataclass(frozen=True)
class _Plan:
    """What, besides the graph, turns columns into the pipeline's answers.

    ``decode`` says what the graph's first output holds: ``"values"`` (regression
    values, or a 0/1 tag matrix), ``"classes"`` (class labels as skl2onnx spells them:
    str, or int64 for integer and boolean classes) or ``"tag_index"`` (per tag, the
    position of the predicted class in that tag's ``classes_``: multi-output forests).
    """

    inputs: tuple[_Input, ...]
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
        keys = raw.astype(self.label_keys.dtype)
        positions = np.searchsorted(self.label_keys, keys)
        positions = np.minimum(positions, len(self.label_keys) - 1)
        if not np.array_equal(self.label_keys[positions], keys):
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

    def __init__(self, onnx_bytes: bytes, plan: _Plan) -> None:
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


# ---------------------------------------------------------------------------------------
# Compilation


def compile_pipeline(
    pipeline: Pipeline,
    features: FeatureSet,
    task: str,
    check_inputs: pd.DataFrame,
    *,
    classes=None,
) -> CompiledModel:
    """Compile ``pipeline`` to ONNX and verify it answers like the pipeline.

    Args:
        pipeline: the fitted champion Pipeline (preprocessing ColumnTransformer, then
            the estimator).
        features: the model's input columns by kind.
        task: binary, multiclass, regression or multilabel.
        check_inputs: prepared rows (``model_inputs`` output, e.g. the holdout) to
            compare the two on. A row with every value missing and one with unseen
            categories are added, since a server receives such rows.
        classes: the labels ``predict`` answers with, in ``pipeline.classes_`` order,
            if not ``pipeline.classes_`` itself (each with the same string or integer
            form as its counterpart there, and cast to its dtype).

    Verified on those rows: labels and tag rows equal (same dtype), regression
    values within ``VALUE_RTOL``/``VALUE_ATOL``, probabilities within ``PROBA_ATOL``.

    Converts SimpleImputer, OutlierCapper, SkewLogTransformer, the scalers,
    One-hot/OrdinalEncoder (with infrequent categories), LogisticRegression, Ridge
    and other linear models, random forests, extra trees and decision trees, histogram
    gradient boosting, SVC (calibrated) and SVR, and one-vs-rest over linear
    classifiers for multilabel tasks. Text columns (TF-IDF with ``sublinear_tf``, or
    with stop words and n-grams) are refused: skl2onnx's converter would answer
    differently.

    Raises:
        NotCompilable: a step has no converter, the conversion failed, or the graph
            answers differently; never anything else.
    """
    try:
        return _compile(pipeline, features, task, check_inputs, classes)
    except NotCompilable:
        raise
    except Exception as e:  # the server must fall back, whatever went wrong
        raise NotCompilable(f"conversion failed: {type(e).__name__}: {_short(e)}") from e


def _short(error: Exception, limit: int = 300) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _compile(pipeline, features, task, check_inputs, classes) -> CompiledModel:
    if len(check_inputs) == 0:
        raise NotCompilable("no rows to verify the compiled model on")
    declared = _inputs(features, _string_kinds(pipeline, features))
    _check_supported(pipeline)
    onnx_bytes, graph_inputs, outputs = _convert(pipeline, declared)
    # skl2onnx drops inputs no step reads; only the graph's own are fed.
    inputs = tuple(item for item in declared if item.name in graph_inputs)
    rows = _with_edge_rows(check_inputs, features, pipeline)
    expected = pipeline.predict(rows)
    expected_proba = _probabilities(pipeline, task, rows)
    plan = _plan(pipeline, task, inputs, outputs, classes, expected, expected_proba)
    compiled = CompiledModel(onnx_bytes, plan)
    _verify(compiled, columns_of(rows, features), expected, expected_proba, task)
    return compiled


def _probabilities(pipeline, task: str, rows: pd.DataFrame):
    """``pipeline.predict_proba(rows)``, or None if it has none. A one-vs-rest model
    whose first tag never varied in training claims ``predict_proba`` even over
    estimators without it (LinearSVC), and raises AttributeError when called."""
    if task == "regression" or not hasattr(pipeline, "predict_proba"):
        return None
    try:
        return pipeline.predict_proba(rows)
    except AttributeError:
        return None


def _string_kinds(pipeline: Pipeline, features: FeatureSet) -> dict[str, str]:
    """How each non-numeric column is spelled before the graph sees it: by the first
    step of the ``ColumnTransformer`` branch that reads it (``AsCategories`` or
    ``TextColumn``); that spelling happens in Python, the rest in the graph."""
    preprocess = _column_transformer(pipeline)
    kinds: dict[str, str] = {}
    for name, transformer, columns in preprocess.transformers_:
        if name == "remainder" or isinstance(transformer, str):
            continue
        first = transformer.steps[0][1] if isinstance(transformer, Pipeline) else transformer
        kind = {AsCategories: "category", TextColumn: "text"}.get(type(first), "numeric")
        for column in columns:
            if not isinstance(column, str):
                raise NotCompilable(f"step '{name}' selects columns by position, not name")
            if kind == "numeric" and column not in features.numeric:
                raise NotCompilable(
                    f"column '{column}' holds strings but step '{name}' starts with "
                    f"{type(first).__name__}, not AsCategories or TextColumn"
                )
            if kinds.setdefault(column, kind) != kind:
                raise NotCompilable(f"column '{column}' is read as both {kinds[column]} and {kind}")
    return kinds


def _column_transformer(pipeline: Pipeline) -> ColumnTransformer:
    if not isinstance(pipeline, Pipeline) or not isinstance(
        pipeline.steps[0][1], ColumnTransformer
    ):
        raise NotCompilable(
            "not a champion pipeline: the first step must be the preprocessing ColumnTransformer"
        )
    preprocess = pipeline.steps[0][1]
    if preprocess.remainder != "drop":
        raise NotCompilable("the preprocessing passes its remainder columns through")
    return preprocess


def _check_supported(pipeline: Pipeline) -> None:
    """Name the first step that has no converter (skl2onnx's or this module's).

    Reads skl2onnx's registry, which is private: if it moved, the conversion itself
    still fails on such a step, with skl2onnx's less direct message."""
    import skl2onnx  # noqa: F401  (importing it registers its converters)

    try:
        from skl2onnx._supported_operators import sklearn_operator_name_map
        from skl2onnx.common._registration import _converter_pool
    except ImportError:
        return
    for where, step in _leaves(pipeline, ""):
        reason = _unfaithful(step)
        if reason:
            raise NotCompilable(f"no faithful ONNX converter for {reason} (step '{where}')")
        if type(step) in _CONVERTERS:
            continue
        alias = sklearn_operator_name_map.get(type(step))
        if alias is None or alias not in _converter_pool:
            raise NotCompilable(f"no ONNX converter for {type(step).__name__} (step '{where}')")


def _unfaithful(step) -> str | None:
    """Why skl2onnx's converter for ``step`` would answer differently, if it would."""
    if not isinstance(step, CountVectorizer):  # TfidfVectorizer is one
        return None
    name = type(step).__name__
    if step.tokenizer is not None or step.preprocessor is not None:
        return f"{name} with a custom tokenizer or preprocessor"
    if getattr(step, "sublinear_tf", False):
        return f"{name} with sublinear_tf=True (skl2onnx leaves term counts unscaled)"
    if step.stop_words is not None and step.ngram_range[1] > 1:
        # scikit-learn forms n-grams after dropping stop words; ONNX's TfIdfVectorizer
        # counts n-grams of the text as written.
        return f"{name} with stop words and n-grams longer than one word"
    return None


def _leaves(step, where: str):
    """Every estimator inside ``step``, with where it sits (``preprocess/num/cap``)."""
    if isinstance(step, Pipeline):
        for name, inner in step.steps:
            if inner not in (None, "passthrough"):
                yield from _leaves(inner, f"{where}/{name}".lstrip("/"))
    elif isinstance(step, ColumnTransformer):
        for name, inner, _ in step.transformers_:
            if not isinstance(inner, str):
                yield from _leaves(inner, f"{where}/{name}")
    elif isinstance(step, CalibratedClassifierCV):
        yield where, step
        for calibrated in step.calibrated_classifiers_:
            yield from _leaves(calibrated.estimator, f"{where}/calibrated")
    elif isinstance(step, OneVsRestClassifier):
        yield where, step
        for inner in step.estimators_:
            yield from _leaves(inner, f"{where}/one-vs-rest")
    else:
        yield where, step


def _inputs(features: FeatureSet, kinds: dict[str, str]) -> tuple[_Input, ...]:
    # Plain ONNX names (column names may hold spaces or punctuation); the plan maps them.
    return tuple(
        _Input(column, f"input_{i}", "numeric" if column in features.numeric else kinds[column])
        for i, column in enumerate(features.columns)
        if column in kinds or column in features.numeric
    )


def _convert(pipeline: Pipeline, inputs: tuple[_Input, ...]) -> tuple[bytes, set[str], list[str]]:
    """The ONNX model, the names of its inputs and of its outputs (label first, then
    the probabilities of a classifier)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

    # Numeric columns are double: float32 would round values and tree thresholds, and
    # a value next to a threshold could take the other branch.
    initial_types = [
        (
            item.name,
            DoubleTensorType([None, 1]) if item.kind == "numeric" else StringTensorType([None, 1]),
        )
        for item in inputs
    ]
    renamed = _renamed_columns(pipeline, {item.column: item.name for item in inputs})
    # Probabilities as a plain matrix, not skl2onnx's default list of dicts (ZipMap).
    estimator = renamed.steps[-1][1]
    options = {id(estimator): {"zipmap": False}} if is_classifier(estimator) else {}
    # Text: onnxruntime lowercases in a named locale; skl2onnx's default (en_US.UTF-8)
    # is often not installed on servers, C.UTF-8 is (glibc).
    for _, step in _leaves(renamed, ""):
        if isinstance(step, CountVectorizer):  # TfidfVectorizer is one
            options[id(step)] = {"locale": TEXT_LOCALE, "tokenexp": _token_regex(step)}
    model = convert_sklearn(
        renamed,
        initial_types=initial_types,
        target_opset=TARGET_OPSET,
        options=options or None,
        custom_conversion_functions=_CONVERTERS,
        custom_shape_calculators=_SHAPES,
    )
    model.ir_version = min(model.ir_version, IR_VERSION)
    if any(node.op_type == "TreeEnsemble" for node in model.graph.node):
        for opset in model.opset_import:
            if opset.domain == "ai.onnx.ml":
                opset.version = max(opset.version, TREE_ENSEMBLE_OPSET)
    inputs = {variable.name for variable in model.graph.input}
    return model.SerializeToString(), inputs, [output.name for output in model.graph.output]


def _token_regex(vectorizer) -> str:
    """scikit-learn's default token pattern, ``(?u)\\b\\w\\w+\\b``, in onnxruntime's RE2:
    runs of two or more letters, digits or underscores (what Python's Unicode ``\\w``
    matches). skl2onnx's own replacement, ``[a-zA-Z0-9_]+``, splits accented words."""
    if vectorizer.token_pattern == r"(?u)\b\w\w+\b":
        return r"[\pL\pN_][\pL\pN_]+"
    return vectorizer.token_pattern


def _renamed_columns(pipeline: Pipeline, names: dict[str, str]) -> Pipeline:
    """A shallow copy of ``pipeline`` whose ColumnTransformer selects the ONNX input
    names; the fitted steps themselves are shared, not copied."""
    preprocess = copy.copy(pipeline.steps[0][1])
    preprocess.transformers_ = [
        (name, step, columns if isinstance(step, str) else [names[c] for c in columns])
        for name, step, columns in preprocess.transformers_
    ]
    renamed = copy.copy(pipeline)
    renamed.steps = [(pipeline.steps[0][0], preprocess), *pipeline.steps[1:]]
    return renamed


def _with_edge_rows(rows: pd.DataFrame, features: FeatureSet, pipeline) -> pd.DataFrame:
    """``rows`` plus a row with every value missing and one with unseen categories,
    when the pipeline itself accepts them."""
    numeric = set(features.numeric)
    edge = pd.DataFrame(
        {
            column: pd.Series(
                [np.nan, np.nan] if column in numeric else [None, UNSEEN_CATEGORY],
                dtype="float64" if column in numeric else object,
            )
            for column in features.columns
        }
    )
    rows = rows[features.columns].reset_index(drop=True)
    try:
        pipeline.predict(edge)
    except Exception:
        return rows
    return pd.concat([rows, edge], ignore_index=True)


def _plan(pipeline, task, inputs, outputs, classes, expected, expected_proba) -> _Plan:
    expected = np.asarray(expected)
    has_proba = expected_proba is not None
    if has_proba and len(outputs) < 2:
        raise NotCompilable("the compiled graph has no probability output")
    common = {
        "inputs": inputs,
        "label_output": outputs[0],
        "proba_output": outputs[1] if has_proba else None,
        "predict_dtype": expected.dtype,
        "predict_ndim": expected.ndim,
        "proba_split": tuple(p.shape[1] for p in expected_proba)
        if isinstance(expected_proba, list)
        else (),
    }
    estimator = pipeline.steps[-1][1]
    if isinstance(getattr(estimator, "classes_", None), list):  # a multi-output forest
        tags = tuple(np.asarray(c) for c in estimator.classes_)  # lengths may differ
        return _Plan(**common, decode="tag_index", tag_classes=tags)
    single_output_tree = task == "multilabel" and isinstance(estimator, _TREE_CLASSIFIERS)
    if task in ("binary", "multiclass") or single_output_tree:
        reference = np.asarray(pipeline.classes_)
        classes = reference if classes is None else np.asarray(classes, dtype=reference.dtype)
        keys = _label_keys(classes)
        order = np.argsort(keys, kind="stable")
        return _Plan(
            **common,
            decode="classes",
            classes=classes,
            label_keys=keys[order],
            label_order=order,
        )
    return _Plan(**common, decode="values")


def _label_keys(classes: np.ndarray) -> np.ndarray:
    """The classes as the graph spells them (like skl2onnx): strings as strings,
    integers and booleans as int64."""
    if classes.dtype.kind in "OUS":
        keys = np.array([str(c) for c in classes], dtype=object)
        if len(set(keys)) != len(keys):
            raise NotCompilable("two classes have the same string form")
        return keys
    if classes.dtype.kind not in "biu":
        raise NotCompilable(f"class labels {classes.tolist()} are neither integers nor strings")
    return classes.astype(np.int64)


# ---------------------------------------------------------------------------------------
# Verification


def _verify(compiled, columns, expected, expected_proba, task) -> None:
    """Compare the compiled model's answers with the pipeline's on the same rows."""
    n_rows = len(next(iter(columns.values())))
    got = compiled.predict(columns)
    expected = np.asarray(expected)
    if got.shape != expected.shape or got.dtype != expected.dtype:
        raise NotCompilable(
            f"verification failed: predictions are {got.dtype} {got.shape}, "
            f"the pipeline's {expected.dtype} {expected.shape}"
        )
    if task == "regression":
        close = np.isclose(got, expected, rtol=VALUE_RTOL, atol=VALUE_ATOL)
        if not close.all():
            worst = float(np.max(np.abs(got - expected)))
            raise NotCompilable(
                f"verification failed: {int((~close).sum())} of {n_rows} values differ "
                f"(by up to {worst:.3g})"
            )
    else:
        same = got == expected
        if not np.all(same):
            differ = int((~same).reshape(n_rows, -1).any(axis=1).sum())
            raise NotCompilable(f"verification failed: {differ} of {n_rows} labels differ")
    if expected_proba is not None:
        _compare_proba(compiled.predict_proba(columns), expected_proba, n_rows)


def _compare_proba(got, expected, n_rows: int) -> None:
    if isinstance(expected, list) != isinstance(got, list):
        raise NotCompilable("verification failed: probabilities are not shaped like the pipeline's")
    pairs = zip(got, expected, strict=True) if isinstance(expected, list) else [(got, expected)]
    for part, reference in pairs:
        part, reference = np.asarray(part), np.asarray(reference)
        if part.shape != reference.shape:
            raise NotCompilable(
                f"verification failed: probabilities have shape {part.shape}, "
                f"the pipeline's {reference.shape}"
            )
        gap = np.abs(part - reference)
        if not np.all(gap <= PROBA_ATOL):  # also false for NaN
            rows = int((~(gap <= PROBA_ATOL)).any(axis=1).sum())
            raise NotCompilable(
                f"verification failed: probabilities of {rows} of {n_rows} rows differ "
                f"(by up to {float(np.nanmax(gap)):.3g})"
            )


# ---------------------------------------------------------------------------------------
# Converters. skl2onnx calls each with (scope, operator, container): the operator's
# ``raw_operator`` is the fitted step, its ``inputs``/``outputs`` graph variables. Each
# converter here receives them wrapped in a _Graph.

DOUBLE, FLOAT, INT64 = 11, 1, 7  # onnx.TensorProto element types, for Cast


class _Graph:
    """Adds the nodes of one step to the graph skl2onnx is building."""

    def __init__(self, scope, operator, container) -> None:
        self.scope, self.operator, self.container = scope, operator, container
        self.model = operator.raw_operator

    def input(self) -> str:
        """The step's input as one matrix (its input variables side by side)."""
        names = [variable.full_name for variable in self.operator.inputs]
        return names[0] if len(names) == 1 else self.op("Concat", *names, axis=1)

    def output(self, index: int = 0) -> str:
        return self.operator.outputs[index].full_name

    def const(self, values, name: str = "const") -> str:
        from onnx.helper import np_dtype_to_tensor_dtype

        values = np.asarray(values)
        unique = self.scope.get_unique_variable_name(name)
        onnx_type = np_dtype_to_tensor_dtype(values.dtype)
        self.container.add_initializer(unique, onnx_type, list(values.shape), values.ravel())
        return unique

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs) -> str:
        """Add one node; its output is ``out`` or a new variable, returned."""
        out = out or self.scope.get_unique_variable_name(op_type.lower())
        name = self.scope.get_unique_operator_name(op_type)
        self.container.add_node(op_type, list(inputs), [out], name=name, **attrs)
        return out

    def column(self, x: str, index: int) -> str:
        """Column ``index`` of matrix ``x``, as an (N, 1) matrix."""
        return self.op("Gather", x, self.const(np.array([index], dtype=np.int64)), axis=1)

    @property
    def float_type(self) -> type:
        from skl2onnx.common.data_types import DoubleTensorType

        is_double = isinstance(self.operator.inputs[0].type, DoubleTensorType)
        return np.float64 if is_double else np.float32


def _converter(build):
    """A skl2onnx converter from a function of a _Graph."""

    def convert(scope, operator, container) -> None:
        build(_Graph(scope, operator, container))

    convert.__doc__ = build.__doc__
    return convert


# Shape calculators: the types and shapes of a step's outputs.


def _same_shape(operator) -> None:
    first = operator.inputs[0]
    width = sum(variable.get_second_dimension() or 0 for variable in operator.inputs)
    operator.outputs[0].type = first.type.__class__([first.get_first_dimension(), width or None])


def _double_output(operator, width: int | None, index: int = 0) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[index].type = DoubleTensorType([n_rows, width])


def _label_output(operator, classes) -> None:
    """The label output: the classes as the graph spells them (see _label_keys)."""
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    strings = np.asarray(classes).dtype.kind in "OUS"
    label_type = StringTensorType if strings else Int64TensorType
    operator.outputs[0].type = label_type([operator.inputs[0].get_first_dimension()])


# ---------------------------------------------------------------------------------------
# Preprocessing


@_converter
def _identity(g: _Graph) -> None:
    """AsCategories and TextColumn: their work (spelling values as strings, missing as
    a marker) is done in Python before the graph runs; see _strings."""
    g.op("Identity", g.input(), out=g.output())


@_converter
def _impute(g: _Graph) -> None:
    """SimpleImputer on numbers in the input's precision (skl2onnx's own writes float32
    fill values): a missing (NaN) value becomes the learned statistic."""
    imputer = g.model
    missing_values = imputer.missing_values
    if not (isinstance(missing_values, float) and np.isnan(missing_values)):
        raise NotImplementedError(f"SimpleImputer with missing_values={missing_values!r}")
    if imputer.add_indicator:
        raise NotImplementedError("SimpleImputer with add_indicator=True")
    x = g.input()
    fill = g.const(imputer.statistics_.astype(g.float_type)[None, :], "fill")
    g.op("Where", g.op("IsNaN", x), fill, x, out=g.output())


@_converter
def _cap(g: _Graph) -> None:
    """OutlierCapper: ``np.clip`` to the learned bounds. NaN passes through, and a
    column with a NaN bound (no value in training) becomes NaN, as with ``np.clip``."""
    x = g.input()
    lower = np.asarray(g.model.lower_bounds_, dtype=g.float_type)[None, :]
    upper = np.asarray(g.model.upper_bounds_, dtype=g.float_type)[None, :]
    # Where(x < lower, ...) rather than Max/Min: a comparison with NaN is false, so a
    # missing value stays missing.
    low, high = g.const(lower, "lower"), g.const(upper, "upper")
    raised = g.op("Where", g.op("Less", x, low), low, x)
    nan_bounds = np.isnan(lower) | np.isnan(upper)
    if not nan_bounds.any():
        g.op("Where", g.op("Greater", raised, high), high, raised, out=g.output())
        return
    clipped = g.op("Where", g.op("Greater", raised, high), high, raised)
    poison = g.const(np.where(nan_bounds, np.nan, 0).astype(g.float_type), "poison")
    g.op("Add", clipped, poison, out=g.output())


@_converter
def _skew_log(g: _Graph) -> None:
    """SkewLogTransformer: ``sign(x) * log1p(|x|)`` on the chosen columns."""
    x = g.input()
    mask = np.asarray(g.model.log_columns_, dtype=bool)
    if not mask.any():
        g.op("Identity", x, out=g.output())
        return
    logged = g.op("Mul", g.op("Sign", x), _log1p(g, g.op("Abs", x)))
    g.op("Where", g.const(mask[None, :], "log_columns"), logged, x, out=g.output())


def _log1p(g: _Graph, a: str) -> str:
    """``log1p(a)`` for ``a >= 0`` without the rounding of ``log(1 + a)`` for small
    ``a`` (ONNX has no Log1p): ``log(u) * a / (u - 1)`` with ``u = 1 + a`` (Goldberg),
    and ``a`` itself where ``u`` rounds to 1."""
    one = g.const(np.array(1, dtype=g.float_type), "one")
    u = g.op("Add", a, one)
    corrected = g.op("Mul", g.op("Log", u), g.op("Div", a, g.op("Sub", u, one)))
    return g.op("Where", g.op("Equal", u, one), a, corrected)


@dataclass(frozen=True)
class _Codes:
    """How an encoder codes one column: categories with their codes (the frequent ones
    numbered in order, the infrequent ones sharing the next number), how many codes,
    and whether there is an infrequent group."""

    categories: list[str]
    codes: list[int]
    width: int
    has_rare: bool

    @classmethod
    def of(cls, encoder, index: int) -> _Codes:
        categories = [str(c) for c in encoder.categories_[index]]
        infrequent = getattr(encoder, "infrequent_categories_", None)
        rare = set()
        if infrequent is not None and infrequent[index] is not None:
            rare = {str(c) for c in infrequent[index]}
        frequent = [c for c in categories if c not in rare]
        codes = {c: i for i, c in enumerate(frequent)}
        codes.update({c: len(frequent) for c in categories if c in rare})
        return cls(list(codes), list(codes.values()), len(frequent) + bool(rare), bool(rare))


def _encoder_codes(encoder, unknown_code) -> list[tuple[_Codes, int]]:
    """Per input column its codes and the code of an unseen category (the function
    ``unknown_code(codes)``), checked against ``encoder.transform``: the layout rests
    on how scikit-learn orders infrequent categories."""
    columns = [(_Codes.of(encoder, i), 0) for i in range(len(encoder.categories_))]
    columns = [(codes, unknown_code(codes)) for codes, _ in columns]
    n_rows = max(len(codes.categories) for codes, _ in columns) + 1
    probe = np.full((n_rows, len(columns)), UNSEEN_CATEGORY, dtype=object)
    blocks = []
    for j, (codes, unknown) in enumerate(columns):
        probe[: len(codes.categories), j] = codes.categories
        code = np.array([*codes.codes, *[unknown] * (n_rows - len(codes.codes))])
        if isinstance(encoder, OneHotEncoder):
            blocks.append((code[:, None] == np.arange(codes.width)[None, :]).astype(float))
        else:
            blocks.append(code[:, None].astype(float))
    actual = np.asarray(encoder.transform(probe), dtype=float)
    expected = np.hstack(blocks)
    if actual.shape != expected.shape or not np.array_equal(actual, expected):
        raise NotImplementedError(f"{type(encoder).__name__}: categories laid out unexpectedly")
    return columns


def _encode(g: _Graph, x: str, index: int, codes: _Codes, unknown: int) -> str:
    """Column ``index`` of the string matrix ``x`` as its int64 codes, (N, 1)."""
    return g.op(
        "LabelEncoder",
        g.column(x, index),
        op_domain="ai.onnx.ml",
        op_version=2,
        keys_strings=codes.categories,
        values_int64s=codes.codes,
        default_int64=unknown,
    )


@_converter
def _one_hot(g: _Graph) -> None:
    """OneHotEncoder on strings with ``handle_unknown`` ``ignore`` or
    ``infrequent_if_exist``: an unseen category lights the infrequent column if the
    feature has one, else none (skl2onnx's converter rejects unseen categories)."""
    encoder = g.model
    if encoder.handle_unknown not in ("ignore", "infrequent_if_exist"):
        raise NotImplementedError(f"OneHotEncoder with handle_unknown={encoder.handle_unknown!r}")
    if encoder.drop_idx_ is not None:
        raise NotImplementedError("OneHotEncoder with drop")
    to_rare = encoder.handle_unknown == "infrequent_if_exist"
    columns = _encoder_codes(
        encoder, lambda codes: codes.width - 1 if (codes.has_rare and to_rare) else -1
    )
    x = g.input()
    blocks = []
    for j, (codes, unknown) in enumerate(columns):
        positions = g.const(np.arange(codes.width, dtype=np.int64)[None, :], "positions")
        hot = g.op("Equal", _encode(g, x, j, codes, unknown), positions)
        blocks.append(g.op("Cast", hot, to=DOUBLE))
    g.op("Concat", *blocks, out=g.output(), axis=1)


@_converter
def _ordinal(g: _Graph) -> None:
    """OrdinalEncoder on strings with ``handle_unknown="use_encoded_value"`` and an
    integer ``unknown_value``, which an unseen category becomes."""
    encoder = g.model
    unknown = encoder.unknown_value
    if encoder.handle_unknown != "use_encoded_value" or not float(unknown).is_integer():
        raise NotImplementedError(
            f"OrdinalEncoder with handle_unknown={encoder.handle_unknown!r}, "
            f"unknown_value={unknown!r}"
        )
    x = g.input()
    blocks = [
        g.op("Cast", _encode(g, x, j, codes, code), to=DOUBLE)
        for j, (codes, code) in enumerate(_encoder_codes(encoder, lambda _: int(unknown)))
    ]
    g.op("Concat", *blocks, out=g.output(), axis=1)


def _one_hot_shape(operator) -> None:
    encoder = operator.raw_operator
    width = sum(_Codes.of(encoder, i).width for i in range(len(encoder.categories_)))
    _double_output(operator, width)


def _ordinal_shape(operator) -> None:
    _double_output(operator, len(operator.raw_operator.categories_))


# ---------------------------------------------------------------------------------------
# Tree ensembles, as ai.onnx.ml TreeEnsemble (opset 5): thresholds, leaf values and
# the sums over trees in double. Each tree feeds one target, so a classifier's tree
# appears once per class, with that class's leaf values.


class _Forest:
    """Trees in TreeEnsemble's layout, added one (tree, target) at a time."""

    def __init__(self) -> None:
        self.nodes: dict[str, list] = {k: [] for k in _Forest.NODE_FIELDS}
        self.leaf_targets: list[np.ndarray] = []
        self.leaf_weights: list[np.ndarray] = []
        self.roots: list[int] = []
        self.n_nodes = 0
        self.n_leaves = 0

    NODE_FIELDS = ("feature", "split", "true", "true_leaf", "false", "false_leaf", "missing")

    def add(self, left, right, feature, threshold, missing_left, values, target: int) -> None:
        """One tree in scikit-learn's layout (node arrays; children -1 at leaves) whose
        leaf values ``values`` (one per node) count towards ``target``."""
        left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
        is_leaf = left < 0
        branches, leaves = np.flatnonzero(~is_leaf), np.flatnonzero(is_leaf)
        self.leaf_targets.append(np.full(len(leaves), target, dtype=np.int64))
        self.leaf_weights.append(np.asarray(values, dtype=np.float64)[leaves])
        if len(branches) == 0:  # a lone leaf: a split whose both sides reach it
            leaf = self.n_leaves
            self._append(feature=[0], split=[0.0], true=[leaf], true_leaf=[1])
            self._append(false=[leaf], false_leaf=[1], missing=[0])
            self.roots.append(self.n_nodes)
        else:
            position = np.empty(len(left), dtype=np.int64)
            position[branches] = self.n_nodes + np.arange(len(branches))
            position[leaves] = self.n_leaves + np.arange(len(leaves))
            true, false = left[branches], right[branches]
            self._append(
                feature=np.asarray(feature)[branches],
                split=np.asarray(threshold, dtype=np.float64)[branches],
                true=position[true],
                true_leaf=is_leaf[true],
                false=position[false],
                false_leaf=is_leaf[false],
                missing=np.asarray(missing_left, dtype=bool)[branches],
            )
            self.roots.append(int(position[0]))
        self.n_nodes += max(len(branches), 1)
        self.n_leaves += len(leaves)

    def _append(self, **columns) -> None:
        for key, values in columns.items():
            self.nodes[key].append(np.asarray(values))

    def emit(self, g: _Graph, x: str, n_targets: int) -> str:
        """The TreeEnsemble node: per row and target, the sum of its trees' leaves."""
        from onnx.numpy_helper import from_array

        nodes = {k: np.concatenate(v) for k, v in self.nodes.items()}

        def ints(key: str) -> list[int]:
            return nodes[key].astype(np.int64).tolist()

        return g.op(
            "TreeEnsemble",
            x,
            op_domain="ai.onnx.ml",
            op_version=TARGET_OPSET["ai.onnx.ml"],  # declared 5 after conversion
            n_targets=n_targets,
            aggregate_function=1,  # SUM
            post_transform=0,  # NONE
            tree_roots=self.roots,
            nodes_modes=from_array(np.zeros(self.n_nodes, dtype=np.uint8)),  # BRANCH_LEQ
            nodes_featureids=ints("feature"),
            nodes_splits=from_array(nodes["split"]),
            nodes_truenodeids=ints("true"),
            nodes_trueleafs=ints("true_leaf"),
            nodes_falsenodeids=ints("false"),
            nodes_falseleafs=ints("false_leaf"),
            nodes_missing_value_tracks_true=ints("missing"),
            leaf_targetids=np.concatenate(self.leaf_targets).tolist(),
            leaf_weights=from_array(np.concatenate(self.leaf_weights)),
        )


def _add_tree(forest: _Forest, tree, values: np.ndarray, target: int) -> None:
    """A fitted scikit-learn ``tree_``; a NaN goes where scikit-learn sends it."""
    forest.add(
        tree.children_left,
        tree.children_right,
        tree.feature,
        tree.threshold,
        tree.missing_go_to_left,
        values,
        target,
    )


def _forest_input(g: _Graph) -> str:
    """scikit-learn's trees read their input as float32 and compare it, widened back
    to double, with double thresholds: the graph makes the same round trip."""
    return g.op("Cast", g.op("Cast", g.input(), to=FLOAT), to=DOUBLE)


def _trees(model) -> list:
    """The fitted ``tree_`` of each tree of a forest, or of a lone decision tree."""
    if hasattr(model, "estimators_"):
        return [estimator.tree_ for estimator in model.estimators_]
    return [model.tree_]


def _mean_over_trees(g: _Graph, forest: _Forest, n_targets: int, out: str | None = None) -> str:
    """The trees' sum divided by their number, as a forest averages (sum, then divide)."""
    summed = forest.emit(g, _forest_input(g), n_targets)
    count = g.const(np.array(len(_trees(g.model)), dtype=np.float64), "trees")
    return g.op("Div", summed, count, out=out)


@_converter
def _forest_classifier(g: _Graph) -> None:
    """RandomForest/ExtraTrees/DecisionTreeClassifier: per class the mean over trees of
    the tree's class share
    (``DecisionTreeClassifier.predict_proba``); the label the first class of highest
    probability. With several outputs (multilabel), per output the position of its
    most probable class."""
    model = g.model
    n_classes = [int(n) for n in np.atleast_1d(model.n_classes_)]
    forest = _Forest()
    for tree in _trees(model):
        offset = 0
        for k, width in enumerate(n_classes):
            share = tree.value[:, k, :width].astype(np.float64)
            normalizer = share.sum(axis=1)[:, np.newaxis]
            normalizer[normalizer == 0.0] = 1.0
            share /= normalizer
            for j in range(width):
                _add_tree(forest, tree, share[:, j], offset + j)
            offset += width
    proba = _mean_over_trees(g, forest, sum(n_classes), out=g.output(1))
    if len(n_classes) == 1:
        _label_of(g, proba, model.classes_)
        return
    starts = np.concatenate([[0], np.cumsum(n_classes)])
    positions = []
    for start, end in itertools.pairwise(starts):
        bounds = [g.const(np.array([v], dtype=np.int64)) for v in (start, end, 1)]
        part = g.op("Slice", proba, *bounds)
        positions.append(g.op("ArgMax", part, axis=1, keepdims=1))
    g.op("Concat", *positions, out=g.output(), axis=1)


def _label_of(g: _Graph, proba: str, classes) -> None:
    """The class of highest probability (the first on a tie, like ``np.argmax``)."""
    position = g.op("ArgMax", proba, axis=1, keepdims=0)
    table = g.const(_label_keys(np.asarray(classes)), "classes")
    g.op("Gather", table, position, out=g.output(), axis=0)


@_converter
def _forest_regressor(g: _Graph) -> None:
    """RandomForest/ExtraTrees/DecisionTreeRegressor: the mean over trees of each tree's
    leaf value."""
    model = g.model
    forest = _Forest()
    for tree in _trees(model):
        for k in range(model.n_outputs_):
            _add_tree(forest, tree, tree.value[:, k, 0], k)
    _mean_over_trees(g, forest, model.n_outputs_, out=g.output())


def _boosting_raw(g: _Graph) -> str:
    """HistGradientBoosting's raw prediction: the baseline, then every tree added in
    scikit-learn's order (the baseline is a first one-leaf tree, so the sums round
    alike). The input stays double, as scikit-learn reads it."""
    model = g.model
    forest = _Forest()
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).ravel()
    for k, value in enumerate(baseline):
        forest.add([-1], [-1], [0], [0.0], [False], [value], k)
    for iteration in model._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            if np.any(nodes["is_categorical"]):
                raise NotImplementedError("HistGradientBoosting with categorical splits")
            is_leaf = nodes["is_leaf"].astype(bool)
            forest.add(
                np.where(is_leaf, -1, nodes["left"].astype(np.int64)),
                np.where(is_leaf, -1, nodes["right"].astype(np.int64)),
                nodes["feature_idx"],
                nodes["num_threshold"],
                nodes["missing_go_to_left"],
                nodes["value"],
                k,
            )
    return forest.emit(g, g.input(), len(baseline))


@_converter
def _boosting_classifier(g: _Graph) -> None:
    """HistGradientBoostingClassifier: probabilities through the loss's inverse link
    (``[1 - p, p]`` with the sigmoid for two classes, softmax for more), the label
    their argmax, as scikit-learn computes them."""
    model = g.model
    raw = _boosting_raw(g)
    link = type(model._loss.link).__name__
    if link == "LogitLink":
        positive = g.op("Sigmoid", raw)
        negative = g.op("Sub", g.const(np.array(1.0), "one"), positive)
        g.op("Concat", negative, positive, out=g.output(1), axis=1)
    elif link == "MultinomialLogit":
        g.op("Softmax", raw, out=g.output(1), axis=1)
    else:
        raise NotImplementedError(f"HistGradientBoostingClassifier with link {link}")
    _label_of(g, g.output(1), model.classes_)


@_converter
def _boosting_regressor(g: _Graph) -> None:
    """HistGradientBoostingRegressor: the raw prediction through the inverse link
    (identity, or exp for the Poisson and gamma losses)."""
    raw = _boosting_raw(g)
    link = type(g.model._loss.link).__name__
    inverse = {"IdentityLink": "Identity", "LogLink": "Exp"}.get(link)
    if inverse is None:
        raise NotImplementedError(f"HistGradientBoostingRegressor with link {link}")
    g.op(inverse, raw, out=g.output())


def _classifier_shape(operator) -> None:
    """The label (the class, or per output the position of its class) and double
    probabilities."""
    from skl2onnx.common.data_types import Int64TensorType

    classes = operator.raw_operator.classes_
    if isinstance(classes, list):  # a multi-output forest
        n_rows = operator.inputs[0].get_first_dimension()
        operator.outputs[0].type = Int64TensorType([n_rows, len(classes)])
        _double_output(operator, sum(len(c) for c in classes), index=1)
    else:
        _label_output(operator, classes)
        _double_output(operator, len(classes), index=1)


def _regressor_shape(operator) -> None:
    _double_output(operator, int(getattr(operator.raw_operator, "n_outputs_", 1)))


# ---------------------------------------------------------------------------------------
# Support vector machines in double (onnxruntime's SVM operators compute in float32,
# and it has no double SVMRegressor): the kernel and the dual sums with plain operators.


def _svm_kernel(g: _Graph, x: str) -> str:
    """The kernel of each row with each support vector, (N, n_support)."""
    model = g.model
    kernel = model.kernel
    if kernel not in ("linear", "rbf", "poly", "sigmoid"):
        raise NotImplementedError(f"{type(model).__name__} with kernel={kernel!r}")
    vectors = _dense(model.support_vectors_)
    dot = g.op("MatMul", x, g.const(vectors.T, "support_vectors"))
    if kernel == "linear":
        return dot
    gamma = g.const(np.array(model._gamma, dtype=np.float64), "gamma")
    if kernel == "rbf":
        # exp(-gamma |x - v|^2), the squared distance as |x|^2 + |v|^2 - 2 x.v
        row_norms = g.op("ReduceSum", g.op("Mul", x, x), g.const(np.array([1])), keepdims=1)
        vector_norms = g.const((vectors**2).sum(axis=1)[None, :], "vector_norms")
        twice = g.op("Mul", dot, g.const(np.array(2.0)))
        distance = g.op("Sub", g.op("Add", row_norms, vector_norms), twice)
        return g.op("Exp", g.op("Neg", g.op("Mul", distance, gamma)))
    inner = g.op("Add", g.op("Mul", dot, gamma), g.const(np.array(float(model.coef0))))
    if kernel == "poly":
        return g.op("Pow", inner, g.const(np.array(float(model.degree))))
    return g.op("Tanh", inner)


def _dense(matrix) -> np.ndarray:
    return np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix, np.float64)


@_converter
def _svr(g: _Graph) -> None:
    """SVR: the dual-weighted sum of kernels plus the intercept."""
    kernel = _svm_kernel(g, g.input())
    weights = g.const(_dense(g.model.dual_coef_).reshape(-1, 1), "dual_coef")
    intercept = g.const(np.asarray(g.model.intercept_, dtype=np.float64).reshape(1, 1))
    g.op("Add", g.op("MatMul", kernel, weights), intercept, out=g.output())


@_converter
def _svc(g: _Graph) -> None:
    """SVC: its ``decision_function`` (what CalibratedClassifierCV reads), for two
    classes as ``[-d, d]``, for more the one-vs-one decisions made one-vs-rest like
    ``sklearn.utils.multiclass._ovr_decision_function``; and its label by libsvm's
    vote."""
    from skl2onnx.common.data_types import StringTensorType

    model = g.model
    if model.break_ties or model.decision_function_shape != "ovr":
        raise NotImplementedError("SVC with break_ties or decision_function_shape='ovo'")
    kernel = _svm_kernel(g, g.input())
    pair_weights = g.const(_svc_pair_weights(model), "pair_weights")
    intercept = g.const(np.asarray(model.intercept_, dtype=np.float64)[None, :], "intercept")
    decision = g.op("Add", g.op("MatMul", kernel, pair_weights), intercept)
    zero = g.const(np.array(0.0), "zero")
    n_classes = len(model.classes_)
    if n_classes == 2:
        g.op("Concat", g.op("Neg", decision), decision, out=g.output(1), axis=1)
        wins = g.op("Cast", g.op("GreaterOrEqual", decision, zero), to=INT64)
        position = g.op("Reshape", wins, g.const(np.array([-1])))
    else:
        # A pair (i, j) votes i when its decision is >= 0 (libsvm: > 0), j otherwise;
        # its decision adds to i's confidence and subtracts from j's.
        first, second = _svc_pairs(n_classes)
        first_wins = g.op("Cast", g.op("GreaterOrEqual", decision, zero), to=DOUBLE)
        second_wins = g.op("Cast", g.op("Less", decision, zero), to=DOUBLE)
        votes = g.op(
            "Add",
            g.op("MatMul", first_wins, g.const(first, "first")),
            g.op("MatMul", second_wins, g.const(second, "second")),
        )
        confidence = g.op("MatMul", decision, g.const(first - second, "signs"))
        one, three = g.const(np.array(1.0)), g.const(np.array(3.0))
        scale = g.op("Mul", g.op("Add", g.op("Abs", confidence), one), three)
        g.op("Add", votes, g.op("Div", confidence, scale), out=g.output(1))
        libsvm_first = g.op("Cast", g.op("Greater", decision, zero), to=DOUBLE)
        libsvm_votes = g.op(
            "Add",
            g.op("MatMul", libsvm_first, g.const(first, "first")),
            g.op("MatMul", g.op("Sub", one, libsvm_first), g.const(second, "second")),
        )
        position = g.op("ArgMax", libsvm_votes, axis=1, keepdims=0)
    # Inside CalibratedClassifierCV skl2onnx declares the label int64 and ignores it.
    keys = _label_keys(np.asarray(model.classes_))
    wants_strings = isinstance(g.operator.outputs[0].type, StringTensorType)
    if wants_strings == (keys.dtype == object):
        g.op("Gather", g.const(keys, "classes"), position, out=g.output(), axis=0)
    else:
        g.op("Identity", position, out=g.output())


def _svc_pairs(n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """For the one-vs-one pairs (i, j), i < j, in libsvm's order: indicator matrices
    (pairs × classes) of each pair's first and second class."""
    pairs = [(i, j) for i in range(n_classes) for j in range(i + 1, n_classes)]
    first = np.zeros((len(pairs), n_classes))
    second = np.zeros((len(pairs), n_classes))
    for k, (i, j) in enumerate(pairs):
        first[k, i] = second[k, j] = 1.0
    return first, second


def _svc_pair_weights(model) -> np.ndarray:
    """(n_support, pairs): each support vector's weight in each pair's decision. In
    the pair (i, j), class i's vectors weigh ``dual_coef_[j - 1]`` and class j's
    ``dual_coef_[i]`` (libsvm's layout)."""
    dual = _dense(model.dual_coef_)
    if len(model.classes_) == 2:
        return dual.reshape(-1, 1)
    bounds = np.concatenate([[0], np.cumsum(model.n_support_)])
    columns = []
    for i, j in zip(*np.triu_indices(len(model.classes_), k=1), strict=True):
        weight = np.zeros(dual.shape[1])
        weight[bounds[i] : bounds[i + 1]] = dual[j - 1, bounds[i] : bounds[i + 1]]
        weight[bounds[j] : bounds[j + 1]] = dual[i, bounds[j] : bounds[j + 1]]
        columns.append(weight)
    return np.stack(columns, axis=1)


# ---------------------------------------------------------------------------------------
# One-vs-rest over tags (multilabel). skl2onnx's converter thresholds probabilities at
# 0.5 where scikit-learn thresholds decision functions at 0, and has no double
# LinearSVC.


@_converter
def _one_vs_rest(g: _Graph) -> None:
    """OneVsRestClassifier over tags: per tag the linear decision ``x @ coef.T +
    intercept`` (or the constant of a tag that never varied in training), the tag on
    where it exceeds scikit-learn's threshold; probabilities the sigmoid of it."""
    from skl2onnx.operator_converters.one_vs_rest_classifier import (
        convert_one_vs_rest_classifier,
    )

    model = g.model
    if not model.multilabel_:
        convert_one_vs_rest_classifier(g.scope, g.operator, g.container)
        return
    coefs, intercepts, constant = [], [], []
    for estimator in model.estimators_:
        if type(estimator).__name__ == "_ConstantPredictor":
            coefs.append(np.zeros(model.n_features_in_))
            intercepts.append(float(np.ravel(estimator.y_)[0]))
        elif is_classifier(estimator) and np.shape(getattr(estimator, "coef_", ()))[:1] == (1,):
            coefs.append(np.asarray(estimator.coef_, dtype=np.float64).ravel())
            intercepts.append(float(np.ravel(estimator.intercept_)[0]))
        else:
            raise NotImplementedError(
                f"OneVsRestClassifier over {type(estimator).__name__} (only linear classifiers)"
            )
        constant.append(type(estimator).__name__ == "_ConstantPredictor")
    decision = g.op(
        "Add",
        g.op("MatMul", g.input(), g.const(np.stack(coefs, axis=1), "coef")),
        g.const(np.array(intercepts)[None, :], "intercept"),
    )
    # scikit-learn picks the threshold by the first tag's estimator, for every tag.
    first = model.estimators_[0]
    threshold = 0.0 if hasattr(first, "decision_function") and is_classifier(first) else 0.5
    above = g.op("Greater", decision, g.const(np.array(threshold), "threshold"))
    g.op("Cast", above, out=g.output(), to=INT64)
    # A constant tag's probability is its value, the others' the sigmoid (expit).
    fixed = g.const(np.array(constant)[None, :], "constant_tags")
    proba = g.op("Where", fixed, decision, g.op("Sigmoid", decision))
    if len(model.estimators_) == 1:
        negative = g.op("Sub", g.const(np.array(1.0), "one"), proba)
        g.op("Concat", negative, proba, out=g.output(1), axis=1)
    else:
        g.op("Identity", proba, out=g.output(1))


def _one_vs_rest_shape(operator) -> None:
    from skl2onnx.common.data_types import Int64TensorType
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    model = operator.raw_operator
    if not model.multilabel_:
        calculate_linear_classifier_output_shapes(operator)
        return
    n_tags = len(model.estimators_)
    operator.outputs[0].type = Int64TensorType([operator.inputs[0].get_first_dimension(), n_tags])
    _double_output(operator, 2 if n_tags == 1 else n_tags, index=1)


_TREE_CLASSIFIERS = (RandomForestClassifier, ExtraTreesClassifier, DecisionTreeClassifier)
_CONVERTERS = {
    SimpleImputer: _impute,
    OutlierCapper: _cap,
    SkewLogTransformer: _skew_log,
    AsCategories: _identity,
    TextColumn: _identity,
    OneHotEncoder: _one_hot,
    OrdinalEncoder: _ordinal,
    RandomForestClassifier: _forest_classifier,
    RandomForestRegressor: _forest_regressor,
    ExtraTreesClassifier: _forest_classifier,
    ExtraTreesRegressor: _forest_regressor,
    DecisionTreeClassifier: _forest_classifier,
    DecisionTreeRegressor: _forest_regressor,
    HistGradientBoostingClassifier: _boosting_classifier,
    HistGradientBoostingRegressor: _boosting_regressor,
    SVC: _svc,
    SVR: _svr,
    OneVsRestClassifier: _one_vs_rest,
}
_SHAPES = {
    SimpleImputer: _same_shape,
    OutlierCapper: _same_shape,
    SkewLogTransformer: _same_shape,
    AsCategories: _same_shape,
    TextColumn: _same_shape,
    OneHotEncoder: _one_hot_shape,
    OrdinalEncoder: _ordinal_shape,
    RandomForestClassifier: _classifier_shape,
    RandomForestRegressor: _regressor_shape,
    ExtraTreesClassifier: _classifier_shape,
    ExtraTreesRegressor: _regressor_shape,
    DecisionTreeClassifier: _classifier_shape,
    DecisionTreeRegressor: _regressor_shape,
    HistGradientBoostingClassifier: _classifier_shape,
    HistGradientBoostingRegressor: _regressor_shape,
    SVR: _regressor_shape,
    OneVsRestClassifier: _one_vs_rest_shape,
}
