"""What every converter is written with: the graph builder, the shape rules, labels.

skl2onnx calls a converter with ``(scope, operator, container)``: the operator's
``raw_operator`` is the fitted step, its ``inputs``/``outputs`` graph variables. The
converters of :mod:`~champion.onnx.preprocessing`, :mod:`~.trees`,
:mod:`~.linear` and :mod:`~.one_vs_rest` receive them wrapped in a :class:`Graph`
(see :func:`converter`). A shape rule (skl2onnx's "shape calculator") gets the
operator alone and sets the types and shapes of its outputs; :mod:`~.converters`
pairs each converter with its rule.

:class:`NotCompilable` lives here because converters raise it too (a class label the
graph cannot spell), and :func:`~champion.onnx.compile.compile_pipeline`
passes it on unchanged.

Imports nothing from champion; skl2onnx and onnx only inside functions, when a
conversion runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# A skl2onnx converter, (scope, operator, container) -> None, and a shape rule,
# (operator) -> None.
ConvertFunction = Callable[[Any, Any, Any], None]
ShapeRule = Callable[[Any], None]

# ONNX opsets of the graph: onnxruntime 1.23 runs opset 21. skl2onnx writes ai.onnx.ml
# up to 3; a graph with a TreeEnsemble node (ai.onnx.ml 5, whose thresholds, leaf
# values and sums are double, where version 3's sums are float32) is declared 5 after
# conversion (see compile). The other ai.onnx.ml operators written here (LabelEncoder
# and the like) mean the same in 5; a graph onnxruntime would not load fails verification.
TARGET_OPSET = {"": 21, "ai.onnx.ml": 3}

DOUBLE, FLOAT, INT64 = 11, 1, 7  # onnx.TensorProto element types, for Cast


class NotCompilable(Exception):
    """The pipeline cannot be served through ONNX; the message says why."""


class Graph:
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


def converter(build: Callable[[Graph], None]) -> ConvertFunction:
    """A skl2onnx converter (``scope, operator, container``) from a function of a Graph."""

    def convert(scope, operator, container) -> None:
        build(Graph(scope, operator, container))

    convert.__doc__ = build.__doc__
    return convert


# Shape rules: the types and shapes of a step's outputs.


def same_shape(operator) -> None:
    """The input's type and width: a step that changes values, not columns."""
    first = operator.inputs[0]
    width = sum(variable.get_second_dimension() or 0 for variable in operator.inputs)
    operator.outputs[0].type = first.type.__class__([first.get_first_dimension(), width or None])


def double_output(operator, width: int | None, index: int = 0) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[index].type = DoubleTensorType([n_rows, width])


def label_output(operator, classes) -> None:
    """The label output: the classes as the graph spells them (see label_keys)."""
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    strings = np.asarray(classes).dtype.kind in "OUS"
    label_type = StringTensorType if strings else Int64TensorType
    operator.outputs[0].type = label_type([operator.inputs[0].get_first_dimension()])


def classifier_shape(operator) -> None:
    """The label (the class, or per output the position of its class) and double
    probabilities."""
    from skl2onnx.common.data_types import Int64TensorType

    classes = operator.raw_operator.classes_
    if isinstance(classes, list):  # a multi-output forest
        n_rows = operator.inputs[0].get_first_dimension()
        operator.outputs[0].type = Int64TensorType([n_rows, len(classes)])
        double_output(operator, sum(len(c) for c in classes), index=1)
    else:
        label_output(operator, classes)
        double_output(operator, len(classes), index=1)


def regressor_shape(operator) -> None:
    """Double values, one column per output."""
    double_output(operator, int(getattr(operator.raw_operator, "n_outputs_", 1)))


def label_keys(classes: np.ndarray) -> np.ndarray:
    """The classes as the graph spells them (like skl2onnx): strings as strings,
    integers and booleans as int64.

    Raises:
        NotCompilable: two classes share a string form, or they are neither
            integers nor strings.
    """
    if classes.dtype.kind in "OUS":
        keys = np.array([str(c) for c in classes], dtype=object)
        if len(set(keys)) != len(keys):
            raise NotCompilable("two classes have the same string form")
        return keys
    if classes.dtype.kind not in "biu":
        raise NotCompilable(f"class labels {classes.tolist()} are neither integers nor strings")
    return classes.astype(np.int64)
