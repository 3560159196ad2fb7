"""Named locks: who may do what at the same time.

PostgreSQL advisory locks are keyed by two 32-bit integers here, ``(namespace, id)``: a
namespace per purpose and the issuer's id (or 0 for a global lock). The old single keys
``7_000_000 + issuer_id`` and ``7_100_000`` collided at issuer 100,000; two-int keys cannot
(PostgreSQL also keeps them apart from every single-``bigint`` key). Advisory locks belong to
the whole database, not to a schema, so the namespace is hashed with the schema anchor's tables
live in (``hashtext(current_schema() || ':anchor:' || namespace)``): two anchor stores in two
schemas of one database never block each other.

SQLite has one writer at a time already, so transaction-scoped locks are its write lock. A lock
held for a whole run (one anchoring or revoking process per issuer) is an ``flock`` on a file
next to the database: the kernel releases it when the process exits, even on ``kill -9``, so a
crash never leaves a stale lock behind (a lock *row* would).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.orm import Session

from anchor.core.errors import StoreError

if TYPE_CHECKING:
    from anchor.store.engine import Database

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system
    fcntl = None  # type: ignore[assignment]


class LockSpace(IntEnum):
    """Advisory-lock namespaces (the first key); never renumber one that has shipped."""

    ISSUER_RUN = 1  # session lock: one anchoring or revoking process per issuer (key: issuer id)
    BATCHING = 2  # transaction lock: one batch built per issuer at a time (key: issuer id)
    CREDENTIAL_IDS = 3  # transaction lock: credential ids allocated by one writer at a time (key: 0)


INT4_MAX = 2**31 - 1


def lock_key(space: LockSpace, key: int) -> tuple[int, int]:
    """The two int4 keys of ``pg_advisory_lock(int, int)`` for ``key`` in ``space``."""
    if not 0 <= key <= INT4_MAX:
        raise ValueError(f"advisory lock key {key} does not fit in a 32-bit integer")
    return int(space), key


def xact_lock(s: Session, space: LockSpace, key: int = 0) -> None:
    """Hold ``(space, key)`` until the unit of work ``s`` ends (PostgreSQL). On SQLite, take
    the database's write lock now, which serializes every writer anyway."""
    if s.get_bind().dialect.name == "postgresql":
        a, b = lock_key(space, key)
        s.execute(text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':anchor:' || CAST(:a AS text)), :b)"), {"a": a, "b": b})
    else:  # a no-op write starts the (deferred) transaction and waits for the write lock
        s.execute(text("UPDATE anchor_meta SET value = value WHERE key = 'schema_version'"))


_held = threading.local()  # run locks this thread holds: taking one again nests instead of refusing


@contextmanager
def run_lock(db: Database, space: LockSpace, key: int, *, what: str) -> Iterator[None]:
    """Hold ``(space, key)`` for the whole block, across units of work, or raise
    :class:`StoreError` (reason ``issuer_busy``) at once if another process (or thread) holds it.
    The same thread may take it again inside the block (e.g. a repair that resets batches and
    then runs the ordinary anchoring): the inner block simply runs."""
    ident = (db.url, int(space), key)
    held: set[tuple[str, int, int]] = _held.__dict__.setdefault("locks", set())
    if ident in held:
        yield
        return
    held.add(ident)
    try:
        with _os_lock(db, space, key, what=what):
            yield
    finally:
        held.discard(ident)


@contextmanager
def _os_lock(db: Database, space: LockSpace, key: int, *, what: str) -> Iterator[None]:
    busy = StoreError(f"{what} is busy: another anchor process is working for it on this database; "
                      "run this again when that one has finished", reason="issuer_busy")
    if db.is_postgres:
        a, b = lock_key(space, key)
        with db.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # not idle in a transaction
            if not conn.execute(text("SELECT pg_try_advisory_lock(hashtext(current_schema() || ':anchor:' || CAST(:a AS text)), :b)"), {"a": a, "b": b}).scalar():
                raise busy
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(current_schema() || ':anchor:' || CAST(:a AS text)), :b)"), {"a": a, "b": b})
        return
    path = db.sqlite_path()
    if path is None or fcntl is None:  # an in-memory database has a single process anyway
        yield
        return
    lock_file = path.with_name(f"{path.name}.lock-{space.name.lower()}-{key}")
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        yield
    finally:
        os.close(fd)  # releases the lock
