"""Revocations: recorded ``pending``, then put on chain by a stored transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update

from anchor.core.errors import InputError, NotFound
from anchor.core.records import Revocation, RevocationRequest
from anchor.core.status import BatchStatus, RevocationStatus
from anchor.store.engine import Database, now
from anchor.store.schema import BatchRow, CredentialRow, DeliveryRow, DocumentRow, RevocationRow


def revocation_record(row: RevocationRow, root: bytes) -> Revocation:
    return Revocation(row.id, row.batch_id, bytes(root), row.leaf_index, row.reason_code, row.reason_text,
                      RevocationStatus(row.status), row.tx_id, row.block_number, row.block_time)


class RevocationQueries(Database):
    def request_revocations(self, issuer_id: int, credential_ids: Sequence[str], reason_code: int,
                            reason_text: str | None) -> RevocationRequest:
        """Record pending revocations of the issuer's credentials, all or none (one unit of work).

        A credential in no batch was never anchored and never released: it is withdrawn (deleted)
        instead. Raises :class:`NotFound` for an id that is not the issuer's and
        :class:`InputError` for one whose batch is being anchored.
        """
        out = RevocationRequest()
        with self.session() as s:
            for cid in credential_ids:
                row = s.scalar(select(CredentialRow).where(CredentialRow.credential_id == cid))
                if row is None or row.issuer_id != issuer_id:
                    raise NotFound(f"no credential {cid} of this issuer in the database")
                if row.batch_id is None:
                    s.execute(delete(DeliveryRow).where(DeliveryRow.credential_pk == row.id))
                    s.execute(delete(DocumentRow).where(DocumentRow.credential_pk == row.id))
                    # Only if still unbatched: an `anchor` running now may have just batched it.
                    gone = s.execute(delete(CredentialRow).where(CredentialRow.id == row.id, CredentialRow.batch_id.is_(None)))
                    if gone.rowcount != 1:  # type: ignore[attr-defined]
                        raise InputError(f"credential {cid} is being anchored right now; run `anchor revoke` again after it")
                    out.withdrawn.append(cid)
                    continue
                batch = s.get(BatchRow, row.batch_id)
                assert batch is not None
                if batch.status != BatchStatus.CONFIRMED:
                    raise InputError(f"credential {cid} is being anchored (batch {batch.id} is {batch.status}); "
                                     "run `anchor anchor` first")
                exists = s.scalar(select(RevocationRow.id).where(RevocationRow.credential_pk == row.id))
                whole = s.scalar(select(RevocationRow.id).where(RevocationRow.batch_id == batch.id,
                                                                RevocationRow.leaf_index.is_(None)))
                if exists or whole:
                    out.already.append(cid)
                    continue
                s.add(RevocationRow(batch_id=batch.id, credential_pk=row.id, leaf_index=row.leaf_index, reason_code=reason_code,
                                    reason_text=reason_text, status=RevocationStatus.PENDING.value, created_at=now()))
                out.recorded += 1
        return out

    def request_batch_revocation(self, issuer_id: int, root: bytes, reason_code: int, reason_text: str | None) -> bool:
        """Record the revocation of the issuer's whole batch ``root``; False if it was already recorded."""
        with self.session() as s:
            batch = s.scalar(select(BatchRow).where(BatchRow.issuer_id == issuer_id, BatchRow.root == root))
            if batch is None:
                raise NotFound(f"no batch with root 0x{root.hex()} of this issuer in the database")
            if batch.status != BatchStatus.CONFIRMED:
                raise InputError(f"batch {batch.id} is not anchored yet ({batch.status}); run `anchor anchor` first")
            if s.scalar(select(RevocationRow.id).where(RevocationRow.batch_id == batch.id, RevocationRow.leaf_index.is_(None))):
                return False
            s.add(RevocationRow(batch_id=batch.id, leaf_index=None, reason_code=reason_code, reason_text=reason_text,
                                status=RevocationStatus.PENDING.value, created_at=now()))
        return True

    def revocations(self, issuer_id: int, status: RevocationStatus | None = None) -> list[Revocation]:
        """The issuer's revocations (in one status, or all), oldest first, each with its batch's root."""
        with self.session() as s:
            q = (select(RevocationRow, BatchRow.root).join(BatchRow, RevocationRow.batch_id == BatchRow.id)
                 .where(BatchRow.issuer_id == issuer_id))
            if status is not None:
                q = q.where(RevocationRow.status == RevocationStatus(status).value)
            return [revocation_record(rev, root) for rev, root in s.execute(q.order_by(RevocationRow.id)).all()]

    def reset_revocations(self, revocation_ids: Sequence[int]) -> None:
        """Back to pending, in no transaction (theirs failed or was dropped): they will be signed again."""
        with self.session() as s:
            s.execute(update(RevocationRow).where(RevocationRow.id.in_(list(revocation_ids)))
                      .values(status=RevocationStatus.PENDING.value, tx_id=None))

    def confirm_revocations(self, revocation_ids: Sequence[int], *, tx_id: int | None, block_number: int | None,
                            block_time: int | None) -> None:
        """Confirmed on chain (by transaction ``tx_id``, or found there already when it is None)."""
        values: dict[str, object] = {"status": RevocationStatus.CONFIRMED.value, "block_number": block_number,
                                     "block_time": block_time}
        if tx_id is not None:
            values["tx_id"] = tx_id
        with self.session() as s:
            s.execute(update(RevocationRow).where(RevocationRow.id.in_(list(revocation_ids))).values(**values))
