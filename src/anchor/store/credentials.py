"""Credentials: inserted in bulk (insert-or-skip), located for the proof service, read back in
leaf order for export and audit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cached_property
from typing import Any

from sqlalchemy import bindparam, func, select, text, update

from anchor.core.records import Credential, CredentialLocation, Inserted, Leaf, NewCredential
from anchor.core.status import BatchStatus
from anchor.store.engine import Database
from anchor.store.locks import LockSpace, xact_lock
from anchor.store.schema import AchievementRow, BatchRow, CredentialRow, DocumentRow, IssuerRow
from anchor.store.status_lists import reserve_in

_COLUMNS = ("id", "credential_id", "issuer_id", "achievement_id", "recipient_ref", "leaf_hash", "valid_from",
            "valid_until", "created_at", "status_index", "holder_name", "holder_email", "generation", "supersedes")


def credential_record(row: CredentialRow) -> Credential:
    return Credential(row.id, row.credential_id, row.issuer_id, row.achievement_id, row.recipient_ref, row.leaf_hash,
                      row.valid_from, row.valid_until, row.batch_id, row.leaf_index, row.created_at, row.status_index,
                      row.holder_name, row.holder_email, int(row.generation or 0), row.supersedes, row.exported_at,
                      bool(row.hidden))


class CredentialQueries(Database):
    def insert_credentials(self, issuer_id: int, achievement_id: int, chunks: Iterable[Sequence[NewCredential]], *,
                           created_at: int, progress: Callable[[int], None] | None = None) -> Inserted:
        """Insert every credential of ``chunks`` in one unit of work: all of them or none.

        A recipient who already holds the achievement (same ``recipient_ref``, generation 0) is
        skipped by the database's unique key (``INSERT ... ON CONFLICT DO NOTHING``), so two
        processes issuing the same roster at once cannot both insert it; the skipped positions
        (counted over the whole stream) are returned.

        Rows go straight to the driver's executemany: SQLAlchemy's per-row parameter processing
        would cost more than the insert itself. Ids are allocated here, under a lock, so documents
        can reference their credential without a round trip per row.

        Each credential keeps the status index its document names (``NewCredential.status_index``,
        reserved beforehand with ``reserve_status_indexes``); one without gets the issuer's next
        free index here. An index already taken fails the whole insert (the database's unique key).
        """
        mark = self.mark
        insert_sql = (
            f"INSERT INTO {CredentialRow.__tablename__} ({', '.join(_COLUMNS)}) VALUES ({', '.join([mark] * len(_COLUMNS))}) "
            "ON CONFLICT (issuer_id, recipient_ref, generation) DO NOTHING"
        )
        document_sql = f"INSERT INTO {DocumentRow.__tablename__} (credential_pk, document, signature) VALUES ({mark}, {mark}, {mark})"
        range_sql = f"SELECT {{}} FROM {CredentialRow.__tablename__} WHERE id BETWEEN {mark} AND {mark}"
        created, skipped, position = 0, [], 0
        next_id: int | None = None
        with self.session() as s:
            # The first chunk is pulled before the lock is taken: a caller's forked builder then
            # starts while no database connection is open yet.
            for chunk in chunks:
                if not chunk:
                    continue
                conn = s.connection()
                if next_id is None:
                    xact_lock(s, LockSpace.CREDENTIAL_IDS)
                    next_id = int(s.scalar(select(func.coalesce(func.max(CredentialRow.id), 0))) or 0) + 1
                first, last = next_id, next_id + len(chunk) - 1
                status_indexes = _status_indexes(s, issuer_id, chunk)
                conn.exec_driver_sql(insert_sql, [
                    (first + i, c[0], issuer_id, achievement_id, c[1], c[3], c[4], c[5], created_at, status_index,
                     c[8], c[9], c[10], c[11])
                    for i, (c, status_index) in enumerate(zip(chunk, status_indexes, strict=True))
                ])
                inserted = int(conn.exec_driver_sql(range_sql.format("count(*)"), (first, last)).scalar() or 0)
                if inserted == len(chunk):
                    documents = [(first + i, c.document, c.signature) for i, c in enumerate(chunk)]
                else:  # some recipients already hold it: their rows were skipped
                    kept = {int(r[0]) for r in conn.exec_driver_sql(range_sql.format("id"), (first, last))}
                    documents = [(first + i, c.document, c.signature) for i, c in enumerate(chunk) if first + i in kept]
                    skipped += [position + i for i in range(len(chunk)) if first + i not in kept]
                if documents:
                    conn.exec_driver_sql(document_sql, documents)
                created += inserted
                position += len(chunk)
                next_id = last + 1
                if progress:
                    progress(len(chunk))
            if self.is_postgres and next_id is not None:  # keep the serial sequence ahead of the ids given explicitly
                s.execute(text("SELECT setval(pg_get_serial_sequence('credentials', 'id'), :v)"), {"v": next_id - 1})
        return Inserted(created, skipped)

    def credential(self, credential_id: str) -> Credential | None:
        with self.session() as s:
            row = s.scalar(select(CredentialRow).where(CredentialRow.credential_id == credential_id))
            return credential_record(row) if row is not None else None

    def document_of(self, credential_id: str) -> tuple[bytes, bytes | None] | None:
        """The credential's stored RFC 8785 document (without proof) and its stored signature
        entry (None: issued unsigned); None if the credential is not in the database."""
        with self.session() as s:
            row = s.execute(
                select(DocumentRow.document, DocumentRow.signature)
                .join(CredentialRow, DocumentRow.credential_pk == CredentialRow.id)
                .where(CredentialRow.credential_id == credential_id)
            ).first()
        if row is None:
            return None
        return bytes(row[0]), bytes(row[1]) if row[1] is not None else None

    def visibility(self, credential_id: str) -> tuple[bool, bool] | None:
        """(the credential's page is hidden, its issuer serves public pages); None if unknown."""
        with self.session() as s:
            row = s.execute(
                select(CredentialRow.hidden, IssuerRow.public_pages)
                .join(IssuerRow, CredentialRow.issuer_id == IssuerRow.id)
                .where(CredentialRow.credential_id == credential_id)
            ).first()
        if row is None:
            return None
        return bool(row[0]), True if row[1] is None else bool(row[1])

    def set_hidden(self, credential_id: str, hidden: bool) -> bool:
        """Hide (or show again) the credential's public page; False if there is no such credential."""
        with self.session() as s:
            done = s.execute(update(CredentialRow).where(CredentialRow.credential_id == credential_id)
                             .values(hidden=bool(hidden)))
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def has_pending(self, issuer_id: int) -> bool:
        """Whether any credential of the issuer is in no batch yet."""
        with self.session() as s:
            q = select(CredentialRow.id).where(CredentialRow.issuer_id == issuer_id, CredentialRow.batch_id.is_(None))
            return s.scalar(q.limit(1)) is not None

    def anchoring_queue(self) -> tuple[int, int]:
        """(credentials in no batch yet, credentials in batches not confirmed yet), over every
        issuer: the first counted per issuer on the ``(issuer_id, batch_id)`` index, the second
        from the few unconfirmed batch rows."""
        unbatched = (select(func.count()).select_from(CredentialRow)
                     .where(CredentialRow.issuer_id == IssuerRow.id, CredentialRow.batch_id.is_(None)).scalar_subquery())
        with self.session() as s:
            waiting = sum(int(n) for n in s.scalars(select(unbatched).select_from(IssuerRow)))
            in_flight = s.scalar(select(func.coalesce(func.sum(BatchRow.leaf_count), 0))
                                 .where(BatchRow.status != BatchStatus.CONFIRMED.value))
        return waiting, int(in_flight or 0)

    def stored_badges(self, credential_ids: Sequence[str], *,
                      per_query: int = 500) -> list[tuple[str, bytes, bytes | None, int | None, int | None]]:
        """(credential id, stored RFC 8785 document, stored signature entry or None, batch id,
        leaf index) of each of these credentials that is in the database, ``per_query`` ids a
        query (``anchor stack`` reads its holders' components in bulk)."""
        out: list[tuple[str, bytes, bytes | None, int | None, int | None]] = []
        ids = list(dict.fromkeys(credential_ids))
        with self.connect() as conn:
            for i in range(0, len(ids), per_query):
                q = (
                    select(CredentialRow.credential_id, DocumentRow.document, DocumentRow.signature, CredentialRow.batch_id,
                           CredentialRow.leaf_index)
                    .join(DocumentRow, DocumentRow.credential_pk == CredentialRow.id)
                    .where(CredentialRow.credential_id.in_(ids[i : i + per_query]))
                )
                out += [(str(cid), bytes(doc), bytes(sig) if sig is not None else None,
                         int(batch) if batch is not None else None, int(idx) if idx is not None else None)
                        for cid, doc, sig, batch, idx in conn.execute(q)]
        return out

    def issued_achievement_uris(self, issuer_id: int) -> set[str]:
        """The ids (URIs) of the achievements the issuer has awarded at least one credential of."""
        awarded = select(CredentialRow.id).where(CredentialRow.achievement_id == AchievementRow.id).exists()
        q = select(AchievementRow.achievement_uri).where(AchievementRow.issuer_id == issuer_id, awarded)
        with self.connect() as conn:
            return {str(uri) for (uri,) in conn.execute(q)}

    def iter_documents(self, batch_id: int, *, page: int = 5000, first: int = 0,
                       stop: int | None = None) -> Iterator[tuple[int, str, bytes]]:
        """(leaf index, credential id, canonical document) of a batch's leaves ``[first, stop)``,
        in leaf order, streamed a page at a time."""
        for idx, cid, doc, _signature in self.iter_signed_documents(batch_id, page=page, first=first, stop=stop):
            yield idx, cid, doc

    def iter_signed_documents(self, batch_id: int, *, page: int = 5000, first: int = 0, stop: int | None = None,
                              only_unexported: bool = False) -> Iterator[tuple[int, str, bytes, bytes | None]]:
        """:meth:`iter_documents` with each document's stored signature entry (None: unsigned);
        ``only_unexported``: only the credentials no export has written yet."""
        start = first
        while stop is None or start < stop:
            q = (
                select(CredentialRow.leaf_index, CredentialRow.credential_id, DocumentRow.document, DocumentRow.signature)
                .join(DocumentRow, DocumentRow.credential_pk == CredentialRow.id)
                .where(CredentialRow.batch_id == batch_id, CredentialRow.leaf_index >= start)
                .order_by(CredentialRow.leaf_index)
                .limit(page)
            )
            if stop is not None:
                q = q.where(CredentialRow.leaf_index < stop)
            if only_unexported:
                q = q.where(CredentialRow.exported_at.is_(None))
            with self.session() as s:
                rows = s.execute(q).all()
            if not rows:
                return
            for idx, cid, doc, sig in rows:
                yield int(idx), str(cid), bytes(doc), bytes(sig) if sig is not None else None  # type: ignore[arg-type]  # never NULL: filtered on
            start = int(rows[-1][0]) + 1  # type: ignore[arg-type]

    def iter_leaves(self, batch_id: int, *, page: int = 20_000) -> Iterator[Leaf]:
        """Every stored leaf of a batch with its document, in leaf order (holes are simply absent)."""
        start = -1
        while True:
            with self.connect() as conn:
                rows = conn.execute(
                    select(CredentialRow.leaf_index, CredentialRow.credential_id, DocumentRow.document,
                           CredentialRow.leaf_hash, CredentialRow.valid_from)
                    .join(DocumentRow, DocumentRow.credential_pk == CredentialRow.id)
                    .where(CredentialRow.batch_id == batch_id, CredentialRow.leaf_index > start)
                    .order_by(CredentialRow.leaf_index).limit(page)
                ).all()
            if not rows:
                return
            for r in rows:
                yield Leaf(int(r[0]), str(r[1]), bytes(r[2]), bytes(r[3]), int(r[4]))
            start = int(rows[-1][0])

    @cached_property
    def _locate_sql(self) -> str:
        query = (
            select(CredentialRow.credential_id, CredentialRow.valid_from, CredentialRow.valid_until, CredentialRow.leaf_index,
                   CredentialRow.batch_id, BatchRow.status, BatchRow.root, BatchRow.leaf_count, BatchRow.chain_id,
                   BatchRow.registry_address, BatchRow.tx_hash, BatchRow.block_number, BatchRow.block_time, IssuerRow.address)
            .join(IssuerRow, CredentialRow.issuer_id == IssuerRow.id)
            .outerjoin(BatchRow, CredentialRow.batch_id == BatchRow.id)
            .where(CredentialRow.credential_id == bindparam("cid"))
        )
        qmark = self.engine.dialect.paramstyle == "qmark"
        return str(query.compile(dialect=self.engine.dialect)).replace("?" if qmark else "%(cid)s", self.mark)

    def locate(self, credential_id: str) -> CredentialLocation | None:
        """Where a credential sits (batch, index, anchoring): one indexed query on a per-thread
        driver connection, without SQLAlchemy's per-statement overhead (this is the public proof
        endpoint's hot path)."""
        sql = self._locate_sql
        row = self.fetch_one_raw(sql, (credential_id,))
        if row is None:
            return None
        values = list(row)
        for i in (6, 10):  # root, tx hash come back as memoryview from some drivers
            if values[i] is not None:
                values[i] = bytes(values[i])
        return CredentialLocation(*values)


def _status_indexes(s: Any, issuer_id: int, chunk: Sequence[NewCredential]) -> Sequence[int]:
    """The status index of each credential of ``chunk``: its own, or the issuer's next free ones."""
    missing = sum(1 for c in chunk if c.status_index is None)
    if not missing:
        return [c.status_index for c in chunk]  # type: ignore[misc]  # none is None
    fresh = iter(range(reserve_in(s, issuer_id, missing), 1 << 62))
    return [next(fresh) if c.status_index is None else c.status_index for c in chunk]
