"""``anchor repair`` (alias ``reanchor``): bring the chain back to the database's truth, for roots
*and* revocations, after the chain lost writes the database holds as confirmed (a dev chain
restarted without its state, a reorg deeper than the confirmation depth, a node that dropped a
transaction).

A missing batch goes back to ``pending`` and the ordinary :class:`~anchor.app.anchoring.Anchorer`
anchors it again: same root, new transaction. Its credentials keep their leaves and indices, so
only the proofs' transaction and block change; the holders need their badges re-exported.
A confirmed revocation whose bit (or whole-batch mark) the chain does not have goes back to
``pending`` and is submitted again, after the anchors (a revocation needs its batch on chain).

Collaborators are passed in (store, registry writer, signer, the issuer's row, a reader of the
registry's history); nothing here reads settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from anchor.app.anchoring import Anchorer, BatchOutcome
from anchor.core.status import RevocationStatus

if TYPE_CHECKING:
    from anchor.chain.signer import Signer
    from anchor.chain.writer import Registry
    from anchor.core.history import RegistryState
    from anchor.store import Issuer, Store


@dataclass(frozen=True)
class MissingBatch:
    """A batch the database holds as confirmed whose root the chain's history does not have."""

    batch_id: int
    root: bytes
    leaf_count: int


@dataclass(frozen=True)
class MissingRevocation:
    """A revocation the database holds as confirmed that the chain's history does not have."""

    revocation_id: int
    batch_id: int
    root: bytes
    leaf_index: int | None  # None: the whole batch


@dataclass(frozen=True)
class RepairReport:
    missing: tuple[MissingBatch, ...]  # found missing, before any repair
    outcomes: tuple[BatchOutcome, ...]  # what the anchoring run did (empty on a dry run)
    dry_run: bool
    missing_revocations: tuple[MissingRevocation, ...] = ()
    revocation_transactions: int = 0  # sent to put them back

    @property
    def clean(self) -> bool:
        """Every anchored batch and every confirmed revocation of the database was found on chain."""
        return not self.missing and not self.missing_revocations


def missing_batches(store: Store, issuer: Issuer, state: RegistryState) -> list[MissingBatch]:
    """The issuer's confirmed batches whose root is absent from the replayed registry ``state``."""
    return [
        MissingBatch(b.id, b.root, b.leaf_count)
        for b in store.batches(issuer.id, statuses=("confirmed",))
        if (issuer.address, b.root) not in state.batches
    ]


def missing_revocations(store: Store, issuer: Issuer, state: RegistryState) -> list[MissingRevocation]:
    """The issuer's confirmed revocations that the replayed registry ``state`` does not hold."""
    out = []
    for r in store.revocations(issuer.id, RevocationStatus.CONFIRMED):
        batch = state.batches.get((issuer.address, r.root))
        if r.leaf_index is None:
            present = batch is not None and batch.revoked_block is not None
        else:
            bits = state.bitmap.get((issuer.address, r.root, r.leaf_index >> 8), 0)
            present = batch is not None and (bits >> (r.leaf_index & 0xFF)) & 1 == 1
        if not present:
            out.append(MissingRevocation(r.id, r.batch_id, r.root, r.leaf_index))
    return out


def repair(
    store: Store,
    registry: Callable[[], Registry],
    signer: Signer,
    issuer: Issuer,
    read_history: Callable[[], RegistryState],
    *,
    confirmations: int,
    timeout: float,
    dry_run: bool = False,
    on_missing: Callable[[tuple[MissingBatch, ...], tuple[MissingRevocation, ...]], None] | None = None,
) -> RepairReport:
    """Find what the chain lost (batches, revocations) and, unless ``dry_run``, write it again:
    the batches first, then the revocations (they need their batch on chain).

    ``read_history`` rebuilds the registry's state from its events (e.g.
    ``lambda: auditing.read_history(view)``). ``registry`` gives the registry writer; it is
    called only when something must be written again, so a dry run or a clean database needs no
    writer. ``on_missing`` hears what was found before the (slow) writing starts. The runs are the
    ordinary ones: they also settle whatever was pending anyway, and wait for ``confirmations``
    (``timeout`` seconds per transaction). Raises what they raise.
    """
    from anchor.app.revoking import submit_revocations

    state = read_history()
    batches = tuple(missing_batches(store, issuer, state))
    revocations = tuple(missing_revocations(store, issuer, state))
    if (batches or revocations) and on_missing is not None:
        on_missing(batches, revocations)
    if dry_run or not (batches or revocations):
        return RepairReport(batches, (), dry_run, revocations)
    writer = registry()
    with store.issuer_lock(issuer.id, what=f"issuer {issuer.address}"):  # the runs below take it again (it nests)
        for b in batches:
            store.reset_batch(b.batch_id)
        store.reset_revocations([r.revocation_id for r in revocations])
        outcomes: tuple[BatchOutcome, ...] = ()
        if batches:
            outcomes = tuple(Anchorer(store, writer, signer, issuer, confirmations=confirmations, timeout=timeout).run().outcomes)
        sent = submit_revocations(store, writer, signer, issuer.id, confirmations=confirmations, timeout=timeout)
    return RepairReport(batches, outcomes, dry_run, revocations, sent.transactions)
