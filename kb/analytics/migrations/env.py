"""Alembic environment of the analytics store.

kb.analytics.store.migrate() passes an open connection in `config.attributes["connection"]`;
the `alembic` command line works too, with `sqlalchemy.url` set in an alembic.ini.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from kb.analytics.store import metadata

# Any fixed number: concurrent replicas starting at once take turns to migrate a PostgreSQL store.
PG_LOCK_KEY = 0x6B62_0007


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        context.run_migrations()


def run_offline() -> None:
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
