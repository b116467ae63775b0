"""The prediction log and ``/feedback`` over HTTP on a real server (the log on SQLite
and PostgreSQL): a reused ``X-Request-ID`` loses no prediction, labels must fit the
model, a label is only replaced on purpose, and ``/feedback`` answers JSON, never a
500, whatever the log's database does; ``champion feedback`` follows the same rules."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager

import httpx
import pytest

from champion.cli import run
from champion.monitoring.log import LogOptions, PredictionLog
from champion.monitoring.store import create_engine
from champion.serving.app import create_app
from support.serving import running

pytestmark = pytest.mark.integration

CLASSES = "barbera, barolo, grignolino"


@contextmanager
def _server(wine_model, url: str, flush_interval: float = 60.0):
    """The wine model served with its log at ``url``; the long flush interval keeps
    what is recorded in the buffer until something writes it."""
    settings, rows = wine_model
    settings = dataclasses.replace(settings, prediction_log=url)
    options = LogOptions(flush_interval=flush_interval)
    app = create_app(
        settings, "wine", reload_interval=0, logging_options=options, monitor_interval=0
    )
    with running(app) as base:
        yield base, rows.to_dict("records")


def _predict(base: str, record: dict, request_id: str) -> httpx.Response:
    return httpx.post(f"{base}/predict", json=record, headers={"X-Request-ID": request_id})


def _keys(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = "SELECT request_id FROM predictions ORDER BY id"
            return [r[0] for r in connection.exec_driver_sql(query)]
    finally:
        engine.dispose()


def test_a_reused_request_id_loses_no_prediction_and_feedback_stays_json(wine_model, database_url):
    with _server(wine_model, database_url) as (base, records):
        innocent = [_predict(base, records[0], f"innocent-{i}") for i in range(30)]
        reused = [
            _predict(base, records[1], "reused"),
            httpx.post(
                f"{base}/invocations",
                json={"dataframe_records": records[2:4]},
                headers={"X-Request-ID": "reused"},
            ),
        ]
        # The batch (with both "reused") is still buffered: this call writes it first.
        label = innocent[0].json()["predictions"][0]["label"]
        feedback = httpx.post(f"{base}/feedback", json={"request_id": "innocent-0", "label": label})
    assert all(r.status_code == 200 for r in innocent + reused)
    assert [r.headers["x-request-id"] for r in reused] == ["reused", "reused"]  # echoed
    assert feedback.status_code == 200 and feedback.json() == {"stored": 1}
    keys = _keys(database_url)
    assert len(keys) == 32
    assert [k for k in keys if k.startswith("reused")] == ["reused", "reused~2"]


@pytest.mark.parametrize("label", ["banana", 42, 3.5, ""], ids=["banana", "int", "float", "empty"])
def test_a_label_that_is_no_class_of_the_model_is_a_400_naming_the_classes(
    wine_model, tmp_path, label
):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    with _server(wine_model, url) as (base, records):
        _predict(base, records[0], "r1")
        answer = httpx.post(f"{base}/feedback", json={"request_id": "r1", "label": label})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["field"] == "feedback[0]"
    if label != "":
        assert f"must be one of the model's classes: {CLASSES}" in error["message"]
    log = PredictionLog(url)
    assert log.window("wine")["label"].isna().all()
    log.close()


def test_a_different_label_is_a_409_naming_the_id_unless_the_request_says_replace(
    wine_model, database_url
):
    with _server(wine_model, database_url) as (base, records):
        _predict(base, records[0], "labelled")
        first = httpx.post(f"{base}/feedback", json={"request_id": "labelled", "label": "Barolo"})
        same = httpx.post(f"{base}/feedback", json={"request_id": "labelled", "label": "barolo"})
        other = {"request_id": "labelled", "label": "barbera"}
        refused = httpx.post(f"{base}/feedback", json=other)
        replaced = httpx.post(f"{base}/feedback", json={"feedback": [other], "replace": True})
        per_item = httpx.post(f"{base}/feedback", json=other | {"replace": True})
    assert first.status_code == same.status_code == 200  # the same label: idempotent
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "conflict"
    assert (
        "request id labelled already has the label 'barolo'" in refused.json()["error"]["message"]
    )
    assert replaced.status_code == per_item.status_code == 200
    log = PredictionLog(database_url)
    window, history = log.window("wine"), log.label_history("labelled")
    log.close()
    assert window["label"].tolist() == ["barbera"]
    assert [(h["label"], h["replaced_by"]) for h in history] == [("barolo", "barbera")]


def test_feedback_while_the_log_cannot_be_written_is_a_503_and_nothing_is_lost(
    wine_model, database_url
):
    engine = create_engine(database_url)
    with _server(wine_model, database_url, flush_interval=0.05) as (base, records):
        _predict(base, records[0], "before")
        body = {"request_id": "before", "label": "barolo"}
        assert httpx.post(f"{base}/feedback", json=body).status_code == 200
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE predictions RENAME TO hidden")
        _predict(base, records[1], "during")
        during = httpx.post(f"{base}/feedback", json={"request_id": "during", "label": "barolo"})
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE hidden RENAME TO predictions")
        after = httpx.post(f"{base}/feedback", json={"request_id": "during", "label": "barolo"})
    engine.dispose()
    assert during.status_code == 503
    assert "not written to the log yet" in during.json()["error"]["message"]
    assert after.status_code == 200
    assert _keys(database_url) == ["before", "during"]


def test_champion_feedback_refuses_a_relabel_without_replace_and_a_fractional_row(
    wine_model, tmp_path, monkeypatch, capsys
):
    settings, _ = wine_model
    url = f"sqlite:///{tmp_path / 'log.db'}"
    with _server(wine_model, url) as (base, records):
        httpx.post(
            f"{base}/invocations",
            json={"dataframe_records": records[:2]},
            headers={"X-Request-ID": "batch"},
        )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.tracking_uri)
    monkeypatch.setenv("CHAMPION_PREDICTION_LOG", url)
    config = str(settings.project_dir / "champion.yaml")
    first, other, fraction, banana = (tmp_path / f"{n}.csv" for n in range(4))
    first.write_text("request_id,label,row\nbatch,barolo,0\nbatch,BARBERA,1\n")
    other.write_text("request_id,label,row\nbatch,grignolino,1\n")
    fraction.write_text("request_id,label,row\nbatch,barolo,1.5\n")
    banana.write_text("request_id,label\nbatch,banana\n")
    assert run(["feedback", str(first), "-c", config]) == 0
    assert run(["feedback", str(first), "-c", config]) == 0  # the same again
    capsys.readouterr()
    assert run(["feedback", str(other), "-c", config]) == 2
    err = capsys.readouterr().err
    assert "ConflictError: request id batch row 1 already has the label 'barbera'" in err
    assert len(err.strip().splitlines()) == 1
    assert run(["feedback", str(fraction), "-c", config]) == 2
    assert "line 2: row must be a whole number; got '1.5'" in capsys.readouterr().err
    assert run(["feedback", str(banana), "-c", config]) == 2
    assert f"must be one of the model's classes: {CLASSES}" in capsys.readouterr().err
    assert run(["feedback", str(other), "-c", config, "--replace"]) == 0
    log = PredictionLog(url)
    assert log.window("wine")["label"].tolist() == ["barolo", "grignolino"]
    assert [h["label"] for h in log.label_history("batch", row=1)] == ["barbera"]
    log.close()
