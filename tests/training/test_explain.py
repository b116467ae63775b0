"""Explanations of a fitted pipeline: SHAP additivity, model features traced back to
their input columns, native and permutation importance, and the explainer's limit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from champion.project.features import FeatureSet, build_preprocessor
from champion.project.spec import PreprocessingSpec, TextSpec
from champion.training.explain import (
    MAX_PERMUTATION_FEATURES,
    MIN_SHAP_ROWS,
    NoFastExplainer,
    affordable_rows,
    feature_sources,
    group_by_source,
    native_importance,
    permutation_importances,
    shap_values,
    shap_values_within,
)

# "colour" and "colour_shade" share a prefix: a one-hot level of the second must not be
# credited to the first.
FEATURES = FeatureSet(numeric=["signal", "noise"], categorical=["colour", "colour_shade"])
PLAIN = PreprocessingSpec(cap_outliers=None, log_transform="none")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """A binary target driven by ``signal`` and ``colour``; ``noise`` is pure noise."""
    rng = np.random.default_rng(0)
    n = 300
    signal = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    shade = rng.choice(["dark", "light"], size=n)
    margin = 2.5 * signal + np.where(colour == "red", 1.0, -0.5) + rng.normal(scale=0.3, size=n)
    return pd.DataFrame(
        {
            "signal": signal,
            "noise": rng.normal(size=n),
            "colour": colour,
            "colour_shade": shade,
            "y": (margin > 0).astype(int),
            "amount": 3.0 * signal + np.where(colour == "red", 2.0, 0.0),
        }
    )


def _fit(model, frame: pd.DataFrame, target: str = "y") -> Pipeline:
    pipeline = Pipeline([("prep", build_preprocessor(FEATURES, PLAIN)), ("model", model)])
    return pipeline.fit(frame[FEATURES.columns], frame[target])


@pytest.fixture(scope="module")
def linear(frame) -> Pipeline:
    return _fit(LogisticRegression(max_iter=1000), frame)


@pytest.fixture(scope="module")
def forest(frame) -> Pipeline:
    return _fit(RandomForestClassifier(n_estimators=15, random_state=0), frame)


def test_feature_sources_trace_one_hot_levels_to_their_column(linear, frame) -> None:
    names, sources = feature_sources(linear[0])
    encoder = linear[0].named_transformers_["cat"].named_steps["encode"]
    colours, shades = (list(levels) for levels in encoder.categories_)
    assert names == [
        "signal",
        "noise",
        *(f"colour={level}" for level in colours),
        *(f"colour_shade={level}" for level in shades),
    ]
    assert sources == ["signal", "noise"] + ["colour"] * 3 + ["colour_shade"] * 2
    # One name per column the preprocessor really produces.
    assert len(names) == linear[0].transform(frame[FEATURES.columns].head(2)).shape[1]


def test_group_by_source_sums_columns_of_one_input_in_first_seen_order() -> None:
    values = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 0.5, 10.0]])
    grouped = group_by_source(values, ["b", "a", "a", "c"])
    assert list(grouped.columns) == ["b", "a", "c"]
    np.testing.assert_allclose(grouped.to_numpy(), [[1.0, 5.0, 4.0], [-1.0, 1.0, 10.0]])


def test_linear_shap_values_add_up_to_the_margin(linear, frame) -> None:
    rows, background = frame[FEATURES.columns].iloc[:20], frame[FEATURES.columns].iloc[100:]
    result = shap_values(linear, rows, background, task="binary", pos_label=1)
    margin = linear.decision_function(rows)
    np.testing.assert_allclose(result.values.sum(axis=1) + result.base_values, margin, atol=1e-8)
    assert result.values.shape == (20, len(result.names))
    np.testing.assert_allclose(result.data, linear[0].transform(rows))
    assert result.outputs == ["1"] * 20
    # Grouping by input column keeps additivity: still a SHAP value per input.
    by_source = result.by_source()
    assert list(by_source.columns) == ["signal", "noise", "colour", "colour_shade"]
    np.testing.assert_allclose(
        by_source.sum(axis=1).to_numpy() + result.base_values, margin, atol=1e-8
    )


def test_regression_shap_values_add_up_to_the_prediction(frame) -> None:
    ridge = _fit(Ridge(), frame, target="amount")
    forest = _fit(RandomForestRegressor(n_estimators=10, random_state=0), frame, target="amount")
    rows, background = frame[FEATURES.columns].iloc[:15], frame[FEATURES.columns].iloc[50:]
    for pipeline in (ridge, forest):
        result = shap_values(pipeline, rows, background, task="regression")
        np.testing.assert_allclose(
            result.values.sum(axis=1) + result.base_values, pipeline.predict(rows), atol=1e-6
        )
        assert result.outputs == ["value"] * 15


def test_native_importance_of_a_forest_is_its_feature_importances(forest) -> None:
    importance = native_importance(forest)
    names, sources = feature_sources(forest[0])
    expected = pd.Series(forest[-1].feature_importances_, index=names)
    assert importance.attrs["method"] == "impurity importance"
    assert sorted(importance["feature"]) == sorted(names)
    assert importance["importance"].is_monotonic_decreasing
    pd.testing.assert_series_equal(
        importance.set_index("feature")["importance"].loc[names], expected, check_names=False
    )
    # Grouped by input column, they match scikit-learn's grouped the same way.
    source_of = dict(zip(names, sources, strict=True))
    grouped = importance.groupby(importance["feature"].map(source_of))["importance"].sum()
    reference = expected.groupby(sources).sum()
    pd.testing.assert_series_equal(grouped.sort_index(), reference.sort_index(), check_names=False)
    assert grouped.idxmax() == "signal"


def test_native_importance_of_a_linear_model_is_its_absolute_coefficients(linear) -> None:
    importance = native_importance(linear)
    names, _ = feature_sources(linear[0])
    expected = dict(zip(names, np.abs(linear[-1].coef_[0]), strict=True))
    assert dict(zip(importance["feature"], importance["importance"], strict=True)) == pytest.approx(
        expected
    )
    assert importance.attrs["method"].startswith("mean |coefficient|")


def test_native_importance_is_none_without_importances_or_coefficients(frame) -> None:
    assert native_importance(_fit(KNeighborsClassifier(), frame)) is None


def test_permutation_importance_ranks_the_informative_column_above_noise(linear, frame) -> None:
    holdout = frame.iloc[200:]
    result = permutation_importances(
        linear, holdout[FEATURES.columns], holdout["y"], scoring="accuracy", seed=0
    )
    assert list(result.columns) == ["feature", "importance", "std"]
    assert sorted(result["feature"]) == sorted(FEATURES.columns)
    assert result["feature"].iloc[0] == "signal"
    ranked = result.set_index("feature")["importance"]
    assert ranked["signal"] > 0.2  # shuffling it costs a lot of accuracy
    assert abs(ranked["noise"]) < 0.05
    assert ranked["signal"] > ranked["colour"] > ranked["noise"]


def test_model_agnostic_explainer_refuses_too_many_model_features() -> None:
    # A KNN has neither trees nor coefficients, so only the permutation explainer could
    # explain it; over hundreds of TF-IDF terms that takes hours, so it refuses.
    rng = np.random.default_rng(1)
    vocabulary = [f"term{i}" for i in range(MAX_PERMUTATION_FEATURES + 100)]
    notes = [" ".join(rng.choice(vocabulary, size=6)) for _ in range(400)]
    data = pd.DataFrame({"notes": notes, "y": rng.integers(0, 2, size=400)})
    features = FeatureSet(text=["notes"])
    spec = PreprocessingSpec(text=TextSpec(ngram_max=1))
    pipeline = Pipeline(
        [("prep", build_preprocessor(features, spec)), ("knn", KNeighborsClassifier())]
    )
    pipeline.fit(data[["notes"]], data["y"])
    n_features = pipeline[0].transform(data[["notes"]].head(1)).shape[1]
    assert n_features > MAX_PERMUTATION_FEATURES
    names, sources = feature_sources(pipeline[0])
    assert len(names) == n_features and set(sources) == {"notes"}
    assert all(name.startswith("notes:term") for name in names)
    with pytest.raises(NoFastExplainer, match=rf"{n_features} model features is too many"):
        shap_values(pipeline, data[["notes"]].head(3), data[["notes"]].head(20), "binary", 1)


@pytest.fixture(scope="module")
def knn(frame) -> Pipeline:
    """Neither trees nor coefficients: only the model-agnostic explainer explains it."""
    return _fit(KNeighborsClassifier(n_neighbors=15), frame)


def test_permutation_shap_values_add_up_to_the_probability(knn, frame) -> None:
    rows, background = frame[FEATURES.columns].iloc[:12], frame[FEATURES.columns].iloc[100:140]
    result = shap_values(knn, rows, background, task="binary", pos_label=1)
    proba = knn.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(result.values.sum(axis=1) + result.base_values, proba, atol=1e-9)
    # The base value is the mean output over the background.
    np.testing.assert_allclose(result.base_values, knn.predict_proba(background)[:, 1].mean())
    by_source = result.by_source().abs().mean()
    assert by_source.idxmax() == "signal" and by_source["signal"] > by_source["noise"]


def test_exact_explainers_explain_every_row_whatever_the_budget(linear, forest, frame) -> None:
    background = frame[FEATURES.columns].iloc[:50]
    for pipeline in (linear, forest):
        assert affordable_rows(pipeline, background, "binary", 50, budget_s=0.0) == 50


def test_the_model_agnostic_explainer_explains_nothing_beyond_its_budget(knn, frame) -> None:
    background = frame[FEATURES.columns].iloc[:50]
    assert affordable_rows(knn, background, "binary", 50, budget_s=1e6) == 50
    with pytest.raises(NoFastExplainer, match=r"would take about .* over its budget of 0\.0 s"):
        affordable_rows(knn, background, "binary", 50, budget_s=0.0)


def test_a_budget_explains_the_first_rows_and_at_least_the_minimum(forest, frame) -> None:
    rows, background = frame[FEATURES.columns].iloc[:40], frame[FEATURES.columns].iloc[200:]
    everything = shap_values(forest, rows, background, task="binary", pos_label=1)
    generous = shap_values_within(forest, rows, background, "binary", 1e6, pos_label=1)
    np.testing.assert_allclose(generous.values, everything.values)
    np.testing.assert_allclose(generous.base_values, everything.base_values)
    # No budget at all: the first MIN_SHAP_ROWS rows (explaining them is how the cost
    # of a row is known), the same values as explaining them alone.
    starved = shap_values_within(forest, rows, background, "binary", 0.0, pos_label=1)
    assert len(starved) == MIN_SHAP_ROWS
    np.testing.assert_allclose(starved.values, everything.values[:MIN_SHAP_ROWS])
    assert starved.outputs == ["1"] * MIN_SHAP_ROWS
