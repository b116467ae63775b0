"""Each training plot is a matplotlib Figure whose content is its input: cell texts,
line data and bar lengths are compared with scikit-learn and NumPy on the same
predictions of real models."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # shap_summary draws through pyplot; never open a window

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn import datasets, metrics
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from champion.training import plots


@pytest.fixture
def close():
    """Collects the figures a test makes and closes them after (pyplot's too)."""
    made: list[Figure] = []
    yield made.append
    for figure in made:
        plt.close(figure)
    plt.close("all")


def _fitted(data, model, seed=0):
    X, y = data
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=seed)
    return model.fit(X_train, y_train), X_test, y_test


@pytest.fixture(scope="module")
def wine():
    """A multiclass model on two columns of the wine data (so it errs), with string
    classes: (model, X_test, y_test)."""
    data = datasets.load_wine()
    names = np.array(["barolo", "grignolino", "barbera"])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return _fitted((data.data[:, [0, 1]], names[data.target]), model)


@pytest.fixture(scope="module")
def cancer():
    """A binary model on the breast cancer data, few features so it errs: (model, X, y)."""
    data = datasets.load_breast_cancer()
    names = np.array(["malignant", "benign"])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return _fitted((data.data[:, [1, 9]], names[data.target]), model)


def _cell_texts(ax) -> np.ndarray:
    return np.array([int(t.get_text()) for t in ax.texts])


def test_confusion_matrix_cells_equal_scikit_learns(wine, close):
    model, X, y = wine
    y_pred = model.predict(X)
    labels = ["grignolino", "barolo", "barbera"]  # not sorted: the order is the caller's

    figure = plots.confusion_matrix(y, y_pred, labels)
    close(figure)

    assert isinstance(figure, Figure)
    (ax,) = figure.axes
    expected = metrics.confusion_matrix(y, y_pred, labels=labels)
    assert _cell_texts(ax).reshape(3, 3).tolist() == expected.tolist()
    assert expected.sum() == len(y) and np.trace(expected) < len(y)  # some errors shown
    assert [t.get_text() for t in ax.get_xticklabels()] == labels
    assert [t.get_text() for t in ax.get_yticklabels()] == labels
    assert ax.get_title() == "Confusion matrix (holdout)"


def test_confusion_matrix_keeps_a_class_nobody_predicted(close):
    y_true = ["a", "a", "b", "c", "c", "c"]
    y_pred = ["a", "b", "b", "a", "a", "b"]
    labels = ["a", "b", "c"]

    figure = plots.confusion_matrix(y_true, y_pred, labels)
    close(figure)

    cells = _cell_texts(figure.axes[0]).reshape(3, 3)
    assert cells.tolist() == metrics.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    assert cells[:, 2].tolist() == [0, 0, 0]


def test_roc_curve_of_the_positive_class_is_scikit_learns(cancer, close):
    model, X, y = cancer
    proba = model.predict_proba(X)
    classes = list(model.classes_)

    figure = plots.roc_curve(y, proba, classes, pos_label="malignant")
    close(figure)

    (ax,) = figure.axes
    curve, diagonal = ax.lines
    fpr, tpr, _ = metrics.roc_curve(y, proba[:, classes.index("malignant")], pos_label="malignant")
    np.testing.assert_allclose(curve.get_xdata(), fpr)
    np.testing.assert_allclose(curve.get_ydata(), tpr)
    auc = metrics.roc_auc_score(y == "malignant", proba[:, classes.index("malignant")])
    assert curve.get_label().startswith("malignant")
    assert f"{auc:.2f}" in curve.get_label()
    assert list(diagonal.get_xdata()) == [0, 1] and list(diagonal.get_ydata()) == [0, 1]


def test_roc_curve_draws_one_line_per_class_for_multiclass(wine, close):
    model, X, y = wine
    proba = model.predict_proba(X)
    classes = list(model.classes_)

    figure = plots.roc_curve(y, proba, classes)
    close(figure)

    ax = figure.axes[0]
    curves = ax.lines[:-1]
    assert [line.get_label().split(" ")[0] for line in curves] == classes
    for label, line in zip(classes, curves, strict=True):
        fpr, tpr, _ = metrics.roc_curve(y == label, proba[:, classes.index(label)])
        np.testing.assert_allclose(line.get_xdata(), fpr)
        np.testing.assert_allclose(line.get_ydata(), tpr)


def test_roc_curve_skips_a_class_the_holdout_lacks(close):
    y = np.array(["a", "a", "b", "b"])
    proba = np.array([[0.9, 0.1, 0.0], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.4, 0.5, 0.1]])

    figure = plots.roc_curve(y, proba, ["a", "b", "c"])
    close(figure)

    labels = [line.get_label().split(" ")[0] for line in figure.axes[0].lines[:-1]]
    assert labels == ["a", "b"]


def test_residuals_plot_true_minus_predicted(close):
    data = datasets.load_diabetes()
    model, X, y = _fitted((data.data, data.target), LinearRegression())
    y_pred = model.predict(X)

    figure = plots.residuals(pd.Series(y), y_pred)
    close(figure)

    left, right = figure.axes
    points = left.collections[0].get_offsets()
    np.testing.assert_allclose(points[:, 0], y_pred)
    np.testing.assert_allclose(points[:, 1], y - y_pred)
    assert left.get_ylabel() == "true - predicted"
    versus = right.collections[0].get_offsets()
    np.testing.assert_allclose(versus[:, 0], y)
    np.testing.assert_allclose(versus[:, 1], y_pred)
    # The identity line spans every true and predicted value.
    (identity,) = right.lines
    low, high = min(y.min(), y_pred.min()), max(y.max(), y_pred.max())
    np.testing.assert_allclose(identity.get_xdata(), [low, high])
    np.testing.assert_allclose(identity.get_ydata(), [low, high])


def _importance() -> pd.DataFrame:
    """A forest's impurity importances, most important first (as explain returns them)."""
    data = datasets.load_breast_cancer()
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(data.data, data.target)
    frame = pd.DataFrame({"feature": data.feature_names, "importance": forest.feature_importances_})
    frame = frame.sort_values("importance", ascending=False, ignore_index=True)
    frame.attrs["method"] = "impurity decrease"
    return frame


@pytest.mark.parametrize("top", [5, 20, 100], ids=["top-5", "default-20", "more-than-there-are"])
def test_feature_importance_bars_are_the_top_features_most_important_first(top, close):
    importance = _importance()

    figure = plots.feature_importance(importance, top=top)
    close(figure)

    ax = figure.axes[0]
    bars = sorted(ax.patches, key=lambda bar: -bar.get_y())  # top of the plot first
    shown = importance.head(top)
    assert len(bars) == len(shown) == min(top, len(importance))
    widths = [bar.get_width() for bar in bars]
    np.testing.assert_allclose(widths, shown["importance"])
    assert widths == sorted(widths, reverse=True)
    labels = {t.get_position()[1]: t.get_text() for t in ax.get_yticklabels()}
    by_position = [labels[bar.get_y() + bar.get_height() / 2] for bar in bars]
    assert by_position == shown["feature"].tolist()
    assert ax.get_xlabel() == "impurity decrease"


def test_shap_summary_shows_the_features_with_most_impact_on_top(close):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(60, 3))
    # Column 2 moves the output most, column 0 least.
    values = data * np.array([0.1, 1.0, 5.0])
    names = ["small", "medium", "large"]

    figure = plots.shap_summary(values, data, names)
    close(figure)

    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    labels = {t.get_position()[1]: t.get_text() for t in ax.get_yticklabels()}
    top_down = [labels[y] for y in sorted(labels, reverse=True)]
    assert top_down == ["large", "medium", "small"]
