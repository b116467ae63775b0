"""Alembic's entry point for the monitoring database, run only from code.

:func:`champion.monitoring.store.upgrade` builds the Alembic ``Config`` and passes the
connection to migrate in ``config.attributes["connection"]``, inside a transaction it
began (holding the upgrade lock) and commits itself: Alembic begins no transaction of
its own here and never opens a connection.

May import: :mod:`champion.monitoring.store`.
"""

from __future__ import annotations

from alembic import context

from champion.monitoring.store import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the monitoring migrations run through champion.monitoring.store.upgrade, "
        "which passes the connection; there is no offline mode"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite cannot ALTER most things: a later revision's changes are rendered as
    # "copy the table, swap it in", which PostgreSQL runs as plain ALTERs.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
