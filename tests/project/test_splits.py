"""Unit tests for champion.project.splits: cutting the holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from champion.errors import DataError
from champion.project.spec import SplitSpec
from champion.project.splits import cv_folds, make_split

N = 100


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "generation": [1] * 50 + [2] * 30 + [3] * 10 + [4] * 10,
            "species": rng.permutation(np.arange(N) // 4),  # 25 groups of 4 rows
            "label": np.tile(["common", "rare", "common", "common"], N // 4),
            "speed": rng.normal(size=N),
        }
    )


def _assert_partition(split, n: int = N) -> None:
    assert np.intersect1d(split.train, split.test).size == 0
    assert np.union1d(split.train, split.test).tolist() == list(range(n))


def test_random_split_holds_out_test_size():
    frame = _frame()

    split = make_split(frame, frame["speed"], SplitSpec(method="random"), "regression", 0)

    _assert_partition(split)
    assert len(split.test) == 20
    assert split.method == "random"
    assert split.description == "random 20% holdout"


def test_random_split_depends_on_the_seed_only():
    frame = _frame()
    spec = SplitSpec(method="random", test_size=0.3)

    first = make_split(frame, frame["speed"], spec, "regression", 1)
    again = make_split(frame, frame["speed"], spec, "regression", 1)
    other = make_split(frame, frame["speed"], spec, "regression", 2)

    assert first.test.tolist() == again.test.tolist()
    assert first.test.tolist() != other.test.tolist()
    assert len(first.test) == 30


def test_stratified_split_keeps_class_shares():
    frame = _frame()

    split = make_split(frame, frame["label"], SplitSpec(method="stratified"), "binary", 0)

    _assert_partition(split)
    test_labels = frame["label"].iloc[split.test]
    assert len(split.test) == 20
    assert (test_labels == "rare").sum() == 5  # a quarter, as in the whole table


def test_auto_is_stratified_for_classification():
    frame = _frame()
    spec = SplitSpec()

    split = make_split(frame, frame["label"], spec, "binary", 0)
    stratified = make_split(frame, frame["label"], SplitSpec(method="stratified"), "binary", 0)

    assert split.method == "stratified"
    assert split.test.tolist() == stratified.test.tolist()


def test_auto_is_random_for_regression():
    frame = _frame()

    split = make_split(frame, frame["speed"], SplitSpec(), "regression", 0)

    assert split.method == "random"


def test_auto_is_random_when_a_class_has_a_single_row():
    frame = _frame()
    y = frame["label"].copy()
    y.iloc[0] = "unique"

    split = make_split(frame, y, SplitSpec(), "multiclass", 0)

    assert split.method == "random"


@pytest.mark.parametrize(("task", "y"), [("binary", "label"), ("regression", "speed")])
def test_group_split_never_puts_one_group_on_both_sides(task, y):
    frame = _frame()

    split = make_split(frame, frame[y], SplitSpec(method="group", column="species"), task, 3)

    _assert_partition(split)
    train_groups = set(frame["species"].iloc[split.train])
    test_groups = set(frame["species"].iloc[split.test])
    assert train_groups.isdisjoint(test_groups)
    assert len(test_groups) >= 1
    assert split.method == "group"


def test_ordered_split_with_last_holds_out_the_largest_value():
    frame = _frame()
    spec = SplitSpec(method="ordered", column="generation", last=1)

    split = make_split(frame, frame["label"], spec, "binary", 0)

    _assert_partition(split)
    assert set(frame["generation"].iloc[split.test]) == {4}
    assert split.test.tolist() == np.flatnonzero(frame["generation"] == 4).tolist()
    assert split.description == "ordered by 'generation', holdout generation in [4]"


def test_ordered_split_never_holds_out_every_value():
    frame = _frame()
    spec = SplitSpec(method="ordered", column="generation", last=10)

    split = make_split(frame, frame["speed"], spec, "regression", 0)

    assert set(frame["generation"].iloc[split.test]) == {2, 3, 4}
    assert set(frame["generation"].iloc[split.train]) == {1}


@pytest.mark.parametrize(
    ("test_size", "held"),
    [(0.1, {4}), (0.2, {3, 4}), (0.25, {2, 3, 4}), (0.9, {2, 3, 4})],
    ids=["one-value", "two-values", "three-values", "never-the-first-value"],
)
def test_ordered_split_takes_trailing_values_until_test_size(test_size, held):
    frame = _frame()
    spec = SplitSpec(method="ordered", column="generation", test_size=test_size)

    split = make_split(frame, frame["speed"], spec, "regression", 0)

    assert set(frame["generation"].iloc[split.test]) == held
    assert len(split.test) == frame["generation"].isin(held).sum()


@pytest.mark.parametrize(
    ("frame", "y", "spec", "task", "match", "field"),
    [
        (
            _frame(),
            "label",
            SplitSpec(method="group", column="trainer"),
            "binary",
            r"split\.column: 'trainer' is not in the data; columns are: generation, species",
            "split.column",
        ),
        (
            _frame(),
            "speed",
            SplitSpec(method="ordered", column="region"),
            "regression",
            r"split\.column: 'region' is not in the data",
            "split.column",
        ),
        (
            _frame(),
            "speed",
            SplitSpec(method="stratified"),
            "regression",
            r"split\.method: 'stratified' needs a classification task",
            "split.method",
        ),
        (
            _frame().assign(species=1),
            "speed",
            SplitSpec(method="group", column="species"),
            "regression",
            r"split\.column: needs at least 2 distinct groups",
            "split.column",
        ),
        (
            _frame().assign(generation=7),
            "speed",
            SplitSpec(method="ordered", column="generation"),
            "regression",
            r"split\.column: 'generation' needs at least 2 distinct values",
            "split.column",
        ),
        (
            _frame().assign(label=["common"] * (N - 1) + ["rare"]),
            "label",
            SplitSpec(method="ordered", column="generation", last=3),
            "binary",
            r"split: the ordered split leaves a single class for training",
            "split",
        ),
    ],
    ids=[
        "missing-group-column",
        "missing-ordered-column",
        "stratified-regression",
        "one-group",
        "one-ordered-value",
        "single-training-class",
    ],
)
def test_make_split_rejects_impossible_splits(frame, y, spec, task, match, field):
    with pytest.raises(DataError, match=match) as info:
        make_split(frame, frame[y], spec, task, 0)

    assert info.value.field == field


def test_cv_folds_keep_groups_whole():
    frame = _frame()
    spec = SplitSpec(method="group", column="species")

    folds = cv_folds("binary", spec, frame, frame["label"], 0)

    assert len(folds) == 3
    for train, test in folds:
        assert set(frame["species"].iloc[train]).isdisjoint(frame["species"].iloc[test])


def test_cv_folds_are_stratified_for_classification():
    frame = _frame()

    folds = cv_folds("binary", SplitSpec(), frame, frame["label"], 0)

    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(N))
    for _, test in folds:
        share = (frame["label"].iloc[test] == "rare").mean()
        assert abs(share - 0.25) < 0.03
