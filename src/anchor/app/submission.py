"""One crash-safe way to put a write on chain, shared by anchors and revocations.

A write (anchor a batch's root; revoke indices of a batch; revoke a whole batch) goes:

1. **signed and stored**: the signed transaction, its hash and nonce are committed with the state
   change that goes with it (batch → ``submitted``, revocations → ``submitted``) *before* any
   byte leaves the machine;
2. **broadcast**;
3. **settled**: mined, and final on the canonical chain: ``confirmations`` blocks deep, or at or
   below the node's ``safe``/``finalized`` block when the chain's finality says so (the block that
   holds it is checked by hash, so a receipt from a block a reorg removed is waited out).

A crash between any two steps is resumed from the stored rows (:meth:`Submitter.resume`): a
mined candidate is waited for; a candidate the node does not know is broadcast again with the same
bytes (same hash and nonce, so it can land at most once); candidates whose nonce went to another
transaction are marked dropped and the caller signs the write again.

**Stuck transactions** (``stuck_after`` seconds without inclusion, e.g. a base fee that rose
under them on a public chain) are re-priced: the same call is signed again with the *same nonce*
and both fee fields raised at least 12.5% (an EIP-1559 replacement) and stored as another
candidate; whichever candidate is mined wins, the others are marked dropped. A stored
transaction's fee cap is read back from its own signed bytes, so nothing extra is stored. A
replacement never goes above the chain's fee caps (``max_fee_gwei``, ``max_priority_fee_gwei``):
at the cap, the stored candidates wait at the price they have until they land or time out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anchor.app.faults import crashpoint
from anchor.chain.node import FeeCapExceeded, Fees, Receipt, gwei
from anchor.chain.rpc import RpcError
from anchor.chain.writer import Registry, fees_of
from anchor.core.errors import ChainError
from anchor.core.records import Transaction
from anchor.core.status import BatchStatus, TxKind, TxStatus
from anchor.store import Store

if TYPE_CHECKING:
    from anchor.chain.signer import Signer


@dataclass(frozen=True)
class Write:
    """One call to the registry that the issuer database tracks."""

    kind: TxKind
    batch_id: int
    fn: str  # registry function: anchor | revoke | revokeBatch
    args: tuple[Any, ...]
    batch_status: BatchStatus | None = None  # the batch's state once its transaction is stored
    revocation_ids: tuple[int, ...] = ()  # revocations the transaction carries
    crash_prefix: str = ""  # crash point names: "" for anchors, "revoke_" for revocations


@dataclass(frozen=True)
class Settled:
    tx_id: int
    tx_hash: bytes
    receipt: Receipt


DROPPED_AFTER = 2.0  # seconds a used nonce must stay without a receipt of ours before it counts as taken


class Dropped(ChainError):
    """Every stored candidate of a write lost its nonce to another transaction: sign it again."""

    reason = "tx_dropped"


@dataclass
class Submitter:
    """Sends :class:`Write` s for one signer; collaborators passed in, no settings read here."""

    store: Store
    registry: Registry
    signer: Signer
    confirmations: int = 1
    timeout: float = 300.0  # seconds to wait for a write to settle
    stuck_after: float | None = None  # seconds without inclusion before re-pricing; None: never
    poll: float = 0.05  # seconds between receipt checks
    on_wait: Callable[[int, int], None] | None = None  # told (confirmations so far, wanted) on change
    repriced: int = 0  # how many replacements were sent (for reports and tests)
    held_by_cap: str | None = None  # why the last re-pricing was not sent (fee caps), for the timeout message

    @property
    def chain(self) -> Any:
        return self.registry.chain

    def send(self, write: Write) -> Settled:
        """Sign and store, broadcast, then settle ``write``."""
        prepared = self.registry.prepare(self.signer, write.fn, *write.args)
        tx_id = self.store.record_signed_tx(write.batch_id, write.kind, self.chain.chain_id, prepared.sender, prepared.nonce,
                                           prepared.tx_hash, prepared.raw, batch_status=write.batch_status,
                                           revocation_ids=write.revocation_ids)
        crashpoint(write.crash_prefix + "before_send")
        self.chain.broadcast(prepared.raw)
        crashpoint(write.crash_prefix + "after_send")
        candidate = self.store.transaction(tx_id)
        assert candidate is not None
        return self.settle(write, [candidate])

    def resume(self, write: Write, stored: Sequence[Transaction]) -> Settled | None:
        """Finish ``write`` from the transactions stored for it before a crash; None when none of
        them can land any more (the caller signs the write again)."""
        live = [t for t in stored if t.status == TxStatus.SIGNED]
        if not live:
            return None
        if not any(self.chain.receipt(t.tx_hash) for t in live):
            for t in list(live):
                if self.chain.transaction_known(t.tx_hash):
                    continue
                try:
                    self.chain.broadcast(t.raw)  # same bytes, same hash: it can only ever land once
                except RpcError as e:
                    if "nonce" not in e.rpc_message.lower():
                        raise
                    self.store.set_tx_status(t.id, TxStatus.DROPPED)  # its nonce went to another transaction
                    live.remove(t)
        if not live:
            return None
        try:
            return self.settle(write, live)
        except Dropped:
            return None

    def settle(self, write: Write, candidates: list[Transaction]) -> Settled:
        """Wait until one of ``candidates`` (all with one nonce) is ``confirmations`` deep on the
        canonical chain; re-price when stuck. A reverted one is returned too (status 0): the caller
        decides what a revert means."""
        deadline = time.monotonic() + self.timeout
        since = checked = time.monotonic()
        gone_since: float | None = None  # when the nonce was first seen used with none of ours mined
        shown = -1
        nonce = candidates[0].nonce
        while True:
            mined = None
            for c in candidates:
                r = self.chain.receipt(c.tx_hash)
                if r is not None:
                    mined = (c, r)
                    break
            if mined is not None:
                c, r = mined
                final, depth = self.chain.is_final(r.block_number, self.confirmations)
                if depth != shown and self.on_wait is not None:
                    self.on_wait(max(depth, 0), self.confirmations)
                shown = depth
                if final and self.chain.block(r.block_number).hash == r.block_hash:
                    crashpoint(write.crash_prefix + "after_receipt")
                    for other in candidates:
                        if other.id != c.id:
                            self.store.set_tx_status(other.id, TxStatus.DROPPED)
                    return Settled(c.id, c.tx_hash, r)
            else:
                if shown != 0 and self.on_wait is not None:
                    self.on_wait(0, self.confirmations)
                shown = 0
                if self.chain.nonce_of(self.signer.address, "latest") > nonce:
                    # The nonce is used and none of ours holds it: another transaction took it. A node
                    # may index a receipt a moment after the state moved, so this must hold for
                    # DROPPED_AFTER seconds of polls before the candidates are given up.
                    gone_since = gone_since if gone_since is not None else time.monotonic()
                    if time.monotonic() - gone_since >= DROPPED_AFTER and not any(self.chain.receipt(c.tx_hash) for c in candidates):
                        for c in candidates:
                            self.store.set_tx_status(c.id, TxStatus.DROPPED)
                        raise Dropped(f"nonce {nonce} of {self.signer.address} went to another transaction")
                elif self.stuck_after is not None and time.monotonic() - since >= self.stuck_after:
                    replacement = self._reprice(write, candidates[-1])
                    if replacement is not None:
                        candidates.append(replacement)
                    since = time.monotonic()
                elif time.monotonic() - checked >= 1.0:
                    checked = time.monotonic()
                    for c in candidates:  # dropped from the node's pool (restart, reorg): the stored bytes again
                        if not self.chain.transaction_known(c.tx_hash):
                            self._rebroadcast(c)
            if time.monotonic() > deadline:
                state = self.chain.not_final(mined is not None, shown, self.confirmations)
                held = f" ({self.held_by_cap})" if self.held_by_cap and mined is None else ""
                raise ChainError(f"{write.fn} transaction 0x{candidates[-1].tx_hash.hex()} {state} after {self.timeout:.0f} s{held}",
                                 reason="tx_timeout")
            time.sleep(self.poll)

    def _rebroadcast(self, tx: Transaction) -> None:
        """Best effort: a node that refuses the stored bytes (nonce used, priced under the base fee)
        is answered by the nonce check and the re-pricing of the next rounds."""
        try:
            self.chain.broadcast(tx.raw)
        except RpcError:
            pass

    def _reprice(self, write: Write, last: Transaction) -> Transaction | None:
        """The same call, same nonce, fees raised: an EIP-1559 replacement, stored, then sent.
        None (and :attr:`held_by_cap` says why) when the replacement would go above the chain's
        fee caps: the stored candidates keep waiting at the price they have."""
        try:
            market = self.chain.fees()
        except FeeCapExceeded as e:
            self.held_by_cap = f"not re-priced: {e.message}"
            return None
        fees: Fees = fees_of(last.raw).bumped(market)
        caps = self.chain.fee_caps
        if not caps.allows(fees):
            self.held_by_cap = (f"not re-priced: a replacement needs max fee {gwei(fees.max_fee)} gwei and tip "
                                f"{gwei(fees.max_priority_fee)} gwei, over max_fee_gwei / max_priority_fee_gwei")
            return None
        self.held_by_cap = None
        prepared = self.registry.prepare(self.signer, write.fn, *write.args, nonce=last.nonce, fees=fees)
        tx_id = self.store.record_signed_tx(write.batch_id, write.kind, self.chain.chain_id, prepared.sender, prepared.nonce,
                                           prepared.tx_hash, prepared.raw, revocation_ids=write.revocation_ids)
        self.chain.broadcast(prepared.raw)
        self.repriced += 1
        replacement = self.store.transaction(tx_id)
        assert replacement is not None
        return replacement
