"""Compiling a fitted champion Pipeline to ONNX, kept only if it answers like the pipeline.

:func:`compile_pipeline` converts the whole Pipeline (the ``ColumnTransformer``
preprocessing and the estimator) with skl2onnx, passing it champion's converters from
:mod:`~champion.onnx.converters` per call (nothing is registered globally).
It then runs the graph and the Pipeline side by side on rows the caller supplies (the
holdout), plus a row with every value missing and one with unseen categories, and
keeps the graph only if both answer the same:

=================  =====================================================
answer             verified when
=================  =====================================================
labels, tag rows   equal, same dtype
regression values  within ``VALUE_RTOL`` relative / ``VALUE_ATOL`` absolute
probabilities      within ``PROBA_ATOL``
=================  =====================================================

Anything it cannot convert, or that answers differently, raises
:class:`NotCompilable` with the reason, so the server falls back to scikit-learn.

Imports of champion: ``champion.project`` and this package. skl2onnx and onnx are
imported when a conversion runs; importing this module costs scikit-learn's
estimators, so the server imports it only when it compiles.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import is_classifier
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline

from champion.onnx.converters import conversion_for, skl2onnx_arguments
from champion.onnx.graph import TARGET_OPSET, NotCompilable, label_keys
from champion.onnx.preprocessing import UNSEEN_CATEGORY, text_options, unfaithful
from champion.onnx.runtime import CompiledModel, InputColumn, Plan, columns_of
from champion.onnx.trees import TREE_CLASSIFIERS, TREE_ENSEMBLE_OPSET
from champion.project.features import FeatureSet
from champion.project.transformers import AsCategories, TextColumn

# NotCompilable is defined beside the graph builder, since converters raise it too;
# it is part of this module's interface.
__all__ = ["NotCompilable", "Verification", "compile_pipeline", "compile_verified"]

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


@dataclass(frozen=True)
class Verification:
    """The evidence a compiled model answers like its pipeline.

    Attributes:
        rows: rows both answered and were compared on (the caller's, plus the edge rows
            the pipeline accepted).
        max_proba_diff: the largest absolute difference between the two's probabilities,
            or None when the model gives none (regression, some multilabel models).
        max_value_diff: the largest absolute difference between regression values, or
            None for labels (compared for equality).
    """

    rows: int
    max_proba_diff: float | None = None
    max_value_diff: float | None = None


def compile_pipeline(
    pipeline: Pipeline,
    features: FeatureSet,
    task: str,
    check_inputs: pd.DataFrame,
    *,
    classes=None,
) -> CompiledModel:
    """Compile ``pipeline`` to ONNX and verify it answers like the pipeline: the model
    of :func:`compile_verified`, without the evidence."""
    return compile_verified(pipeline, features, task, check_inputs, classes=classes)[0]


def compile_verified(
    pipeline: Pipeline,
    features: FeatureSet,
    task: str,
    check_inputs: pd.DataFrame,
    *,
    classes=None,
) -> tuple[CompiledModel, Verification]:
    """Compile ``pipeline`` to ONNX and verify it answers like the pipeline; the
    compiled model and the :class:`Verification` it passed.

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

    Converts what :data:`~champion.onnx.converters.TABLE` lists (and other
    steps skl2onnx has a converter for): SimpleImputer, OutlierCapper,
    SkewLogTransformer, the scalers, One-hot/OrdinalEncoder (with infrequent
    categories), LogisticRegression, Ridge and other linear models, random forests,
    extra trees and decision trees, histogram gradient boosting, SVC (calibrated) and
    SVR, and one-vs-rest over linear classifiers for multilabel tasks. Text columns
    (TF-IDF with ``sublinear_tf``, or with stop words and n-grams) are refused:
    skl2onnx's converter would answer differently.

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


def _compile(pipeline, features, task, check_inputs, classes) -> tuple[CompiledModel, Verification]:
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
    return compiled, _verify(compiled, columns_of(rows, features), expected, expected_proba, task)


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
    """Name the first step that has no converter (champion's, from the table, or skl2onnx's).

    Reads skl2onnx's registry, which is private: if it moved, the conversion itself
    still fails on such a step, with skl2onnx's less direct message."""
    import skl2onnx  # noqa: F401  (importing it registers its converters)

    try:
        from skl2onnx._supported_operators import sklearn_operator_name_map
        from skl2onnx.common._registration import _converter_pool
    except ImportError:
        return
    for where, step in _leaves(pipeline, ""):
        reason = unfaithful(step)
        if reason:
            raise NotCompilable(f"no faithful ONNX converter for {reason} (step '{where}')")
        entry = conversion_for(type(step))
        if entry is not None and entry.by_champion:
            continue
        # skl2onnx's own converter, whether the table names the class or not.
        alias = sklearn_operator_name_map.get(type(step))
        if alias is None or alias not in _converter_pool:
            raise NotCompilable(f"no ONNX converter for {type(step).__name__} (step '{where}')")


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


def _inputs(features: FeatureSet, kinds: dict[str, str]) -> tuple[InputColumn, ...]:
    # Plain ONNX names (column names may hold spaces or punctuation); the plan maps them.
    return tuple(
        InputColumn(
            column, f"input_{i}", "numeric" if column in features.numeric else kinds[column]
        )
        for i, column in enumerate(features.columns)
        if column in kinds or column in features.numeric
    )


def _convert(
    pipeline: Pipeline, inputs: tuple[InputColumn, ...]
) -> tuple[bytes, set[str], list[str]]:
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
    for _, step in _leaves(renamed, ""):
        text = text_options(step)
        if text is not None:
            options[id(step)] = text
    model = convert_sklearn(
        renamed,
        initial_types=initial_types,
        target_opset=TARGET_OPSET,
        options=options or None,
        **skl2onnx_arguments(),
    )
    model.ir_version = min(model.ir_version, IR_VERSION)
    if any(node.op_type == "TreeEnsemble" for node in model.graph.node):
        for opset in model.opset_import:
            if opset.domain == "ai.onnx.ml":
                opset.version = max(opset.version, TREE_ENSEMBLE_OPSET)
    inputs = {variable.name for variable in model.graph.input}
    return model.SerializeToString(), inputs, [output.name for output in model.graph.output]


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


def _plan(pipeline, task, inputs, outputs, classes, expected, expected_proba) -> Plan:
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
        return Plan(**common, decode="tag_index", tag_classes=tags)
    single_output_tree = task == "multilabel" and isinstance(estimator, TREE_CLASSIFIERS)
    if task in ("binary", "multiclass") or single_output_tree:
        reference = np.asarray(pipeline.classes_)
        classes = reference if classes is None else np.asarray(classes, dtype=reference.dtype)
        keys = label_keys(classes)
        order = np.argsort(keys, kind="stable")
        return Plan(
            **common,
            decode="classes",
            classes=classes,
            label_keys=keys[order],
            label_order=order,
        )
    return Plan(**common, decode="values")


# ---------------------------------------------------------------------------------------
# Verification: the compiled model and the pipeline on the same rows.


def _verify(compiled, columns, expected, expected_proba, task) -> Verification:
    """Compare the compiled model's answers with the pipeline's on the same rows."""
    n_rows = len(next(iter(columns.values())))
    got = compiled.predict(columns)
    expected = np.asarray(expected)
    if got.shape != expected.shape or got.dtype != expected.dtype:
        raise NotCompilable(
            f"verification failed: predictions are {got.dtype} {got.shape}, "
            f"the pipeline's {expected.dtype} {expected.shape}"
        )
    value_diff = None
    if task == "regression":
        close = np.isclose(got, expected, rtol=VALUE_RTOL, atol=VALUE_ATOL)
        value_diff = float(np.max(np.abs(got - expected))) if got.size else 0.0
        if not close.all():
            raise NotCompilable(
                f"verification failed: {int((~close).sum())} of {n_rows} values differ "
                f"(by up to {value_diff:.3g})"
            )
    else:
        same = got == expected
        if not np.all(same):
            differ = int((~same).reshape(n_rows, -1).any(axis=1).sum())
            raise NotCompilable(f"verification failed: {differ} of {n_rows} labels differ")
    proba_diff = None
    if expected_proba is not None:
        proba_diff = _compare_proba(compiled.predict_proba(columns), expected_proba, n_rows)
    return Verification(n_rows, max_proba_diff=proba_diff, max_value_diff=value_diff)


def _compare_proba(got, expected, n_rows: int) -> float:
    """The largest probability difference, once every one is within ``PROBA_ATOL``."""
    if isinstance(expected, list) != isinstance(got, list):
        raise NotCompilable("verification failed: probabilities are not shaped like the pipeline's")
    pairs = zip(got, expected, strict=True) if isinstance(expected, list) else [(got, expected)]
    worst = 0.0
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
        if gap.size:
            worst = max(worst, float(gap.max()))
    return worst
