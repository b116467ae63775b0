"""champion.registry.liveness on a real SQLite store: a run whose process died is
marked FAILED with the reason by the next command (compare, register, train); a run
whose process lives, or that says nothing about its process, is left RUNNING."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from champion.errors import NotFoundError
from champion.project.spec import load_spec
from champion.registry.compare import compare
from champion.registry.liveness import (
    HEARTBEAT_TAG,
    HOST_TAG,
    PID_TAG,
    REASON_TAG,
    close_dead_runs,
    heartbeat,
    liveness_tags,
    why_dead,
)
from champion.registry.tracking import client, ensure_experiment
from champion.settings import Settings
from champion.training.train import train_project
from support.projects import sqlite_store, write_project
from support.registry import TUMOURS, TUMOURS_DESCRIPTION, TUMOURS_PROJECT, copy_of, log_run

pytestmark = pytest.mark.integration


def _run_in_a_process(settings: Settings, experiment_id: str, then: str) -> tuple[str, object]:
    """(run id, process): a process that starts a run tagged as training tags it,
    prints its id, then ``then``."""
    code = textwrap.dedent(f"""
        import os, time
        from mlflow import MlflowClient
        from champion.registry.liveness import liveness_tags
        mlflow_client = MlflowClient({settings.tracking_uri!r})
        tags = {{"champion.role": "candidate"}} | liveness_tags()
        run = mlflow_client.create_run({experiment_id!r}, tags=tags)
        print(run.info.run_id, flush=True)
        {then}
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    return process.stdout.readline().strip(), process


@pytest.fixture
def store(tumours, tmp_path: Path):
    """(settings on a copy of the trained store, the experiment's id)."""
    database, _ = tumours
    settings = copy_of(database, tmp_path)
    return settings, ensure_experiment(settings, TUMOURS)


def test_compare_marks_a_killed_process_run_failed_with_the_reason(store):
    settings, experiment_id = store
    run_id, process = _run_in_a_process(settings, experiment_id, "time.sleep(600)")
    process.kill()  # SIGKILL: nothing in the process gets to end the run
    process.wait()

    rows = compare(settings, TUMOURS)

    run = client(settings).get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags[REASON_TAG] == (
        f"process {process.pid} on {socket.gethostname()} that ran it is gone; "
        "marked FAILED by champion compare"
    )
    assert run.info.end_time is not None
    assert run_id not in {r.run_id for r in rows}


def test_a_run_whose_process_lives_stays_running(store):
    settings, experiment_id = store
    run_id, process = _run_in_a_process(settings, experiment_id, "time.sleep(600)")
    try:
        assert close_dead_runs(settings, experiment_id, by="compare") == []
        assert client(settings).get_run(run_id).info.status == "RUNNING"
    finally:
        process.kill()
        process.wait()


def test_a_run_from_another_host_is_dead_when_its_heartbeat_is_stale(store):
    settings, experiment_id = store
    mlflow_client = client(settings)
    stale, fresh = (
        log_run(mlflow_client, experiment_id, "candidate", name, {}, status="RUNNING")
        for name in ("stale", "fresh")
    )
    for run_id, age in ((stale, 3600), (fresh, 5)):
        for key, value in {
            HOST_TAG: "another-host",
            PID_TAG: "1",
            HEARTBEAT_TAG: f"{time.time() - age:.0f}",
        }.items():
            mlflow_client.set_tag(run_id, key, value)

    assert close_dead_runs(settings, experiment_id, by="register") == [stale]

    assert mlflow_client.get_run(fresh).info.status == "RUNNING"
    failed = mlflow_client.get_run(stale)
    assert failed.info.status == "FAILED"
    # 3600 s old when written; a second may pass before the sweep reads it.
    assert re.match(
        r"no heartbeat from process 1 on another-host for 360[01]s \(more than 600s\)",
        failed.data.tags[REASON_TAG],
    )


def test_a_run_that_says_nothing_of_its_process_is_left_alone(store):
    settings, experiment_id = store
    mlflow_client = client(settings)
    run_id = log_run(mlflow_client, experiment_id, "candidate", "by-hand", {}, status="RUNNING")

    assert close_dead_runs(settings, experiment_id, by="compare") == []
    assert mlflow_client.get_run(run_id).info.status == "RUNNING"


@pytest.mark.parametrize(
    ("tags", "dead"),
    [
        ({HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}, False),
        ({HOST_TAG: "elsewhere", PID_TAG: "999999999"}, False),  # cannot check its pid
        ({HOST_TAG: "elsewhere", HEARTBEAT_TAG: "1000"}, True),
        ({HEARTBEAT_TAG: "not a time"}, False),
        ({}, False),
    ],
    ids=["this-process", "pid-elsewhere", "stale-heartbeat", "garbled", "no-tags"],
)
def test_why_dead(tags, dead):
    assert (why_dead(tags, now=5000.0) is not None) is dead


def test_the_heartbeat_is_refreshed_while_the_block_runs(store):
    settings, experiment_id = store
    mlflow_client = client(settings)
    run_id = log_run(mlflow_client, experiment_id, "candidate", "beating", {}, status="RUNNING")
    mlflow_client.set_tag(run_id, HEARTBEAT_TAG, "1000")

    with heartbeat(mlflow_client, run_id, every=0.2):
        time.sleep(1.0)

    assert float(mlflow_client.get_run(run_id).data.tags[HEARTBEAT_TAG]) > time.time() - 30


def test_train_tags_its_runs_and_closes_dead_ones_first(
    tmp_path, sqlite_template, breast_cancer_csv
):
    settings = Settings.from_env(tmp_path, environ=sqlite_store(tmp_path, sqlite_template))
    experiment_id = ensure_experiment(settings, TUMOURS)
    dead, process = _run_in_a_process(settings, experiment_id, "os._exit(0)")
    process.wait()
    text = TUMOURS_PROJECT.format(description=TUMOURS_DESCRIPTION, data=breast_cancer_csv)

    report = train_project(load_spec(write_project(tmp_path, text)), settings, only=["majority"])

    mlflow_client = client(settings)
    assert mlflow_client.get_run(dead).data.tags[REASON_TAG].endswith("by champion train")
    assert mlflow_client.get_run(dead).info.status == "FAILED"
    tags = mlflow_client.get_run(report.best.run_id).data.tags
    assert tags.keys() >= liveness_tags().keys()
    assert tags[PID_TAG] == str(os.getpid())


def test_compare_of_an_unknown_experiment_is_still_not_found(store):
    settings, _ = store
    with pytest.raises(NotFoundError, match="no experiment 'nowhere'"):
        compare(settings, "nowhere")
