"""The test helper itself: a real, PostgreSQL-backed ``mlflow server`` round-trips a run."""

from __future__ import annotations

from pathlib import Path

import mlflow
import psycopg2
import pytest

from support.tracking_server import (
    MlflowServer,
    MlflowServerError,
    to_libpq_url,
)

pytestmark = pytest.mark.integration


def test_run_metric_and_artifact_round_trip_through_postgres(
    mlflow_server: tuple[MlflowServer, str], tmp_path: Path
) -> None:
    server, db_url = mlflow_server
    client = mlflow.MlflowClient(tracking_uri=server.url)

    experiment_id = client.create_experiment("tracking-server-smoke")
    run = client.create_run(experiment_id)
    run_id = run.info.run_id
    client.log_metric(run_id, "accuracy", 0.875, step=3)
    note = tmp_path / "note.txt"
    note.write_text("champion artifact round trip\n")
    client.log_artifact(run_id, str(note), artifact_path="notes")
    client.set_terminated(run_id)

    history = client.get_metric_history(run_id, "accuracy")
    assert [(m.value, m.step) for m in history] == [(0.875, 3)]
    assert client.get_run(run_id).data.metrics == {"accuracy": 0.875}

    # Artifacts are proxied by the server (mlflow-artifacts:/) into its artifacts directory.
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    download_dir = tmp_path / "download"
    download_dir.mkdir()
    local = client.download_artifacts(run_id, "notes/note.txt", str(download_dir))
    assert Path(local).read_text() == "champion artifact round trip\n"
    assert list(server.artifacts_dir.rglob("note.txt")), "artifact not stored by the server"

    # The run really lives in the fresh PostgreSQL database, not in some local store.
    with psycopg2.connect(to_libpq_url(db_url)) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT r.status, m.value FROM runs r JOIN metrics m ON m.run_uuid = r.run_uuid"
            " WHERE r.run_uuid = %s AND m.key = 'accuracy'",
            (run_id,),
        )
        rows = cur.fetchall()
    conn.close()
    assert rows == [("FINISHED", 0.875)]


def test_unhealthy_server_raises_with_log_tail_and_is_killed(tmp_path: Path) -> None:
    # A missing database never becomes healthy: MLflow retries the connection for ~100 s,
    # so a short timeout must trip, kill the process group and surface the log.
    server = MlflowServer(
        "postgresql://postgres@127.0.0.1:5432/champion_missing_db",
        tmp_path,
        startup_timeout=5,
    )
    with pytest.raises(MlflowServerError, match=r"mlflow server .*log tail") as excinfo:
        server.start()
    assert str(server.log_path) in str(excinfo.value)
    assert server.log_path.exists()
    server.stop()  # idempotent after the failed start
