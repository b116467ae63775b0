"""The converter table: one entry per class, each with a converter and its shape rule
(or skl2onnx's registered pair), covering every class champion's preprocessing and
built-in candidates produce."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from champion.onnx.converters import TABLE, Conversion, conversion_for
from champion.onnx.graph import classifier_shape
from champion.onnx.linear import svc
from champion.project.candidates import BUILTIN, make_estimator
from champion.project.features import FeatureSet, build_preprocessor, model_inputs
from champion.project.spec import CandidateSpec, PreprocessingSpec

TASKS = ["binary", "multiclass", "regression", "multilabel"]


def _leaf_classes(step) -> set[type]:
    """The classes of every fitted estimator inside ``step`` (its containers too)."""
    if isinstance(step, Pipeline):
        return set().union(*(_leaf_classes(inner) for _, inner in step.steps))
    if isinstance(step, ColumnTransformer):
        return set().union(*(_leaf_classes(inner) for _, inner, _ in step.transformers_))
    if isinstance(step, CalibratedClassifierCV):
        inner = [c.estimator for c in step.calibrated_classifiers_]
        return {CalibratedClassifierCV}.union(*(_leaf_classes(e) for e in inner))
    if isinstance(step, OneVsRestClassifier):
        return {OneVsRestClassifier}.union(*(_leaf_classes(e) for e in step.estimators_))
    if isinstance(step, str):  # "drop" or "passthrough"
        return set()
    return {type(step)}


def _data(n: int = 120):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "amount": rng.lognormal(size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n),
            "size": rng.choice(["S", "M", "L"], size=n),
            "note": rng.choice(["a long note", "short one", "another note here"], size=n),
        }
    )
    features = FeatureSet(
        numeric=["x", "amount"],
        categorical=["colour"],
        ordinal={"size": ["S", "M", "L"]},
        text=["note"],
    )
    x = frame["x"].to_numpy()
    targets = {
        "binary": x > 0,
        "multiclass": np.digitize(x, [-0.5, 0.5]),
        "regression": x * 2.0,
        "multilabel": np.stack([x > 0, frame["amount"] > 1], axis=1).astype(int),
    }
    return model_inputs(frame, features), features, targets


@pytest.mark.parametrize("task", TASKS)
def test_the_table_covers_every_class_built_in_candidates_produce(task):
    inputs, features, targets = _data()
    names = [n for n, by_task in BUILTIN.items() if task != "multilabel" or "multilabel" in by_task]
    produced: set[type] = set()
    for name in names:
        for spec in [
            PreprocessingSpec(scaling=scaling, encoding=encoding)
            for scaling, encoding in [
                ("standard", "onehot"),
                ("robust", "ordinal"),
                ("minmax", "onehot"),
            ]
        ]:
            estimator = make_estimator(CandidateSpec(name=name, estimator=name), task, seed=0)
            preprocess = build_preprocessor(features, spec)
            pipeline = Pipeline([("preprocess", preprocess), ("model", estimator)])
            produced |= _leaf_classes(pipeline.fit(inputs, targets[task]))

    missing = sorted(c.__name__ for c in produced if conversion_for(c) is None)

    assert missing == []


def test_each_class_has_one_entry():
    classes = [entry.estimator for entry in TABLE]

    assert len(set(classes)) == len(classes)


@pytest.mark.parametrize("entry", TABLE, ids=lambda entry: entry.estimator.__name__)
def test_each_entry_has_a_converter_and_a_shape_rule(entry):
    if entry.by_champion:
        assert callable(entry.convert) and callable(entry.shape)
        return
    # skl2onnx's own: it must register both for the class.
    from skl2onnx import _supported_operators
    from skl2onnx.common._registration import get_converter, get_shape_calculator

    alias = _supported_operators.sklearn_operator_name_map[entry.estimator]
    assert callable(get_converter(alias)) and callable(get_shape_calculator(alias))


@pytest.mark.parametrize(
    ("convert", "shape"),
    [(svc, None), (None, classifier_shape)],
    ids=["converter-without-rule", "rule-without-converter"],
)
def test_a_converter_and_its_shape_rule_come_together(convert, shape):
    with pytest.raises(TypeError, match=r"SVC: a converter and its shape rule come together"):
        Conversion(SVC, convert, shape)


def test_svc_is_converted_by_champion_with_the_classifier_shape_rule():
    # It had a converter but no shape rule; skl2onnx's calculator typed its outputs.
    entry = conversion_for(SVC)

    assert (entry.convert, entry.shape) == (svc, classifier_shape)


def test_a_subclass_is_not_its_parent():
    class MySVC(SVC):
        pass

    assert conversion_for(MySVC) is None
