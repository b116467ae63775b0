"""Unit tests for champion.project.profile: the reference profile of the training data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from champion.project.categories import MISSING
from champion.project.features import FeatureSet
from champion.project.profile import (
    PROFILE_VERSION,
    QUANTILES,
    SAMPLE_SIZE,
    build_profile,
    decode_sample,
    numeric_summary,
    summarise,
)


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    hp = rng.gamma(2.0, 30.0, 200).round(1)
    hp[[3, 40, 77]] = np.nan
    return pd.DataFrame(
        {
            "hp": hp,
            "weight": [np.nan] * 200,
            "color": rng.choice(["red", "blue", "green", None], 200, p=[0.5, 0.3, 0.1, 0.1]),
            "level": pd.Series([1, 1.0, "1", 2] * 50, dtype=object),
            "bio": ["A fire dragon", "Fire and ice", None, "ice, ICE and more ice"] * 50,
        }
    )


FEATURES = FeatureSet(numeric=["hp", "weight"], categorical=["color", "level"], text=["bio"])


def test_build_profile_describes_every_feature():
    frame = _frame()

    profile = build_profile(frame, FEATURES)

    assert profile["version"] == PROFILE_VERSION == 2
    assert profile["rows"] == len(frame)
    assert list(profile["features"]) == FEATURES.columns
    assert [f["kind"] for f in profile["features"].values()] == [
        "numeric",
        "numeric",
        "categorical",
        "categorical",
        "text",
    ]
    assert "prediction" not in profile


def test_build_profile_is_plain_json():
    profile = build_profile(_frame(), FEATURES, predictions=np.arange(200) / 10)

    # allow_nan=False: NaN or infinity anywhere would make invalid JSON.
    assert json.loads(json.dumps(profile, allow_nan=False)) == profile


def test_numeric_summary_matches_numpy():
    frame = _frame()
    present = frame["hp"].dropna().to_numpy()

    summary = build_profile(frame, FEATURES)["features"]["hp"]

    assert summary["count"] == len(present) == 197
    assert summary["missing"] == 3
    assert summary["mean"] == pytest.approx(present.mean())
    assert summary["std"] == pytest.approx(present.std())
    assert summary["min"] == present.min()
    assert summary["max"] == present.max()
    assert summary["quantiles"] == pytest.approx(
        {str(q): np.quantile(present, q) for q in QUANTILES}
    )
    assert summary["integer"] is False


def test_numeric_histogram_counts_every_present_value():
    summary = build_profile(_frame(), FEATURES)["features"]["hp"]

    histogram = summary["histogram"]
    assert sum(histogram["counts"]) == summary["count"]
    assert len(histogram["edges"]) == len(histogram["counts"]) + 1
    assert histogram["edges"] == sorted(histogram["edges"])
    assert histogram["edges"][0] == summary["min"]
    assert histogram["edges"][-1] == summary["max"]


def test_numeric_summary_of_a_constant_column_has_one_bin():
    summary = numeric_summary(pd.Series([4.0, 4.0, 4.0]))

    assert summary["histogram"] == {"edges": [3.5, 4.5], "counts": [3]}
    assert summary["integer"] is True
    assert summary["std"] == 0.0
    assert summary["value_counts"] == {"values": [4.0], "counts": [3]}


def test_all_missing_numeric_column_gives_none_not_nan():
    summary = build_profile(_frame(), FEATURES)["features"]["weight"]

    assert summary["count"] == 0
    assert summary["missing"] == 200
    for key in ("mean", "std", "min", "max", "integer", "histogram", "value_counts"):
        assert summary[key] is None, key
    assert summary["quantiles"] == {}
    assert (summary["finite"], summary["sample"], summary["sample_size"]) == (0, "", 0)


def test_numeric_summary_ignores_infinities():
    summary = numeric_summary(pd.Series([1.0, 2.0, 3.0, np.inf, -np.inf]))

    assert summary["max"] == 3.0
    assert summary["min"] == 1.0
    assert summary["mean"] == 2.0
    assert sum(summary["histogram"]["counts"]) == 3


def test_categorical_frequencies_and_other_share_sum_to_one():
    frame = _frame()

    summary = build_profile(frame, FEATURES)["features"]["color"]

    expected = frame["color"].fillna(MISSING).value_counts(normalize=True)
    assert summary["frequencies"] == pytest.approx(expected.to_dict())
    assert sum(summary["frequencies"].values()) + summary["other_share"] == pytest.approx(1.0)
    assert summary["missing"] == frame["color"].isna().sum()
    assert summary["missing_label"] == MISSING


def test_categorical_frequencies_use_one_spelling_per_value():
    summary = build_profile(_frame(), FEATURES)["features"]["level"]

    assert summary["frequencies"] == pytest.approx({"1": 0.75, "2": 0.25})


def test_categorical_summary_keeps_only_the_top_categories():
    values = pd.Series([f"c{i}" for i in range(250)] + ["c0"] * 50)

    summary = summarise(values, "categorical")

    assert len(summary["frequencies"]) == 200
    assert summary["frequencies"]["c0"] == pytest.approx(51 / 300)
    assert summary["other_share"] == pytest.approx(50 / 300)
    assert sum(summary["frequencies"].values()) + summary["other_share"] == pytest.approx(1.0)


def test_text_vocabulary_is_the_share_of_documents_with_each_word():
    frame = _frame()

    summary = build_profile(frame, FEATURES)["features"]["bio"]

    vocabulary = summary["vocabulary"]
    assert all(0 <= share <= 1 for share in vocabulary.values())
    # Documents: "A fire dragon", "Fire and ice", "ice, ICE and more ice" (missing skipped).
    assert vocabulary == pytest.approx(
        {"fire": 2 / 3, "ice": 2 / 3, "and": 2 / 3, "dragon": 1 / 3, "more": 1 / 3}
    )
    assert "a" not in vocabulary  # one-letter tokens are not words to TF-IDF either
    assert summary["count"] == 150
    assert summary["missing"] == 50


def test_text_length_counts_words_per_document():
    summary = summarise(pd.Series(["one two three", "four", None]), "text")

    assert summary["length"]["min"] == 1.0
    assert summary["length"]["max"] == 3.0
    assert summary["length"]["mean"] == 2.0
    assert sum(summary["length"]["histogram"]["counts"]) == 2


@pytest.mark.parametrize(
    ("predictions", "kind"),
    [
        (np.array([0.5, 1.5, 2.5]), "numeric"),
        (np.array(["fire", "ice", "fire"], dtype=object), "categorical"),
        (np.array([True, False, True]), "categorical"),
    ],
    ids=["regression", "labels", "booleans"],
)
def test_build_profile_summarises_predictions(predictions, kind):
    frame = _frame().iloc[:3]

    profile = build_profile(frame, FEATURES, predictions=predictions)

    assert profile["prediction"]["kind"] == kind
    assert profile["prediction"]["count"] == 3


def test_numeric_sample_is_every_value_when_training_is_small():
    frame = _frame()

    summary = build_profile(frame, FEATURES)["features"]["hp"]

    present = np.sort(frame["hp"].dropna().to_numpy())
    # hp has one decimal and a std of about 40: the 0.1 rounding step keeps every value.
    assert decode_sample(summary["sample"]) == pytest.approx(present)
    assert summary["sample_size"] == summary["finite"] == 197
    assert summary["value_counts"] is None
    assert summary["distinct"] == len(np.unique(present))


def test_numeric_sample_is_seeded_sorted_and_capped():
    values = pd.Series(np.random.default_rng(1).normal(100.0, 15.0, 20_000))

    first = numeric_summary(values, seed=3)
    again = numeric_summary(values, seed=3)
    other = numeric_summary(values, seed=4)

    sample = decode_sample(first["sample"])
    assert first["sample"] == again["sample"] != other["sample"]
    assert sample.size == first["sample_size"] == SAMPLE_SIZE
    assert np.all(np.diff(sample) >= 0)
    # Rounded to 0.1 (std 15 -> step 10^(1-2)); the sample's quantiles track the data's.
    assert np.abs(sample - np.round(sample, 1)).max() < 1e-9
    assert np.quantile(sample, [0.1, 0.5, 0.9]) == pytest.approx(
        np.quantile(values, [0.1, 0.5, 0.9]), rel=0.02
    )
    assert first["finite"] == 20_000


def test_low_cardinality_numeric_column_keeps_exact_counts_instead_of_a_sample():
    values = pd.Series([0.0] * 700 + [1.0] * 250 + [2.0] * 50 + [np.nan] * 10)

    summary = numeric_summary(values)

    assert summary["value_counts"] == {"values": [0.0, 1.0, 2.0], "counts": [700, 250, 50]}
    assert summary["sample"] == ""
    assert summary["distinct"] == 3


def test_categorical_counts_match_the_frequencies():
    frame = _frame()

    summary = build_profile(frame, FEATURES)["features"]["color"]

    expected = frame["color"].fillna(MISSING).value_counts()
    assert summary["counts"] == expected.to_dict()
    assert summary["other_count"] == 0
    total = sum(summary["counts"].values())
    assert {k: v / total for k, v in summary["counts"].items()} == pytest.approx(
        summary["frequencies"]
    )


def test_categorical_other_count_holds_the_categories_beyond_the_top():
    values = pd.Series([f"c{i}" for i in range(250)] + ["c0"] * 50)

    summary = summarise(values, "categorical")

    assert len(summary["counts"]) == 200
    assert summary["counts"]["c0"] == 51
    assert summary["other_count"] == 50


def test_text_oov_baseline_is_measured_on_unseen_documents():
    texts = pd.Series(["fire burns", "fire burns", "water flows", "ice melts"])

    summary = summarise(texts, "text")

    # Vocabulary from the even documents: {fire, burns, water, flows}; the odd ones
    # have 4 words, "ice" and "melts" outside it.
    assert summary["oov_share"] == pytest.approx(2 / 4)
    assert summary["tokens"] == 8


def test_profile_of_many_numeric_features_stays_small():
    rng = np.random.default_rng(0)
    columns = [f"x{i}" for i in range(10)]
    frame = pd.DataFrame({c: rng.normal(50, 10, 100_000) for c in columns})

    profile = build_profile(frame, FeatureSet(numeric=columns))

    # The artifact is written with indent=1; the samples are strings, so it barely grows.
    size = len(json.dumps(profile, indent=1))
    assert size < 400_000, size
