"""Status indexes and published status lists (``anchor.core.status_list``).

A credential's status index is its bit in its issuer's Bitstring Status Lists. Indexes are
handed out in ranges by :meth:`StatusListQueries.reserve_status_indexes`: one ``UPDATE ...
RETURNING`` on the issuer's row adds ``count`` to its counter and commits, so two issuing runs at
once (two processes, SQLite or PostgreSQL) get disjoint ranges: PostgreSQL's row lock and SQLite's
single writer order the two updates. A range reserved by a run that then issues fewer
credentials (recipients who already hold the badge, a crash) leaves unused bits: they stay 0.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from anchor.core.errors import InputError, NotFound
from anchor.core.records import Credential, StatusList
from anchor.core.status import BatchStatus
from anchor.core.status_list import LIST_SIZE
from anchor.store.engine import Database
from anchor.store.schema import BatchRow, CredentialRow, IssuerRow, StatusListRow

_IN_CHUNK = 900  # leaf indexes per IN (...) list


def reserve_in(s: Session, issuer_id: int, count: int) -> int:
    """Reserve ``count`` consecutive status indexes of the issuer inside the unit of work ``s``;
    the first of them. The issuer's row stays locked until ``s`` ends (PostgreSQL)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InputError(f"reserve at least one status index, not {count!r}", reason="invalid_status_index")
    end = s.execute(
        update(IssuerRow).where(IssuerRow.id == issuer_id)
        .values(next_status_index=IssuerRow.next_status_index + count)
        .returning(IssuerRow.next_status_index)
    ).scalar()
    if end is None:
        raise NotFound(f"no issuer {issuer_id} in this database")
    return int(end) - count


def status_list_record(row: StatusListRow) -> StatusList:
    return StatusList(row.issuer_id, row.list_number, row.document, row.generated_at, row.chain_block)


class StatusListQueries(Database):
    def reserve_status_indexes(self, issuer_id: int, count: int) -> int:
        """The first of ``count`` consecutive status indexes now reserved for the issuer's next
        credentials, committed at once: no other run, in any process, gets any of them."""
        with self.session() as s:
            return reserve_in(s, issuer_id, count)

    def status_indexes_of(self, issuer_id: int, root: bytes, leaf_indexes: Collection[int] | None = None, *,
                          page: int = 50_000) -> Iterator[tuple[int, int]]:
        """``(leaf index, status index)`` of the stored credentials of the issuer's batch ``root``:
        those at ``leaf_indexes``, or every one (None, a whole-batch revocation), in leaf order.
        A root the database does not know, or a leaf it does not hold, yields nothing."""
        with self.connect() as conn:
            batch_id = conn.execute(select(BatchRow.id).where(BatchRow.issuer_id == issuer_id, BatchRow.root == root)).scalar()
        if batch_id is None:
            return
        base = select(CredentialRow.leaf_index, CredentialRow.status_index).where(CredentialRow.batch_id == batch_id)
        if leaf_indexes is not None:
            wanted = sorted(set(leaf_indexes))
            for i in range(0, len(wanted), _IN_CHUNK):
                with self.connect() as conn:
                    rows = conn.execute(base.where(CredentialRow.leaf_index.in_(wanted[i : i + _IN_CHUNK]))
                                        .order_by(CredentialRow.leaf_index)).all()
                yield from ((int(leaf), int(index)) for leaf, index in rows)
            return
        last = -1
        while True:
            with self.connect() as conn:
                rows = conn.execute(base.where(CredentialRow.leaf_index > last).order_by(CredentialRow.leaf_index).limit(page)).all()
            if not rows:
                return
            yield from ((int(leaf), int(index)) for leaf, index in rows)
            last = int(rows[-1][0])

    def credential_by_status_index(self, issuer_id: int, status_index: int) -> Credential | None:
        from anchor.store.credentials import credential_record

        with self.session() as s:
            row = s.scalar(select(CredentialRow).where(CredentialRow.issuer_id == issuer_id,
                                                       CredentialRow.status_index == status_index))
            return credential_record(row) if row is not None else None

    def status_list_numbers(self, issuer_id: int, *, anchored_only: bool = False) -> list[int]:
        """The numbers of the lists the issuer has credentials in, ascending: pending ones too
        (their list must be served before the credential is released), or only credentials of
        confirmed batches (``anchored_only``)."""
        q = select(CredentialRow.status_index // LIST_SIZE).where(CredentialRow.issuer_id == issuer_id).distinct()
        if anchored_only:
            q = q.join(BatchRow, CredentialRow.batch_id == BatchRow.id).where(BatchRow.status == BatchStatus.CONFIRMED.value)
        with self.connect() as conn:
            return sorted(int(n) for n in conn.execute(q).scalars())

    # ------------------------------------------------------------------ published lists

    def save_status_list(self, issuer_id: int, list_number: int, document: str, *, generated_at: int, chain_block: int,
                         head: int | None = None) -> bool:
        """Store (insert or replace) the issuer's signed list ``list_number``. A list already
        stored from a LATER chain block is kept (two publishers racing: the older view of the
        chain must not undo a newer revocation); False then. Unless that block is above ``head``
        (the chain's head just read): then it left the chain in a reorg, and so may what it showed."""
        values: dict[str, Any] = {"issuer_id": issuer_id, "list_number": list_number, "document": document,
                                  "generated_at": generated_at, "chain_block": chain_block}
        dialect: Any = postgresql if self.is_postgres else sqlite
        stmt = dialect.insert(StatusListRow).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[StatusListRow.issuer_id, StatusListRow.list_number],
            set_={"document": stmt.excluded.document, "generated_at": stmt.excluded.generated_at,
                  "chain_block": stmt.excluded.chain_block},
            where=(StatusListRow.chain_block <= stmt.excluded.chain_block)
            | (StatusListRow.chain_block > (head if head is not None else 2**62)),
        ).returning(StatusListRow.list_number)  # no row back when the stored one is newer (rowcount is -1 on psycopg)
        with self.session() as s:
            return s.execute(stmt).first() is not None

    def status_list(self, issuer_id: int, list_number: int) -> StatusList | None:
        with self.session() as s:
            row = s.get(StatusListRow, (issuer_id, list_number))
            return status_list_record(row) if row is not None else None

    def status_list_of(self, issuer_address: str, list_number: int) -> StatusList | None:
        """The stored list ``list_number`` of the issuer with this (checksummed) address."""
        with self.session() as s:
            row = s.scalar(select(StatusListRow).join(IssuerRow, StatusListRow.issuer_id == IssuerRow.id)
                           .where(IssuerRow.address == issuer_address, StatusListRow.list_number == list_number))
            return status_list_record(row) if row is not None else None

    def status_lists(self, issuer_id: int) -> list[StatusList]:
        with self.session() as s:
            rows = s.scalars(select(StatusListRow).where(StatusListRow.issuer_id == issuer_id).order_by(StatusListRow.list_number))
            return [status_list_record(r) for r in rows]
