"""The monitoring database: the engine a URL gets (SQLite in WAL mode, PostgreSQL
through psycopg2) and the tables the log and the alerts share."""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa

from champion.monitoring.store import create_engine, metadata, open_database


def test_sqlite_runs_in_wal_mode(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            # NORMAL is 1: WAL's safe setting that skips an fsync per transaction.
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar_one() == 1
    finally:
        engine.dispose()
    # WAL is a property of the file: any other connection sees it.
    with sqlite3.connect(tmp_path / "log.db") as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_postgresql_url_uses_psycopg2_and_pre_pings(database_url):
    engine = create_engine(database_url)
    try:
        expected = "psycopg2" if database_url.startswith("postgresql") else "pysqlite"
        assert engine.dialect.driver == expected
        assert engine.pool._pre_ping is database_url.startswith("postgresql")
    finally:
        engine.dispose()


def test_opening_creates_the_log_and_alert_tables_with_their_indexes(database_url):
    engine = open_database(database_url)
    try:
        inspector = sa.inspect(engine)
        assert {"predictions", "feedback", "alerts"} <= set(inspector.get_table_names())
        indexes = {i["name"] for i in inspector.get_indexes("predictions")}
        assert {"ix_predictions_request_id", "ix_predictions_ts", "predictions_model_ts"} <= indexes
        window = next(
            i for i in inspector.get_indexes("predictions") if i["name"] == "predictions_model_ts"
        )
        assert window["column_names"] == ["model", "ts", "id", "rows"]
        assert [i["name"] for i in inspector.get_indexes("feedback")] == ["feedback_ts"]
        assert [i["name"] for i in inspector.get_indexes("alerts")] == ["alerts_rule_model_fired"]
        unique = inspector.get_unique_constraints("predictions")
        assert [(u["name"], u["column_names"]) for u in unique] == [
            ("one_request_per_arm", ["request_id", "arm"])
        ]
        for table in metadata.sorted_tables:
            columns = [c["name"] for c in inspector.get_columns(table.name)]
            assert columns == [c.name for c in table.columns]
    finally:
        engine.dispose()
