"""``build_report`` reads the policy's window of a real prediction log for the promoted
legendary model; ``signals_of`` measures that window; ``log_report`` records it as an
MLflow run. Expected values come from pandas and scikit-learn on the same rows."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn import metrics as skm

from champion.cli import run
from champion.monitoring.log import Label, PredictionLog, Scored
from champion.monitoring.monitor import MONITOR_ROLE, build_report, log_report, signals_of
from champion.monitoring.report import render_html
from champion.monitoring.store import feedback_table
from champion.project.spec import DriftWindowSpec
from champion.registry.tracking import ROLE_TAG, client
from support.monitoring import STATS
from support.projects import POKEMON

GENERATION_4 = pd.read_csv(POKEMON / "generation-4.csv")


@pytest.fixture
def settings(model, tmp_path):
    """The shared model's settings with an empty prediction log of this test's own."""
    return dataclasses.replace(
        model.settings, prediction_log=f"sqlite:///{tmp_path / 'predictions.db'}"
    )


def _policy(model, *, rows=None, hours=None, min_labelled=None):
    policy = model.project.spec.monitoring
    drift = policy.drift.model_copy(update={"window": DriftWindowSpec(rows=rows, hours=hours)})
    performance = policy.performance
    if min_labelled is not None:
        performance = performance.model_copy(update={"min_labelled": min_labelled})
    return policy.model_copy(update={"drift": drift, "performance": performance})


def _predicted(row) -> str:
    """A stand-in model's answer: strong Pokémon are legendary."""
    return str(row["hp"] >= 90)


def _log(url: str, frame: pd.DataFrame, ts, *, prefix: str, arm: str = "champion") -> list[str]:
    """Log each row of ``frame`` as one request of version 1 at ``ts[i]``, in order;
    returns the request ids."""
    log = PredictionLog(url)
    ids = []
    try:
        for (index, row), when in zip(frame.iterrows(), ts, strict=True):
            request_id = f"{prefix}-{index}"
            log.record(
                Scored(
                    request_id=request_id,
                    ts=float(when),
                    model="legendary",
                    version="1",
                    arm=arm,
                    inputs={s: np.array([float(row[s])]) for s in STATS},
                    outputs=[{"label": _predicted(row)}],
                    latency_ms=1.0 + index % 7,
                )
            )
            ids.append(request_id)
    finally:
        log.close()
    return ids


def _window_ids(report) -> list[str]:
    return report.window["request_id"].tolist()


@pytest.mark.parametrize(
    ("rows", "hours", "expected"),
    [
        (15, None, slice(-15, None)),
        (None, 1.0, slice(20, None)),
        (5, 1.0, slice(-5, None)),
        (100, 1.0, slice(20, None)),
        (None, None, slice(None)),
    ],
    ids=["rows-newest", "hours-recent-only", "both-rows-fewer", "both-hours-fewer", "everything"],
)
def test_the_window_follows_the_policy(model, settings, rows, hours, expected):
    now = time.time()
    frame = GENERATION_4.head(40)
    # 20 rows from yesterday, then 20 from the last few minutes.
    ts = [now - 86_400 + i for i in range(20)] + [now - 600 + i for i in range(20)]
    ids = _log(settings.prediction_log, frame, ts, prefix="g4")

    report = build_report(settings, "legendary", _policy(model, rows=rows, hours=hours))

    assert _window_ids(report) == ids[expected]
    kept = frame.iloc[expected]
    assert report.window["hp"].astype(float).tolist() == kept["hp"].astype(float).tolist()
    assert report.drift.rows_current == len(kept)
    assert report.traffic == {("champion", "1"): len(kept)}
    assert report.version == "1"


def test_the_report_counts_every_arm_but_measures_drift_on_the_champions_rows(model, settings):
    now = time.time()
    frame = GENERATION_4.head(30)
    _log(settings.prediction_log, frame.head(18), [now - 100] * 18, prefix="c")
    _log(settings.prediction_log, frame.tail(12), [now - 50] * 12, prefix="s", arm="shadow")

    report = build_report(settings, "legendary", _policy(model, rows=1000))

    assert report.traffic == {("champion", "1"): 18, ("shadow", "1"): 12}
    assert report.drift.rows_current == 18
    assert set(report.window["arm"]) == {"champion"}
    by_arm = {(p.version, p.arm): p.rows for p in report.performance}
    assert by_arm == {("1", "champion"): 18, ("1", "shadow"): 12}
    assert report.as_dict()["version"] == "1" and report.model == "legendary"


def test_an_empty_log_gives_a_report_that_says_so(model, settings):
    report = build_report(settings, "legendary", _policy(model, rows=1000))

    assert report.version == "1"
    assert report.drift.rows_current == 0
    assert report.traffic == {} and report.performance == []
    assert not report.drifted and not report.alarm
    assert report.drift.share_drifted == 0.0
    # Every feature says why no test ran, with finite numbers.
    assert [f.feature for f in report.drift.features] == STATS
    for feature in report.drift.features:
        assert (feature.test, feature.verdict) == ("none", "not enough data")
        assert feature.detail == "not enough data: 0 rows in the window, needs 30"
        assert math.isfinite(feature.score) and not feature.drifted
    assert "0 logged rows compared with" in render_html(report)
    # Plain JSON, no NaN anywhere.
    document = json.loads(json.dumps(report.as_dict(), allow_nan=False))
    assert document["drift"]["rows_current"] == 0
    assert document["alarm"] is False
    assert signals_of(report) == {
        "dataset_drift": None,
        "drift_share": None,
        "p99_latency_ms": None,
        "prediction_rate": None,
    }


def test_signals_measure_the_window(model, settings):
    now = time.time()
    frame = GENERATION_4.head(80)
    ids = _log(settings.prediction_log, frame, [now - 80 + i for i in range(80)], prefix="g4")
    labels = [Label(i, str(bool(v))) for i, v in zip(ids, frame["is_legendary"], strict=True)]
    log = PredictionLog(settings.prediction_log)
    try:
        assert log.add_feedback(labels) == len(labels)
    finally:
        log.close()

    report = build_report(settings, "legendary", _policy(model, rows=60, min_labelled=30))
    signals = signals_of(report)

    window = report.window
    assert len(window) == 60
    predicted = window["output"].map(lambda o: o["label"])
    assert signals["prediction_rate"] == pytest.approx((predicted == "True").mean())
    # The window is the newest 60 rows of the frame, so the rate is the stand-in's too.
    expected_rate = frame.tail(60)["hp"].ge(90).mean()
    assert signals["prediction_rate"] == pytest.approx(expected_rate)
    assert signals["drift_share"] == report.drift.share_drifted
    assert signals["p99_latency_ms"] == pytest.approx(window["latency_ms"].quantile(0.99))

    tracking = client(settings)
    run_id = tracking.get_model_version("legendary", "1").run_id
    holdout = tracking.get_run(run_id).data.metrics
    y_true = window["label"].astype(str)
    live = {
        "accuracy": skm.accuracy_score(y_true, predicted),
        "precision": skm.precision_score(y_true, predicted, pos_label="True", zero_division=0),
        "recall": skm.recall_score(y_true, predicted, pos_label="True", zero_division=0),
        "f1": skm.f1_score(y_true, predicted, pos_label="True", zero_division=0),
    }
    drops = {k.removeprefix("metric_drop:"): v for k, v in signals.items() if ":" in k}
    assert drops.keys() == live.keys()
    for metric, value in live.items():
        assert drops[metric] == pytest.approx(holdout[metric] - value), metric


def test_too_few_labels_give_no_metric_drop(model, settings):
    now = time.time()
    frame = GENERATION_4.head(40)
    ids = _log(settings.prediction_log, frame, [now] * 40, prefix="g4")
    log = PredictionLog(settings.prediction_log)
    try:
        log.add_feedback([Label(i, "False") for i in ids[:10]])
    finally:
        log.close()

    report = build_report(settings, "legendary", _policy(model, rows=1000, min_labelled=11))
    signals = signals_of(report)

    (performance,) = report.performance
    assert performance.labelled == 10 and "f1" in performance.drops
    assert not [k for k in signals if k.startswith("metric_drop")]
    assert signals["prediction_rate"] is not None


def test_log_report_records_a_monitor_run_with_its_artifacts(model, settings, tmp_path):
    now = time.time()
    _log(settings.prediction_log, GENERATION_4.head(50), [now] * 50, prefix="g4")
    report = build_report(settings, "legendary", _policy(model, rows=1000))
    html = render_html(report)

    run_id = log_report(settings, report, html)

    tracking = client(settings)
    run = tracking.get_run(run_id)
    experiment = tracking.get_experiment(run.info.experiment_id)
    assert experiment.name == "legendary"
    assert run.info.status == "FINISHED"
    assert run.data.tags[ROLE_TAG] == MONITOR_ROLE == "monitor"
    assert run.data.tags["champion.version"] == "1"
    assert run.data.tags["monitor.alarm"] == str(report.alarm).lower()
    assert run.data.metrics["drift_share"] == pytest.approx(report.drift.share_drifted)
    assert run.data.metrics["rows_current"] == 50
    for feature in report.drift.features:
        if feature.score is not None and math.isfinite(feature.score):
            assert run.data.metrics[f"drift_score.{feature.feature}"] == pytest.approx(
                feature.score
            )

    names = {a.path for a in tracking.list_artifacts(run_id)}
    assert names == {"monitor_report.html", "monitor_report.json"}
    folder = Path(tracking.download_artifacts(run_id, "", str(tmp_path / "downloaded")))
    assert (folder / "monitor_report.html").read_text(encoding="utf-8") == html
    document = json.loads((folder / "monitor_report.json").read_text())
    assert document == json.loads(json.dumps(report.as_dict()))
    assert document["drift"]["rows_current"] == 50


# --------------------------------------------------------------------------- issue 10


def _store_bad_rows(url: str) -> None:
    """Generation 4 as good rows with labels, then rows no server would log today: an
    output without a label, an output that is no object, an input that is no number,
    and labels that are not labels for a binary task."""
    ids = _log(url, GENERATION_4, np.arange(len(GENERATION_4)) + 1_750_000_000.0, prefix="g4")
    log = PredictionLog(url)
    try:
        for request_id, inputs, outputs in [
            ("bad-output", {s: np.array([50.0]) for s in STATS}, [{"oops": 1}]),
            ("not-an-object", {s: np.array([50.0]) for s in STATS}, ["garbage"]),
            ("text-input", {s: np.array(["abc"], dtype=object) for s in STATS}, [{"label": "x"}]),
        ]:
            log.record(
                Scored(
                    request_id, 1_760_000_000.0, "legendary", "1", "champion", inputs, outputs, 1.0
                )
            )
    finally:
        log.close()
    log = PredictionLog(url)
    try:
        log.add_feedback([Label(i, "True" if n % 3 else "False") for n, i in enumerate(ids)])
    finally:
        log.close()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            feedback_table.update()
            .where(feedback_table.c.request_id == ids[0])
            .values(label=json.dumps({"a": 1}))
        )
    engine.dispose()


def test_bad_stored_rows_are_reported_and_skipped_never_fail_the_report(model, settings):
    # Issue 10: bad labels or rows in the store made every monitoring run fail.
    _store_bad_rows(settings.prediction_log)

    report = build_report(settings, "legendary", _policy(model, rows=10_000, min_labelled=1))

    assert len(report.skipped) == 3
    assert report.skipped[0].startswith("request g4-0 row 0: label must be a class label")
    assert "request bad-output row 0: output {'oops': 1} has no 'label'" in report.skipped[1]
    assert "request not-an-object row 0: output 'garbage'" in report.skipped[2]
    (perf,) = report.performance
    assert (perf.rows, perf.labelled) == (len(GENERATION_4) + 1, len(GENERATION_4) - 1)
    hp = next(f for f in report.drift.features if f.feature == "hp")
    assert hp.stats["current_missing_share"] == pytest.approx(1 / (len(GENERATION_4) + 1))
    assert report.as_dict()["skipped_rows"] == 3
    assert "3 stored row(s) or label(s) skipped" in render_html(report)


def test_champion_monitor_never_exits_1_on_an_error(model, tmp_path, monkeypatch, capsys):
    # Issue 10: a ValueError traceback and exit 1, the code that means drift.
    url = f"sqlite:///{tmp_path / 'broken.db'}"
    ids = _log(url, GENERATION_4.head(40), np.arange(40) + 1_750_000_000.0, prefix="g4")
    engine = sa.create_engine(url)
    with engine.begin() as connection:  # a label that is not even JSON
        connection.execute(
            feedback_table.insert().values(request_id=ids[0], row=0, label="{", ts=1.0)
        )
    engine.dispose()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", model.settings.tracking_uri)
    monkeypatch.setenv("CHAMPION_PREDICTION_LOG", url)
    command = [
        "monitor",
        "-c",
        str(model.config),
        "--no-log-run",
        "--html",
        str(tmp_path / "r.html"),
    ]

    # The unreadable label is skipped: the run completes on the other rows.
    assert run(command) in (0, 1)
    assert "Traceback" not in capsys.readouterr().err

    # A log that cannot be opened at all (a folder, not a database): exit 2, one line.
    (tmp_path / "a-folder.db").mkdir()
    monkeypatch.setenv("CHAMPION_PREDICTION_LOG", f"sqlite:///{tmp_path / 'a-folder.db'}")
    assert run(command) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(("Unavailable: ", "TrackingError: ", "DataError: "))
    assert "Traceback" not in error and len(error.splitlines()) == 1
