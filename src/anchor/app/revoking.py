"""``anchor revoke``: record revocations, then put them on chain, grouped per 256-bit word.

Revocations are recorded ``pending`` first (one row per credential, or one per whole batch),
then submitted like anchoring: the signed transaction is stored before it is broadcast, and a
rerun resumes. A credential never anchored is simply withdrawn (deleted) before it is released.
Submitting holds the issuer's run lock, like anchoring: one process signs for an issuer at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from anchor.core.bitmap import from_words, to_words  # noqa: F401 (from_words: part of this module's API)
from anchor.chain.writer import Registry
from anchor.core.registry import RevocationReason
from anchor.core.errors import ChainError
from anchor.app.faults import crashpoint
from anchor.chain.signer import Signer
from anchor.core.status import RevocationStatus, TxKind, TxStatus
from anchor.store import Revocation, RevocationRequest, Store

WORDS_PER_TX = 200  # keeps one revocation transaction well under any block gas limit


def reason_code(name: str) -> int:
    """The on-chain code of revocation reason ``name``; InputError listing the names otherwise."""
    return int(RevocationReason.parse(name))


RevokeRequest = RevocationRequest  # recorded, withdrawn (never anchored: deleted instead), already


def request_revocation(store: Store, issuer_id: int, credential_ids: Sequence[str], reason: int, text: str | None) -> RevokeRequest:
    """Record pending revocations for credentials of this issuer (all or none on error): NotFound
    for an id that is not the issuer's, InputError for one whose batch is not anchored yet."""
    return store.request_revocations(issuer_id, credential_ids, reason, text)


def request_batch_revocation(store: Store, issuer_id: int, root: bytes, reason: int, text: str | None) -> bool:
    """Record the revocation of the issuer's whole batch ``root``; False if it was already recorded."""
    return store.request_batch_revocation(issuer_id, root, reason, text)


@dataclass
class SubmitReport:
    transactions: int = 0
    indices: int = 0
    batches_revoked: int = 0


def submit_revocations(store: Store, registry: Registry, signer: Signer, issuer_id: int, *, confirmations: int = 1,
                       timeout: float = 300.0) -> SubmitReport:
    """Put every pending or unfinished revocation of this issuer on chain, holding the issuer's
    run lock (StoreError with reason ``issuer_busy`` at once if another process holds it)."""
    with store.issuer_lock(issuer_id, what=f"issuer {signer.address}"):
        return _submit_all(store, registry, signer, issuer_id, confirmations=confirmations, timeout=timeout)


def _submit_all(store: Store, registry: Registry, signer: Signer, issuer_id: int, *, confirmations: int,
                timeout: float) -> SubmitReport:
    report = SubmitReport()
    _resume_submitted(store, registry, issuer_id, confirmations=confirmations, timeout=timeout)
    groups: dict[tuple[int, bytes, int, bool], list[Revocation]] = defaultdict(list)
    for rev in store.revocations(issuer_id, RevocationStatus.PENDING):
        groups[(rev.batch_id, rev.root, rev.reason_code, rev.leaf_index is None)].append(rev)

    for (batch_id, root, reason, whole), revs in groups.items():
        if whole:
            if registry.is_batch_revoked(signer.address, root):  # already there (e.g. revoked from another machine)
                _confirm(store, registry, revs, tx_id=None, block=None)
                continue
            _send(store, registry, signer, batch_id, TxKind.REVOKE_BATCH, revs, (root, reason),
                  confirmations=confirmations, timeout=timeout)
            report.transactions += 1
            report.batches_revoked += 1
            continue
        ordered = sorted(revs, key=lambda r: r.leaf_index or 0)
        words = to_words(r.leaf_index for r in ordered if r.leaf_index is not None)
        for start in range(0, len(words), WORDS_PER_TX):
            part = dict(words[start : start + WORDS_PER_TX])
            part_revs = [r for r in ordered if (r.leaf_index or 0) >> 8 in part]
            _send(store, registry, signer, batch_id, TxKind.REVOKE, part_revs, (root, list(part.items()), reason),
                  confirmations=confirmations, timeout=timeout)
            report.transactions += 1
            report.indices += len(part_revs)
    return report


def _send(store: Store, registry: Registry, signer: Signer, batch_id: int, kind: TxKind, revs: Sequence[Revocation],
          args: tuple[object, ...], *, confirmations: int, timeout: float) -> None:
    chain = registry.chain
    fn = "revokeBatch" if kind is TxKind.REVOKE_BATCH else "revoke"
    prepared = registry.prepare(signer, fn, *args)
    tx_id = store.record_signed_tx(batch_id, kind, chain.chain_id, prepared.sender, prepared.nonce, prepared.tx_hash,
                                   prepared.raw, revocation_ids=[r.id for r in revs])
    crashpoint("revoke_before_send")
    chain.broadcast(prepared.raw)
    crashpoint("revoke_after_send")
    _finish(store, registry, tx_id, prepared.tx_hash, revs, confirmations=confirmations, timeout=timeout)


def _finish(store: Store, registry: Registry, tx_id: int, tx_hash: bytes, revs: Sequence[Revocation], *,
            confirmations: int, timeout: float) -> None:
    receipt = registry.chain.wait_for_receipt(tx_hash, confirmations=confirmations, timeout=timeout)
    if receipt.status != 1:
        store.set_tx_status(tx_id, TxStatus.FAILED, block_number=receipt.block_number)
        _reset(store, revs)
        raise ChainError(f"revocation transaction 0x{tx_hash.hex()} reverted", reason="tx_reverted")
    store.set_tx_status(tx_id, TxStatus.MINED, block_number=receipt.block_number, gas_used=receipt.gas_used)
    _confirm(store, registry, revs, tx_id=tx_id, block=receipt.block_number)


def _resume_submitted(store: Store, registry: Registry, issuer_id: int, *, confirmations: int, timeout: float) -> None:
    """Finish revocations whose transaction was stored before a crash (same logic as anchoring)."""
    chain = registry.chain
    by_tx: dict[int | None, list[Revocation]] = defaultdict(list)
    for rev in store.revocations(issuer_id, RevocationStatus.SUBMITTED):
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
                store.set_tx_status(tx.id, TxStatus.DROPPED)
                _reset(store, revs)  # re-signed below; the registry refuses double revocation
                continue
        try:
            _finish(store, registry, tx.id, tx.tx_hash, revs, confirmations=confirmations, timeout=timeout)
        except ChainError as e:
            if e.reason != "tx_reverted":
                raise


def _reset(store: Store, revs: Sequence[Revocation]) -> None:
    store.reset_revocations([r.id for r in revs])


def _confirm(store: Store, registry: Registry, revs: Sequence[Revocation], *, tx_id: int | None, block: int | None) -> None:
    block_time = registry.chain.block_time(block) if block is not None else None
    store.confirm_revocations([r.id for r in revs], tx_id=tx_id, block_number=block, block_time=block_time)
