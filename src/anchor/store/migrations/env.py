"""Alembic's environment, run only programmatically (:mod:`anchor.store.migrations.runner`): the
caller passes an open connection inside a transaction, so there is no ``alembic.ini`` and no URL
here, and the caller decides when the upgrade commits."""

from __future__ import annotations

from alembic import context

from anchor.store.schema import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite: ALTERs that SQLite lacks become "copy the table" (batch mode); with the runner's
    # explicit BEGIN they stay inside the one transaction, as on PostgreSQL.
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
