"""The service's memory of registry facts: kept until an event or a reorg says they changed.

Facts are keyed by what the registry keys them by: batches and revocation words by
``(issuer, root)``, issuer records by account, signing-key bindings by ``(issuer, public key)``. :class:`ChainCache` also remembers the last block it
synced events up to *and that block's hash*: when the hash of that block number changes, the
blocks the cache learned from left the canonical chain, and everything is dropped (invariant 10).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from anchor.core.registry import BatchInfo, BatchKey, IssuerInfo, RevocationRecord

DEFAULT_ENTRIES = 100_000  # per table


class LRU(OrderedDict[Any, Any]):
    """A dict that forgets its least recently written entry past ``size``."""

    def __init__(self, size: int = DEFAULT_ENTRIES) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)


@dataclass
class Synced:
    number: int  # events up to this block are applied
    hash: bytes  # that block's hash when they were


class ChainCache:
    """Registry facts with the block they are valid at; not thread-safe by itself (the reader locks)."""

    def __init__(self, entries: int = DEFAULT_ENTRIES) -> None:
        self.batches: LRU = LRU(entries)  # (issuer, root) -> BatchInfo
        self.words: LRU = LRU(entries)  # (issuer, root) -> {word: bits}
        self.revocations: LRU = LRU(entries)  # (issuer, root, index) -> RevocationRecord | None
        self.issuers: LRU = LRU(entries)  # address -> IssuerInfo
        self.signing_keys: LRU = LRU(entries)  # (issuer, public key) -> bound block, 0 = not bound
        self.issuer_list: list[IssuerInfo] | None = None
        self.synced: Synced | None = None
        self.hits = 0
        self.misses = 0
        self.reorgs = 0

    def clear(self) -> None:
        self.batches.clear()
        self.words.clear()
        self.revocations.clear()
        self.issuers.clear()
        self.signing_keys.clear()
        self.issuer_list = None

    def reorged(self) -> None:
        """The synced block left the canonical chain: forget everything learned since."""
        self.reorgs += 1
        self.clear()
        self.synced = None

    def batch(self, key: BatchKey) -> BatchInfo | None:
        return self._count(self.batches.get(key))

    def word(self, key: BatchKey, word: int) -> int | None:
        words = self.words.get(key)
        return self._count(words.get(word) if words is not None else None)

    def put_batch(self, batch: BatchInfo) -> None:
        self.batches.put(batch.key, batch)

    def put_word(self, key: BatchKey, word: int, bits: int) -> None:
        words = self.words.get(key)
        if words is None:
            words = {}
            self.words.put(key, words)
        words[word] = bits

    def forget_batch(self, key: BatchKey) -> None:
        self.batches.pop(key, None)
        self.words.pop(key, None)
        for k in [k for k in self.revocations if k[:2] == key]:
            del self.revocations[k]

    def signing_key(self, key: tuple[str, bytes]) -> int | None:
        block: int | None = self._count(self.signing_keys.get(key))
        return block

    def put_signing_key(self, key: tuple[str, bytes], block: int) -> None:
        self.signing_keys.put(key, block)

    def forget_signing_key(self, key: tuple[str, bytes]) -> None:
        self.signing_keys.pop(key, None)

    def forget_issuer(self, address: str) -> None:
        self.issuers.pop(address, None)
        self.issuer_list = None

    def _count(self, value: Any) -> Any:
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value


__all__ = ["ChainCache", "LRU", "RevocationRecord", "Synced"]
