"""Converters of the linear and support vector models.

LogisticRegression, Ridge and the other linear models, LinearSVC and
CalibratedClassifierCV are converted by skl2onnx's own converters, which compute in
the input's precision (double here). SVC and SVR are converted here: onnxruntime's SVM
operators compute in float32, and it has no double SVMRegressor, so the kernel and the
dual sums are written with plain operators. An SVC answers its ``decision_function``
(what CalibratedClassifierCV, champion's ``svm`` classifier, reads) and its label by
libsvm's vote.

Imports of champion: :mod:`~champion.onnx.graph` only.
"""

from __future__ import annotations

import numpy as np

from champion.onnx.graph import DOUBLE, INT64, Graph, converter, label_keys


def _svm_kernel(g: Graph, x: str) -> str:
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


@converter
def svr(g: Graph) -> None:
    """SVR: the dual-weighted sum of kernels plus the intercept."""
    kernel = _svm_kernel(g, g.input())
    weights = g.const(_dense(g.model.dual_coef_).reshape(-1, 1), "dual_coef")
    intercept = g.const(np.asarray(g.model.intercept_, dtype=np.float64).reshape(1, 1))
    g.op("Add", g.op("MatMul", kernel, weights), intercept, out=g.output())


@converter
def svc(g: Graph) -> None:
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
    keys = label_keys(np.asarray(model.classes_))
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
