"""``anchor revoke``: record revocations, then put them on chain, grouped per 256-bit word.

Revocations are recorded ``pending`` first (one row per credential, or one per whole batch),
then submitted like anchoring: the signed transaction is stored before it is broadcast, and a
rerun resumes. A credential never anchored is simply withdrawn (deleted) before it is released.
Submitting holds the issuer's run lock, like anchoring: one process signs for an issuer at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from anchor.app.submission import Dropped, Settled, Submitter, Write
from anchor.chain.signer import Signer
from anchor.chain.writer import Registry
from anchor.core.bitmap import from_words, to_words  # noqa: F401 (from_words: part of this module's API)
from anchor.core.errors import ChainError
from anchor.core.registry import RevocationReason
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
                       timeout: float = 300.0, stuck_after: float | None = None,
                       on_wait: Callable[[int, int], None] | None = None) -> SubmitReport:
    """Put every pending or unfinished revocation of this issuer on chain, holding the issuer's
    run lock (StoreError with reason ``issuer_busy`` at once if another process holds it).

    Each transaction goes through the one crash-safe loop of :mod:`anchor.app.submission`:
    stored signed before it is sent, resumed after a crash, re-priced when stuck, confirmed at
    ``confirmations`` blocks on the canonical chain.
    """
    submitter = Submitter(store, registry, signer, confirmations=confirmations, timeout=timeout, stuck_after=stuck_after,
                          on_wait=on_wait)
    with store.issuer_lock(issuer_id, what=f"issuer {signer.address}"):
        return _submit_all(store, submitter, issuer_id)


def _submit_all(store: Store, submitter: Submitter, issuer_id: int) -> SubmitReport:
    registry, signer = submitter.registry, submitter.signer
    report = SubmitReport()
    _resume_submitted(store, submitter, issuer_id)
    groups: dict[tuple[int, bytes, int, bool], list[Revocation]] = defaultdict(list)
    for rev in store.revocations(issuer_id, RevocationStatus.PENDING):
        groups[(rev.batch_id, rev.root, rev.reason_code, rev.leaf_index is None)].append(rev)

    for (batch_id, root, reason, whole), revs in groups.items():
        if whole:
            if registry.is_batch_revoked(signer.address, root):  # already there (e.g. revoked from another machine)
                _confirm(store, registry, revs, tx_id=None, block=None)
                continue
            _send(store, submitter, Write(TxKind.REVOKE_BATCH, batch_id, "revokeBatch", (root, reason),
                                          revocation_ids=tuple(r.id for r in revs), crash_prefix="revoke_"), revs)
            report.transactions += 1
            report.batches_revoked += 1
            continue
        ordered = sorted(revs, key=lambda r: r.leaf_index or 0)
        words = to_words(r.leaf_index for r in ordered if r.leaf_index is not None)
        for start in range(0, len(words), WORDS_PER_TX):
            part = dict(words[start : start + WORDS_PER_TX])
            part_revs = [r for r in ordered if (r.leaf_index or 0) >> 8 in part]
            write = Write(TxKind.REVOKE, batch_id, "revoke", (root, list(part.items()), reason),
                          revocation_ids=tuple(r.id for r in part_revs), crash_prefix="revoke_")
            _send(store, submitter, write, part_revs)
            report.transactions += 1
            report.indices += len(part_revs)
    return report


def _send(store: Store, submitter: Submitter, write: Write, revs: Sequence[Revocation]) -> None:
    try:
        settled = submitter.send(write)
    except Dropped:
        settled = submitter.send(write)  # its nonce went to another transaction: once more, fresh
    _finish(store, submitter.registry, settled, revs)


def _finish(store: Store, registry: Registry, settled: Settled, revs: Sequence[Revocation]) -> None:
    receipt = settled.receipt
    if receipt.status != 1:
        store.set_tx_status(settled.tx_id, TxStatus.FAILED, block_number=receipt.block_number)
        _reset(store, revs)
        raise ChainError(f"revocation transaction 0x{settled.tx_hash.hex()} reverted", reason="tx_reverted")
    store.set_tx_status(settled.tx_id, TxStatus.MINED, block_number=receipt.block_number, gas_used=receipt.gas_used)
    _confirm(store, registry, revs, tx_id=settled.tx_id, block=receipt.block_number)


def _resume_submitted(store: Store, submitter: Submitter, issuer_id: int) -> None:
    """Finish revocations whose transaction was stored before a crash (the shared resume loop)."""
    by_tx: dict[int | None, list[Revocation]] = defaultdict(list)
    for rev in store.revocations(issuer_id, RevocationStatus.SUBMITTED):
        by_tx[rev.tx_id].append(rev)
    for tx_id, revs in by_tx.items():
        tx = store.transaction(tx_id) if tx_id is not None else None
        if tx is None:
            _reset(store, revs)
            continue
        # Every stored candidate for this nonce (a re-priced replacement points the revocations at itself).
        candidates = [t for t in store.transactions(tx.batch_id, tx.kind) if t.nonce == tx.nonce and t.sender == tx.sender]
        root, reason = revs[0].root, revs[0].reason_code
        args: tuple[object, ...]
        if tx.kind is TxKind.REVOKE_BATCH:
            fn, args = "revokeBatch", (root, reason)
        else:  # the call it was signed for, rebuilt from the revocations it carries (for re-pricing)
            fn, args = "revoke", (root, to_words(r.leaf_index for r in revs if r.leaf_index is not None), reason)
        write = Write(tx.kind, tx.batch_id, fn, args, revocation_ids=tuple(r.id for r in revs), crash_prefix="revoke_")
        settled = submitter.resume(write, candidates)
        if settled is None:
            _reset(store, revs)  # re-signed below; the registry refuses double revocation
            continue
        try:
            _finish(store, submitter.registry, settled, revs)
        except ChainError as e:
            if e.reason != "tx_reverted":
                raise


def _reset(store: Store, revs: Sequence[Revocation]) -> None:
    store.reset_revocations([r.id for r in revs])


def _confirm(store: Store, registry: Registry, revs: Sequence[Revocation], *, tx_id: int | None, block: int | None) -> None:
    block_time = registry.chain.block_time(block) if block is not None else None
    store.confirm_revocations([r.id for r in revs], tx_id=tx_id, block_number=block, block_time=block_time)
