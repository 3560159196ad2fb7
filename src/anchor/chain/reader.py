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
"""

from __future__ import annotations

import threading
import time
from typing import Any

from anchor.chain.artifact import Artifact
from anchor.chain.cache import ChainCache, Synced
from anchor.chain.node import Chain
from anchor.chain.views import RegistryViews, bytes_of, int_of
from anchor.core.registry import BatchInfo, IssuerInfo, RevocationRecord

_MUTATING = ("IssuerAdded", "IssuerRemoved", "BatchAnchored", "CredentialsRevoked", "BatchRevoked")


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
        else:  # BatchAnchored, CredentialsRevoked, BatchRevoked: keyed by (issuer, root)
            cache.forget_batch((args["issuer"], bytes(args["root"])))

    def read(self, issuer: str, root: bytes, index: int) -> tuple[int, BatchInfo, IssuerInfo | None, int]:
        """(head, batch ``(issuer, root)``, that issuer's record, revocation word holding ``index``).

        Without caching, one batched round trip. With caching, only what is not cached is read, in
        one round trip.
        """
        who = self._address(issuer)
        key, word = (who, root), index >> 8
        cache = self.cache
        if cache is None:
            results = self.rpc.batch([("eth_blockNumber", []), self._call("batchInfo", who, root),
                                      self._call("revocationWord", who, root, word), self._call("issuerInfo", who)])
            head = int_of(results[0])
            self._head = (time.monotonic(), head)
            batch = self._batch_from(root, self._decode("batchInfo", results[1]))
            bits = int(self._decode("revocationWord", results[2])[0])
            info = self._issuer_from(who, self._decode("issuerInfo", results[3])) if batch.anchored else None
            return head, batch, info, bits
        head = self.head()
        with self._lock:
            batch, bits, info = cache.batch(key), cache.word(key, word), cache.issuers.get(who)
        calls = []
        if batch is None:
            calls.append(self._call("batchInfo", who, root))
        if bits is None:
            calls.append(self._call("revocationWord", who, root, word))
        if info is None:
            calls.append(self._call("issuerInfo", who))
        if calls:
            results = iter(self.rpc.batch(calls))
            with self._lock:
                if batch is None:
                    batch = self._batch_from(root, self._decode("batchInfo", next(results)))
                    cache.put_batch(batch)
                if bits is None:
                    bits = int(self._decode("revocationWord", next(results))[0])
                    cache.put_word(key, word, bits)
                if info is None:
                    info = self._issuer_from(who, self._decode("issuerInfo", next(results)))
                    cache.issuers.put(who, info)
        assert batch is not None and bits is not None
        # The batch was read at a block no older than the one it was anchored in: a head cached a
        # moment before that must not make a fresh anchor look unconfirmed (depth 0 or less).
        return max(head, batch.anchored_block), batch, info if batch.anchored else None, bits

    def issuer(self, address: str) -> IssuerInfo:
        who = self._address(address)
        if self.cache is not None:
            self.head()
            info = self.cache.issuers.get(who)
            if info is not None:
                return info  # type: ignore[no-any-return]
        info = self.issuer_info(who)
        if self.cache is not None:
            self.cache.issuers.put(who, info)
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
