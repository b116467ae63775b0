"""The converter of OneVsRestClassifier over tags (multilabel).

skl2onnx's converter thresholds probabilities at 0.5 where scikit-learn thresholds
decision functions at 0, and has no double LinearSVC. Here, per tag, the linear
decision (or the constant of a tag that never varied in training) is thresholded as
scikit-learn does; a one-vs-rest model that is not multilabel is left to skl2onnx's
converter.

Imports of champion: :mod:`~champion.onnx.graph` only.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import is_classifier

from champion.onnx.graph import INT64, Graph, converter, double_output


@converter
def one_vs_rest(g: Graph) -> None:
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


def one_vs_rest_shape(operator) -> None:
    from skl2onnx.common.data_types import Int64TensorType
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    model = operator.raw_operator
    if not model.multilabel_:
        calculate_linear_classifier_output_shapes(operator)
        return
    n_tags = len(model.estimators_)
    operator.outputs[0].type = Int64TensorType([operator.inputs[0].get_first_dimension(), n_tags])
    double_output(operator, 2 if n_tags == 1 else n_tags, index=1)
