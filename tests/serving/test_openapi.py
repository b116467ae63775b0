"""The OpenAPI document tells the truth: schemathesis, every check on, against a live
server (uvicorn on loopback, a promoted model in a real MLflow store, a real prediction
log), finds no server error and no schema violation; and a 405 says what is allowed."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from champion.serving.app import create_app
from support.serving import running

pytestmark = pytest.mark.integration

NAME = "wine"  # the name conftest.wine_model registers
MAX_ROWS = 20
ST = Path(sys.executable).with_name("st")  # schemathesis's command line


@pytest.fixture(scope="module")
def url(wine_model, tmp_path_factory):
    settings_, _ = wine_model
    log = tmp_path_factory.mktemp("openapi") / "predictions.db"
    store = replace(settings_, prediction_log=f"sqlite:///{log}")
    app = create_app(store, NAME, reload_interval=0, max_rows=MAX_ROWS, monitor_interval=0)
    with running(app) as base:
        yield base


def test_schemathesis_finds_no_server_error_and_no_schema_violation(url, tmp_path):
    # Every check; the coverage phase (boundaries, wrong types, missing fields, methods
    # the document does not list) and a fixed number of fuzzed examples, from one seed.
    command = [str(ST), "run", f"{url}/openapi.json", "--checks", "all", "--seed", "7"]
    # One worker: hypothesis parses lambdas' source with ast, and CPython 3.11.7's
    # parser is not thread-safe (SystemError "AST constructor recursion depth mismatch").
    command += ["--phases", "coverage,fuzzing", "--max-examples", "5", "--workers", "1"]
    # 413 is how the server refuses more rows than its limit: a rejection like a 400.
    (tmp_path / "schemathesis.toml").write_text(
        "[checks.negative_data_rejection]\n"
        "expected-statuses = [400, 404, 405, 406, 409, 413, 415, 422]\n"
    )
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout[-6000:]
    assert "No issues found" in result.stdout
    assert "Selected: 10/10" in result.stdout  # every endpoint


def test_the_document_lists_every_endpoint_with_its_bodies(url):
    document = httpx.get(f"{url}/openapi.json").json()
    assert set(document["paths"]) == {
        "/invocations",
        "/predict",
        "/explain",
        "/feedback",
        "/",
        "/dashboard",
        "/health",
        "/ready",
        "/version",
        "/metrics",
    }
    invocations = document["paths"]["/invocations"]["post"]
    assert set(invocations["requestBody"]["content"]) == {"application/json", "text/csv"}
    for path in ("/invocations", "/predict", "/explain", "/feedback"):
        operation = document["paths"][path]["post"]
        assert "requestBody" in operation, path
        assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    record = document["components"]["schemas"]["Record"]
    assert record["required"][:2] == ["alcohol", "malic_acid"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("GET", "/predict", "POST"), ("DELETE", "/invocations", "POST"), ("POST", "/version", "GET")],
    ids=["get-predict", "delete-invocations", "post-version"],
)
def test_a_405_names_the_allowed_methods(url, method, path, allowed):
    answer = httpx.request(method, f"{url}{path}")
    assert answer.status_code == 405
    assert allowed in {m.strip() for m in answer.headers["Allow"].split(",")}
    assert answer.json()["error"]["code"] == "http_error"


def _record(value: float) -> dict:
    return {
        "alcohol": value,
        **dict.fromkeys(
            ["malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols"], 1.0
        ),
        **dict.fromkeys(
            ["flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity"], 1.0
        ),
        **dict.fromkeys(["hue", "od280/od315_of_diluted_wines", "proline"], 1.0),
    }


def test_the_dashboard_survives_the_largest_finite_numbers(url):
    big = 1.7976931348623157e308
    assert httpx.post(f"{url}/predict", json=[_record(big), _record(-big)]).status_code == 200
    time.sleep(1)  # the log's writer
    assert httpx.get(f"{url}/dashboard", timeout=60).status_code == 200


def test_feedback_takes_a_row_number_written_with_a_fraction(url):
    answer = httpx.post(f"{url}/predict", json=[_record(13.0)] * 3)
    request_id = answer.json()["request_id"]
    time.sleep(1)  # the log's writer
    labelled = {"request_id": request_id, "label": "barolo", "row": 2.0}
    assert httpx.post(f"{url}/feedback", json=labelled).status_code == 200
