"""The schema's history as Alembic revisions, one per schema version (``0002`` … ``0005``), run
programmatically by :mod:`anchor.store.migrations.runner` (``anchor db upgrade``); no
``alembic.ini``.

This module stays light (no Alembic import): opening a database only reads the version it
records. A new database is created from the models and stamped with the head revision; the
migrations tests check that this gives the same schema as running every revision.

Databases made before migrations existed have no ``alembic_version`` table; their revision is
read from the schema version they record (:func:`legacy_revision`). Version 4 is ambiguous:
releases after commit 5a3e9c3 added columns and a table to it without a new number, so the
tables themselves say which it is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, inspect, select

from anchor.core.errors import StoreError
from anchor.store.schema import SCHEMA_VERSION, Base, Meta

HEAD = f"{SCHEMA_VERSION:04d}"  # revision ids are the schema versions, zero-padded
FIRST = 2  # the baseline: no database older than schema 2 can be upgraded

# Alembic's own version table, as Alembic creates it, so that a new database is stamped without
# importing Alembic (about 0.4 s on every command).
VERSION_TABLE = Table(
    "alembic_version", MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)

# What releases after 5a3e9c3 added to schema 4 in place; all of it present: the database is schema 5.
_IN_PLACE_COLUMNS = {
    "issuers": {"public_pages"},
    "credentials": {"holder_name", "holder_email", "exported_at", "hidden", "supersedes"},
    "credential_documents": {"signature"},
}
_IN_PLACE_TABLES = {"deliveries"}


def recorded_version(conn: Any) -> str | None:
    """The schema version the database records in ``anchor_meta``, None if it records none."""
    if Meta.__tablename__ not in inspect(conn).get_table_names():
        return None
    value = conn.execute(select(Meta.value).where(Meta.key == "schema_version")).scalar()
    return None if value is None else str(value)


def stamped_revision(conn: Any) -> str | None:
    """The revision in ``alembic_version``, None if the table is missing or empty."""
    if VERSION_TABLE.name not in inspect(conn).get_table_names():
        return None
    return conn.execute(select(VERSION_TABLE.c.version_num)).scalar()  # type: ignore[no-any-return]


def legacy_revision(conn: Any) -> str | None:
    """The revision a database without ``alembic_version`` is at, from the version it records
    (None: a new database). StoreError (reason ``schema_version``) for a version no revision
    describes."""
    found = recorded_version(conn)
    if found is None:
        return None
    if not found.isdigit() or not FIRST <= int(found) <= SCHEMA_VERSION:
        raise StoreError(f"the database records schema version {found}; this anchor upgrades versions {FIRST} to "
                         f"{SCHEMA_VERSION} only", reason="schema_version")
    if int(found) == 4 and extended_in_place(conn):
        return "0005"
    return f"{int(found):04d}"


def extended_in_place(conn: Any) -> bool:
    """Whether a version-4 database already has everything schema 5 added."""
    inspector = inspect(conn)
    if not _IN_PLACE_TABLES <= set(inspector.get_table_names()):
        return False
    return all(columns <= {c["name"] for c in inspector.get_columns(table)} for table, columns in _IN_PLACE_COLUMNS.items())


def current_revision(conn: Any) -> str | None:
    """The database's revision: stamped, or read from a pre-migrations database; None if new."""
    return stamped_revision(conn) or legacy_revision(conn)


def newer_than_head(revision: str) -> bool:
    """Whether ``revision`` comes after this anchor's head (a database a newer release upgraded)."""
    return revision.isdigit() and int(revision) > int(HEAD)


def create_at_head(conn: Any) -> None:
    """Today's tables from the models, stamped with the head revision (a new database)."""
    Base.metadata.create_all(conn)
    VERSION_TABLE.create(conn, checkfirst=True)
    if conn.execute(select(VERSION_TABLE.c.version_num)).first() is None:
        conn.execute(VERSION_TABLE.insert().values(version_num=HEAD))


# What ``anchor db`` runs; Alembic is imported only here, when a command needs it.

def upgrade(url: str, *, backup: bool = True) -> Any:
    """:func:`anchor.store.migrations.runner.upgrade`."""
    from anchor.store.migrations import runner

    return runner.upgrade(url, backup=backup)


def current(url: str) -> str | None:
    """The database's revision (:func:`anchor.store.migrations.runner.current`)."""
    from anchor.store.migrations import runner

    return runner.current(url)


def history() -> list[Any]:
    """Every revision, oldest first (:func:`anchor.store.migrations.runner.history`)."""
    from anchor.store.migrations import runner

    return runner.history()
