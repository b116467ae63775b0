"""Converters of tree ensembles: forests, extra trees, decision trees and histogram
gradient boosting, as one ai.onnx.ml TreeEnsemble node (opset 5).

skl2onnx's own converters compute in float32 (thresholds and the sums over trees) and
fail on histogram boosting. Here thresholds, leaf values and sums are double. Each tree
feeds one target, so a classifier's tree appears once per class, with that class's
leaf values. The input is read as scikit-learn reads it: forests round it to float32
and back (their trees do), boosting keeps it double.

Imports of champion: :mod:`~champion.onnx.graph` only.
"""

from __future__ import annotations

import itertools

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from champion.onnx.graph import (
    DOUBLE,
    FLOAT,
    TARGET_OPSET,
    Graph,
    converter,
    label_keys,
)

# The ai.onnx.ml opset a graph with a TreeEnsemble node is declared after conversion
# (skl2onnx writes up to 3; TreeEnsemble, with double sums, is 5).
TREE_ENSEMBLE_OPSET = 5
# Tree classifiers: fitted for a multilabel task with a single output, their label
# output holds classes (compile's plan decodes it so), not a tag matrix.
TREE_CLASSIFIERS = (RandomForestClassifier, ExtraTreesClassifier, DecisionTreeClassifier)


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

    def emit(self, g: Graph, x: str, n_targets: int) -> str:
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


def _forest_input(g: Graph) -> str:
    """scikit-learn's trees read their input as float32 and compare it, widened back
    to double, with double thresholds: the graph makes the same round trip."""
    return g.op("Cast", g.op("Cast", g.input(), to=FLOAT), to=DOUBLE)


def _trees(model) -> list:
    """The fitted ``tree_`` of each tree of a forest, or of a lone decision tree."""
    if hasattr(model, "estimators_"):
        return [estimator.tree_ for estimator in model.estimators_]
    return [model.tree_]


def _mean_over_trees(g: Graph, forest: _Forest, n_targets: int, out: str | None = None) -> str:
    """The trees' sum divided by their number, as a forest averages (sum, then divide)."""
    summed = forest.emit(g, _forest_input(g), n_targets)
    count = g.const(np.array(len(_trees(g.model)), dtype=np.float64), "trees")
    return g.op("Div", summed, count, out=out)


@converter
def forest_classifier(g: Graph) -> None:
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


def _label_of(g: Graph, proba: str, classes) -> None:
    """The class of highest probability (the first on a tie, like ``np.argmax``)."""
    position = g.op("ArgMax", proba, axis=1, keepdims=0)
    table = g.const(label_keys(np.asarray(classes)), "classes")
    g.op("Gather", table, position, out=g.output(), axis=0)


@converter
def forest_regressor(g: Graph) -> None:
    """RandomForest/ExtraTrees/DecisionTreeRegressor: the mean over trees of each tree's
    leaf value."""
    model = g.model
    forest = _Forest()
    for tree in _trees(model):
        for k in range(model.n_outputs_):
            _add_tree(forest, tree, tree.value[:, k, 0], k)
    _mean_over_trees(g, forest, model.n_outputs_, out=g.output())


def _boosting_raw(g: Graph) -> str:
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


@converter
def boosting_classifier(g: Graph) -> None:
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


@converter
def boosting_regressor(g: Graph) -> None:
    """HistGradientBoostingRegressor: the raw prediction through the inverse link
    (identity, or exp for the Poisson and gamma losses)."""
    raw = _boosting_raw(g)
    link = type(g.model._loss.link).__name__
    inverse = {"IdentityLink": "Identity", "LogLink": "Exp"}.get(link)
    if inverse is None:
        raise NotImplementedError(f"HistGradientBoostingRegressor with link {link}")
    g.op(inverse, raw, out=g.output())
