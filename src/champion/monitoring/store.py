"""The monitoring database: one engine and one schema for the prediction log and the
alerts.

The prediction log (:mod:`champion.monitoring.log`) and the alert store
(:mod:`champion.monitoring.alerts`) share one database, so one database holds what was
predicted, what the truth turned out to be and what was raised::

    table        written by                          rows
    predictions  the server's log writer             one per request and arm
    feedback     POST /feedback, champion feedback   one per labelled row
    feedback_history  the same, on "replace": true   one per label replaced
    alerts       the alerter (monitor, server)       one per fired event

:func:`open_database` is the one way in: it makes the engine for a URL (SQLite in WAL
mode, or PostgreSQL through psycopg2) and brings the schema to the newest revision
before returning, through the Alembic migrations in ``migrations/`` (run from code: no
``alembic.ini``, no command line). What a database can be on open:

- new (no tables): the migrations create the schema;
- written before champion versioned its schema (its tables, no version table): it is
  recognised, stamped as the baseline revision (:data:`BASELINE`) and upgraded; one
  with only some of those tables (``champion feedback`` makes the log's, not the
  alerts') runs the baseline revision, which creates the missing ones;
- versioned: upgraded from its revision to head; at head, nothing is written.

Rows are never dropped by an upgrade.

Several processes open one database at once (the server's workers, ``champion
monitor`` from a scheduler, ``champion feedback``), so the upgrade runs under a lock
held for its whole transaction: ``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN
IMMEDIATE`` (the database's write lock) on SQLite. The first process upgrades; the
others wait, find the database at head and write nothing. A database already at head
is recognised without taking the lock, so an open costs one read. (Upgrading once in
the parent before :mod:`champion.serving.runner` forks would cover the workers only:
a scheduled ``champion monitor`` or ``champion feedback`` can open the database at the
same moment, and a single-process server has no parent that runs first.)

The table objects here (:data:`metadata`) describe the schema at head, for the queries
of the log and the alerts; each revision states its own DDL, so a revision never
changes when the tables here do.

May import: nothing from champion (the log and the alerts import it).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from champion.settings import database_url

log = logging.getLogger("champion.monitoring")

MIGRATIONS = Path(__file__).with_name("migrations")
# Not Alembic's default ``alembic_version``: the log may share a database with
# MLflow's backend store, whose migrations keep their revision in ``alembic_version``.
VERSION_TABLE = "champion_alembic_version"
BASELINE = "0001_baseline"
BASELINE_TABLES = frozenset({"predictions", "feedback", "alerts"})
# How long a SQLite opener waits for a lock held by another process.
LOCK_WAIT_S = 30.0
# Any fixed 64-bit number that names "the champion schema upgrade" to PostgreSQL;
# every process that upgrades takes the same one.
_ADVISORY_LOCK = 0x63_68_61_6D_70_69_6F_6E  # "champion"

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
    # The monitoring window: a model's newest requests by time, and how many rows each
    # holds, read from the index alone (revision 0002_window_index).
    sa.Index("predictions_model_ts", "model", "ts", "id", "rows"),
)
feedback_table = sa.Table(
    "feedback",
    metadata,
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("row", sa.Integer, primary_key=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    # "Has feedback arrived since the last monitoring run?" (revision 0002_window_index).
    sa.Index("feedback_ts", "ts"),
)
# A label that "replace": true overwrote (``label`` and ``ts`` as they were), and its
# replacement: labels are corrected on purpose and never silently rewritten.
feedback_history_table = sa.Table(
    "feedback_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("row", sa.Integer, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("replaced_by", sa.Text, nullable=False),
    sa.Column("replaced_at", sa.Float, nullable=False),
    sa.Index("feedback_history_key", "request_id", "row"),
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
    # firing, resolved, pending or cleared (revision 0004_alert_status).
    sa.Column("status", sa.String(16), nullable=False, server_default="firing"),
    sa.Column("sample", sa.Integer, nullable=True),
    # The cool-down asks "when did this rule last fire for this model" on every run.
    sa.Index("alerts_rule_model_fired", "rule", "model", "fired_at"),
)


def create_engine(url: str) -> sa.Engine:
    """An engine for ``url`` (a SQLAlchemy URL), schema untouched.

    SQLite connections run in WAL mode and wait up to 30 s for a lock; PostgreSQL
    connections are checked before use (a restarted database does not fail a write).
    """
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": LOCK_WAIT_S})

        @sa.event.listens_for(engine, "connect")
        def _wal(connection, _record) -> None:
            # WAL: readers (monitor, feedback) never block the server's writes, and
            # several worker processes can append to one file.
            _use_wal(connection)
            connection.execute("PRAGMA synchronous=NORMAL")

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _use_wal(connection: sqlite3.Connection) -> None:
    """Put the file in WAL mode, once for all its users.

    The mode is stored in the file, so a later opener finds it set. Setting it takes
    the file's exclusive lock, and SQLite answers "database is locked" at once, not
    after its busy timeout, when several processes open a new file together (the
    workers of one server): so wait and try again, as the busy timeout would.
    """
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def open_database(url: str) -> sa.Engine:
    """An engine for ``url`` whose schema is at head (see the module docstring).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be reached or upgraded.
    """
    engine = create_engine(url)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def head() -> str:
    """The newest revision of the schema."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database at ``engine`` is at (None: not versioned)."""
    with engine.connect() as connection:
        return _revision(connection)


def upgrade(engine: sa.Engine) -> None:
    """Bring the database at ``engine`` to head; nothing is written when it is there
    already. Safe to call from several processes at once (the module docstring says
    how)."""
    config = _config()
    target = ScriptDirectory.from_config(config).get_current_head()
    if current_revision(engine) == target:
        return
    with engine.connect() as connection:
        _lock(connection)
        # Read again under the lock: another process may have upgraded meanwhile.
        current = _revision(connection)
        if current == target:
            connection.rollback()
            return
        config.attributes["connection"] = connection
        if current is None and _unversioned_tables(connection) == BASELINE_TABLES:
            # All of the baseline is there: written by champion before its schema was
            # versioned. (With only some of it, the baseline revision creates the rest.)
            log.info("monitoring database: adopting an unversioned schema as %s", BASELINE)
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
        connection.commit()


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _revision(connection: sa.Connection) -> str | None:
    # Read directly, not through Alembic's MigrationContext: every open does this, and
    # a context logs its setup at INFO each time.
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    query = sa.text(f"SELECT version_num FROM {VERSION_TABLE}")
    return connection.execute(query).scalar()


def _unversioned_tables(connection: sa.Connection) -> set[str]:
    """Tables of the baseline that exist without a version table: written by champion
    before its schema was versioned."""
    return set(sa.inspect(connection).get_table_names()) & BASELINE_TABLES


def _lock(connection: sa.Connection) -> None:
    """Begin the upgrade's transaction holding the database-wide upgrade lock."""
    if connection.dialect.name == "postgresql":
        # Released by the transaction's end, however it ends.
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_LOCK)))
    elif connection.dialect.name == "sqlite":
        # pysqlite would begin lazily (a deferred transaction, and only before DML):
        # IMMEDIATE takes the write lock now, so two processes cannot both find the
        # database unversioned and both create tables. Waits up to the 30 s timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
