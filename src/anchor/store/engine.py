"""Opening the issuer database and units of work on it.

One engine per process. Every database error leaves the store as :class:`StoreError`; nothing
above ``anchor.store`` sees SQLAlchemy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Engine, Table, create_engine, event, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import Insert

from anchor.core.errors import InputError, StoreError
from anchor.store.schema import SCHEMA_VERSION, Base, Meta

CREATE_ATTEMPTS = 20  # tries at creating a new database's tables while other processes create them too


def now() -> int:
    return int(time.time())


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use psycopg 3 for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Database:
    """The engine, its sessions, and what every part of the store shares."""

    def __init__(self, engine: Engine, url: str | None = None) -> None:
        self.engine = engine
        self.url = url or engine.url.render_as_string(hide_password=False)
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.is_postgres = engine.dialect.name == "postgresql"
        self.mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"  # the driver's placeholder
        self._local = threading.local()

    @classmethod
    def open(cls, url: str, *, create: bool = True, sqlite_cache_kib: int = 131072, **engine_kw: Any) -> Self:
        """Connect, and create the tables if they are missing. ``sqlite_cache_kib``: SQLite's page
        cache per connection (large for bulk inserts; a reader such as a service worker wants little)."""
        url = normalize_url(url)
        _require_url(url)
        try:
            if url.startswith("sqlite"):
                database = make_url(url).database
                if database and database != ":memory:":
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, connect_args={"timeout": 30}, **engine_kw)
                event.listen(engine, "connect", partial(_sqlite_pragmas, cache_kib=sqlite_cache_kib))
            else:
                engine = create_engine(url, pool_pre_ping=True, **engine_kw)
            store = cls(engine, url)
            if create:
                store._open_schema()
        except OperationalError as e:
            raise StoreError(f"cannot open the database {safe_url(url)}: {e.orig}") from e
        except SQLAlchemyError as e:
            raise StoreError(f"database error opening {safe_url(url)}: {db_error_line(e)}") from e
        return store

    def _open_schema(self) -> None:
        """Check the schema version the database records; a new database is created at the head
        (today's tables, stamped with the head revision). StoreError (reason ``schema_version``)
        for any other version, before anything is created: ``anchor db upgrade`` moves an older
        one forward."""
        from anchor.store.migrations import create_at_head, recorded_version

        for attempt in range(CREATE_ATTEMPTS):
            with self.connect() as conn:
                found = recorded_version(conn)
            if found is not None:
                break
            # A new database (or one whose creation was interrupted). Several processes may meet it
            # at once (replicas and `anchor db upgrade` starting together): on PostgreSQL they queue
            # on a transaction-scoped advisory lock and the later ones find the tables made; on
            # SQLite (DDL outside a transaction) a creation that lost the race is tried again.
            try:
                with self.engine.begin() as conn:
                    if self.is_postgres:
                        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':anchor:create'))"))
                    if recorded_version(conn) is None:
                        create_at_head(conn)
                        conn.execute(self.insert_ignore(Meta.__table__).values(key="schema_version",
                                                                               value=str(SCHEMA_VERSION)))
            except SQLAlchemyError:
                if attempt == CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        else:
            with self.connect() as conn:  # created on the last try
                found = recorded_version(conn)
        _require_version(str(found), self.url)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        with self.connect() as conn:
            conn.execute(text("SELECT 1"))

    def schema_state(self) -> tuple[list[str], int | None]:
        """(anchor's tables missing from the database, the schema version it records or None).
        Reads only: a readiness probe must not create what it checks for."""
        with self.connect() as conn:
            missing = sorted(set(Base.metadata.tables) - set(inspect(conn).get_table_names()))
            if Meta.__tablename__ in missing:
                return missing, None
            value = conn.execute(select(Meta.value).where(Meta.key == "schema_version")).scalar()
        return missing, int(value) if value is not None and str(value).isdigit() else None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed if the block succeeds, rolled back if it raises.

        For the store's own modules (and tests that tamper with the database on purpose): use
        cases call the store's methods, which return frozen records, never rows.
        """
        s = self._sessions()
        try:
            yield s
            s.commit()
        except SQLAlchemyError as e:
            s.rollback()
            raise StoreError(f"database error: {getattr(e, 'orig', None) or e}") from e
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A plain connection for fast reads; database errors become :class:`StoreError`."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as e:
            raise StoreError(f"database error: {getattr(e, 'orig', None) or e}") from e

    def fetch_one_raw(self, sql: str, params: tuple[Any, ...]) -> Any:
        """One row of one indexed query, on a per-thread driver connection without SQLAlchemy's
        per-statement overhead (the public endpoints' hot paths). A driver error drops the
        connection and becomes :class:`StoreError`."""
        conn: Any = getattr(self._local, "raw", None)
        try:
            if conn is None:
                conn = self._local.raw = self.engine.raw_connection()
            cur = conn.cursor()
            try:
                cur.execute(sql, params)
                row = cur.fetchone()
            finally:
                cur.close()
            if self.is_postgres:
                conn.rollback()  # do not sit idle in a transaction
        except Exception as e:  # the driver's own error classes
            self._local.raw = None
            if conn is not None:
                try:
                    conn.invalidate()
                except Exception:
                    pass
            raise StoreError(f"database error: {db_error_line(e)}") from None
        return row

    def insert_ignore(self, table: Table | Any) -> Insert:
        """``INSERT ... ON CONFLICT DO NOTHING`` in this database's dialect (SQLite and PostgreSQL
        spell it the same): insert-or-skip, decided by a unique index, not by a read before."""
        if self.is_postgres:
            return postgresql.insert(table).on_conflict_do_nothing()
        return sqlite.insert(table).on_conflict_do_nothing()

    def sqlite_path(self) -> Path | None:
        """The SQLite database file, None for PostgreSQL or an in-memory database."""
        if self.is_postgres:
            return None
        database = self.engine.url.database
        return Path(database).resolve() if database and database != ":memory:" else None


def _require_version(found: str, url: str) -> None:
    """Refuse a database made for another schema version: its tables lack (or have extra) columns
    this code reads and writes. An older one is upgraded by ``anchor db upgrade``; the message
    names the command."""
    if found == str(SCHEMA_VERSION):
        return
    older = found.isdigit() and int(found) < SCHEMA_VERSION
    made_by = "an older anchor" if older else "a newer anchor" if found.isdigit() else "an unknown program"
    hint = f"back it up, then run `anchor db upgrade --db {safe_url(url)}`" if older else \
        "use the anchor release that made it, or give this one a new database (--db URL, or $ANCHOR_DATABASE_URL)"
    raise StoreError(f"the database has schema version {found} (made by {made_by}); this anchor needs version "
                     f"{SCHEMA_VERSION}: {hint}", reason="schema_version")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, *, cache_kib: int = 131072) -> None:
    cur = dbapi_conn.cursor()
    # WAL + NORMAL: a killed process loses nothing committed; FULL would add an fsync per commit.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA cache_size=-{int(cache_kib)}")  # default 128 MiB: bulk inserts into random-key indexes stay in memory
    cur.close()


def _require_url(url: str) -> None:
    """InputError (exit 2) for a database URL no installed SQLAlchemy dialect can open, before any
    connection: a path without a scheme, a typo, a database anchor does not support."""
    try:
        make_url(url).get_dialect().import_dbapi()  # the dialect, and its driver installed
    except (ArgumentError, ImportError) as e:
        shown = url if "@" not in url else "…@" + url.rsplit("@", 1)[1]  # never what precedes @ (a password)
        raise InputError(f"not a database URL anchor can open: {shown!r} ({type(e).__name__}); use "
                         "sqlite:///path/to/anchor.db or postgresql://user@host/db", reason="bad_database_url") from None


def safe_url(url: str) -> str:
    """The URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database url>"


def db_error_line(error: BaseException) -> str:
    """The first line of a driver error, without SQLAlchemy's "Background on this error" link."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
