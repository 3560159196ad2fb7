"""Running the migrations: ``anchor db upgrade``, ``current`` and ``history``.

The whole upgrade is one transaction, on SQLite as on PostgreSQL (both have transactional DDL;
SQLite needs the explicit ``BEGIN`` below, since Python's driver does not open a transaction
before DDL): a migration that fails leaves the database exactly as it was. On SQLite the file is
also copied (the backup API, consistent under WAL) before anything is changed.

Pre-migrations databases (no ``alembic_version``) are stamped with the revision their tables
match first (:func:`anchor.store.migrations.legacy_revision`), in the same transaction.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from anchor.core.errors import InputError, StoreError
from anchor.store.engine import db_error_line, normalize_url, safe_url
from anchor.store.migrations import HEAD, current_revision, newer_than_head, stamped_revision
from anchor.store.schema import Meta

LOCATION = str(Path(__file__).resolve().parent)


@dataclass(frozen=True)
class Upgraded:
    before: str | None  # the revision found (None: a new database)
    after: str
    stamped: bool  # a pre-migrations database, stamped with ``before`` first
    backup: Path | None  # the SQLite copy taken before changing anything


@dataclass(frozen=True)
class Revision:
    revision: str
    down: str | None
    title: str


def config(connection: Any | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", LOCATION)
    cfg.attributes["connection"] = connection
    return cfg


def history() -> list[Revision]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(config())
    revisions = list(script.walk_revisions("base", "heads"))
    revisions.reverse()
    return [Revision(r.revision, r.down_revision if isinstance(r.down_revision, str) else None,
                     (r.doc or "").strip().splitlines()[0] if r.doc else "") for r in revisions]


def head() -> str:
    return ScriptDirectory.from_config(config()).get_current_head() or ""


def current(url: str) -> str | None:
    """The database's revision, None for a new one; a SQLite file that does not exist is not created."""
    if _missing_sqlite_file(url):
        return None
    engine = _engine(url, write=False)
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    except SQLAlchemyError as e:
        raise StoreError(f"database error reading {safe_url(url)}: {db_error_line(e)}") from e
    finally:
        engine.dispose()


def upgrade(url: str, *, backup: bool = True, target: str = "head") -> Upgraded:
    """Bring the database to ``target`` (default: the head), in one transaction. StoreError with
    reason ``migration_failed`` if a migration fails (nothing changed)."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            before = current_revision(conn)
            stamped = before is not None and stamped_revision(conn) is None
        if before is not None and newer_than_head(before):
            raise StoreError(f"{safe_url(url)} is at revision {before}, made by a newer anchor (this one knows up to {HEAD}): "
                             "use the anchor release that made it; nothing was changed", reason="schema_version")
        copy = _backup(engine, before) if backup and before is not None and before != HEAD else None
        with engine.begin() as conn:
            cfg = config(conn)
            if stamped:
                assert before is not None
                command.stamp(cfg, before)
            command.upgrade(cfg, target)
            if stamped:  # a version-4 database extended in place is revision 0005 with nothing to run
                conn.execute(text("UPDATE anchor_meta SET value = :v WHERE key = 'schema_version'"),
                             {"v": str(int(current_revision(conn) or "0"))})
            if engine.dialect.name == "sqlite":
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise StoreError(f"the upgrade would break {len(broken)} foreign keys (first: {tuple(broken[0])}); "
                                     "nothing was changed", reason="migration_failed")
            after = current_revision(conn)
            _check_recorded(conn, after)
    except SQLAlchemyError as e:
        raise StoreError(f"upgrading {safe_url(url)} failed, nothing was changed: {db_error_line(e)}",
                         reason="migration_failed") from e
    finally:
        engine.dispose()
    return Upgraded(before, after or "", stamped, copy)


def _check_recorded(conn: Any, revision: str | None) -> None:
    """The schema version in ``anchor_meta`` must follow the revision (every revision sets it)."""
    if Meta.__tablename__ not in inspect(conn).get_table_names() or revision is None:
        return
    value = conn.execute(text("SELECT value FROM anchor_meta WHERE key = 'schema_version'")).scalar()
    if value is None or f"{int(value):04d}" != revision:
        raise StoreError(f"after upgrading, anchor_meta says schema version {value} but the revision is {revision}; "
                         "nothing was changed", reason="migration_failed")


def _engine(url: str, *, write: bool = True) -> Engine:
    """An engine for the migrations: on SQLite, ``write`` makes each transaction take the write lock
    at BEGIN (an upgrade); without it a read (``anchor db current``) waits for no writer."""
    url = normalize_url(url)
    try:
        make_url(url)
    except ArgumentError:
        shown = url if "@" not in url else "…@" + url.rsplit("@", 1)[1]  # never what precedes @ (a password)
        raise InputError(f"not a database URL: {shown!r} (sqlite:///path/to/anchor.db or postgresql://…)",
                         reason="bad_database_url") from None
    try:
        if not url.startswith("sqlite"):
            return create_engine(url, poolclass=NullPool)
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 30})
    except (ArgumentError, ImportError) as e:  # an unknown dialect, or its driver not installed
        raise InputError(f"not a database URL anchor can open: {safe_url(url)} ({type(e).__name__}: {e}); "
                         "use sqlite:///path/to/anchor.db or postgresql://…", reason="bad_database_url") from None
    database = make_url(url).database
    if database and database != ":memory:":  # a new home: its directory is made, as Database.open does
        Path(database).parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver opens no transaction of its own; BEGIN below
        # Copying a table (SQLite's ALTER) drops the old one: with foreign keys on, that would
        # delete or refuse its children. They are checked once at the end instead.
        dbapi_conn.execute("PRAGMA foreign_keys=OFF")

    if not write:
        return engine

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock now: no writer slips in between

    return engine


def _missing_sqlite_file(url: str) -> bool:
    try:
        parsed = make_url(normalize_url(url))
    except ArgumentError:
        return False  # _engine says why
    database = parsed.database
    return parsed.get_backend_name() == "sqlite" and bool(database) and database != ":memory:" \
        and not Path(str(database)).exists()


def _backup(engine: Engine, revision: str) -> Path | None:
    """A consistent copy of a SQLite file next to it: ``anchor.db.schema4-<time>.bak``, with the
    file's own permissions."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    source = Path(database)
    stem = f"{source.name}.schema{int(revision)}-{time.strftime('%Y%m%dT%H%M%S')}"
    target = source.with_name(stem + ".bak")
    try:
        # Created first, new (never through a link or over a file) and with the database's own
        # permissions: the copy holds what the database holds (holders' emails).
        mode = stat.S_IMODE(source.stat().st_mode) & 0o666
        for n in range(1, 100):
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
                break
            except FileExistsError:  # another upgrade's copy of this second
                target = source.with_name(f"{stem}-{n}.bak")
        else:
            raise FileExistsError(f"{target} and 98 others exist")
        os.fchmod(fd, mode)  # whatever the umask
        os.close(fd)
        src, dst = sqlite3.connect(source), sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    except (sqlite3.Error, OSError) as e:
        raise StoreError(f"cannot back up {source} to {target} before upgrading: {e}; nothing was changed",
                         reason="migration_failed") from e
    return target


