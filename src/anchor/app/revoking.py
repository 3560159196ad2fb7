"""``anchor revoke``: record revocations, then put them on chain, grouped per 256-bit word.

Revocations are recorded ``pending`` first (one row per credential, or one per whole batch),
then submitted like anchoring: the signed transaction is stored before it is broadcast, and a
rerun resumes. A credential never anchored is simply withdrawn (deleted) before it is released.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, select

from anchor.core.bitmap import from_words, to_words  # noqa: F401 (from_words: part of this module's API)
from anchor.chain.client import Registry
from anchor.core.errors import ChainError, InputError, NotFound
from anchor.app.faults import crashpoint
from anchor.chain.signer import Signer
from anchor.store import Store
from anchor.store.schema import BatchRow, CredentialRow, DocumentRow, RevocationRow
from anchor.store.store import now

REASONS = {
    "unspecified": 0,
    "issued_in_error": 1,
    "key_compromise": 2,
    "superseded": 3,
    "misconduct": 4,
    "withdrawn": 5,
    "expired_requirement": 6,
}
REASON_NAMES = {v: k for k, v in REASONS.items()}
WORDS_PER_TX = 200  # keeps one revocation transaction well under any block gas limit


def reason_code(name: str) -> int:
    try:
        return REASONS[name]
    except KeyError:
        raise InputError(f"unknown revocation reason {name!r}; one of: {', '.join(REASONS)}") from None


@dataclass
class RevokeRequest:
    recorded: int = 0
    withdrawn: list[str] = field(default_factory=list)  # never anchored: deleted instead
    already: list[str] = field(default_factory=list)


def request_revocation(store: Store, issuer_id: int, credential_ids: Sequence[str], reason: int, text: str | None) -> RevokeRequest:
    """Record pending revocations for credentials of this issuer (all or none on error)."""
    out = RevokeRequest()
    with store.session() as s:
        for cid in credential_ids:
            row = s.scalar(select(CredentialRow).where(CredentialRow.credential_id == cid))
            if row is None or row.issuer_id != issuer_id:
                raise NotFound(f"no credential {cid} of this issuer in the database")
            if row.batch_id is None:
                s.execute(delete(DocumentRow).where(DocumentRow.credential_pk == row.id))
                s.execute(delete(CredentialRow).where(CredentialRow.id == row.id))
                out.withdrawn.append(cid)
                continue
            batch = s.get(BatchRow, row.batch_id)
            assert batch is not None
            if batch.status != "confirmed":
                raise InputError(f"credential {cid} is being anchored (batch {batch.id} is {batch.status}); run `anchor anchor` first")
            exists = s.scalar(select(RevocationRow.id).where(RevocationRow.credential_pk == row.id))
            whole = s.scalar(select(RevocationRow.id).where(RevocationRow.batch_id == batch.id, RevocationRow.leaf_index.is_(None)))
            if exists or whole:
                out.already.append(cid)
                continue
            s.add(RevocationRow(batch_id=batch.id, credential_pk=row.id, leaf_index=row.leaf_index, reason_code=reason,
                                reason_text=text, status="pending", created_at=now()))
            out.recorded += 1
    return out


def request_batch_revocation(store: Store, issuer_id: int, root: bytes, reason: int, text: str | None) -> bool:
    """Record the revocation of a whole batch; False if it was already recorded."""
    with store.session() as s:
        batch = s.scalar(select(BatchRow).where(BatchRow.root == root))
        if batch is None or batch.issuer_id != issuer_id:
            raise NotFound(f"no batch with root 0x{root.hex()} of this issuer in the database")
        if batch.status != "confirmed":
            raise InputError(f"batch {batch.id} is not anchored yet ({batch.status}); run `anchor anchor` first")
        if s.scalar(select(RevocationRow.id).where(RevocationRow.batch_id == batch.id, RevocationRow.leaf_index.is_(None))):
            return False
        s.add(RevocationRow(batch_id=batch.id, leaf_index=None, reason_code=reason, reason_text=text, status="pending", created_at=now()))
    return True


@dataclass
class SubmitReport:
    transactions: int = 0
    indices: int = 0
    batches_revoked: int = 0


def submit_revocations(store: Store, registry: Registry, signer: Signer, issuer_id: int, *, confirmations: int = 1,
                       timeout: float = 300.0) -> SubmitReport:
    """Put every pending or unfinished revocation of this issuer on chain."""
    report = SubmitReport()
    _resume_submitted(store, registry, issuer_id, confirmations=confirmations, timeout=timeout)
    with store.session() as s:
        rows = list(
            s.execute(
                select(RevocationRow, BatchRow.root)
                .join(BatchRow, RevocationRow.batch_id == BatchRow.id)
                .where(BatchRow.issuer_id == issuer_id, RevocationRow.status == "pending")
                .order_by(RevocationRow.id)
            ).all()
        )
    groups: dict[tuple[int, bytes, int, bool], list[RevocationRow]] = defaultdict(list)
    for rev, root in rows:
        groups[(rev.batch_id, root, rev.reason_code, rev.leaf_index is None)].append(rev)

    for (batch_id, root, reason, whole), revs in groups.items():
        if whole:
            if registry.is_batch_revoked(root):  # already there (e.g. revoked from another machine)
                _confirm(store, registry, revs, tx_id=None, block=None)
                continue
            _send(store, registry, signer, batch_id, "revoke_batch", revs, (root, reason),
                  confirmations=confirmations, timeout=timeout)
            report.transactions += 1
            report.batches_revoked += 1
            continue
        ordered = sorted(revs, key=lambda r: r.leaf_index or 0)
        words = to_words(r.leaf_index for r in ordered if r.leaf_index is not None)
        for start in range(0, len(words), WORDS_PER_TX):
            part = dict(words[start : start + WORDS_PER_TX])
            part_revs = [r for r in ordered if (r.leaf_index or 0) >> 8 in part]
            _send(store, registry, signer, batch_id, "revoke", part_revs, (root, list(part.items()), reason),
                  confirmations=confirmations, timeout=timeout)
            report.transactions += 1
            report.indices += len(part_revs)
    return report


def _send(store: Store, registry: Registry, signer: Signer, batch_id: int, kind: str, revs: Sequence[RevocationRow],
          args: tuple[object, ...], *, confirmations: int, timeout: float) -> None:
    chain = registry.chain
    fn = "revokeBatch" if kind == "revoke_batch" else "revoke"
    prepared = registry.prepare(signer, fn, *args)
    tx_id = store.record_signed_tx(batch_id, kind, chain.chain_id, prepared.sender, prepared.nonce, prepared.tx_hash,
                                   prepared.raw, revocation_ids=[r.id for r in revs])
    crashpoint("revoke_before_send")
    chain.broadcast(prepared.raw)
    crashpoint("revoke_after_send")
    _finish(store, registry, tx_id, prepared.tx_hash, revs, confirmations=confirmations, timeout=timeout)


def _finish(store: Store, registry: Registry, tx_id: int, tx_hash: bytes, revs: Sequence[RevocationRow], *,
            confirmations: int, timeout: float) -> None:
    receipt = registry.chain.wait_for_receipt(tx_hash, confirmations=confirmations, timeout=timeout)
    if receipt.status != 1:
        store.set_tx_status(tx_id, "failed", block_number=receipt.block_number)
        _reset(store, revs)
        raise ChainError(f"revocation transaction 0x{tx_hash.hex()} reverted", reason="tx_reverted")
    store.set_tx_status(tx_id, "mined", block_number=receipt.block_number, gas_used=receipt.gas_used)
    _confirm(store, registry, revs, tx_id=tx_id, block=receipt.block_number)


def _resume_submitted(store: Store, registry: Registry, issuer_id: int, *, confirmations: int, timeout: float) -> None:
    """Finish revocations whose transaction was stored before a crash (same logic as anchoring)."""
    chain = registry.chain
    with store.session() as s:
        rows = list(
            s.scalars(
                select(RevocationRow)
                .join(BatchRow, RevocationRow.batch_id == BatchRow.id)
                .where(BatchRow.issuer_id == issuer_id, RevocationRow.status == "submitted")
                .order_by(RevocationRow.id)
            )
        )
    by_tx: dict[int | None, list[RevocationRow]] = defaultdict(list)
    for rev in rows:
        by_tx[rev.tx_id].append(rev)
    for tx_id, revs in by_tx.items():
        tx = store.transaction(tx_id) if tx_id is not None else None
        if tx is None:
            _reset(store, revs)
            continue
        if chain.receipt(tx.tx_hash) is None and not chain.transaction_known(tx.tx_hash):
            try:
                chain.broadcast(tx.raw)  # the same signed bytes: it can only land once
            except ChainError as e:
                if "nonce" not in str(e).lower():
                    raise
                store.set_tx_status(tx.id, "dropped")
                _reset(store, revs)  # re-signed below; the registry refuses double revocation
                continue
        try:
            _finish(store, registry, tx.id, tx.tx_hash, revs, confirmations=confirmations, timeout=timeout)
        except ChainError as e:
            if e.reason != "tx_reverted":
                raise


def _reset(store: Store, revs: Sequence[RevocationRow]) -> None:
    from sqlalchemy import update

    with store.session() as s:
        s.execute(update(RevocationRow).where(RevocationRow.id.in_([r.id for r in revs])).values(status="pending", tx_id=None))


def _confirm(store: Store, registry: Registry, revs: Sequence[RevocationRow], *, tx_id: int | None, block: int | None) -> None:
    from sqlalchemy import update

    block_time = registry.chain.block_time(block) if block is not None else None
    values: dict[str, object] = {"status": "confirmed", "block_number": block, "block_time": block_time}
    if tx_id is not None:
        values["tx_id"] = tx_id
    with store.session() as s:
        s.execute(update(RevocationRow).where(RevocationRow.id.in_([r.id for r in revs])).values(**values))
