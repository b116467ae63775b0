"""The prediction log and feedback: on SQLite and PostgreSQL, through the server over
HTTP and the CLI, and what survives SIGTERM and kill -9 of a real `champion serve`."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace

import httpx
import numpy as np
import pytest

from champion.cli import run
from champion.errors import ConflictError, NotFoundError, RequestError
from champion.monitoring.log import Label, LogOptions, PredictionLog, Scored, normalize_label
from champion.serving.app import create_app
from support.projects import REPO, promoted
from support.serving import free_port, running

pytestmark = pytest.mark.integration


def _scored(request_id: str, rows: int = 1, ts: float | None = None, arm: str = "champion"):
    return Scored(
        request_id=request_id,
        ts=time.time() if ts is None else ts,
        model="m",
        version="1",
        arm=arm,
        inputs={
            "hp": np.arange(rows, dtype=float),
            "colour": np.array(["red"] * rows, dtype=object),
        },
        outputs=[{"label": True}] * rows,
        latency_ms=1.5,
    )


def test_predictions_and_labels_round_trip(database_url):
    log = PredictionLog(database_url)
    log.record(_scored("a", rows=2))
    b = _scored("b")
    log.record(b)
    log.record(replace(b, arm="shadow"))  # its shadow: the same request, the same time
    assert log.add_feedback([Label("a", "True", row=1), Label("b", "False")]) == 2
    window = log.window("m")
    log.close()
    assert window[["request_id", "row", "arm"]].values.tolist() == [
        ["a", 0, "champion"],
        ["a", 1, "champion"],
        ["b", 0, "champion"],
        ["b", 0, "shadow"],
    ]
    assert window["hp"].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert window["label"].tolist() == [None, "True", "False", "False"]
    assert window["output"][0] == {"label": True}


def test_feedback_for_an_unknown_request_stores_nothing_and_names_it(database_url):
    log = PredictionLog(database_url)
    log.record(_scored("known"))
    with pytest.raises(NotFoundError, match="nope"):
        log.add_feedback([Label("known", "True"), Label("nope", "True")])
    assert log.window("m")["label"].tolist() == [None]
    # The same feedback twice is the same as once; a correction must say so.
    log.add_feedback([Label("known", "True")])
    log.add_feedback([Label("known", "True")])
    with pytest.raises(ConflictError, match="request id known already has the label 'True'"):
        log.add_feedback([Label("known", "False")])
    assert log.window("m")["label"].tolist() == ["True"]
    log.add_feedback([Label("known", "False", replace=True)])
    assert log.window("m")["label"].tolist() == ["False"]
    log.close()


def test_the_buffer_never_holds_more_than_its_bound(tmp_path):
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}", max_buffered=5, flush_interval=3600)
    for index in range(7):
        log.record(_scored(f"r{index}", rows=2))
        assert log._buffered_rows <= 5
    assert log.count() == 12  # six requests written by back-pressure, one still buffered
    log.close()
    assert PredictionLog(f"sqlite:///{tmp_path / 'p.db'}").count() == 14


def test_retention_deletes_old_predictions_and_their_labels(tmp_path):
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    log.record(_scored("old", ts=time.time() - 10 * 86400))
    log.record(_scored("new"))
    log.add_feedback([Label("old", "True")])
    assert log.prune(older_than_days=5) == 1
    assert log.window("m")["request_id"].tolist() == ["new"]
    with sqlite3.connect(tmp_path / "p.db") as db:
        assert db.execute("select count(*) from feedback").fetchone()[0] == 0
    log.close()


@pytest.mark.parametrize(
    ("label", "task", "expected"),
    [
        (True, "binary", "True"),
        ("True", "binary", "True"),
        (1.0, "multiclass", "1"),
        ("3.5", "regression", 3.5),
        (["fire", "flying", "fire"], "multilabel", ["fire", "flying"]),
        ("flying|fire", "multilabel", ["fire", "flying"]),
    ],
)
def test_labels_have_one_form_per_task(label, task, expected):
    assert normalize_label(label, task) == expected


@pytest.mark.parametrize(
    ("label", "task"),
    [("big", "regression"), (True, "regression"), (float("inf"), "regression"), ([1], "binary")],
)
def test_a_label_that_cannot_fit_the_task_is_refused(label, task):
    with pytest.raises(RequestError):
        normalize_label(label, task)


@pytest.fixture(scope="module")
def project(tmp_path_factory, sqlite_template, breast_cancer_csv):
    """A promoted binary model: (settings, project file, one record to score)."""
    model = promoted(
        tmp_path_factory.mktemp("logged"),
        sqlite_template,
        f"""
name: logged
data: {breast_cancer_csv}
target: diagnosis
task: binary
candidates: [{{name: linear, estimator: linear}}]
""",
    )
    settings, config, report = model.settings, model.config, model.report
    columns = list(report.best.pipeline.feature_names_in_)
    return settings, config, {c: None for c in columns} | {columns[0]: 14.0}


def test_the_server_logs_every_prediction_and_takes_feedback(project):
    settings, _, record = project
    with running(create_app(settings, "logged", reload_interval=0)) as url:
        one = httpx.post(f"{url}/predict", json=record, headers={"X-Request-ID": "req-1"})
        many = httpx.post(
            f"{url}/invocations",
            json={"dataframe_records": [record] * 3},
            headers={"X-Request-ID": "req-2"},
        )
        label = one.json()["predictions"][0]["label"]
        stored = httpx.post(f"{url}/feedback", json={"request_id": "req-1", "label": label})
        again = httpx.post(f"{url}/feedback", json=[{"request_id": "req-1", "label": label}])
        unknown = httpx.post(f"{url}/feedback", json={"request_id": "req-404", "label": label})
        malformed = httpx.post(f"{url}/feedback", json={"label": "x"})
    assert one.status_code == many.status_code == 200
    assert stored.json() == {"stored": 1} and again.json() == {"stored": 1}
    assert unknown.status_code == 404 and "req-404" in unknown.json()["error"]["message"]
    assert malformed.status_code == 400 and malformed.json()["error"]["field"] == "feedback[0]"
    log = PredictionLog(settings.prediction_log)
    window = log.window("logged")
    log.close()
    mine = window[window["request_id"].isin(["req-1", "req-2"])]
    assert mine[["request_id", "row"]].values.tolist() == [
        ["req-1", 0],
        ["req-2", 0],
        ["req-2", 1],
        ["req-2", 2],
    ]
    assert set(mine["version"]) == {"1"} and set(mine["arm"]) == {"champion"}
    assert (mine["latency_ms"] > 0).all()
    assert mine.iloc[0]["output"]["label"] == label
    assert set(mine.iloc[0]["output"]["probabilities"]) == {"benign", "malignant"}
    assert mine.iloc[0]["label"] == label  # the feedback, joined
    first = next(iter(record))
    assert mine[first].tolist() == [14.0] * 4


def test_champion_feedback_joins_a_csv(project, tmp_path):
    settings, config, record = project
    with running(create_app(settings, "logged", reload_interval=0)) as url:
        for index in range(3):
            httpx.post(f"{url}/predict", json=record, headers={"X-Request-ID": f"csv-{index}"})
    good = tmp_path / "labels.csv"
    good.write_text("request_id,label\ncsv-0,malignant\ncsv-1,benign\ncsv-2,benign\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("request_id,label\ncsv-0,malignant\nghost,benign\n")
    env = {"MLFLOW_TRACKING_URI": settings.tracking_uri}
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        assert run(["feedback", str(good), "-c", str(config)]) == 0
        assert run(["feedback", str(good), "-c", str(config)]) == 0  # idempotent
        assert run(["feedback", str(bad), "-c", str(config)]) == 2
        assert run(["feedback", str(tmp_path / "missing.csv"), "-c", str(config)]) == 2
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    log = PredictionLog(settings.prediction_log)
    window = log.window("logged")
    log.close()
    labels = dict(zip(window["request_id"], window["label"], strict=True))
    assert [labels[f"csv-{i}"] for i in range(3)] == ["malignant", "benign", "benign"]
    assert "ghost" not in labels


def _serve(project, tmp_path, log_path):
    settings, config, record = project
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env |= {
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "CHAMPION_PREDICTION_LOG": f"sqlite:///{log_path}",
    }
    command = [sys.executable, "-m", "champion", "serve", "-c", str(config), "--port", str(port)]
    # Nothing is written by time (an hour between writes): only a half-full buffer
    # (10 rows), the bound of 20 rows and shutdown write, so what survives is exactly
    # what those guarantee.
    options = ["--reload-interval", "0", "--log-flush-interval", "3600", "--log-max-buffered", "20"]
    process = subprocess.Popen(
        [*command, *options],
        stdout=(tmp_path / "serve.log").open("w"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        assert time.monotonic() < deadline, "champion serve did not start"
        try:
            if httpx.get(f"{url}/ready").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    with httpx.Client() as client:

        def send(count: int) -> None:
            for _ in range(count):
                assert client.post(f"{url}/predict", json=record).status_code == 200

        # The writer wakes when 10 rows (half the bound) are buffered and takes all it
        # finds, so after 90 requests fewer than 10 are left once it is idle...
        send(90)
        buffered = _settled(log_path, sent=90)
        # ...and topping them up to 9 leaves exactly 9 that nothing will write.
        send(9 - buffered)
    return process, 90 + 9 - buffered


def _settled(path, sent: int) -> int:
    """Wait until the writer is idle (fewer than 10 rows left, none written for half a
    second); return how many rows are still buffered."""
    deadline = time.monotonic() + 30
    previous = -1
    while True:
        logged = _logged(path)
        if sent - logged < 10 and logged == previous:
            return sent - logged
        assert time.monotonic() < deadline, f"the writer did not settle ({logged} of {sent})"
        previous = logged
        time.sleep(0.5)


def _logged(path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("select coalesce(sum(rows), 0) from predictions").fetchone()[0]


def test_sigterm_writes_every_buffered_prediction(project, tmp_path):
    path = tmp_path / "log.db"
    process, sent = _serve(project, tmp_path, path)
    process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert process.wait(30) in (0, -signal.SIGTERM)
    assert _logged(path) == sent


def test_kill_9_loses_at_most_the_buffer_bound(project, tmp_path):
    path = tmp_path / "log.db"
    process, sent = _serve(project, tmp_path, path)
    process.kill()
    process.wait(30)
    lost = sent - _logged(path)
    assert lost == 9  # what was buffered, never more than the bound of 20


def test_no_log_means_no_log_and_feedback_says_so(project):
    settings, _, record = project
    app = create_app(
        settings, "logged", reload_interval=0, logging_options=LogOptions(enabled=False)
    )
    with running(app) as url:
        httpx.post(f"{url}/predict", json=record, headers={"X-Request-ID": "unlogged"})
        answer = httpx.post(f"{url}/feedback", json={"request_id": "unlogged", "label": "x"})
    assert answer.status_code == 409 and "no prediction log" in answer.json()["error"]["message"]
    log = PredictionLog(settings.prediction_log)
    assert "unlogged" not in set(log.window("logged")["request_id"])
    log.close()
