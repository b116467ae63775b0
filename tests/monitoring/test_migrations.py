"""Schema migrations of the monitoring database, on SQLite and PostgreSQL: a database
written before the schema was versioned is adopted and upgraded in place with every
row kept, a new one is created through the migrations, an open at head writes
nothing, and processes that open one database at once do not trip over each other."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa

from champion.monitoring.alerts import AlertEvent, AlertStore
from champion.monitoring.log import PredictionLog
from champion.monitoring.store import (
    VERSION_TABLE,
    create_engine,
    current_revision,
    head,
    upgrade,
)

# The schema as champion created it before migrations (metadata.create_all), printed
# with sqlalchemy.schema.CreateTable/CreateIndex from that code for each dialect.
TODAYS_DDL = {
    "sqlite": """
CREATE TABLE predictions (
    id INTEGER NOT NULL,
    request_id VARCHAR(128) NOT NULL,
    ts FLOAT NOT NULL,
    model VARCHAR(256) NOT NULL,
    version VARCHAR(32) NOT NULL,
    arm VARCHAR(16) NOT NULL,
    rows INTEGER NOT NULL,
    inputs TEXT NOT NULL,
    outputs TEXT NOT NULL,
    latency_ms FLOAT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT one_request_per_arm UNIQUE (request_id, arm)
);
CREATE INDEX ix_predictions_request_id ON predictions (request_id);
CREATE INDEX ix_predictions_ts ON predictions (ts);
CREATE TABLE feedback (
    request_id VARCHAR(128) NOT NULL,
    "row" INTEGER NOT NULL,
    label TEXT NOT NULL,
    ts FLOAT NOT NULL,
    PRIMARY KEY (request_id, "row")
);
CREATE TABLE alerts (
    id INTEGER NOT NULL,
    rule VARCHAR(128) NOT NULL,
    model VARCHAR(256) NOT NULL,
    version VARCHAR(32),
    signal VARCHAR(160) NOT NULL,
    severity VARCHAR(16) NOT NULL,
    value FLOAT NOT NULL,
    threshold FLOAT NOT NULL,
    message TEXT NOT NULL,
    fired_at FLOAT NOT NULL,
    delivered BOOLEAN NOT NULL,
    delivery_error TEXT,
    PRIMARY KEY (id)
);
CREATE INDEX alerts_rule_model_fired ON alerts (rule, model, fired_at);
""",
    "postgresql": """
CREATE TABLE predictions (
    id SERIAL NOT NULL,
    request_id VARCHAR(128) NOT NULL,
    ts FLOAT NOT NULL,
    model VARCHAR(256) NOT NULL,
    version VARCHAR(32) NOT NULL,
    arm VARCHAR(16) NOT NULL,
    rows INTEGER NOT NULL,
    inputs TEXT NOT NULL,
    outputs TEXT NOT NULL,
    latency_ms FLOAT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT one_request_per_arm UNIQUE (request_id, arm)
);
CREATE INDEX ix_predictions_request_id ON predictions (request_id);
CREATE INDEX ix_predictions_ts ON predictions (ts);
CREATE TABLE feedback (
    request_id VARCHAR(128) NOT NULL,
    row INTEGER NOT NULL,
    label TEXT NOT NULL,
    ts FLOAT NOT NULL,
    PRIMARY KEY (request_id, row)
);
CREATE TABLE alerts (
    id SERIAL NOT NULL,
    rule VARCHAR(128) NOT NULL,
    model VARCHAR(256) NOT NULL,
    version VARCHAR(32),
    signal VARCHAR(160) NOT NULL,
    severity VARCHAR(16) NOT NULL,
    value FLOAT NOT NULL,
    threshold FLOAT NOT NULL,
    message TEXT NOT NULL,
    fired_at FLOAT NOT NULL,
    delivered BOOLEAN NOT NULL,
    delivery_error TEXT,
    PRIMARY KEY (id)
);
CREATE INDEX alerts_rule_model_fired ON alerts (rule, model, fired_at);
""",
}

T0 = 1_750_000_000.0
ALERT = {
    "rule": "drift",
    "model": "legendary",
    "version": "3",
    "signal": "drift_share",
    "severity": "warning",
    "value": 0.62,
    "threshold": 0.5,
    "message": "legendary version 3: drift_share 0.62",
    "fired_at": T0,
    "delivered": True,
    "delivery_error": None,
}
EVENT = AlertEvent(**{k: v for k, v in ALERT.items() if not k.startswith("deliver")})


def _dialect(url: str) -> str:
    return "postgresql" if url.startswith("postgres") else "sqlite"


def _run_ddl(url: str, tables: set[str] | None = None) -> None:
    """Run today's DDL (of ``tables`` only, when given) as today's champion did."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in filter(str.strip, TODAYS_DDL[_dialect(url)].split(";")):
                # "CREATE TABLE <table> (" or "CREATE INDEX <name> ON <table> (...)"
                table = re.search(r"(?:TABLE|ON) (\w+)", statement).group(1)
                if tables is None or table in tables:
                    connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _fill(url: str) -> None:
    """Predictions (one of two rows), labels and alert events, written as SQL."""
    engine = create_engine(url)
    predictions = sa.table(
        "predictions",
        *(
            sa.column(c)
            for c in (
                "request_id",
                "ts",
                "model",
                "version",
                "arm",
                "rows",
                "inputs",
                "outputs",
                "latency_ms",
            )
        ),
    )
    try:
        with engine.begin() as connection:
            connection.execute(
                predictions.insert(),
                [
                    {
                        "request_id": f"r{i}",
                        "ts": T0 + i,
                        "model": "legendary",
                        "version": "3",
                        "arm": "champion",
                        "rows": 2 if i == 0 else 1,
                        "inputs": json.dumps({"hp": [80 + i, 64] if i == 0 else [80 + i]}),
                        "outputs": json.dumps(["True", "False"] if i == 0 else ["False"]),
                        "latency_ms": 1.5,
                    }
                    for i in range(3)
                ],
            )
            feedback = sa.table("feedback", *map(sa.column, ("request_id", "row", "label", "ts")))
            connection.execute(
                feedback.insert(),
                [
                    {"request_id": "r0", "row": 0, "label": '"True"', "ts": T0 + 10},
                    {"request_id": "r0", "row": 1, "label": '"True"', "ts": T0 + 10},
                    {"request_id": "r2", "row": 0, "label": '"False"', "ts": T0 + 11},
                ],
            )
            alerts = sa.table("alerts", *map(sa.column, ALERT))
            connection.execute(
                alerts.insert(),
                [ALERT, ALERT | {"fired_at": T0 + 3600, "delivered": False, "delivery_error": "x"}],
            )
    finally:
        engine.dispose()


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table: connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
                for table in ("predictions", "feedback", "alerts")
            }
    finally:
        engine.dispose()


def _versions(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(
                connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalars()
            )
    finally:
        engine.dispose()


@pytest.mark.integration
def test_a_database_from_before_migrations_is_upgraded_in_place_with_every_row(database_url):
    _run_ddl(database_url)
    _fill(database_url)

    log = PredictionLog(database_url)
    try:
        window = log.window("legendary")
        written = log.count()
    finally:
        log.close()
    with AlertStore(database_url) as store:
        history = store.history("legendary")

    assert _versions(database_url) == [head()]
    assert _counts(database_url) == {"predictions": 3, "feedback": 3, "alerts": 2}
    assert written == 4
    assert window["request_id"].tolist() == ["r0", "r0", "r1", "r2"]
    assert window["hp"].tolist() == [80, 64, 81, 82]
    assert window["label"].tolist() == ["True", "True", None, "False"]
    assert [(r.event.fired_at, r.delivered, r.delivery_error) for r in history] == [
        (T0 + 3600, False, "x"),
        (T0, True, None),
    ]


@pytest.mark.integration
def test_a_database_with_only_some_of_todays_tables_gets_the_others(database_url):
    # champion feedback (or a server without monitoring) made the log's tables only.
    _run_ddl(database_url, tables={"predictions", "feedback"})
    log = PredictionLog(database_url)
    log.close()
    with AlertStore(database_url) as store:
        store.record(EVENT, delivered=False)
        assert store.events() == [EVENT]
    assert _versions(database_url) == [head()]
    assert set(_counts(database_url)) == {"predictions", "feedback", "alerts"}


@pytest.mark.integration
def test_a_new_database_is_created_at_head_through_the_migrations(database_url):
    engine = create_engine(database_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head()
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert tables == {"predictions", "feedback", "feedback_history", "alerts", VERSION_TABLE}
    assert _versions(database_url) == [head()]


@pytest.mark.integration
def test_opening_a_database_at_head_again_writes_nothing(database_url):
    PredictionLog(database_url).close()
    engine = create_engine(database_url)
    statements: list[str] = []
    sa.event.listen(
        engine, "before_cursor_execute", lambda _c, _cur, sql, *_a: statements.append(sql)
    )
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    assert statements, "the revision was read"
    writes = [s for s in statements if s.split()[0].upper() not in {"SELECT", "PRAGMA", "WITH"}]
    assert writes == []
    assert _versions(database_url) == [head()]


def test_the_alert_status_is_the_head_today():
    # When a revision is added, this test changes with it: the upgrade test above then
    # runs every revision over a database of today's rows.
    assert head() == "0004_alert_status"


OPEN = textwrap.dedent(
    """
    import sys
    from champion.monitoring.alerts import AlertStore
    from champion.monitoring.log import PredictionLog
    print("ready", flush=True)
    sys.stdin.readline()  # then all open at once
    PredictionLog(sys.argv[1]).close()
    AlertStore(sys.argv[1]).close()
    """
)


@pytest.mark.integration
def test_workers_that_open_one_new_database_at_once_upgrade_it_once(database_url):
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, database_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for worker in workers:
        assert worker.stdout.readline() == "ready\n"
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    errors = [worker.communicate(timeout=120)[1] for worker in workers]
    assert [w.returncode for w in workers] == [0] * 4, "\n".join(errors)
    assert _versions(database_url) == [head()]
    assert _counts(database_url) == {"predictions": 0, "feedback": 0, "alerts": 0}
