"""Request values to model inputs: the server's conversion equals training's."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from champion.errors import RequestError
from champion.project.features import FeatureSet, model_inputs
from champion.serving.inputs import as_frame, to_inputs
from champion.serving.protocol import Rows, parse_invocations, parse_records

FEATURES = FeatureSet(numeric=["hp", "speed"], categorical=["colour"], text=["entry"])


def test_request_values_become_what_training_gave_the_model():
    records = [
        {"hp": 80, "speed": "70", "colour": "red", "entry": "A fiery lizard."},
        {"hp": 64.5, "speed": None, "colour": 1.0, "entry": 12},
        {"hp": None, "speed": float("inf"), "colour": None, "entry": None},
        {"hp": 2**70, "speed": "1e400", "colour": True, "entry": ""},
    ]
    frame = pd.DataFrame.from_records(records)
    served = as_frame(to_inputs(Rows.from_frame(frame), FEATURES))
    trained = model_inputs(frame, FEATURES)
    pd.testing.assert_frame_equal(served, trained.reset_index(drop=True))
    # Same from the JSON path, which never builds a DataFrame (JSON has no infinity).
    finite = [records[0], records[1], records[3]]
    from_json = as_frame(to_inputs(parse_records(json.dumps(finite).encode()), FEATURES))
    pd.testing.assert_frame_equal(from_json, served.iloc[[0, 1, 3]].reset_index(drop=True))
    assert served["colour"].tolist() == ["red", "1", None, "True"]
    assert math.isnan(served["speed"][2]) and math.isnan(served["speed"][3])


@pytest.mark.parametrize("bad", ["big", [1, 2], {"a": 1}, True, ""])
def test_a_numeric_column_refuses_what_is_no_number(bad):
    rows = Rows({"hp": [1, bad], "speed": [1, 2], "colour": ["a", "b"], "entry": ["x", "y"]}, 2)
    with pytest.raises(RequestError) as caught:
        to_inputs(rows, FEATURES)
    assert caught.value.field == "hp" and "must be a number" in caught.value.message


def test_a_missing_column_is_named():
    with pytest.raises(RequestError) as caught:
        to_inputs(Rows({"hp": [1], "colour": ["a"], "entry": ["x"]}, 1), FEATURES)
    assert caught.value.field == "speed"


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": ["hp", "speed"], "data": [[1, 2], [3, 4]]}},
        {"dataframe_records": [{"hp": 1, "speed": 2}, {"hp": 3, "speed": 4}]},
        {"instances": [{"hp": 1, "speed": 2}, {"hp": 3, "speed": 4}]},
        {"instances": [[1, 2], [3, 4]]},
        {"inputs": {"hp": [1, 3], "speed": [2, 4]}},
    ],
)
def test_every_mlflow_format_gives_the_same_columns(payload):
    rows = parse_invocations(json.dumps(payload).encode(), "application/json", ["hp", "speed"])
    assert rows.count == 2 and rows.columns == {"hp": [1, 3], "speed": [2, 4]}


def test_records_with_different_keys_leave_the_gaps_empty():
    rows = parse_records(b'[{"hp": 1}, {"speed": 2}]')
    assert rows.columns == {"hp": [1, None], "speed": [None, 2]}
    inputs = to_inputs(
        Rows({**rows.columns, "colour": [None, None], "entry": ["", ""]}, 2), FEATURES
    )
    assert np.isnan(inputs["hp"][1]) and inputs["speed"][1] == 2.0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (
            {"dataframe_split": {"columns": ["hp", "hp"], "data": [[1, 2]]}},
            "dataframe_split.columns",
        ),
        ({"dataframe_split": {"columns": [["hp"]], "data": [[1]]}}, "dataframe_split.columns"),
        ({"dataframe_split": {"columns": ["hp"], "data": [[1, 2]]}}, "dataframe_split.data"),
        ({"inputs": {"hp": [1, 2], "speed": [1]}}, "inputs"),
        ({"instances": [[1]]}, "instances"),
    ],
)
def test_inconsistent_shapes_are_a_400_naming_where(payload, field):
    with pytest.raises(RequestError) as caught:
        parse_invocations(json.dumps(payload).encode(), "application/json", ["hp", "speed"])
    assert caught.value.http_status == 400 and caught.value.field == field


def test_plain_numbers_convert_at_once_as_value_by_value():
    """Rows of numbers and nulls only (the usual body) are converted by NumPy in one
    pass; that gives what the checked value-by-value conversion gives, and what
    training gave, infinities and integers past a double's range included (missing)."""
    hp = [1, 2.5, None, math.inf, 2**70, -0.0, 9007199254740993, 10**400]
    n = len(hp)
    other = {"speed": list(range(n)), "colour": ["red"] * n, "entry": ["x"] * n}
    plain = to_inputs(
        Rows({"hp": hp[:-1], **{k: v[:-1] for k, v in other.items()}}, n - 1), FEATURES
    )
    # A string among the numbers sends the column down the checked path.
    checked = to_inputs(Rows({"hp": [*hp[:-1], "1"], **other}, n), FEATURES)
    np.testing.assert_array_equal(plain["hp"], checked["hp"][:-1])
    frame = pd.DataFrame(
        {"hp": pd.Series(hp[:-1], dtype=object), **{k: v[:-1] for k, v in other.items()}}
    )
    expected = model_inputs(frame, FEATURES)["hp"].to_numpy(dtype=float)
    np.testing.assert_array_equal(plain["hp"], expected)
    assert np.isnan(plain["hp"][[2, 3]]).all() and plain["hp"][4] == 2.0**70
    # NumPy refuses an integer past a double's range: checked path, missing as well.
    huge = to_inputs(Rows({"hp": hp, **other}, n), FEATURES)
    np.testing.assert_array_equal(huge["hp"][:-1], plain["hp"])
    assert math.isnan(huge["hp"][-1])


def test_numeric_columns_are_rows_of_one_contiguous_block():
    split = {"columns": ["hp", "speed", "colour", "entry"], "data": [[1, 2, "a", "b"]] * 3}
    body = json.dumps({"dataframe_split": split}).encode()
    inputs = to_inputs(parse_invocations(body, "application/json", []), FEATURES)
    hp, speed = inputs["hp"], inputs["speed"]
    assert hp.base is not None and hp.base is speed.base  # one block, a row per column
    assert hp.base.shape == (2, 3) and hp.base.flags.c_contiguous
    assert hp.flags.c_contiguous and speed.flags.c_contiguous
    assert hp.tolist() == [1.0] * 3 and speed.tolist() == [2.0] * 3
