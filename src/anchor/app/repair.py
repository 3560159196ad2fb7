"""``anchor reanchor``: put back on chain the batches this database holds as anchored but the
registry's history does not know (a dev chain restarted without its state, a reorg deeper
than the confirmation depth).

A missing batch goes back to ``pending`` and the ordinary :class:`~anchor.app.anchoring.Anchorer`
anchors it again: same root, new transaction. Its credentials keep their leaves and indices, so
only the proofs' transaction and block change; the holders need their badges re-exported.

Collaborators are passed in (store, registry writer, signer, the issuer's row, a reader of the
registry's history); nothing here reads settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from anchor.app.anchoring import Anchorer, BatchOutcome

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
class RepairReport:
    missing: tuple[MissingBatch, ...]  # found missing, before any repair
    outcomes: tuple[BatchOutcome, ...]  # what the anchoring run did (empty on a dry run)
    dry_run: bool

    @property
    def clean(self) -> bool:
        """Every anchored batch of the database was found on chain."""
        return not self.missing


def missing_batches(store: Store, issuer: Issuer, state: RegistryState) -> list[MissingBatch]:
    """The issuer's confirmed batches whose root is absent from the replayed registry ``state``."""
    return [
        MissingBatch(b.id, b.root, b.leaf_count)
        for b in store.batches(issuer.id, statuses=("confirmed",))
        if (issuer.address, b.root) not in state.batches
    ]


def reanchor_missing(
    store: Store,
    registry: Callable[[], Registry],
    signer: Signer,
    issuer: Issuer,
    read_history: Callable[[], RegistryState],
    *,
    confirmations: int,
    timeout: float,
    dry_run: bool = False,
    on_missing: Callable[[tuple[MissingBatch, ...]], None] | None = None,
) -> RepairReport:
    """Find the issuer's batches missing on chain and, unless ``dry_run``, anchor them again.

    ``read_history`` rebuilds the registry's state from its events (e.g.
    ``lambda: auditing.read_history(view)``). ``registry`` gives the registry writer; it is
    called only when a batch must be anchored again, so a dry run or a clean database needs no
    writer. ``on_missing`` hears what was found before the (slow) anchoring starts. The
    anchoring run is the ordinary one: it also settles any batch or credential that was
    pending anyway, and waits for ``confirmations`` (``timeout`` seconds per transaction).

    Raises what :meth:`Anchorer.run` raises: :class:`~anchor.core.errors.ConfigError` when
    the signer is not an active issuer with this profile, chain and store errors.
    """
    missing = tuple(missing_batches(store, issuer, read_history()))
    if missing and on_missing is not None:
        on_missing(missing)
    if not missing or dry_run:
        return RepairReport(missing, (), dry_run)
    for b in missing:
        store.reset_batch(b.batch_id)
    report = Anchorer(store, registry(), signer, issuer, confirmations=confirmations, timeout=timeout).run()
    return RepairReport(missing, tuple(report.outcomes), dry_run)
