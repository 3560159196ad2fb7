"""Signed transactions, stored before they are broadcast."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update

from anchor.core.records import Transaction
from anchor.core.status import BatchStatus, RevocationStatus, TxKind, TxStatus
from anchor.store.engine import Database, now
from anchor.store.schema import BatchRow, RevocationRow, TransactionRow


def transaction_record(row: TransactionRow) -> Transaction:
    return Transaction(row.id, TxKind(row.kind), row.batch_id, row.chain_id, row.sender, row.nonce, bytes(row.tx_hash),
                       bytes(row.raw), TxStatus(row.status), row.block_number, row.gas_used, row.created_at)


class TransactionQueries(Database):
    def record_signed_tx(self, batch_id: int, kind: TxKind, chain_id: int, sender: str, nonce: int, tx_hash: bytes,
                         raw: bytes, *, batch_status: BatchStatus | None = None, revocation_ids: Sequence[int] = ()) -> int:
        """Persist a signed transaction before it is broadcast (and move its subject along, in the
        same unit of work). Returns its id.

        Signing the same call with the same nonce and fees gives the same bytes and hash (e.g.
        re-anchoring on a chain that was reset): the stored row is then reused, not duplicated.
        """
        kind = TxKind(kind)
        with self.session() as s:
            row = s.scalar(select(TransactionRow).where(TransactionRow.tx_hash == tx_hash))
            if row is not None and (row.batch_id, row.kind) == (batch_id, kind.value):
                row.status, row.block_number, row.gas_used = TxStatus.SIGNED.value, None, None
            else:
                row = TransactionRow(
                    kind=kind.value, batch_id=batch_id, chain_id=chain_id, sender=sender, nonce=nonce, tx_hash=tx_hash,
                    raw=raw, status=TxStatus.SIGNED.value, created_at=now(),
                )
                s.add(row)
            s.flush()
            if batch_status is not None:
                s.execute(update(BatchRow).where(BatchRow.id == batch_id).values(status=BatchStatus(batch_status).value))
            if revocation_ids:
                s.execute(
                    update(RevocationRow).where(RevocationRow.id.in_(list(revocation_ids)))
                    .values(status=RevocationStatus.SUBMITTED.value, tx_id=row.id)
                )
            return row.id

    def transactions(self, batch_id: int, kind: TxKind) -> list[Transaction]:
        with self.session() as s:
            q = select(TransactionRow).where(TransactionRow.batch_id == batch_id, TransactionRow.kind == TxKind(kind).value)
            return [transaction_record(r) for r in s.scalars(q.order_by(TransactionRow.id))]

    def transaction(self, tx_id: int) -> Transaction | None:
        with self.session() as s:
            row = s.get(TransactionRow, tx_id)
            return transaction_record(row) if row is not None else None

    def failed_transactions(self, issuer_id: int) -> list[Transaction]:
        """The issuer's transactions that were mined but reverted."""
        with self.session() as s:
            q = (select(TransactionRow).join(BatchRow, TransactionRow.batch_id == BatchRow.id)
                 .where(BatchRow.issuer_id == issuer_id, TransactionRow.status == TxStatus.FAILED.value)
                 .order_by(TransactionRow.id))
            return [transaction_record(r) for r in s.scalars(q)]

    def set_tx_status(self, tx_id: int, status: TxStatus, *, block_number: int | None = None,
                      gas_used: int | None = None) -> None:
        with self.session() as s:
            s.execute(
                update(TransactionRow).where(TransactionRow.id == tx_id)
                .values(status=TxStatus(status).value, block_number=block_number, gas_used=gas_used)
            )
