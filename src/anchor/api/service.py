"""What the public service knows and caches: the trusted registry view and the issuer database."""

from __future__ import annotations

import hashlib
import json
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from anchor.api.caches import ByteLRU, TreeParts, path_json_of
from anchor.app.verifying import Prepared, prepare
from anchor.chain.node import Chain
from anchor.chain.reader import RegistryReader
from anchor.chain.rpc import RetryPolicy
from anchor.core.credential import credential_urn
from anchor.core.errors import ConfigError, NotFound
from anchor.core.history import RegistryState, replay
from anchor.core.proof import ReceiptRenderer
from anchor.core.registry import LogEvent
from anchor.store import CredentialLocation, Store

# Per worker, every cache is bounded by bytes (see anchor.api.caches). Of proof_cache_bytes, this
# share holds tree parts (a batch's upper levels: 2 MiB for 1,000,000 leaves, so 16 such batches);
# the rest holds proofs, each as its sibling hashes (~0.8 KB with its key for a 1,000,000-leaf
# batch, ~40,000 in 32 MiB; the response, ~4.7 KB, is rendered from them per request in ~20 µs).
TREE_SHARE = 1 / 2
RENDERERS = 1024  # batches whose receipt renderer (about 1 KB) is kept
SQLITE_CACHE_KIB = 8 * 1024  # SQLite's page cache per connection of a worker (the store's default is 128 MiB)


def _receipts(loc: CredentialLocation) -> ReceiptRenderer:
    """The renderer of the batch's anchor receipts; the same entries exported badges carry."""
    assert loc.root is not None and loc.tx_hash is not None and loc.block_time is not None
    assert loc.chain_id is not None and loc.registry is not None and loc.leaf_count is not None and loc.block_number is not None
    return ReceiptRenderer(chain_id=loc.chain_id, registry=loc.registry, issuer_address=loc.issuer_address, root=loc.root,
                           leaf_count=loc.leaf_count, tx_hash=loc.tx_hash, block_number=loc.block_number,
                           block_time=loc.block_time)


@dataclass(frozen=True)
class ServiceConfig:
    rpc_url: str
    registry: str
    database_url: str | None
    confirmations: int = 1
    head_ttl: float = 0.5  # seconds; keep below the chain's block time
    rpc_urls: tuple[str, ...] = ()  # fallbacks after rpc_url
    chain_id: int | None = None  # the chain every RPC URL must serve (None: the first one's)
    finality: str = "latest"  # or "safe" / "finalized": what counts as confirmed
    rpc_timeout: float = 5.0  # seconds per RPC answer
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # failover, back-off and their time budget
    max_body: int = 256 * 1024  # bytes of request body
    proof_cache_bytes: int = 64 * 1024 * 1024  # rendered proofs and tree parts, per worker
    # Prepared (parsed and checked) documents, per worker, kept pickled: a bytes object each, which
    # the garbage collector never traverses (20,000 live ones held ~2 million tracked objects and
    # made full collections pause for up to 268 ms).
    prepared_cache_bytes: int = 16 * 1024 * 1024


class Service:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        chain = Chain([config.rpc_url, *config.rpc_urls], timeout=config.rpc_timeout, chain_id=config.chain_id,
                      finality=config.finality, retry=config.retry)
        self.view = RegistryReader(chain, config.registry, head_ttl=config.head_ttl)
        self._store: Store | None = None
        self._lock = threading.Lock()
        tree_budget = int(config.proof_cache_bytes * TREE_SHARE)
        self._trees = TreeParts(tree_budget, fetch_levels=lambda b, first: self.store.levels(b, first),
                                fetch_slice=lambda b, level, start, count: self.store.tree_slice(b, level, start, count))
        # credential id → (credential id, batch id, leaf index, leaf count, sibling hashes)
        self._proofs: ByteLRU[str, tuple[str, int, int, int, bytes]] = ByteLRU(config.proof_cache_bytes - tree_budget)
        self._prepared: ByteLRU[bytes, bytes] = ByteLRU(config.prepared_cache_bytes)
        self._renderers: ByteLRU[int, ReceiptRenderer] = ByteLRU(RENDERERS * 1024)  # a few hundred bytes each
        self._history_lock = threading.Lock()
        self._events: list[LogEvent] = []
        self._state = RegistryState()
        self._synced = -1  # last block whose events are in _events
        self._reorgs_seen = 0  # the reader's reorg count when _events was last rebuilt

    def history(self, *, fresh: bool = False) -> tuple[list[LogEvent], RegistryState]:
        """The registry's events so far and the state they fold into, synced incrementally:
        only blocks after the last synced one are read, at most once per head refresh (``fresh``:
        refresh the head now, e.g. before answering "not found")."""
        head = self.view.head(fresh=fresh)
        with self._history_lock:
            reorgs = self.view.cache.reorgs if self.view.cache is not None else 0
            if reorgs != self._reorgs_seen:  # blocks we replayed left the canonical chain: start over
                self._events, self._state, self._synced, self._reorgs_seen = [], RegistryState(), -1, reorgs
            if head > self._synced:
                new = list(self.view.logs(from_block=self._synced + 1, to_block=head))
                self._events.extend(new)
                replay(new, self._state)
                self._synced = head
            return self._events, self._state

    @property
    def store(self) -> Store:
        if self.config.database_url is None:
            raise ConfigError("this service has no issuer database configured")
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = Store.open(self.config.database_url, create=False, sqlite_cache_kib=SQLITE_CACHE_KIB)
        return self._store

    def locate(self, raw_id: str) -> CredentialLocation:
        cid = raw_id if raw_id.startswith("urn:uuid:") and len(raw_id) == 45 else credential_urn(raw_id)
        loc = self.store.locate(cid)
        if loc is None:
            raise NotFound(f"no credential {cid} in this issuer's database")
        return loc

    def prepared(self, body: bytes, parse: Callable[[bytes], dict[str, Any]] | Callable[[bytes], Prepared]) -> Prepared:
        """The chain-independent part of verifying ``body``, cached by the body's SHA-256: the
        same badge verified again (a badge shown on a profile page is checked by every visitor)
        skips parsing, schema, canonicalization, signature and proof math; its chain checks still
        run. ``parse`` gives the credential object (JSON bodies) or the prepared badge (other forms)."""
        # The parser is part of the key: the same bytes sent as JSON and as a JWT or image are
        # different requests (one may be refused, the other read).
        digest = hashlib.sha256(parse.__qualname__.encode() + b"\0" + body).digest()
        hit = self._prepared.get(digest)
        if hit is not None:
            return pickle.loads(hit)  # type: ignore[no-any-return]  # our own bytes, never a client's
        parsed = parse(body)
        prepared = parsed if isinstance(parsed, Prepared) else prepare(parsed)
        frozen = pickle.dumps(prepared, protocol=pickle.HIGHEST_PROTOCOL)
        self._prepared.put(digest, frozen, len(frozen) + len(digest))
        return prepared

    def proof_json(self, raw_id: str) -> bytes:
        """The proof response body: a confirmed credential's proof never changes, so its sibling
        hashes are kept (not the ~4.7 KB body: five times as many proofs fit) and the body is
        rendered from them."""
        entry = self._proofs.get(raw_id, count_miss=False)  # the common spelling, before any normalizing
        if entry is None:
            cid = credential_urn(raw_id)
            entry = self._proofs.get(cid)
            if entry is None:
                loc = self.locate(cid)
                if loc.batch_status != "confirmed" or loc.leaf_index is None or loc.batch_id is None:
                    raise NotFound(f"credential {loc.credential_id} is not anchored with enough confirmations yet; "
                                   "its proof is released once it is")
                self._renderer(loc)
                leaf_count = loc.leaf_count or 0
                entry = (loc.credential_id, loc.batch_id, loc.leaf_index, leaf_count,
                         self._trees.siblings(loc.batch_id, loc.leaf_index, leaf_count))
                self._proofs.put(cid, entry, len(cid) + len(entry[0]) + len(entry[4]) + 64)
        credential_id, batch_id, index, leaf_count, siblings = entry
        receipts = self._renderers.get(batch_id)
        if receipts is None:  # rare: more batches served than renderers kept
            receipts = self._renderer(self.locate(credential_id))
        path = path_json_of(siblings, index, leaf_count)
        return b'{"credentialId":"%s","proof":%s,"receipt":%s}' % (
            credential_id.encode(), receipts.render(index, path), receipts.receipt_text(index, path))

    def _renderer(self, loc: CredentialLocation) -> ReceiptRenderer:
        assert loc.batch_id is not None
        receipts = self._renderers.get(loc.batch_id)
        if receipts is None:
            receipts = _receipts(loc)
            self._renderers.put(loc.batch_id, receipts, 1024 - 160)
        return receipts

    def cache_stats(self) -> dict[str, dict[str, int]]:
        """Per cache of this worker: hits, misses, bytes and entries (and budget, evictions)."""
        return {"proofs": self._proofs.stats(), "trees": self._trees.cache.stats(), "prepared": self._prepared.stats()}

    def proof(self, raw_id: str) -> dict[str, Any]:
        return json.loads(self.proof_json(raw_id))  # type: ignore[no-any-return]

    def status(self, raw_id: str, now: int) -> dict[str, Any]:
        from anchor.app.status import credential_status

        return credential_status(self.locate(raw_id), self.view, now=now, confirmations=self.config.confirmations)
