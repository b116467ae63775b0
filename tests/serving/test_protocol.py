"""Request bodies to rows, called directly: every MLflow format gives the rows pandas
reads from the same table, and every malformed body is a RequestError with its 4xx
status, the field at fault and a message that names the problem."""

from __future__ import annotations

import io
import json

import numpy as np
import orjson
import pandas as pd
import pytest

from champion.errors import RequestError
from champion.serving.protocol import (
    Limits,
    Rows,
    invocations_answer,
    media_type,
    parse_invocations,
    parse_records,
)

COLUMNS = ["hp", "colour", "speed"]
# One table, with a gap: every format below spells it.
TABLE = pd.DataFrame(
    {"hp": [80.0, 64.5, 50.0], "colour": ["red", None, "blue"], "speed": [70.0, 28.0, None]}
)
RECORDS = [
    {"hp": 80.0, "colour": "red", "speed": 70.0},
    {"hp": 64.5, "colour": None, "speed": 28.0},
    {"hp": 50.0, "colour": "blue", "speed": None},
]
SPLIT = {"columns": COLUMNS, "data": [[r[c] for c in COLUMNS] for r in RECORDS]}
LISTS = SPLIT["data"]
COLUMNAR = {c: [r[c] for r in RECORDS] for c in COLUMNS}
JSON = "application/json"


def _json(payload) -> bytes:
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (_json({"dataframe_split": SPLIT}), JSON),
        (_json({"dataframe_records": RECORDS}), JSON),
        (_json({"instances": RECORDS}), JSON),
        (_json({"instances": LISTS}), JSON),
        (_json({"instances": COLUMNAR}), JSON),
        (_json({"inputs": RECORDS}), JSON),
        (_json({"inputs": LISTS}), JSON),
        (_json({"inputs": COLUMNAR}), JSON),
        (TABLE.to_csv(index=False).encode(), "text/csv"),
        (TABLE.to_csv(index=False).encode(), "text/csv; charset=utf-8"),
        (_json(SPLIT), "application/json; format=pandas-split"),
        (_json({**SPLIT, "index": [0, 1, 2]}), "application/json; Format=Pandas-Split"),
        (_json(RECORDS), "application/json; format=pandas-records"),
        (_json({"dataframe_split": SPLIT}), "application/json; format=pandas-records"),
        (_json({"dataframe_split": SPLIT}), None),
    ],
    ids=[
        "dataframe_split",
        "dataframe_records",
        "instances-records",
        "instances-lists",
        "instances-columnar",
        "inputs-records",
        "inputs-lists",
        "inputs-columnar",
        "csv",
        "csv-charset",
        "mlflow1-pandas-split",
        "mlflow1-pandas-split-with-index",
        "mlflow1-pandas-records",
        "wrapped-body-wins-over-format",
        "no-content-type-is-json",
    ],
)
def test_every_format_gives_the_rows_pandas_reads(body, content_type):
    rows = parse_invocations(body, content_type, COLUMNS)

    expected = Rows.from_frame(TABLE)
    assert rows.count == 3
    assert list(rows.columns) == COLUMNS
    assert rows.columns == expected.columns
    assert rows.columns["colour"][1] is None  # a gap is None, never NaN
    pd.testing.assert_frame_equal(pd.DataFrame(rows.columns), TABLE)


def test_split_without_columns_numbers_them_as_pandas_does():
    rows = parse_invocations(_json({"dataframe_split": {"data": LISTS}}), JSON, COLUMNS)
    frame = pd.DataFrame(LISTS)
    assert list(rows.columns) == [str(c) for c in frame.columns] == ["0", "1", "2"]
    assert rows.columns["2"] == [70.0, 28.0, None]


def test_a_lone_value_in_columnar_inputs_stands_for_every_row():
    rows = parse_invocations(_json({"inputs": {"hp": [1, 2, 3], "colour": "red"}}), JSON, [])
    assert rows.count == 3 and rows.columns["colour"] == ["red", "red", "red"]


def test_records_with_different_keys_keep_the_first_seen_order():
    rows = parse_invocations(_json({"dataframe_records": [{"b": 1}, {"a": 2, "b": 3}]}), JSON, [])
    assert list(rows.columns) == ["b", "a"]
    assert rows.columns == {"b": [1, 3], "a": [None, 2]}


@pytest.mark.parametrize(
    "body",
    [
        _json({"hp": 80, "colour": "red"}),
        _json([{"hp": 80, "colour": "red"}]),
        _json({"records": [{"hp": 80, "colour": "red"}]}),
    ],
    ids=["one-record", "a-list", "wrapped"],
)
def test_predict_bodies_give_one_row(body):
    rows = parse_records(body)
    assert rows.count == 1 and rows.columns == {"hp": [80], "colour": ["red"]}


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("Text/CSV; charset=utf-8", "text/csv"),
        ("application/json; format=pandas-split", "application/json"),
        (" ; format=pandas-split", "application/json"),
    ],
    ids=["none", "empty", "case-and-parameters", "mlflow1", "only-parameters"],
)
def test_media_type_drops_parameters_and_defaults_to_json(content_type, expected):
    assert media_type(content_type) == expected


BAD = [
    # (body, content type, status, field, message pattern)
    (b'{"dataframe_split": ', JSON, 400, "body", r"^malformed JSON: "),
    (_json([1, 2]), JSON, 400, "body", r"exactly one of dataframe_split, .*; got a list"),
    (_json({"data": LISTS}), JSON, 400, "body", r"exactly one of .*; it has: data$"),
    (_json({}), JSON, 400, "body", r"it has: nothing$"),
    (
        _json({"dataframe_split": SPLIT, "instances": LISTS}),
        JSON,
        400,
        "body",
        r"it has: dataframe_split, instances$",
    ),
    (
        _json({"dataframe_split": {"columns": ["hp", "hp"], "data": [[1, 2]]}}),
        JSON,
        400,
        "dataframe_split.columns",
        r"names a column twice: \['hp', 'hp'\]",
    ),
    (  # the same name as a number and as text: one column to a DataFrame
        _json({"dataframe_split": {"columns": [1, "1"], "data": [[1, 2]]}}),
        JSON,
        400,
        "dataframe_split.columns",
        r"names a column twice: \[1, '1'\]",
    ),
    (
        _json({"dataframe_split": {"columns": ["hp", "speed"], "data": [[1, 2], [3]]}}),
        JSON,
        400,
        "dataframe_split.data",
        r"every row must have 2 values, one per column",
    ),
    (
        _json({"dataframe_split": {"columns": ["hp"]}}),
        JSON,
        400,
        "dataframe_split",
        r"must be an object with 'columns' and 'data'",
    ),
    (
        _json({"dataframe_split": {"data": [1, 2]}}),
        JSON,
        400,
        "dataframe_split.data",
        r"must be a list of rows",
    ),
    (
        _json({"dataframe_split": {"columns": [["hp"]], "data": [[1]]}}),
        JSON,
        400,
        "dataframe_split.columns",
        r"must be a list of column names",
    ),
    (
        _json({"instances": [[1, 2, 3], [4, 5]]}),
        JSON,
        400,
        "instances",
        r"each row must have 3 values, in the order \['hp', 'colour', 'speed'\]",
    ),
    (
        _json({"inputs": {"hp": [1, 2], "speed": [1]}}),
        JSON,
        400,
        "inputs",
        r"every column must have the same number of values; got \[1, 2\]",
    ),
    (_json({"inputs": 7}), JSON, 400, "inputs", r"a list of objects, a list of rows"),
    (_json({"instances": []}), JSON, 400, "instances", r"a list of objects, a list of rows"),
    (
        _json({"dataframe_records": []}),
        JSON,
        400,
        "dataframe_records",
        r"is empty: send at least one row",
    ),
    (
        _json({"dataframe_records": [[1, 2]]}),
        JSON,
        400,
        "dataframe_records",
        r"must be a list of objects \(one per row\)",
    ),
    (
        _json(LISTS),
        "application/json; format=pandas-split",
        400,
        "dataframe_split",
        r"dataframe_split must be an object with 'columns' and 'data'",
    ),
    (
        b"hp,speed\n1,2\n3,4,5\n",
        "text/csv",
        400,
        "body",
        r"^CSV line 3 has 3 fields; the header has 2 \(hp, speed\)",
    ),
    (b"hp,speed\n1\n", "text/csv", 400, "body", r"^CSV line 2 has 1 fields; the header has 2"),
    (b"hp,speed,hp\n1,2,3\n", "text/csv", 400, "hp", r"^CSV header names column 'hp' twice"),
    (b"", "text/csv", 400, "body", r"^malformed CSV: no header line"),
    (b"hp,colour\n1,\xff\xfe\n", "text/csv", 400, "body", r"^malformed CSV: .*codec"),
    (
        b"hp=1",
        "text/plain",
        415,
        "content-type",
        r"unsupported content type 'text/plain'; use application/json or text/csv",
    ),
    (
        _json({"dataframe_split": SPLIT}),
        "application/x-www-form-urlencoded; charset=utf-8",
        415,
        "content-type",
        r"'application/x-www-form-urlencoded'",
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field", "message"),
    BAD,
    ids=[
        "malformed-json",
        "not-an-object",
        "no-format-key",
        "empty-object",
        "two-format-keys",
        "split-duplicated-columns",
        "split-same-name-as-number-and-text",
        "split-ragged-rows",
        "split-without-data",
        "split-data-not-rows",
        "split-columns-not-names",
        "instances-ragged-rows",
        "inputs-ragged-columns",
        "inputs-a-scalar",
        "instances-empty",
        "records-empty",
        "records-not-objects",
        "mlflow1-split-given-a-list",
        "csv-extra-field",
        "csv-missing-field",
        "csv-duplicated-header",
        "csv-empty",
        "csv-not-utf8",
        "text-plain-415",
        "form-415",
    ],
)
def test_a_bad_body_is_a_request_error_naming_the_problem(
    body, content_type, status, field, message
):
    with pytest.raises(RequestError, match=message) as caught:
        parse_invocations(body, content_type, COLUMNS)
    error = caught.value
    assert (error.http_status, error.field) == (status, field)
    assert error.to_dict()["error"] == {
        "code": "invalid_input",
        "message": str(error),
        "field": field,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2]", r"records must be a list of objects"),
        (b"[]", r"records is empty"),
        (b'[{"hp": 1}, 2]', r"records must be a list of objects"),
        (b"nope", r"^malformed JSON"),
    ],
    ids=["not-objects", "empty", "not-all-objects", "malformed"],
)
def test_a_bad_predict_body_is_a_400(body, message):
    with pytest.raises(RequestError, match=message) as caught:
        parse_records(body)
    assert caught.value.http_status == 400


SMALL = Limits(rows=5, columns=3, cells=12)


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (_json({"dataframe_split": {"columns": ["a"], "data": [[1]] * 6}}), JSON, r"^6 rows is"),
        (_json({"dataframe_records": [{"a": 1}] * 6}), JSON, r"^6 rows is over the limit of 5$"),
        (_json({"instances": [{"a": 1}, {"b": 1}, {"c": 1}, {"d": 1}]}), JSON, r"^4 columns"),
        (_json({"inputs": {"a": [1] * 5, "b": 1, "c": 1}}), JSON, r"15 values, over the limit"),
        (_json({"instances": [[1, 2, 3]] * 5}), JSON, r"^5 rows × 3 columns is 15 values"),
        (b"a,b,c,d\n1,2,3,4\n", "text/csv", r"^4 columns is over the limit of 3$"),
        (b"a\n" + b"1\n" * 6, "text/csv", r"^6 rows is over the limit of 5$"),
    ],
    ids=[
        "split-rows",
        "records-rows",
        "records-columns",
        "columnar-cells",
        "lists-cells",
        "csv-columns",
        "csv-rows",
    ],
)
def test_a_table_over_the_limits_is_a_413_before_it_is_built(body, content_type, message):
    with pytest.raises(RequestError, match=message) as caught:
        parse_invocations(body, content_type, COLUMNS, SMALL)
    assert (caught.value.http_status, caught.value.field) == (413, "body")


def test_past_a_small_table_there_are_no_more_values_than_bytes_in_the_body():
    # 2,000 records with a key each of their own: 4,000,000 values from 30 KB.
    sparse = _json([{f"k{i}": 1} for i in range(2_000)])
    with pytest.raises(RequestError, match=r"over the limit of \d+ for a body of") as caught:
        parse_records(sparse, Limits(columns=10_000, cells=10**9))
    assert caught.value.http_status == 413
    # The same number of values, written out in full, is no amplification: accepted.
    dense = _json({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]] * 10_000}})
    assert parse_invocations(dense, JSON, []).count == 10_000


def test_csv_columns_are_typed_as_pandas_types_them():
    body = b"n,f,gap,flag,text,blank\n1,1.5,,true,red,\n2,2,3,False,4,\n"
    rows = parse_invocations(body, "text/csv", [])
    frame = pd.read_csv(io.BytesIO(body))
    assert rows.columns == Rows.from_frame(frame).columns
    assert rows.columns["gap"] == [None, 3.0] and rows.columns["blank"] == [None, None]


@pytest.mark.parametrize(
    "predictions",
    [
        np.array([0, 1, 1]),  # binary, integer classes
        np.array([True, False]),  # boolean classes
        np.array(["setosa", "virginica"], dtype=object),  # text classes
        np.array([0.1, 1 / 3, 1e22, -0.0, 5e-324, np.nan]),  # regression
        np.array([0.1, 2.5], dtype=np.float32),  # float32: as the double tolist gives
        np.array([[0, 1, 1], [1, 0, 0]]),  # multilabel: a row of 0/1 per tag
        np.arange(6.0)[::2],  # not contiguous
    ],
    ids=["int", "bool", "str", "float64", "float32", "multilabel", "strided"],
)
def test_the_invocations_answer_is_the_json_of_tolist(predictions):
    """Written from the array without a Python value per row, the body is byte for byte
    the one ``tolist`` gives, which is what MLflow's server answers (types included)."""
    assert invocations_answer(predictions) == orjson.dumps({"predictions": predictions.tolist()})
