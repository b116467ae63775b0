"""How a category is spelled: the one spelling that training, serving, the log and
monitoring share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from champion.project.categories import MISSING, canonical_category, is_missing


@pytest.mark.parametrize(
    ("values", "spelling"),
    [
        ([1, 1.0, "1", np.int64(1), np.float32(1.0)], "1"),
        ([True, np.bool_(True)], "True"),
        ([False, np.bool_(False)], "False"),
        ([2.5, np.float64(2.5), "2.5"], "2.5"),
        (["fire", np.str_("fire")], "fire"),
    ],
    ids=["one", "true", "false", "fraction", "text"],
)
def test_equal_values_have_one_spelling(values, spelling):
    assert {canonical_category(value) for value in values} == {spelling}


def test_a_boolean_is_not_spelled_as_a_number():
    assert canonical_category(True) != canonical_category(1)


@pytest.mark.parametrize(
    ("value", "missing"),
    [
        (None, True),
        (float("nan"), True),
        (np.nan, True),
        (pd.NA, True),
        (0.0, False),
        ("", False),
        (MISSING, False),
        ("nan", False),
    ],
    ids=["none", "nan", "numpy-nan", "pandas-na", "zero", "empty-text", "marker", "nan-text"],
)
def test_what_counts_as_missing(value, missing):
    assert bool(is_missing(value)) is missing
