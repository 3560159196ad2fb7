"""The repository: every read and write of the issuer database goes through :class:`Store`.

Its methods take plain values and return frozen records (``anchor.core.records``); sessions,
queries and ORM rows stay inside ``anchor.store``. The methods live in one module per concept:

* ``engine``       opening the database, units of work, errors
* ``locks``        named advisory locks (PostgreSQL) and run locks (a file lock next to SQLite)
* ``issuers``      issuers and achievements
* ``credentials``  bulk insert-or-skip, locating, reading documents and leaves back
* ``batches``      batches and their trees, lifecycle counts
* ``transactions`` signed transactions, stored before they are broadcast
* ``revocations``  revocation requests and their progress
* ``status_lists`` status indexes (reserved per issuer) and the published status lists
* ``holders``      holders' names and emails: finding, export manifests, renewals, expiry, deliveries

Writes that must be atomic (a batch with its indices and tree; a signed transaction with its
batch's new status) happen in one database transaction each.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from anchor.core.records import Counts, CredentialLocation
from anchor.store.batches import CHUNK, BatchQueries
from anchor.store.credentials import CredentialQueries
from anchor.store.engine import normalize_url, now
from anchor.store.holders import HolderQueries
from anchor.store.issuers import IssuerQueries
from anchor.store.locks import LockSpace, run_lock
from anchor.store.revocations import RevocationQueries
from anchor.store.status_lists import StatusListQueries
from anchor.store.transactions import TransactionQueries

__all__ = ["CHUNK", "Counts", "CredentialLocation", "Store", "normalize_url", "now"]


class Store(IssuerQueries, CredentialQueries, BatchQueries, TransactionQueries, RevocationQueries, StatusListQueries,
            HolderQueries):
    """The issuer database."""

    @contextmanager
    def issuer_lock(self, issuer_id: int, *, what: str | None = None) -> Iterator[None]:
        """Hold the issuer's run lock for the block: one process at a time signs and sends
        transactions for an issuer (anchoring or revoking), so two runs never race for a nonce
        or for the same batch. A second process does not wait: it gets :class:`StoreError`
        with reason ``issuer_busy`` at once (an anchoring run can take many minutes)."""
        with run_lock(self, LockSpace.ISSUER_RUN, issuer_id, what=what or f"issuer {issuer_id}"):
            yield
