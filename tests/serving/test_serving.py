"""The model server over real HTTP (uvicorn on loopback), on a model trained, registered
and promoted in a real MLflow store; and ``mlflow models serve`` answering the same
requests the same way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pandas as pd
import pytest

from champion.project.decision import threshold_of
from champion.serving.app import create_app
from champion.training.train import prepare
from support.projects import promoted
from support.serving import free_port, running

pytestmark = pytest.mark.integration

MAX_ROWS = 50
MAX_BODY = 50_000


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sqlite_template, breast_cancer_csv):
    """A promoted binary model on a SQLite store: (settings, name, pipeline, holdout rows)."""
    model = promoted(
        tmp_path_factory.mktemp("serving"),
        sqlite_template,
        f"""
name: cancer
data: {breast_cancer_csv}
target: diagnosis
task: binary
positive_class: malignant
candidates: [{{name: linear, estimator: linear}}]
""",
    )
    settings, project, report = model.settings, model.project, model.report
    context = prepare(project)
    holdout = context.table.frame.iloc[context.split.test]
    return settings, "cancer", report.best.pipeline, holdout


@pytest.fixture(scope="module")
def server(trained) -> Iterator[str]:
    """champion's server for the promoted model, on a free loopback port."""
    settings, name, _, _ = trained
    with running(create_app(settings, name, max_rows=MAX_ROWS, max_body_bytes=MAX_BODY)) as url:
        yield url


def _rows(trained, n: int = 5) -> pd.DataFrame:
    _, _, pipeline, holdout = trained
    return holdout[list(pipeline.feature_names_in_)].head(n)


def _payloads(rows: pd.DataFrame) -> dict[str, tuple[str, bytes]]:

    clean = rows.astype(object).where(rows.notna(), None)
    split = {
        "columns": list(rows.columns),
        "index": list(range(len(rows))),
        "data": clean.to_numpy().tolist(),
    }
    return {
        "dataframe_split": (
            "application/json",
            json.dumps({"dataframe_split": split}).encode(),
        ),
        "dataframe_records": (
            "application/json",
            json.dumps({"dataframe_records": clean.to_dict("records")}).encode(),
        ),
        "instances": (
            "application/json",
            json.dumps({"instances": clean.to_dict("records")}).encode(),
        ),
        "inputs": (
            "application/json",
            json.dumps({"inputs": {c: clean[c].tolist() for c in rows.columns}}).encode(),
        ),
        "csv": ("text/csv", rows.to_csv(index=False).encode()),
    }


@pytest.mark.parametrize(
    "kind", ["dataframe_split", "dataframe_records", "instances", "inputs", "csv"]
)
def test_invocations_speak_every_mlflow_format(server, trained, kind):
    rows = _rows(trained)
    content_type, body = _payloads(rows)[kind]
    response = httpx.post(
        f"{server}/invocations", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 200, response.text
    _, _, pipeline, _ = trained
    expected = pipeline.predict(rows.astype({c: "float64" for c in rows.select_dtypes("number")}))
    assert response.json() == {"predictions": list(expected)}
    assert response.headers["X-Model-Version"] == "1"
    assert len(response.headers["X-Request-ID"]) == 32


def test_predict_gives_labels_probabilities_and_the_version(server, trained):
    rows = _rows(trained, 3)
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    response = httpx.post(f"{server}/predict", json=records, headers={"X-Request-ID": "abc123"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "cancer" and body["version"] == "1" and body["request_id"] == "abc123"
    assert response.headers["X-Request-ID"] == "abc123"
    _, _, pipeline, _ = trained
    proba = pipeline.predict_proba(rows)
    for answer, expected in zip(body["predictions"], proba, strict=True):
        assert set(answer["probabilities"]) == {"benign", "malignant"}
        assert answer["probabilities"]["malignant"] == pytest.approx(
            expected[list(pipeline.classes_).index("malignant")]
        )
        # The model decides at its decision threshold, not at the larger probability.
        said = answer["probabilities"]["malignant"] >= threshold_of(pipeline)
        assert answer["label"] == ("malignant" if said else "benign")


def _bad_cases(columns: list[str]):
    one = {c: 1.0 for c in columns} | {"clinic": "north"}
    return [
        (
            "malformed_json",
            b'{"dataframe_records": [',
            "application/json",
            400,
            "body",
            "malformed JSON",
        ),
        (
            "no_format",
            b'{"rows": []}',
            "application/json",
            400,
            "body",
            "exactly one of dataframe_split",
        ),
        (
            "two_formats",
            b'{"instances": [], "inputs": []}',
            "application/json",
            400,
            "body",
            "exactly one of",
        ),
        (
            "content_type",
            b"hp=1",
            "application/x-www-form-urlencoded",
            415,
            "content-type",
            "unsupported content type",
        ),
        (
            "missing_column",
            httpx.Request("POST", "/", json={"dataframe_records": [{"clinic": "north"}]}).content,
            "application/json",
            400,
            columns[0],
            "missing column",
        ),
        (
            "text_in_number",
            httpx.Request(
                "POST", "/", json={"dataframe_records": [one | {columns[0]: "big"}]}
            ).content,
            "application/json",
            400,
            columns[0],
            "must be a number; got 'big'",
        ),
        (
            "list_in_number",
            httpx.Request(
                "POST", "/", json={"dataframe_records": [one | {columns[0]: [1, 2]}]}
            ).content,
            "application/json",
            400,
            columns[0],
            "must be a number; got [1, 2]",
        ),
        (
            "too_many_rows",
            httpx.Request("POST", "/", json={"dataframe_records": [one] * (MAX_ROWS + 1)}).content,
            "application/json",
            413,
            "body",
            "over the limit",
        ),
        ("too_large", b" " * (MAX_BODY + 1), "application/json", 413, "body", "the limit is"),
        (
            "empty_rows",
            b'{"dataframe_records": []}',
            "application/json",
            400,
            "dataframe_records",
            "empty",
        ),
    ]


def test_bad_requests_get_a_4xx_json_error_that_names_the_problem(server, trained):
    _, _, pipeline, _ = trained
    numeric = [c for c in pipeline.feature_names_in_ if c != "clinic"]
    for name, body, content_type, status, field, message in _bad_cases(numeric):
        response = httpx.post(
            f"{server}/invocations", content=body, headers={"Content-Type": content_type}
        )
        assert response.status_code == status, (name, response.text)
        error = response.json()["error"]
        assert error["field"] == field, name
        assert message in error["message"], (name, error)
    response = httpx.get(f"{server}/no/such/page")
    assert response.status_code == 404 and response.json()["error"]["code"] == "http_error"


def test_a_streamed_body_over_the_limit_is_a_413(server):
    def chunks():  # no Content-Length: the server must count what arrives
        for _ in range(MAX_BODY // 1000 + 2):
            yield b" " * 1000

    response = httpx.post(
        f"{server}/invocations", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["field"] == "body"
    assert "over the limit" in response.json()["error"]["message"]


def test_unknown_paths_share_one_metric_series(server):
    series = 'champion_requests_total{endpoint="other",status="404"}'

    def count() -> float:
        lines = httpx.get(f"{server}/metrics").text.splitlines()
        return next((float(x.rsplit(" ", 1)[1]) for x in lines if x.startswith(series)), 0.0)

    before = count()
    for path in ("/a", "/b/c", "/wp-login.php"):
        assert httpx.get(f"{server}{path}").status_code == 404
    assert count() == before + 3
    assert "wp-login" not in httpx.get(f"{server}/metrics").text


def test_health_ready_version_and_metrics(server):
    assert httpx.get(f"{server}/health").json() == {"status": "ok", "pid": os.getpid()}
    assert httpx.get(f"{server}/ready").json()["ready"] is True
    version = httpx.get(f"{server}/version").json()
    assert (
        version["model"] == "cancer"
        and version["version"] == "1"
        and version["alias"] == "champion"
        and version["inference_path"] == "onnx"
    )
    assert version["arms"][0]["inference_note"].startswith("ONNX, verified at registration on ")
    httpx.post(f"{server}/invocations", content=b"{", headers={"Content-Type": "application/json"})
    text = httpx.get(f"{server}/metrics").text
    assert 'champion_requests_total{endpoint="/invocations",status="400"}' in text
    assert (
        'champion_model_info{alias="champion",arm="champion",model="cancer",path="onnx",'
        'version="1"} 1.0' in text
    )
    assert "champion_request_latency_seconds_bucket" in text


def test_answers_match_mlflow_models_serve(server, trained, tmp_path):
    """The same requests to ``mlflow models serve`` and to champion get the same JSON."""
    settings, name, _, _ = trained
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    log = (tmp_path / "mlflow-serve.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            f"models:/{name}@champion",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        mlflow_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / "mlflow-serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow models serve did not start"
            try:
                if httpx.get(f"{mlflow_url}/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        for kind, (content_type, body) in _payloads(_rows(trained, 8)).items():
            theirs = httpx.post(
                f"{mlflow_url}/invocations", content=body, headers={"Content-Type": content_type}
            )
            ours = httpx.post(
                f"{server}/invocations", content=body, headers={"Content-Type": content_type}
            )
            assert theirs.status_code == ours.status_code == 200, (kind, theirs.text, ours.text)
            assert ours.json() == theirs.json(), kind
            # The same JSON types too (1 == 1.0 == True in Python, not in JSON).
            assert json.dumps(ours.json()) == json.dumps(theirs.json()), kind
    finally:
        os.killpg(process.pid, 15)
        process.wait(20)
        log.close()


def test_the_mlflow_1_pandas_split_request_still_works(server, trained):
    """The seed tutorial's curl: ``format=pandas-split`` and an unwrapped body."""
    rows = _rows(trained, 4)
    body = {
        "columns": list(rows.columns),
        "index": [272, 293, 414, 263],
        "data": rows.astype(object).where(rows.notna(), None).to_numpy().tolist(),
    }
    response = httpx.post(
        f"{server}/invocations",
        json=body,
        headers={"Content-Type": "application/json; format=pandas-split"},
    )
    assert response.status_code == 200, response.text
    _, _, pipeline, _ = trained
    assert response.json() == {"predictions": list(pipeline.predict(rows))}


def test_explain_gives_each_column_its_contribution(server, trained):
    rows = _rows(trained, 1)
    record = rows.astype(object).where(rows.notna(), None).to_dict("records")[0]
    response = httpx.post(f"{server}/explain", json=record)
    assert response.status_code == 200, response.text
    body = response.json()
    _, _, pipeline, _ = trained
    assert body["explained_output"] == "malignant" and body["version"] == "1"
    assert set(body["contributions"]) == set(pipeline.feature_names_in_)
    sizes = [abs(v) for v in body["contributions"].values()]
    assert sizes == sorted(sizes, reverse=True)  # most influential first
    # A linear model's SHAP values add up to its log-odds for the explained class.
    margin = pipeline.decision_function(rows)[0]
    assert body["base_value"] + sum(body["contributions"].values()) == pytest.approx(
        margin, rel=1e-6
    )
    two = httpx.post(f"{server}/explain", json=[record, record])
    assert two.status_code == 400 and "takes one record" in two.json()["error"]["message"]
