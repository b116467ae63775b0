"""Unit tests for champion.project.targets: encoding the target and choosing the positive class."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from champion.errors import SpecError
from champion.project.spec import parse_spec
from champion.project.targets import encode_target, positive_class, prepare_target


@pytest.mark.parametrize(
    ("y", "expected"),
    [
        (np.array([True, False, False, False]), True),
        (np.array([False, True, True, True]), True),
        (np.array([1, 0, 0, 0]), 1),
        (np.array([0, 1, 1, 1]), 1),
        (np.array(["no", "yes", "yes"], dtype=object), "yes"),
        (np.array(["False", "True", "True"], dtype=object), "True"),
        (np.array([False, True, True], dtype=object), True),
    ],
    ids=[
        "numpy-bool-rare",
        "numpy-bool-common",
        "numpy-int-rare",
        "numpy-int-common",
        "yes-common",
        "true-as-text",
        "python-bool",
    ],
)
def test_positive_class_prefers_a_value_spelled_like_yes(y, expected):
    chosen = positive_class(y)

    assert chosen == expected
    assert type(chosen) is type(y[0])  # a class of y, in y's own type


def test_positive_class_falls_back_to_the_rarer_class():
    y = np.array(["water", "fire", "water", "water", "fire", "water"], dtype=object)

    assert positive_class(y) == "fire"


def test_positive_class_recognises_one_stored_as_float():
    # A 0/1 column with missing cells is read as floats; 1.0 is still the positive class.
    y = np.array([0.0, 1.0, 1.0, 1.0])

    assert positive_class(y) == 1.0


@pytest.mark.parametrize(
    ("y", "requested", "expected"),
    [
        (np.array(["no", "yes", "yes"], dtype=object), "no", "no"),
        (np.array([0, 1, 1]), "0", 0),
        (np.array(["0", "1"], dtype=object), 1, "1"),
        (np.array([2.0, 3.0]), 3, 3.0),
    ],
    ids=["text", "text-for-number", "number-for-text", "int-for-float"],
)
def test_positive_class_takes_the_requested_class(y, requested, expected):
    chosen = positive_class(y, requested)

    assert chosen == expected
    assert chosen in list(y)


def test_positive_class_rejects_a_class_that_does_not_exist():
    y = np.array(["no", "yes"], dtype=object)

    with pytest.raises(
        SpecError, match=r"positive_class: 'maybe' is not a class of the target; classes are: "
    ) as info:
        positive_class(y, "maybe")

    assert info.value.field == "positive_class"
    assert "'no'" in str(info.value)
    assert "'yes'" in str(info.value)


def test_positive_class_error_lists_numpy_classes_as_plain_values():
    with pytest.raises(SpecError, match=r"classes are: 0, 1$"):
        positive_class(np.array([0, 1, 1]), 2)


def _spec(**changes):
    raw = {"name": "m", "data": "d.csv", "target": "label", "task": "binary", **changes}
    return parse_spec(raw).spec


def test_prepare_target_drops_rows_without_a_target_and_picks_the_positive_class():
    frame = pd.DataFrame({"label": ["yes", None, "no", "no", np.nan]})

    target = prepare_target(frame, _spec())

    assert target.keep.tolist() == [True, False, True, True, False]
    assert target.y.tolist() == ["yes", "no", "no"]
    assert target.pos_label == "yes"


def test_prepare_target_uses_the_requested_positive_class():
    frame = pd.DataFrame({"label": [True, False, False]})

    target = prepare_target(frame, _spec(positive_class=False))

    assert target.pos_label is not None
    assert not target.pos_label


def test_prepare_target_rejects_a_positive_class_that_does_not_exist():
    frame = pd.DataFrame({"label": ["cat", "dog"]})

    with pytest.raises(SpecError, match=r"positive_class: 'bird' is not a class"):
        prepare_target(frame, _spec(positive_class="bird"))


def test_prepare_target_regression_gives_floats():
    frame = pd.DataFrame({"speed": ["10", "12.5", None]})

    target = prepare_target(frame, _spec(target="speed", task="regression"))

    assert target.y.dtype == np.float64
    assert target.y.tolist() == [10.0, 12.5]
    assert target.pos_label is None


def test_prepare_target_multilabel_learns_the_tag_vocabulary():
    frame = pd.DataFrame({"type_1": ["fire", "water", "grass"], "type_2": ["flying", None, "fire"]})
    spec = _spec(target=["type_1", "type_2"], task="multilabel")

    target = prepare_target(frame, spec)

    assert target.tags == ["fire", "flying", "grass", "water"]
    assert target.y.tolist() == [[1, 1, 0, 0], [0, 0, 0, 1], [1, 0, 1, 0]]


def test_encode_target_multilabel_ignores_tags_unseen_in_training():
    frame = pd.DataFrame({"types": ["fire|ghost", "ghost", None]})

    target = encode_target(frame, "multilabel", ["types"], tags=["fire", "water"])

    assert target.y.tolist() == [[1, 0], [0, 0], [0, 0]]
    assert target.keep.tolist() == [True, True, True]


def test_encode_target_reads_pandas_strings_as_python_strings():
    frame = pd.DataFrame({"label": pd.Series(["a", "b", None], dtype="str")})

    target = encode_target(frame, "multiclass", ["label"])

    assert target.y.dtype == object
    assert [type(v) for v in target.y] == [str, str]
