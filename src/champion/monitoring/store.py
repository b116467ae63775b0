"""The monitoring database: one engine and one schema for the prediction log and the
alerts.

The prediction log (:mod:`champion.monitoring.log`) and the alert store
(:mod:`champion.monitoring.alerts`) share one database, so one database holds what was
predicted, what the truth turned out to be and what was raised::

    table        written by                          rows
    predictions  the server's log writer             one per request and arm
    feedback     POST /feedback, champion feedback   one per labelled row
    alerts       the alerter (monitor, server)       one per fired event

:func:`open_database` is the one way in: it makes the engine for a URL (SQLite in WAL
mode, or PostgreSQL through psycopg2) and creates the tables that do not exist yet.

The table objects here (:data:`metadata`) describe the schema at head, for the queries
of the log and the alerts.

May import: nothing from champion (the log and the alerts import it).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
predictions_table = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(128), nullable=False, index=True),
    sa.Column("ts", sa.Float, nullable=False, index=True),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("arm", sa.String(16), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    # Column by column ({"hp": [80, 64], ...}) and one output per row: one database row
    # per request, so logging costs little more for 100 rows than for one.
    sa.Column("inputs", sa.Text, nullable=False),
    sa.Column("outputs", sa.Text, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.UniqueConstraint("request_id", "arm", name="one_request_per_arm"),
)
feedback_table = sa.Table(
    "feedback",
    metadata,
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("row", sa.Integer, primary_key=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
)
alerts_table = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("version", sa.String(32), nullable=True),
    sa.Column("signal", sa.String(160), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("fired_at", sa.Float, nullable=False),
    sa.Column("delivered", sa.Boolean, nullable=False),
    sa.Column("delivery_error", sa.Text, nullable=True),
    # The cool-down asks "when did this rule last fire for this model" on every run.
    sa.Index("alerts_rule_model_fired", "rule", "model", "fired_at"),
)


def engine_url(url: str) -> str:
    """``postgresql://`` → ``postgresql+psycopg2://``: SQLAlchemy 2.1 maps a bare
    PostgreSQL URL to psycopg 3, which champion does not install."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def create_engine(url: str) -> sa.Engine:
    """An engine for ``url`` (a SQLAlchemy URL), schema untouched.

    SQLite connections run in WAL mode and wait up to 30 s for a lock; PostgreSQL
    connections are checked before use (a restarted database does not fail a write).
    """
    url = engine_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _wal(connection, _record) -> None:
            # WAL: readers (monitor, feedback) never block the server's writes, and
            # several worker processes can append to one file.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def open_database(url: str) -> sa.Engine:
    """An engine for ``url`` with every table of :data:`metadata` created.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be reached.
    """
    engine = create_engine(url)
    metadata.create_all(engine)
    return engine
