"""Property-based fuzzing of the server over real HTTP: whatever the body, header or
payload shape, the answer is a 2xx with one prediction per row or a 4xx JSON error
naming the problem. Never a 500."""

from __future__ import annotations

import json
import math

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from champion.serving.app import create_app
from support.projects import promoted
from support.serving import running

pytestmark = pytest.mark.integration

COLUMNS = ["size", "weight", "color"]  # the model's inputs: few, so records can be whole


@pytest.fixture(scope="module")
def url(tmp_path_factory, sqlite_template):
    folder = tmp_path_factory.mktemp("fuzz")
    random = np.random.default_rng(0)
    size = random.normal(size=300)
    pd.DataFrame(
        {
            "size": size,
            "weight": random.normal(size=300),
            "color": random.choice(["red", "green", "blue", None], size=300),
            "big": np.where(size + random.normal(scale=0.5, size=300) > 0, "yes", "no"),
        }
    ).to_csv(folder / "things.csv", index=False)
    model = promoted(
        folder,
        sqlite_template,
        """
name: fuzzed
data: things.csv
target: big
task: binary
candidates: [{name: linear, estimator: linear}]
""",
    )
    assert list(model.report.best.pipeline.feature_names_in_) == COLUMNS
    store = model.settings
    with running(create_app(store, "fuzzed", reload_interval=0, max_rows=200)) as base:
        yield base


@pytest.fixture(scope="module")
def client(url):
    with httpx.Client(base_url=url, timeout=30) as http:
        yield http


def json_values(leaves=None):
    """Any JSON document, small."""
    leaves = leaves or (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=12)
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )


cells = json_values() | st.sampled_from(["1e400", "-inf", "NaN", "", " ", "12", "x"])
column_names = st.sampled_from([*COLUMNS, "other", ""]) | st.text(max_size=6)
records = st.lists(st.dictionaries(column_names, cells, max_size=5), max_size=4)
numbers = (
    st.none()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["12", "1e400", "-inf", "NaN", "", "0x10"])
)
colors = st.none() | st.sampled_from(["red", "green", "blue"]) | st.text(max_size=8)
plausible = st.fixed_dictionaries({"size": numbers, "weight": numbers, "color": colors})
full_records = st.lists(plausible | st.fixed_dictionaries({c: cells for c in COLUMNS}), max_size=4)
plausible_payloads = st.one_of(
    st.builds(lambda r: {"dataframe_records": r}, full_records),
    st.builds(lambda r: {"instances": r}, full_records),
    st.builds(
        lambda rows: {"dataframe_split": {"columns": COLUMNS, "data": rows}},
        st.lists(st.tuples(numbers, numbers, colors).map(list), max_size=4),
    ),
)
payloads = st.one_of(
    plausible_payloads,
    plausible_payloads,
    json_values(),
    st.builds(lambda r: {"dataframe_records": r}, records | full_records),
    st.builds(lambda r: {"instances": r}, records | full_records | json_values()),
    st.builds(lambda r: {"inputs": r}, json_values()),
    st.builds(
        lambda cols, data, index: {
            "dataframe_split": {"columns": cols, "data": data, **index},
        },
        st.lists(column_names, max_size=4) | st.just(COLUMNS),
        st.lists(st.lists(cells, max_size=4), max_size=4),
        st.just({}) | st.builds(lambda i: {"index": i}, json_values()),
    ),
    st.dictionaries(
        st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs", "x"]),
        json_values(),
        max_size=3,
    ),
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; format=pandas-split",
        "application/json; format=pandas-records",
        "text/csv",
        "text/plain",
        "",
        "application/x-www-form-urlencoded",
        "application/json; charset=utf-8",
    ]
)


def _dump(payload) -> bytes:
    # orjson refuses integers beyond 64 bits; the stdlib writes them, as clients may.
    return json.dumps(payload).encode()


def _check(response: httpx.Response, rows_of=None) -> None:
    assert response.status_code < 500, response.text
    event(f"status {response.status_code}")  # --hypothesis-show-statistics: the mix
    body = response.json()
    if response.status_code >= 400:
        assert set(body["error"]) == {"code", "message", "field"}
        assert body["error"]["message"]
        return
    predictions = body["predictions"]
    assert isinstance(predictions, list) and predictions
    if rows_of is not None:
        assert len(predictions) == rows_of
    for item in predictions:
        if isinstance(item, dict):
            assert all(math.isfinite(p) for p in item.get("probabilities", {}).values())


SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(payload=payloads, content_type=content_types)
def test_invocations_never_fail_with_a_500(client, payload, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    _check(client.post("/invocations", content=_dump(payload), headers=headers))


@SETTINGS
@given(body=st.binary(max_size=200), content_type=content_types)
def test_invocations_take_any_bytes(client, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    _check(client.post("/invocations", content=body, headers=headers))


@SETTINGS
@given(
    payload=json_values() | records | full_records | st.builds(lambda r: {"records": r}, records)
)
def test_predict_never_fails_with_a_500(client, payload):
    _check(client.post("/predict", content=_dump(payload)))


@SETTINGS
@given(record=plausible | st.fixed_dictionaries({c: cells for c in COLUMNS}))
def test_explain_never_fails_with_a_500(client, record):
    response = client.post("/explain", content=_dump(record))
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert set(response.json()["contributions"]) >= set(COLUMNS)
    else:
        assert response.json()["error"]["message"]
