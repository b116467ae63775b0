"""Unit tests for champion.project.features and champion.project.transformers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import check_estimator

from champion.errors import DataError
from champion.project.categories import MISSING
from champion.project.features import FeatureSet, build_preprocessor, model_inputs, resolve_features
from champion.project.spec import FeaturesSpec, PreprocessingSpec
from champion.project.transformers import AsCategories, OutlierCapper, SkewLogTransformer

N = 30


def _pokemon(n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "hp": rng.normal(60, 15, n).round(1),
            "generation": rng.integers(1, 5, n),
            "is_baby": rng.random(n) > 0.7,
            "color": rng.choice(["red", "blue", "green"], n),
            "flavor": [f"a dragon that breathes very hot flames, entry {i}" for i in range(n)],
            "species_id": np.arange(n) % 7,
            "serial": rng.permutation(n) + 1000,
            "nickname": [f"mon{i}" for i in range(n)],
            "notes": [np.nan] * n,
            "legendary": rng.integers(0, 2, n),
        }
    )


def test_resolve_features_infers_each_kind():
    features = resolve_features(_pokemon(), FeaturesSpec(), ["legendary"])

    assert features.numeric == ["hp", "generation"]
    assert features.categorical == ["is_baby", "color"]
    assert features.text == ["flavor"]
    assert features.ordinal == {}
    assert "legendary" not in features.columns
    assert features.kind_of("flavor") == "text"


def test_resolve_features_drops_identifiers_and_empty_columns_with_a_reason():
    features = resolve_features(_pokemon(), FeaturesSpec(), ["legendary"])

    assert features.dropped == {
        "species_id": "identifier (name ends in id)",
        "serial": "identifier (unique integer on every row)",
        "nickname": "identifier-like (almost every value is different)",
        "notes": "empty column",
    }


def test_resolve_features_keeps_a_unique_integer_column_in_a_small_table():
    # With 20 rows or fewer, every column can look unique; only larger tables drop it.
    frame = _pokemon(10)

    features = resolve_features(frame, FeaturesSpec(), ["legendary"])

    assert "serial" in features.numeric


def test_resolve_features_leaves_out_excluded_columns():
    features = resolve_features(_pokemon(), FeaturesSpec(exclude=["hp", "color"]), ["legendary"])

    assert "hp" not in features.columns
    assert "color" not in features.columns
    assert features.dropped["hp"] == "excluded in the project file"
    assert features.dropped["color"] == "excluded in the project file"


def test_resolve_features_uses_only_the_columns_listed():
    spec = FeaturesSpec(
        numeric=["generation"],
        categorical=["hp"],
        ordinal={"color": ["red", "green", "blue"]},
    )

    features = resolve_features(_pokemon(), spec, ["legendary"])

    assert features.numeric == ["generation"]
    assert features.categorical == ["hp"]
    assert features.ordinal == {"color": ["red", "green", "blue"]}
    assert features.text == []
    assert features.columns == ["generation", "hp", "color"]


@pytest.mark.parametrize(
    ("frame", "spec", "match", "field"),
    [
        (
            _pokemon(),
            FeaturesSpec(numeric=["attack"]),
            r"features\.numeric: column 'attack' is not in the data; columns are: hp, ",
            "features.numeric",
        ),
        (
            _pokemon(),
            FeaturesSpec(text=["pokedex"]),
            r"features\.text: column 'pokedex' is not in the data",
            "features.text",
        ),
        (
            _pokemon(),
            FeaturesSpec(categorical=["legendary"]),
            r"features\.categorical: 'legendary' is the target and cannot be a feature",
            "features.categorical",
        ),
        (
            _pokemon(),
            FeaturesSpec(numeric=["color"]),
            r"features\.numeric: column 'color' is not numeric: found '(red|blue|green)'",
            "color",
        ),
        (
            pd.DataFrame({"weight": pd.Series(["1", "2", "3", "heavy"], dtype=object)}),
            FeaturesSpec(),
            r"column 'weight' mixes types: 3 numbers .* 1 text values \(e\.g\. 'heavy'\)",
            "weight",
        ),
        (
            pd.DataFrame({"weight": pd.Series(["1", "2", "3", "heavy"], dtype="str")}),
            FeaturesSpec(),
            r"column 'weight' mixes types: .*name its kind under features",
            "weight",
        ),
        (
            pd.DataFrame({"pokemon_id": [1, 2, 3], "notes": [None, None, None]}),
            FeaturesSpec(),
            r"features: no usable feature column was found",
            "features",
        ),
    ],
    ids=[
        "missing-numeric-column",
        "missing-text-column",
        "target-as-feature",
        "text-listed-as-numeric",
        "mixed-types-object",
        "mixed-types-pandas-string",
        "nothing-usable",
    ],
)
def test_resolve_features_rejects_unusable_columns(frame, spec, match, field):
    with pytest.raises(DataError, match=match) as info:
        resolve_features(frame, spec, ["legendary"])

    assert info.value.field == field


def test_model_inputs_gives_floats_and_canonical_strings():
    frame = pd.DataFrame(
        {
            "hp": [80, None, 45],
            "level": pd.Series([1, 1.0, "1"], dtype=object),
            "bio": ["fire 1.0", None, "ice"],
        }
    )
    features = FeatureSet(numeric=["hp"], categorical=["level"], text=["bio"])

    inputs = model_inputs(frame, features)

    assert inputs["hp"].dtype == np.float64
    assert np.isnan(inputs["hp"].iloc[1])
    assert inputs["level"].tolist() == ["1", "1", "1"]
    assert inputs["bio"].tolist() == ["fire 1.0", None, "ice"]
    assert list(inputs.columns) == ["hp", "level", "bio"]


def _fitted(frame: pd.DataFrame, features: FeatureSet, spec: PreprocessingSpec | None = None):
    preprocessor = build_preprocessor(features, spec or PreprocessingSpec())
    return preprocessor, preprocessor.fit_transform(model_inputs(frame, features))


def test_preprocessor_output_has_no_missing_values_when_inputs_do():
    frame = _pokemon()
    frame.loc[[0, 3], "hp"] = np.nan
    frame.loc[[1, 4], "color"] = None
    frame.loc[2, "flavor"] = None
    features = resolve_features(frame, FeaturesSpec(), ["legendary"])
    assert frame[["hp", "color", "flavor"]].isna().any().all()

    _, out = _fitted(frame, features)

    assert out.shape[0] == len(frame)
    assert not np.isnan(out).any()


def test_preprocessor_treats_missing_as_its_own_category():
    frame = _pokemon()
    frame.loc[[1, 4], "color"] = None
    features = FeatureSet(categorical=["color"])
    spec = PreprocessingSpec(rare_min_frequency=0)

    preprocessor, out = _fitted(frame, features, spec)

    names = list(preprocessor.get_feature_names_out())
    missing = out[:, names.index(f"cat__color_{MISSING}")]
    assert missing.tolist() == [1.0 if i in (1, 4) else 0.0 for i in range(len(frame))]


def test_preprocessor_accepts_an_unseen_category():
    frame = _pokemon()
    features = FeatureSet(numeric=["hp"], categorical=["color"])
    preprocessor, out = _fitted(frame, features)
    new = frame.iloc[:3].assign(color=["purple", "red", None])

    transformed = preprocessor.transform(model_inputs(new, features))

    names = list(preprocessor.get_feature_names_out())
    color = [names.index(f"cat__color_{c}") for c in ("blue", "green", "red")]
    assert transformed.shape == (3, out.shape[1])
    assert transformed[0, color].tolist() == [0.0, 0.0, 0.0]
    assert transformed[1, color].tolist() == [0.0, 0.0, 1.0]


def test_preprocessor_makes_tfidf_features_from_text():
    frame = pd.DataFrame(
        {"bio": ["a fiery dragon", "a calm turtle in water", None, "the dragon sleeps"]}
    )
    features = FeatureSet(text=["bio"])

    preprocessor, out = _fitted(frame, features)

    names = list(preprocessor.get_feature_names_out())
    dragon = out[:, names.index("text_bio__dragon")]
    assert (dragon > 0).tolist() == [True, False, False, True]
    assert "text_bio__fiery dragon" in names
    assert "text_bio__the" not in names  # an English stop word
    assert out[2].tolist() == [0.0] * out.shape[1]
    assert np.allclose(np.linalg.norm(out[[0, 1, 3]], axis=1), 1.0)


def test_preprocessor_encodes_ordinal_columns_in_the_given_order():
    frame = pd.DataFrame({"size": ["S", "L", "M", "S"]})
    features = FeatureSet(ordinal={"size": ["S", "M", "L"]})
    preprocessor, out = _fitted(frame, features)

    unseen = preprocessor.transform(model_inputs(pd.DataFrame({"size": ["XL"]}), features))

    assert out[:, 0].tolist() == [0.0, 2.0, 1.0, 0.0]
    assert unseen[0, 0] == -1.0


def test_preprocessor_keeps_a_numeric_column_without_values():
    # A listed column can be empty in the training rows; later columns must not shift.
    frame = pd.DataFrame({"weight": [np.nan] * 6, "hp": [1.0, 2.0, 3.0, 4.0, 5.0, 100.0]})
    features = FeatureSet(numeric=["weight", "hp"])
    spec = PreprocessingSpec(log_transform=["hp"], cap_outliers=None, scaling="none")

    preprocessor, out = _fitted(frame, features, spec)

    assert list(preprocessor.get_feature_names_out()) == ["num__weight", "num__hp"]
    assert out[:, 0].tolist() == [0.0] * 6
    assert out[:, 1].tolist() == np.log1p(frame["hp"]).tolist()


def test_preprocessor_rejects_log_transform_of_a_column_that_is_not_numeric():
    features = FeatureSet(numeric=["hp"], categorical=["color"])
    spec = PreprocessingSpec(log_transform=["color"])

    with pytest.raises(DataError, match=r"preprocessing\.log_transform: \['color'\] are not") as e:
        build_preprocessor(features, spec)

    assert e.value.field == "preprocessing.log_transform"


def test_outlier_capper_clips_to_the_learned_quantiles():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2)) * [1.0, 10.0]
    capper = OutlierCapper(lower=0.05, upper=0.9).fit(X)

    out = capper.transform(np.array([[-100.0, 100.0], [0.0, 0.0], [np.nan, 1000.0]]))

    low, high = np.quantile(X, 0.05, axis=0), np.quantile(X, 0.9, axis=0)
    assert np.allclose(capper.lower_bounds_, low)
    assert np.allclose(capper.upper_bounds_, high)
    assert out[0].tolist() == [low[0], high[1]]
    assert out[1].tolist() == [0.0, 0.0]
    assert np.isnan(out[2, 0])
    assert out[2, 1] == high[1]


@pytest.mark.parametrize(
    ("lower", "upper"),
    [(0.6, 0.4), (-0.1, 0.9), (0.1, 1.5)],
    ids=["lower-above-upper", "negative-lower", "upper-above-one"],
)
def test_outlier_capper_rejects_bad_quantiles(lower, upper):
    capper = OutlierCapper(lower=lower, upper=upper)

    with pytest.raises(ValueError, match=r"OutlierCapper needs 0 <= lower < upper <= 1"):
        capper.fit(np.ones((5, 1)))


def test_skew_log_transformer_transforms_only_skewed_columns():
    rng = np.random.default_rng(2)
    skewed = rng.exponential(scale=5.0, size=300)
    symmetric = rng.normal(size=300)
    X = np.column_stack([skewed, symmetric])
    assert abs(pd.Series(skewed).skew()) > 1.0 > abs(pd.Series(symmetric).skew())

    transformer = SkewLogTransformer(threshold=1.0).fit(X)
    out = transformer.transform(np.array([[9.0, -3.0], [-9.0, 3.0]]))

    assert transformer.log_columns_.tolist() == [True, False]
    assert out[:, 0].tolist() == [np.log1p(9.0), -np.log1p(9.0)]
    assert out[:, 1].tolist() == [-3.0, 3.0]


def test_skew_log_transformer_uses_the_columns_given():
    X = np.array([[1.0, 10.0, 100.0], [2.0, 20.0, 200.0]])

    out = SkewLogTransformer(columns=[1]).fit_transform(X)

    assert out[:, 0].tolist() == X[:, 0].tolist()
    assert out[:, 1].tolist() == np.log1p(X[:, 1]).tolist()
    assert out[:, 2].tolist() == X[:, 2].tolist()


def test_as_categories_gives_one_spelling_per_value():
    X = pd.DataFrame({"level": pd.Series([1, 1.0, "1", np.nan, None, True, 2.5], dtype=object)})

    out = AsCategories().fit(X).transform(X)

    assert out[:, 0].tolist() == ["1", "1", "1", MISSING, MISSING, "True", "2.5"]
    assert out.shape == (7, 1)


def test_as_categories_keeps_feature_names():
    X = pd.DataFrame({"a": ["x"], "b": ["y"]})

    transformer = AsCategories().fit(X)

    assert transformer.n_features_in_ == 2
    assert transformer.get_feature_names_out().tolist() == ["a", "b"]


@pytest.mark.parametrize(
    "estimator",
    [OutlierCapper(), SkewLogTransformer(), SkewLogTransformer(columns=[0])],
    ids=["OutlierCapper", "SkewLogTransformer", "SkewLogTransformer-columns"],
)
def test_transformers_follow_the_scikit_learn_contract(estimator):
    # scikit-learn's own estimator checks; the array-API one does not apply (these
    # transformers are NumPy-only) and reports itself as skipped, not failed.
    results = check_estimator(estimator, on_fail=None)
    failed = [f"{r['check_name']}: {r['exception']}" for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) > 30


def test_model_inputs_treat_infinity_as_missing():
    frame = pd.DataFrame({"hp": [1.0, np.inf, -np.inf, 4.0], "colour": ["a", "b", None, "a"]})
    features = FeatureSet(numeric=["hp"], categorical=["colour"])
    inputs = model_inputs(frame, features)
    assert inputs["hp"].isna().tolist() == [False, True, True, False]
    assert inputs["colour"].tolist() == ["a", "b", None, "a"]
    # ... so a pipeline fitted on them imputes instead of failing on an infinity.
    out = build_preprocessor(features, PreprocessingSpec()).fit_transform(inputs)
    assert np.isfinite(out).all()
