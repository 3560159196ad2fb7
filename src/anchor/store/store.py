"""The repository: every read and write of the issuer database goes through :class:`Store`.

One engine per process. Writes that must be atomic (a batch with its indices and tree; a signed
transaction with its batch's new status) happen in one database transaction each.
"""

from __future__ import annotations

import hashlib
import json
import operator
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    bindparam,
    and_,
    create_engine,
    event,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from anchor.core import merkle
from anchor.core.canonical import canonical_bytes
from anchor.core.errors import StoreError
from anchor.store.schema import (
    SCHEMA_VERSION,
    AchievementRow,
    BatchRow,
    Base,
    CredentialRow,
    DocumentRow,
    IssuerRow,
    Meta,
    RevocationRow,
    TransactionRow,
    TreeChunkRow,
)

CHUNK = 1024  # tree nodes per stored chunk (32 KiB)


def now() -> int:
    return int(time.time())


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use psycopg 3 for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@dataclass(frozen=True)
class Counts:
    pending: int  # not in any batch yet
    batched: int  # in a batch that is not confirmed yet
    anchored: int  # in a confirmed batch
    revoked: int  # revocation confirmed on chain (index or whole batch)
    revoking: int  # revocation recorded, not yet confirmed


@dataclass(frozen=True)
class CredentialLocation:
    credential_id: str
    valid_from: int
    valid_until: int | None
    leaf_index: int | None
    batch_id: int | None
    batch_status: str | None
    root: bytes | None
    leaf_count: int | None
    chain_id: int | None
    registry: str | None
    tx_hash: bytes | None
    block_number: int | None
    block_time: int | None
    issuer_address: str


class Store:
    """The issuer database."""

    def __init__(self, engine: Engine, url: str | None = None) -> None:
        self.engine = engine
        self.url = url or engine.url.render_as_string(hide_password=False)
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.is_postgres = engine.dialect.name == "postgresql"
        self._locate_query = (
            select(CredentialRow.credential_id, CredentialRow.valid_from, CredentialRow.valid_until, CredentialRow.leaf_index,
                   CredentialRow.batch_id, BatchRow.status, BatchRow.root, BatchRow.leaf_count, BatchRow.chain_id,
                   BatchRow.registry_address, BatchRow.tx_hash, BatchRow.block_number, BatchRow.block_time, IssuerRow.address)
            .join(IssuerRow, CredentialRow.issuer_id == IssuerRow.id)
            .outerjoin(BatchRow, CredentialRow.batch_id == BatchRow.id)
            .where(CredentialRow.credential_id == bindparam("cid"))
        )
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._locate_sql = str(self._locate_query.compile(dialect=engine.dialect)).replace(
            "?" if engine.dialect.paramstyle == "qmark" else "%(cid)s", mark)
        self._local = threading.local()

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A plain connection for fast reads; database errors become :class:`StoreError`."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as e:
            raise StoreError(f"database error: {getattr(e, 'orig', None) or e}") from e

    def ping(self) -> None:
        with self.connect() as conn:
            conn.execute(text("SELECT 1"))

    @classmethod
    def open(cls, url: str, *, create: bool = True, **engine_kw: Any) -> Store:
        """Connect, and create the tables if they are missing."""
        url = normalize_url(url)
        try:
            if url.startswith("sqlite"):
                database = make_url(url).database
                if database and database != ":memory:":
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, connect_args={"timeout": 30}, **engine_kw)
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(url, pool_pre_ping=True, **engine_kw)
            store = cls(engine, url)
            if create:
                Base.metadata.create_all(engine)
                store._check_version()
        except OperationalError as e:
            raise StoreError(f"cannot open the database {_safe_url(url)}: {e.orig}") from e
        except SQLAlchemyError as e:
            raise StoreError(f"database error opening {_safe_url(url)}: {e}") from e
        return store

    def _check_version(self) -> None:
        with self.session() as s:
            row = s.get(Meta, "schema_version")
            if row is None:
                s.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
            elif int(row.value) != SCHEMA_VERSION:
                raise StoreError(f"database schema version {row.value}, this anchor expects {SCHEMA_VERSION}")

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed if the block succeeds, rolled back if it raises."""
        s = self._sessions()
        try:
            yield s
            s.commit()
        except SQLAlchemyError as e:
            s.rollback()
            raise StoreError(f"database error: {e}") from e
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    # ------------------------------------------------------------------ issuers

    def upsert_issuer(self, address: str, profile_uri: str, profile: dict[str, Any]) -> IssuerRow:
        with self.session() as s:
            row = s.scalar(select(IssuerRow).where(IssuerRow.address == address))
            profile_json = json.dumps(profile, sort_keys=True)
            if row is None:
                row = IssuerRow(address=address, profile_uri=profile_uri, profile_json=profile_json, created_at=now())
                s.add(row)
            else:
                row.profile_uri, row.profile_json = profile_uri, profile_json
            s.flush()
            return row

    def issuer(self, address: str) -> IssuerRow | None:
        with self.session() as s:
            return s.scalar(select(IssuerRow).where(IssuerRow.address == address))

    def issuers(self) -> list[IssuerRow]:
        with self.session() as s:
            return list(s.scalars(select(IssuerRow).order_by(IssuerRow.id)))

    # ------------------------------------------------------------------ achievements & credentials

    def achievement_for(self, issuer_id: int, achievement: dict[str, Any]) -> AchievementRow:
        """The stored achievement with exactly this content, created if new."""
        content = canonical_bytes(achievement)
        digest = hashlib.sha256(content).hexdigest()
        with self.session() as s:
            row = s.scalar(
                select(AchievementRow).where(AchievementRow.issuer_id == issuer_id, AchievementRow.content_hash == digest)
            )
            if row is None:
                row = AchievementRow(
                    issuer_id=issuer_id,
                    achievement_uri=achievement["id"],
                    name=achievement["name"],
                    content_hash=digest,
                    definition_json=content.decode(),
                    created_at=now(),
                )
                s.add(row)
                s.flush()
            return row

    def recipients_of(self, achievement_uri: str, issuer_id: int) -> set[str]:
        """recipient_ref of everyone who already holds (any version of) this achievement."""
        with self.session() as s:
            q = (
                select(CredentialRow.recipient_ref)
                .join(AchievementRow, CredentialRow.achievement_id == AchievementRow.id)
                .where(AchievementRow.issuer_id == issuer_id, AchievementRow.achievement_uri == achievement_uri)
            )
            return set(s.scalars(q))

    def insert_credentials(self, s: Session, rows: Sequence[dict[str, Any]]) -> None:
        """Bulk insert credentials (each row's ``document`` goes to its own table) inside the
        caller's unit of work, straight to the driver's executemany: SQLAlchemy's per-row
        parameter processing would cost more than the insert itself.

        Ids are allocated here, under the database's write lock, so documents can reference
        their credential without a round trip per row.
        """
        if not rows:
            return
        if self.is_postgres:
            s.execute(text("SELECT pg_advisory_xact_lock(7100000)"))
        else:  # take SQLite's write lock before reading max(id)
            s.execute(text("UPDATE anchor_meta SET value = value WHERE key = 'schema_version'"))
        first = int(s.scalar(select(func.coalesce(func.max(CredentialRow.id), 0))) or 0) + 1
        columns = [c for c in rows[0] if c != "document"]
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        conn = s.connection()
        values = operator.itemgetter(*columns)
        conn.exec_driver_sql(
            f"INSERT INTO {CredentialRow.__tablename__} (id, {', '.join(columns)}) VALUES ({', '.join([mark] * (len(columns) + 1))})",
            [(first + i, *values(r)) for i, r in enumerate(rows)],
        )
        conn.exec_driver_sql(
            f"INSERT INTO {DocumentRow.__tablename__} (credential_pk, document) VALUES ({mark}, {mark})",
            [(first + i, r["document"]) for i, r in enumerate(rows)],
        )
        if self.is_postgres:  # keep the serial sequence ahead of the ids given explicitly
            s.execute(text("SELECT setval(pg_get_serial_sequence('credentials', 'id'), :v)"), {"v": first + len(rows) - 1})

    def credential(self, credential_id: str) -> CredentialRow | None:
        with self.session() as s:
            return s.scalar(select(CredentialRow).where(CredentialRow.credential_id == credential_id))

    def batch(self, batch_id: int) -> BatchRow | None:
        with self.session() as s:
            return s.get(BatchRow, batch_id)

    def batch_by_root(self, root: bytes) -> BatchRow | None:
        with self.session() as s:
            return s.scalar(select(BatchRow).where(BatchRow.root == root))

    # ------------------------------------------------------------------ batches

    def create_batch(self, issuer_id: int, max_size: int) -> BatchRow | None:
        """Put up to ``max_size`` pending credentials (oldest first) into a new batch, with its tree.

        One unit of work: indices, tree chunks and the batch row appear together or not at all.
        Returns None when nothing is pending.
        """
        with self.session() as s:
            if self.is_postgres:  # one batcher per issuer at a time (SQLite serializes writers anyway)
                s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 7_000_000 + issuer_id})
            else:
                s.execute(text("SELECT 1"))  # begin
            batch = BatchRow(issuer_id=issuer_id, root=b"\0" * 32, leaf_count=0, status="building", created_at=now())
            s.add(batch)
            s.flush()
            batch.root = batch.id.to_bytes(32, "big")  # placeholder, unique until the real root is set
            s.flush()
            picked = (
                select(CredentialRow.id, (func.row_number().over(order_by=CredentialRow.id) - 1).label("idx"))
                .where(CredentialRow.issuer_id == issuer_id, CredentialRow.batch_id.is_(None))
                .order_by(CredentialRow.id)
                .limit(max_size)
                .subquery()
            )
            s.execute(
                update(CredentialRow)
                .where(CredentialRow.id == picked.c.id)
                .values(batch_id=batch.id, leaf_index=picked.c.idx)
                .execution_options(synchronize_session=False)
            )
            leaves = b"".join(
                s.scalars(
                    select(CredentialRow.leaf_hash).where(CredentialRow.batch_id == batch.id).order_by(CredentialRow.leaf_index)
                )
            )
            if not leaves:
                s.rollback()
                return None
            levels = merkle.build_levels(leaves)
            batch.root = levels[-1]
            batch.leaf_count = len(leaves) // merkle.HASH_SIZE
            batch.status = "pending"
            s.execute(insert(TreeChunkRow), list(_chunks(batch.id, levels)))
            s.flush()
            return batch

    def batches(self, issuer_id: int | None = None, statuses: Iterable[str] | None = None, limit: int | None = None,
                newest_first: bool = False) -> list[BatchRow]:
        with self.session() as s:
            q = select(BatchRow)
            if issuer_id is not None:
                q = q.where(BatchRow.issuer_id == issuer_id)
            if statuses is not None:
                q = q.where(BatchRow.status.in_(list(statuses)))
            q = q.order_by(BatchRow.id.desc() if newest_first else BatchRow.id)
            if limit:
                q = q.limit(limit)
            return list(s.scalars(q))

    def record_signed_tx(self, batch_id: int, kind: str, chain_id: int, sender: str, nonce: int, tx_hash: bytes,
                         raw: bytes, *, batch_status: str | None = None, revocation_ids: Sequence[int] = ()) -> int:
        """Persist a signed transaction before it is broadcast (and move its subject along).

        Signing the same call with the same nonce and fees gives the same bytes and hash (e.g.
        re-anchoring on a chain that was reset): the stored row is then reused, not duplicated.
        """
        with self.session() as s:
            row = s.scalar(select(TransactionRow).where(TransactionRow.tx_hash == tx_hash))
            if row is not None and (row.batch_id, row.kind) == (batch_id, kind):
                row.status, row.block_number, row.gas_used = "signed", None, None
            else:
                row = TransactionRow(
                    kind=kind, batch_id=batch_id, chain_id=chain_id, sender=sender, nonce=nonce, tx_hash=tx_hash,
                    raw=raw, status="signed", created_at=now(),
                )
                s.add(row)
            s.flush()
            if batch_status:
                s.execute(update(BatchRow).where(BatchRow.id == batch_id).values(status=batch_status))
            if revocation_ids:
                s.execute(
                    update(RevocationRow).where(RevocationRow.id.in_(list(revocation_ids))).values(status="submitted", tx_id=row.id)
                )
            return row.id

    def transactions(self, batch_id: int, kind: str) -> list[TransactionRow]:
        with self.session() as s:
            q = select(TransactionRow).where(TransactionRow.batch_id == batch_id, TransactionRow.kind == kind)
            return list(s.scalars(q.order_by(TransactionRow.id)))

    def transaction(self, tx_id: int) -> TransactionRow | None:
        with self.session() as s:
            return s.get(TransactionRow, tx_id)

    def set_tx_status(self, tx_id: int, status: str, *, block_number: int | None = None, gas_used: int | None = None) -> None:
        with self.session() as s:
            s.execute(
                update(TransactionRow).where(TransactionRow.id == tx_id).values(status=status, block_number=block_number, gas_used=gas_used)
            )

    def confirm_batch(self, batch_id: int, *, chain_id: int, registry: str, tx_hash: bytes, block_number: int,
                      block_time: int) -> None:
        with self.session() as s:
            s.execute(
                update(BatchRow)
                .where(BatchRow.id == batch_id)
                .values(status="confirmed", chain_id=chain_id, registry_address=registry, tx_hash=tx_hash,
                        block_number=block_number, block_time=block_time, confirmed_at=now())
            )

    def reset_batch(self, batch_id: int) -> None:
        """Back to pending (its transaction failed or was dropped): it will be signed again."""
        with self.session() as s:
            s.execute(update(BatchRow).where(BatchRow.id == batch_id).values(status="pending"))

    # ------------------------------------------------------------------ trees and proofs

    def levels(self, batch_id: int) -> list[bytes]:
        """Every level of the batch's tree, leaves first."""
        with self.session() as s:
            rows = s.execute(
                select(TreeChunkRow.level, TreeChunkRow.nodes)
                .where(TreeChunkRow.batch_id == batch_id)
                .order_by(TreeChunkRow.level, TreeChunkRow.chunk)
            ).all()
        out: list[list[bytes]] = []
        for level, nodes in rows:
            while len(out) <= level:
                out.append([])
            out[level].append(bytes(nodes))
        return [b"".join(parts) for parts in out]

    def proof_path(self, batch_id: int, index: int, leaf_count: int) -> list[bytes]:
        """Sibling hashes of leaf ``index``, in one query of one 32-byte slice per level."""
        positions = list(merkle.path_positions(index, leaf_count))
        if not positions:
            return []
        parts = [
            select(literal(n).label("n"), func.substr(TreeChunkRow.nodes, (pos % CHUNK) * 32 + 1, 32).label("node")).where(
                and_(TreeChunkRow.batch_id == batch_id, TreeChunkRow.level == level, TreeChunkRow.chunk == pos // CHUNK)
            )
            for n, (level, pos) in enumerate(positions)
        ]
        with self.session() as s:
            rows = s.execute(union_all(*parts)).all()
        got = {int(n): bytes(node) for n, node in rows}
        if len(got) != len(positions) or any(len(v) != 32 for v in got.values()):
            raise StoreError(f"tree of batch {batch_id} is incomplete in the database")
        return [got[n] for n in range(len(positions))]

    def iter_documents(self, batch_id: int, *, page: int = 5000, first: int = 0,
                       stop: int | None = None) -> Iterator[tuple[int, str, bytes]]:
        """(leaf index, credential id, canonical document) of a batch's leaves ``[first, stop)``,
        in leaf order, streamed a page at a time."""
        start = first
        while stop is None or start < stop:
            q = (
                select(CredentialRow.leaf_index, CredentialRow.credential_id, DocumentRow.document)
                .join(DocumentRow, DocumentRow.credential_pk == CredentialRow.id)
                .where(CredentialRow.batch_id == batch_id, CredentialRow.leaf_index >= start)
                .order_by(CredentialRow.leaf_index)
                .limit(page)
            )
            if stop is not None:
                q = q.where(CredentialRow.leaf_index < stop)
            with self.session() as s:
                rows = s.execute(q).all()
            if not rows:
                return
            for idx, cid, doc in rows:
                yield int(idx), str(cid), bytes(doc)
            start = int(rows[-1][0]) + 1

    def locate(self, credential_id: str) -> CredentialLocation | None:
        """Where a credential sits (batch, index, anchoring): one indexed query on a per-thread
        driver connection, without SQLAlchemy's per-statement overhead (this is the public proof
        endpoint's hot path)."""
        conn = getattr(self._local, "raw", None)
        try:
            if conn is None:
                conn = self._local.raw = self.engine.raw_connection()
            cur = conn.cursor()
            try:
                cur.execute(self._locate_sql, (credential_id,))
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
            raise StoreError(f"database error: {e}") from None
        if row is None:
            return None
        values = list(row)
        for i in (6, 10):  # root, tx hash come back as memoryview from some drivers
            if values[i] is not None:
                values[i] = bytes(values[i])
        return CredentialLocation(*values)

    # ------------------------------------------------------------------ status

    def counts(self, issuer_id: int) -> Counts:
        with self.session() as s:
            by_status = dict(
                s.execute(
                    select(func.coalesce(BatchRow.status, "none"), func.count(CredentialRow.id))
                    .select_from(CredentialRow)
                    .outerjoin(BatchRow, CredentialRow.batch_id == BatchRow.id)
                    .where(CredentialRow.issuer_id == issuer_id)
                    .group_by(BatchRow.status)
                ).all()
            )
            revoked = dict(
                s.execute(
                    select(RevocationRow.status, func.count())
                    .join(BatchRow, RevocationRow.batch_id == BatchRow.id)
                    .where(BatchRow.issuer_id == issuer_id, RevocationRow.leaf_index.is_not(None))
                    .group_by(RevocationRow.status)
                ).all()
            )
            whole = s.execute(
                select(RevocationRow.status, func.sum(BatchRow.leaf_count))
                .join(BatchRow, RevocationRow.batch_id == BatchRow.id)
                .where(BatchRow.issuer_id == issuer_id, RevocationRow.leaf_index.is_(None))
                .group_by(RevocationRow.status)
            ).all()
        for st, n in whole:
            revoked[st] = revoked.get(st, 0) + int(n or 0)
        return Counts(
            pending=int(by_status.get("none", 0)),
            batched=int(by_status.get("pending", 0)) + int(by_status.get("submitted", 0)) + int(by_status.get("building", 0)),
            anchored=int(by_status.get("confirmed", 0)),
            revoked=int(revoked.get("confirmed", 0)),
            revoking=int(revoked.get("pending", 0)) + int(revoked.get("submitted", 0)),
        )


def _chunks(batch_id: int, levels: Sequence[bytes]) -> Iterator[dict[str, Any]]:
    size = CHUNK * merkle.HASH_SIZE
    for level, data in enumerate(levels):
        for chunk, start in enumerate(range(0, len(data), size)):
            yield {"batch_id": batch_id, "level": level, "chunk": chunk, "nodes": data[start : start + size]}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL + NORMAL: a killed process loses nothing committed; FULL would add an fsync per commit.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA cache_size=-131072")  # 128 MiB: bulk inserts into random-key indexes stay in memory
    cur.close()


def _safe_url(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database url>"
