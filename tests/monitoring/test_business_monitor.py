"""Live business value: a promoted model with a ``business:`` section, predictions in a
real prediction log, true labels joined by feedback; the report computes the value from
the joined rows, and a per-row drop is a signal an alert rule can watch."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import pytest

from champion.monitoring.log import Label, PredictionLog, Scored
from champion.monitoring.monitor import build_report, signals_of
from champion.registry.tracking import client
from support.monitoring import STATS
from support.projects import POKEMON, promoted

GENERATION_4 = pd.read_csv(POKEMON / "generation-4.csv")
VALUES = {"true_positive": 40.0, "false_positive": -2.0, "false_negative": -30.0}


@pytest.fixture(scope="module")
def model(tmp_path_factory, sqlite_template):
    folder = tmp_path_factory.mktemp("business-monitor")
    trained = promoted(
        folder,
        sqlite_template,
        f"""
name: legendary
data: {{path: "{POKEMON}/generation-*.csv", filter: generation <= 3}}
target: is_legendary
task: binary
features: {{numeric: {STATS}}}
candidates: [{{name: linear, estimator: linear}}]
business: {VALUES}
""",
    )
    return trained


def _log_and_label(url: str, frame: pd.DataFrame) -> list[str]:
    """Log each row as a prediction of version 1 (a stand-in answer: strong Pokémon are
    legendary), then join its true label; returns the predicted labels."""
    log = PredictionLog(url)
    now = time.time()
    said = []
    try:
        for index, row in frame.reset_index(drop=True).iterrows():
            label = str(bool(row["hp"] >= 90))
            log.record(
                Scored(
                    request_id=f"r{index}",
                    ts=now - len(frame) + index,
                    model="legendary",
                    version="1",
                    arm="champion",
                    inputs={s: np.array([float(row[s])]) for s in STATS},
                    outputs=[{"label": label}],
                    latency_ms=1.0,
                )
            )
            said.append(label)
        truth = frame["is_legendary"].astype(bool).astype(str).tolist()
        assert log.add_feedback([Label(f"r{i}", t) for i, t in enumerate(truth)]) == len(frame)
    finally:
        log.close()
    return said


def test_the_report_values_labelled_predictions_and_watches_the_value_per_row(model, tmp_path):
    settings = dataclasses.replace(
        model.settings, prediction_log=f"sqlite:///{tmp_path / 'predictions.db'}"
    )
    frame = GENERATION_4.head(80)
    said = np.array(_log_and_label(settings.prediction_log, frame)) == "True"
    truth = frame["is_legendary"].astype(bool).to_numpy()

    report = build_report(settings, "legendary", model.project.spec.monitoring)

    [perf] = report.performance
    expected = 40 * np.sum(said & truth) - 2 * np.sum(said & ~truth) - 30 * np.sum(~said & truth)
    assert perf.labelled == 80
    assert perf.metrics["business_value"] == expected
    assert perf.metrics["business_value_per_row"] == pytest.approx(expected / 80)
    holdout = (
        client(settings)
        .get_run(client(settings).get_model_version("legendary", "1").run_id)
        .data.metrics
    )
    # A total grows with the rows: only the value per row is compared with the holdout.
    assert "business_value" not in perf.drops
    assert perf.drops["business_value_per_row"] == pytest.approx(
        holdout["business_value_per_row"] - expected / 80
    )
    signals = signals_of(report)
    assert signals["metric_drop:business_value_per_row"] == pytest.approx(
        perf.drops["business_value_per_row"]
    )
