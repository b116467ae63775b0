"""Tests for champion.monitoring.profile_v1: version-1 profiles read as version 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from champion.monitoring.drift import compute_drift
from champion.monitoring.profile_v1 import APPROXIMATE_NOTE, approximate_sample, as_version_2
from champion.project.categories import MISSING
from champion.project.features import FeatureSet
from champion.project.profile import build_profile, decode_sample
from support.drift_data import FEATURES, POLICY, as_json, by_feature, frame


def as_version_1(profile: dict) -> dict:
    """The profile as version 1 logged it: no samples, counts or text baselines."""
    old = json.loads(json.dumps(profile))
    old["version"] = 1
    numeric_keys = ("finite", "distinct", "sample", "sample_size", "value_counts")
    for summary in old["features"].values():
        for key in (*numeric_keys, "counts", "other_count", "tokens", "oov_share"):
            summary.pop(key, None)
        for key in numeric_keys:
            (summary.get("length") or {}).pop(key, None)
    return old


def test_version_1_profile_is_read_approximately():
    reference = frame(4000, seed=0)
    profile = as_version_1(build_profile(reference, FEATURES))
    shifted = frame(2000, seed=2, shift=1.0, colors=(["red", "green", "blue"], [0.2, 0.3, 0.5]))

    same = compute_drift(profile, frame(2000, seed=1), FEATURES, POLICY)
    moved = compute_drift(profile, shifted, FEATURES, POLICY)

    assert same.profile_version == 1
    assert "version 1" in same.notes[0] and "approximate" in same.notes[0]
    assert [f.drifted for f in same.features] == [False, False, False]
    assert [f.drifted for f in moved.features] == [True, True, False]
    assert by_feature(moved)["hp"].score == pytest.approx(1.0, abs=0.1)
    as_json(moved)


def test_version_2_profile_comes_back_unchanged():
    profile = build_profile(frame(500, seed=0), FEATURES, predictions=np.zeros(500))
    before = json.dumps(profile, sort_keys=True)

    upgraded = as_version_2(profile)

    assert upgraded == profile
    assert json.dumps(profile, sort_keys=True) == before  # the input is not changed


def test_version_1_category_counts_come_from_shares():
    features = FeatureSet(categorical=["c"])
    values = pd.Series(["a"] * 60 + ["b"] * 30 + [None] * 10, dtype=object)
    profile = as_version_1(build_profile(pd.DataFrame({"c": values}), features))

    summary = as_version_2(profile)["features"]["c"]

    assert summary["counts"] == pytest.approx({"a": 60.0, "b": 30.0, MISSING: 10.0})
    assert summary["other_count"] == 0.0


def test_version_1_numeric_sample_is_rebuilt_from_quantiles():
    features = FeatureSet(numeric=["x"])
    reference = np.arange(1000.0)
    profile = as_version_1(build_profile(pd.DataFrame({"x": reference}), features))

    summary = as_version_2(profile)["features"]["x"]
    sample = decode_sample(summary["sample"])

    assert summary["finite"] == summary["sample_size"] == 1000
    assert summary["value_counts"] is None
    assert np.all(np.diff(sample) >= 0)
    # Integers, linear between the profile's quantiles: within a value or so everywhere.
    assert np.max(np.abs(sample - reference)) <= 1.0


def test_version_1_few_values_become_value_counts():
    features = FeatureSet(numeric=["x"])
    reference = np.repeat([0.0, 1.0, 2.0], [500, 300, 200])
    profile = as_version_1(build_profile(pd.DataFrame({"x": reference}), features))

    summary = as_version_2(profile)["features"]["x"]

    assert (summary["sample"], summary["distinct"]) == ("", 3)
    assert summary["value_counts"]["values"] == [0.0, 1.0, 2.0]
    assert sum(summary["value_counts"]["counts"]) == 1000


def test_version_1_text_gets_a_zero_baseline_and_a_length_count():
    features = FeatureSet(text=["bio"])
    profile = as_version_1(build_profile(frame(300, seed=0)[["bio"]], features))

    summary = as_version_2(profile)["features"]["bio"]

    assert summary["oov_share"] == 0.0
    assert summary["length"]["finite"] == 300  # from the histogram: lengths have no count


def test_approximate_sample_of_an_empty_summary_is_empty():
    assert approximate_sample({"quantiles": {}, "histogram": None}).size == 0


def test_note_names_the_version():
    assert APPROXIMATE_NOTE.format(version=1).startswith("reference profile version 1:")
