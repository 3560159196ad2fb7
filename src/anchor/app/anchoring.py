"""``anchor anchor``: batch pending credentials and anchor each batch's root exactly once.

A batch moves ``pending`` (tree built, root known) → ``submitted`` (signed transaction stored
with its hash and nonce, *then* broadcast) → ``confirmed`` (mined with the configured number of
confirmations; only now are its proofs released). The sending, resuming and re-pricing are the
one loop of :mod:`anchor.app.submission`, shared with revocations. Every step is committed before
the next side effect, so a crash at any point (``kill -9``) leaves a state the next run resumes from:

* ``pending`` — if the root is already on chain (an earlier run got that far), it is adopted;
  otherwise a transaction is signed and stored, then sent.
* ``submitted`` — the stored transaction is looked up: mined → confirmed; still pending → waited
  for; unknown to the node → the same signed bytes are re-broadcast (same hash, same nonce, so it
  can never anchor twice); its nonce taken by something else → the batch goes back to pending.

Before every send the registry is asked whether this issuer's batch ``(issuer, root)`` is already
anchored, so a batch that is on chain is recognized rather than retried, and the registry itself
refuses a second anchor. Another issuer anchoring the same root owns a different batch and
changes nothing here (invariant 9).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from anchor.app.faults import crashpoint
from anchor.app.submission import Dropped, Settled, Submitter, Write
from anchor.chain.node import FeeCapExceeded
from anchor.chain.signer import Signer
from anchor.chain.writer import Registry
from anchor.core.errors import ChainError, ConfigError, ContractRevert
from anchor.core.registry import BatchInfo
from anchor.core.status import BatchStatus, TxKind, TxStatus
from anchor.store import Batch, Issuer, Store

DEFAULT_MAX_BATCH = 1_000_000


@dataclass(frozen=True)
class BatchOutcome:
    batch_id: int
    root: bytes
    leaf_count: int
    tx_hash: bytes
    block_number: int
    how: str  # anchored | resumed | adopted


@dataclass(frozen=True)
class BatchFailure:
    """A batch that could not be anchored in this run; the others went on without it."""

    batch_id: int
    root: bytes
    reason: str
    message: str


@dataclass
class AnchorReport:
    outcomes: list[BatchOutcome] = field(default_factory=list)
    failures: list[BatchFailure] = field(default_factory=list)

    @property
    def credentials(self) -> int:
        return sum(o.leaf_count for o in self.outcomes)


# A batch that fails for one of these reasons is set aside and the run goes on with the others; a
# chain that cannot be reached or does not move (timeouts) would fail every batch alike, so those stop the run.
_BATCH_OWN_FAILURES = frozenset({"tx_reverted", "root_conflict", "event_missing"})


@dataclass
class Anchorer:
    store: Store
    registry: Registry
    signer: Signer
    issuer: Issuer
    confirmations: int = 1
    timeout: float = 300.0
    on_batch: Callable[[BatchOutcome], None] | None = None
    stuck_after: float | None = None  # seconds without inclusion before a transaction is re-priced
    on_wait: Callable[[int, int], None] | None = None  # (confirmations so far, wanted) while waiting

    def check_issuer(self) -> None:
        info = self.registry.issuer_info(self.signer.address)
        if not info.active:
            state = "was removed from" if info.id else "is not an issuer on"
            raise ConfigError(f"{self.signer.address} {state} registry {self.registry.address}; the admin must add it")
        if info.profile_uri != self.issuer.profile_uri:
            raise ConfigError(
                f"on-chain profile of {self.signer.address} is {info.profile_uri!r} but this database says "
                f"{self.issuer.profile_uri!r}; credentials would not verify"
            )

    def run(self, *, max_batch: int = DEFAULT_MAX_BATCH) -> AnchorReport:
        """Resume unfinished batches, then batch and anchor everything pending.

        Holds the issuer's run lock throughout: two processes anchoring for one issuer would race
        for nonces and for the same pending batch. A second one does not wait; it raises
        :class:`~anchor.core.errors.StoreError` with reason ``issuer_busy`` and changes nothing.
        A batch that fails on its own (reverted, a conflicting record) is reported in
        ``failures`` and never stops the others.
        """
        if max_batch < 1:
            raise ConfigError("max batch size must be at least 1")
        self.check_issuer()
        report = AnchorReport()
        self._submitter = Submitter(self.store, self.registry, self.signer, confirmations=self.confirmations,
                                    timeout=self.timeout, stuck_after=self.stuck_after, on_wait=self.on_wait)
        with self.store.issuer_lock(self.issuer.id, what=f"issuer {self.issuer.address}"):
            for unfinished in self.store.batches(self.issuer.id, statuses=(BatchStatus.PENDING, BatchStatus.SUBMITTED)):
                self._one(unfinished, report)
            while self._fees_allow_a_batch() and (batch := self.store.create_batch(self.issuer.id, max_batch)) is not None:
                crashpoint("after_batch")
                self._one(batch, report)
        return report

    def _fees_allow_a_batch(self) -> bool:
        """Under a fee cap, the market is checked before a new batch (and its Merkle tree, up to a
        million leaves) is built: above the cap, :class:`FeeCapExceeded` stops the run with the
        credentials still unbatched, instead of a batch built only to wait."""
        chain = self.registry.chain
        if chain.fee_caps.max_fee is not None and self.store.counts(self.issuer.id).pending:
            try:
                chain.fees()
            except FeeCapExceeded as e:
                raise FeeCapExceeded(f"anchoring refused: {e.message}") from None
        return True

    # ------------------------------------------------------------------ one batch

    def _one(self, batch: Batch, report: AnchorReport) -> None:
        try:
            outcome = self._settle(batch)
        except ChainError as e:
            if e.reason not in _BATCH_OWN_FAILURES:
                raise
            report.failures.append(BatchFailure(batch.id, batch.root, e.reason, e.message))
            return
        report.outcomes.append(outcome)
        if self.on_batch:
            self.on_batch(outcome)

    def _write(self, batch: Batch) -> Write:
        return Write(TxKind.ANCHOR, batch.id, "anchor", (batch.root, batch.leaf_count), batch_status=BatchStatus.SUBMITTED)

    def _settle(self, batch: Batch) -> BatchOutcome:
        info = self.registry.batch_info(self.signer.address, batch.root)
        if info.anchored:
            return self._adopt(batch, info)
        if batch.status is BatchStatus.SUBMITTED:
            settled = self._submitter.resume(self._write(batch), self.store.transactions(batch.id, TxKind.ANCHOR))
            if settled is not None:
                return self._record(batch, settled, how="resumed")
            self.store.reset_batch(batch.id)  # none of its transactions can land: sign it again
        try:
            settled = self._submitter.send(self._write(batch))
        except ContractRevert as e:
            if e.reason == "root_already_anchored":  # anchored between our read and our estimate
                return self._adopt(batch, self.registry.batch_info(self.signer.address, batch.root))
            raise
        except Dropped:  # its nonce went to another transaction: unless the root is ours on chain, once more, fresh
            info = self.registry.batch_info(self.signer.address, batch.root)
            if info.anchored:
                return self._adopt(batch, info)
            self.store.reset_batch(batch.id)
            settled = self._submitter.send(self._write(batch))
        return self._record(batch, settled, how="anchored")

    def _record(self, batch: Batch, settled: Settled, *, how: str) -> BatchOutcome:
        receipt = settled.receipt
        if receipt.status != 1:
            self.store.set_tx_status(settled.tx_id, TxStatus.FAILED, block_number=receipt.block_number, gas_used=receipt.gas_used)
            info = self.registry.batch_info(self.signer.address, batch.root)
            if info.anchored:  # another transaction of ours won the race
                return self._adopt(batch, info)
            self.store.reset_batch(batch.id)
            raise ChainError(f"anchoring transaction 0x{settled.tx_hash.hex()} of batch {batch.id} reverted", reason="tx_reverted")
        self.store.set_tx_status(settled.tx_id, TxStatus.MINED, block_number=receipt.block_number, gas_used=receipt.gas_used)
        info = self.registry.batch_info(self.signer.address, batch.root)
        self._check_ours(batch, info)
        self.store.confirm_batch(
            batch.id, chain_id=self.registry.chain.chain_id, registry=self.registry.address, tx_hash=settled.tx_hash,
            block_number=info.anchored_block, block_time=info.anchored_at,
        )
        crashpoint("after_commit")
        return BatchOutcome(batch.id, batch.root, batch.leaf_count, settled.tx_hash, info.anchored_block, how)

    def _adopt(self, batch: Batch, info: BatchInfo) -> BatchOutcome:
        """The root is on chain already: find the anchoring transaction and confirm the batch."""
        self._check_ours(batch, info)
        chain = self.registry.chain
        topic = self.registry.event_topic("BatchAnchored")
        events = list(
            self.registry.events(
                from_block=info.anchored_block, to_block=info.anchored_block, topics=["0x" + topic.hex(), "0x" + batch.root.hex(), _topic_of(self.signer.address)]
            )
        )
        if not events:
            raise ChainError(f"root of batch {batch.id} is anchored but its BatchAnchored event is missing", reason="event_missing")
        tx_hash = events[0].tx_hash
        chain.wait_for_receipt(tx_hash, confirmations=self.confirmations, timeout=self.timeout)
        for tx in self.store.transactions(batch.id, TxKind.ANCHOR):
            if tx.tx_hash == tx_hash:
                self.store.set_tx_status(tx.id, TxStatus.MINED, block_number=info.anchored_block)
        self.store.confirm_batch(
            batch.id, chain_id=chain.chain_id, registry=self.registry.address, tx_hash=tx_hash,
            block_number=info.anchored_block, block_time=info.anchored_at,
        )
        return BatchOutcome(batch.id, batch.root, batch.leaf_count, tx_hash, info.anchored_block, "adopted")

    def _check_ours(self, batch: Batch, info: BatchInfo) -> None:
        if info.issuer != self.signer.address or info.leaf_count != batch.leaf_count:
            raise ChainError(
                f"root 0x{batch.root.hex()} of batch {batch.id} is anchored on chain by {info.issuer} with "
                f"{info.leaf_count} leaves, not by {self.signer.address} with {batch.leaf_count}",
                reason="root_conflict",
            )


def _topic_of(address: str) -> str:
    """An address as a 32-byte log topic."""
    return "0x" + "00" * 12 + address[2:].lower()
