"""champion.registry.compare: the candidate runs of an experiment, best first by the
primary metric, on a real SQLite tracking store. One training (linear and majority on
breast cancer) plus runs logged by hand: a candidate without the metric, one with NaN,
an unfinished one, and gate/rollback/monitor runs that must not be listed."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from champion.errors import NotFoundError
from champion.registry.compare import compare
from champion.registry.tracking import client, ensure_experiment
from champion.training.train import TrainingReport
from support.registry import TUMOURS, copy_of, log_run

pytestmark = pytest.mark.integration

NAME = TUMOURS
# A perfect score: a run logged with it would be first if compare listed it.
PERFECT = 1.0


@pytest.fixture(scope="module")
def store(tumours, tmp_path_factory):
    """(settings, training report, hand-logged run ids by name) on one store that the
    tests only read."""
    database, report = tumours
    settings = copy_of(database, tmp_path_factory.mktemp("compare"))
    mlflow_client = client(settings)
    experiment_id = report.experiment_id
    hand = {
        # Logged after training, so newer than every trained run.
        "no_f1": log_run(mlflow_client, experiment_id, "candidate", "no_f1", {"accuracy": 1.0}),
        "nan_f1": log_run(mlflow_client, experiment_id, "candidate", "nan_f1", {"f1": math.nan}),
        "running": log_run(
            mlflow_client, experiment_id, "candidate", "running", {"f1": PERFECT}, status="RUNNING"
        ),
        "failed": log_run(
            mlflow_client, experiment_id, "candidate", "failed", {"f1": PERFECT}, status="FAILED"
        ),
    }
    for role in ("gate", "rollback", "monitor"):
        hand[role] = log_run(mlflow_client, experiment_id, role, role, {"f1": PERFECT})
    return settings, report, hand


def _trained_by_f1(report: TrainingReport) -> list[str]:
    return [
        c.run_id for c in sorted(report.candidates, key=lambda c: c.metrics["f1"], reverse=True)
    ]


def test_compare_ranks_by_the_primary_metric_with_missing_and_nan_last(store):
    settings, report, hand = store

    rows = compare(settings, NAME)

    ids = [r.run_id for r in rows]
    assert ids[:2] == _trained_by_f1(report)
    assert set(ids[2:]) == {hand["no_f1"], hand["nan_f1"]}
    # Both lack a usable f1, so the tie goes to the newer run.
    assert ids[2:] == [hand["nan_f1"], hand["no_f1"]]


def test_compare_rows_carry_what_training_stored(store):
    settings, report, _ = store

    rows = {r.run_id: r for r in compare(settings, NAME)}

    for candidate in report.candidates:
        row = rows[candidate.run_id]
        assert row.candidate == candidate.name
        assert row.metric == "f1"
        assert row.model_uri == candidate.model_uri
        assert row.metrics["f1"] == pytest.approx(candidate.metrics["f1"])
        assert "fit_time_s" in row.metrics
        assert row.data_digest
        started = datetime.fromisoformat(row.started)
        assert started.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - started) < timedelta(hours=1)


def test_compare_lists_neither_unfinished_nor_gate_rollback_monitor_runs(store):
    settings, _, hand = store

    listed = {r.run_id for r in compare(settings, NAME)}

    for name in ("running", "failed", "gate", "rollback", "monitor"):
        assert hand[name] not in listed, name


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_compare_limit_keeps_the_best_runs(store, limit):
    settings, _, _ = store
    ranked = compare(settings, NAME)

    rows = compare(settings, NAME, limit=limit)

    assert [r.run_id for r in rows] == [r.run_id for r in ranked[:limit]]


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_compare_follows_the_direction_of_the_metric(store, direction, unique_name):
    settings, _, _ = store
    mlflow_client = client(settings)
    experiment_id = ensure_experiment(settings, unique_name)
    scores = {"b": 2.0, "missing": None, "a": 1.0, "c": 3.0}
    for name, value in scores.items():
        metrics = {} if value is None else {"rmse": value}
        log_run(
            mlflow_client,
            experiment_id,
            "candidate",
            name,
            metrics,
            metric="rmse",
            direction=direction,
        )

    rows = compare(settings, unique_name)

    present = sorted(
        (n for n, v in scores.items() if v is not None),
        key=scores.get,
        reverse=direction == "maximize",
    )
    assert [r.candidate for r in rows] == [*present, "missing"]
    assert {r.metric for r in rows} == {"rmse"}


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        (None, "no experiment '{name}' in sqlite:///.*; run champion train first"),
        ([], "experiment '{name}' has no finished candidate run; run champion train first"),
        (
            ["gate", "rollback", "monitor"],
            "experiment '{name}' has no finished candidate run; run champion train first",
        ),
    ],
    ids=["unknown-experiment", "empty-experiment", "only-gate-rollback-monitor-runs"],
)
def test_compare_without_candidates_is_not_found(store, unique_name, roles, message):
    settings, _, _ = store
    if roles is not None:
        experiment_id = ensure_experiment(settings, unique_name)
        for role in roles:
            log_run(client(settings), experiment_id, role, role, {"f1": 0.5})

    with pytest.raises(NotFoundError, match=message.format(name=unique_name)) as raised:
        compare(settings, unique_name)

    assert raised.value.http_status == 404
