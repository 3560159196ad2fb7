"""The verifier's reads of one ``CredentialRegistry``: cached, reorg-aware (views and events: :mod:`anchor.chain.views`).

Every read is raw JSON-RPC through :class:`~anchor.chain.rpc.JsonRpc` and the one ABI table, no
web3 on this path. Verification needs a handful of reads per credential, sent as one batch.

With ``head_ttl > 0`` (the service) it caches (see :mod:`anchor.chain.cache`): the chain id and the
contract check forever; batch records, revocation words and issuer records until the chain says
they changed. The head is re-read at most every ``head_ttl`` seconds, in one round trip with the
block the cache last synced to: if that block's hash changed, a reorg dropped blocks the cache
learned from and it starts over; otherwise the registry's events in the *new* blocks (if any)
drop exactly the records they touch. So hot endpoints make no RPC call per request, and a
revocation is visible as soon as its block is seen. With ``head_ttl == 0`` (the offline verifier)
nothing is cached and each credential costs one batched round trip.

Views are read at ``latest`` so a fact younger than the cached head is seen at once, but a fact
is cached only when a reorg or an event is sure to drop it later: when it is the same at the
synced block (whose hash every sync checks) as at ``latest``, and no sync ran while it was read.
Otherwise it is fresh and read again until a head refresh covers it (see ``_stable``).
Signing-key bindings (:meth:`RegistryReader.signing_key_bound`) follow the same rule without the
second read, since a binding carries its block: "bound at block b" is kept once ``b`` is at or
below the synced block; "not bound" is kept if no sync ran while it was read, and is dropped by
the next sync that sees a ``SigningKeyBound`` of that key, so it lasts at most ``head_ttl`` after
the binding is mined.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from anchor.chain.artifact import Artifact
from anchor.chain.cache import ChainCache, Synced
from anchor.chain.node import Chain
from anchor.chain.rpc import RpcError
from anchor.chain.views import RegistryViews, bytes_of, int_of
from anchor.core.registry import BatchInfo, IssuerInfo, RevocationRecord

_MUTATING = ("IssuerAdded", "IssuerRemoved", "BatchAnchored", "CredentialsRevoked", "BatchRevoked", "SigningKeyBound")

Read = tuple[int, BatchInfo, IssuerInfo | None, int]  # head, batch, its issuer's record, revocation word


class RegistryReader(RegistryViews):
    """The registry's views and events, plus the verifier's reads: cached when ``head_ttl > 0``."""

    def __init__(self, chain: Chain, address: str, *, head_ttl: float = 0.0, artifact: Artifact | None = None) -> None:
        super().__init__(chain, address, artifact=artifact)
        self.head_ttl = head_ttl
        self.cache = ChainCache() if head_ttl > 0 else None
        self._lock = threading.Lock()
        self._head: tuple[float, int] | None = None
        self._mutating = ["0x" + self.abi.topic(n).hex() for n in _MUTATING]

    @classmethod
    def connect(cls, rpc_url: str, address: str, *, timeout: float = 5.0, head_ttl: float = 0.0) -> RegistryReader:
        return cls(Chain(rpc_url, timeout=timeout), address, head_ttl=head_ttl)

    # ------------------------------------------------------------------ the head, reorgs, the cache

    @property
    def caching(self) -> bool:
        return self.cache is not None

    def head(self, *, fresh: bool = False) -> int:
        """The latest block number. When caching, re-read at most every ``head_ttl`` seconds
        (``fresh``: now), with a reorg check and the registry's events of the new blocks applied
        to the cache."""
        cached = self._head
        if not fresh and cached is not None and time.monotonic() - cached[0] < self.head_ttl:
            return cached[1]
        if self.cache is None:
            number = self.chain.block_number()
            self._head = (time.monotonic(), number)
            return number
        with self._lock:  # one refresh at a time; the others wait and reuse it
            cached = self._head
            if not fresh and cached is not None and time.monotonic() - cached[0] < self.head_ttl:
                return cached[1]
            number = self._sync(self.cache)
            self._head = (time.monotonic(), number)
            return number

    def _sync(self, cache: ChainCache) -> int:
        synced = cache.synced
        calls: list[tuple[str, list[Any]]] = [("eth_getBlockByNumber", ["latest", False])]
        if synced is not None:
            calls.append(("eth_getBlockByNumber", [hex(synced.number), False]))
        answers = self.rpc.batch(calls)
        latest = answers[0]
        number, block_hash = int_of(latest["number"]), bytes_of(latest["hash"])
        if synced is not None:
            then = answers[1]
            if then is None or bytes_of(then["hash"]) != synced.hash:
                cache.reorged()  # the block we synced to is no longer canonical
                synced = None
        if synced is None:
            cache.clear()
        elif number > synced.number:
            flt = {"address": self.address, "topics": [self._mutating]}
            for page in self.rpc.get_logs(flt, from_block=synced.number + 1, to_block=number):
                for log in page:
                    self._invalidate(cache, log)
        elif number < synced.number:  # the chain got shorter: a reorg or a node restarted
            cache.reorged()
        cache.synced = Synced(number, block_hash)
        return number

    def _invalidate(self, cache: ChainCache, log: dict[str, Any]) -> None:
        topics = [bytes_of(t) for t in log.get("topics", [])]
        decoded = self.abi.decode_event(topics, bytes_of(log.get("data", "0x")))
        if decoded is None:
            return
        name, args = decoded
        if name in ("IssuerAdded", "IssuerRemoved"):
            cache.forget_issuer(args["issuer"])
        elif name == "SigningKeyBound":
            cache.forget_signing_key((args["issuer"], bytes(args["publicKey"])))
        else:  # BatchAnchored, CredentialsRevoked, BatchRevoked: keyed by (issuer, root)
            cache.forget_batch((args["issuer"], bytes(args["root"])))

    def read(self, issuer: str, root: bytes, index: int) -> Read:
        """(head, batch ``(issuer, root)``, that issuer's record, revocation word holding ``index``).

        Without caching, one batched round trip. With caching, only what is not cached is read, in
        one round trip.
        """
        head, batch, info, bits, _ = self._read(issuer, root, index, None)
        return head, batch, info, bits

    def read_with_key(self, issuer: str, root: bytes, index: int, public_key: bytes) -> tuple[int, BatchInfo, IssuerInfo | None, int, int | None]:
        """:meth:`read`, plus :meth:`signing_key_bound` of ``public_key`` for the same issuer, in
        the same round trip (the verifier's one read for a signed credential). The head returned
        is at least the binding's block: the state read includes it."""
        return self._read(issuer, root, index, self._signing_key(public_key))

    def _read(self, issuer: str, root: bytes, index: int,
              public_key: bytes | None) -> tuple[int, BatchInfo, IssuerInfo | None, int, int | None]:
        try:
            head, batch, info, bits, bound = self._read_once(issuer, root, index, public_key)
        except RpcError as e:  # an earlier release's registry, not recognised yet: ask it its way
            if not self._recognised_now(e):
                raise
            head, batch, info, bits, bound = self._read_once(issuer, root, index, public_key)
        # Revocation bits of a batch that is not this issuer's (the first contract keys them by
        # root alone) mean nothing for it.
        return head, batch, info, bits if batch.anchored else 0, bound

    def _read_once(self, issuer: str, root: bytes, index: int,
                   public_key: bytes | None) -> tuple[int, BatchInfo, IssuerInfo | None, int, int | None]:
        who = self._address(issuer)
        key, word = (who, root), index >> 8
        if public_key is not None and self.keyless:
            public_key = None  # a registry from before signing keys: the key was never bound (None below)
        signing = (who, public_key) if public_key is not None else None
        cache = self.cache
        if cache is None:
            return self._read_uncached(who, root, word, public_key)
        head = self.head()
        with self._lock:
            batch, bits, info = cache.batch(key), cache.word(key, word), cache.issuers.get(who)
            bound_cached = cache.signing_key(signing) if signing is not None else 0
            before = cache.synced
        # Facts missing from the cache are read at ``latest`` (fresh) and at the synced block (see
        # :meth:`_stable`), all in one round trip.
        calls = []
        if batch is None:
            calls += self._paired(before, "batchInfo", who, root)
        if bits is None:
            calls += self._paired(before, "revocationWord", who, root, word)
        if info is None:
            calls += self._paired(before, "issuerInfo", who)
        if bound_cached is None:
            calls.append(self._call("signingKeyBlock", who, public_key))
        if calls:
            results = iter(self.rpc.batch(calls))
            with self._lock:
                if batch is None:
                    raw, stable = self._stable(cache, before, results)
                    batch = self._batch_from(who, root, self._decode("batchInfo", raw))
                    if stable:
                        cache.put_batch(batch)
                if bits is None:
                    raw, stable = self._stable(cache, before, results)
                    bits = int(self._decode("revocationWord", raw)[0])
                    if stable:
                        cache.put_word(key, word, bits)
                if info is None:
                    raw, stable = self._stable(cache, before, results)
                    info = self._issuer_from(who, self._decode("issuerInfo", raw))
                    if stable:
                        cache.issuers.put(who, info)
                if bound_cached is None:
                    assert signing is not None
                    bound_cached = int(self._decode("signingKeyBlock", next(results))[0])
                    self._remember_binding(cache, signing, bound_cached, before)
        assert batch is not None and bits is not None and bound_cached is not None
        # The batch was read at a block no older than the one it was anchored in: a head cached a
        # moment before that must not make a fresh anchor look unconfirmed (depth 0 or less). The
        # same holds for a fresh key binding.
        seen = max(head, batch.anchored_block, bound_cached)
        return seen, batch, info if batch.anchored else None, bits, (bound_cached or None) if signing is not None else None

    def _paired(self, before: Synced | None, fn: str, *args: Any) -> list[tuple[str, list[Any]]]:
        """The view call at ``latest`` and, when the cache is synced, at the synced block too."""
        calls = [self._call(fn, *args)]
        if before is not None:
            calls.append(self._call(fn, *args, block=before.number))
        return calls

    @staticmethod
    def _stable(cache: ChainCache, before: Synced | None, results: Iterator[Any]) -> tuple[Any, bool]:
        """(the answer at ``latest``, whether it may be cached) for a pair from :meth:`_paired`.

        A fact read at ``latest`` may come from blocks above the synced one: a reorg of those
        blocks alone leaves the synced block's hash as it was, and the events of the blocks that
        replace them do not mention the fact, so nothing would ever drop it. The registry's facts
        only move forward (roots are anchored once, revocation bits are only set, an issuer's
        record changes with every addition and removal), so the same answer at the synced block
        and at ``latest`` means no block above the synced one changed it: cache it. A different
        answer is fresh, and is read again until a head refresh covers its block. Nor is anything
        cached if a sync ran meanwhile: it may already have applied events the read predates.
        """
        now = next(results)
        if before is None:
            return now, False
        then = next(results)
        return now, then == now and cache.synced is before

    def _read_uncached(self, who: str, root: bytes, word: int,
                       public_key: bytes | None) -> tuple[int, BatchInfo, IssuerInfo | None, int, int | None]:
        calls = [("eth_blockNumber", []), self._call("batchInfo", who, root),
                 self._call("revocationWord", who, root, word), self._call("issuerInfo", who)]
        if public_key is not None:
            calls.append(self._call("signingKeyBlock", who, public_key))
        results = self.rpc.batch(calls)
        head = int_of(results[0])
        self._head = (time.monotonic(), head)
        batch = self._batch_from(who, root, self._decode("batchInfo", results[1]))
        bits = int(self._decode("revocationWord", results[2])[0])
        info = self._issuer_from(who, self._decode("issuerInfo", results[3])) if batch.anchored else None
        if public_key is None:
            return head, batch, info, bits, None
        bound = int(self._decode("signingKeyBlock", results[4])[0])
        return max(head, bound), batch, info, bits, bound or None

    def signing_key_bound(self, issuer: str, public_key: bytes) -> int | None:
        """The block in which ``issuer`` bound the Ed25519 key ``public_key``, or None if it never
        did, as the canonical chain says now.

        The answer is read at ``latest``, so it may be younger than a cached :meth:`head`: compare
        with ``max(head, block)``, as :meth:`read` does, when judging its depth. Cached as the
        module docstring says: a binding only once reorg-checked, "not bound" only until the next
        head refresh that sees the binding.
        """
        who, key = self._address(issuer), self._signing_key(public_key)
        self._recognise()
        if self.keyless:
            return None
        cache = self.cache
        if cache is None:
            return int(self.view("signingKeyBlock", who, key)[0]) or None
        self.head()
        with self._lock:
            cached = cache.signing_key((who, key))
            before = cache.synced
        if cached is not None:
            return cached or None
        bound = int(self.view("signingKeyBlock", who, key)[0])
        with self._lock:
            self._remember_binding(cache, (who, key), bound, before)
        return bound or None

    @staticmethod
    def _remember_binding(cache: ChainCache, key: tuple[str, bytes], bound: int, before: Synced | None) -> None:
        """Cache a binding read at ``latest`` only where a later reorg or event is sure to drop it.

        "Bound at b": once ``b`` is at or below the synced block, whose hash every sync checks.
        "Not bound": only if no sync ran while it was read (``before`` is still the synced block),
        so the next sync's events (from that block on) include any binding it missed.
        """
        synced = cache.synced
        if bound:
            if synced is not None and bound <= synced.number:
                cache.put_signing_key(key, bound)
        elif synced is not None and synced is before:
            cache.put_signing_key(key, 0)

    def issuer(self, address: str) -> IssuerInfo:
        who = self._address(address)
        cache = self.cache
        if cache is None:
            return self.issuer_info(who)
        self.head()
        with self._lock:
            cached = cache.issuers.get(who)
            before = cache.synced
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        results = iter(self.rpc.batch(self._paired(before, "issuerInfo", who)))
        with self._lock:
            raw, stable = self._stable(cache, before, results)
            info = self._issuer_from(who, self._decode("issuerInfo", raw))
            if stable:
                cache.issuers.put(who, info)
        return info

    def batch(self, issuer: str, root: bytes) -> BatchInfo:
        _, info, _, _ = self.read(issuer, root, 0)
        return info

    def batches_of_root(self, root: bytes) -> list[BatchInfo]:
        """Every batch with this root, one per issuer that anchored it, oldest first."""
        topics = ["0x" + self.abi.topic("BatchAnchored").hex(), "0x" + root.hex()]
        owners = list(dict.fromkeys(ev.args["issuer"] for ev in self.logs(topics=topics)))
        return [b for b in (self.batch(who, root) for who in owners) if b.anchored]

    def issuers(self) -> list[IssuerInfo]:
        """Every account ever added as an issuer, by id (cached until an issuer event)."""
        if self.cache is not None:
            self.head()
            if self.cache.issuer_list is not None:
                return list(self.cache.issuer_list)
        count = self.issuer_count()
        accounts = [str(r[0]) for r in self.call_many([("issuerAccount", (i,)) for i in range(1, count + 1)])]
        listed = [self._issuer_from(a, r) for a, r in zip(accounts, self.call_many([("issuerInfo", (a,)) for a in accounts]), strict=True)]
        if self.cache is not None:
            self.cache.issuer_list = listed
        return list(listed)

    # ------------------------------------------------------------------ revocation details

    def revocation(self, batch: BatchInfo, index: int) -> RevocationRecord | None:
        """The event that revoked ``index`` of ``batch`` (or the whole batch): reason and time."""
        key = (batch.issuer, batch.root, index)
        if self.cache is not None and key in self.cache.revocations:
            return self.cache.revocations[key]  # type: ignore[no-any-return]
        found: RevocationRecord | None = None
        topics = [["0x" + self.abi.topic("CredentialsRevoked").hex(), "0x" + self.abi.topic("BatchRevoked").hex()],
                  "0x" + batch.root.hex(), "0x" + bytes(12).hex() + batch.issuer[2:].lower()]
        for ev in self.logs(from_block=batch.anchored_block, topics=topics):
            hit = ev.name == "BatchRevoked" or any(w == index >> 8 and (m >> (index & 0xFF)) & 1 for w, m in ev.args["words"])
            if hit:
                found = RevocationRecord(ev.name == "BatchRevoked", int(ev.args["reason"]), ev.block_number, ev.block_time, ev.tx_hash)
                break
        if self.cache is not None:
            self.cache.revocations.put(key, found)
        return found
