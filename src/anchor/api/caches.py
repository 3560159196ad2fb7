"""The service's per-worker caches, each bounded by bytes, not entries: what a worker holds does
not grow with the size of the batches it answers for.

- :class:`ByteLRU`: least-recently-used entries under a byte budget, with hit/miss counters.
- :class:`TreeParts`: proof paths of large batches without holding whole trees. A batch's tree is
  stored in chunks of :data:`anchor.store.CHUNK` nodes (1,024: ``SUBTREE_BITS`` levels). The
  levels from ``SUBTREE_BITS`` up (~62 KB for 1,000,000 leaves) are kept per batch; the 10 lower
  steps of a leaf's path are recomputed from the 1,024 leaf hashes of its aligned subtree (one
  stored chunk, one query, ~1,000 hashes), and that subtree's levels are kept too while they fit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

from anchor.core import merkle
from anchor.store.batches import CHUNK

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

ENTRY_OVERHEAD = 160  # bytes per entry beyond its payload: key object, dict slot, list of levels
SUBTREE_BITS = CHUNK.bit_length() - 1  # 10: a stored chunk of level 0 is an aligned subtree of 2**10 leaves
assert 1 << SUBTREE_BITS == CHUNK


class ByteLRU(Generic[K, V]):
    """A thread-safe LRU map whose entries' sizes (given by the caller) never sum past ``budget``.

    An entry larger than the whole budget is not kept. ``get`` counts a hit or a miss.
    """

    def __init__(self, budget: int) -> None:
        self.budget = max(0, budget)
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, key: K, *, count_miss: bool = True) -> V | None:
        """The entry (now the most recently used), or None; ``count_miss=False`` for a first try
        under another spelling of the key that a counted ``get`` follows."""
        with self._lock:
            found = self._data.get(key)
            if found is None:
                self.misses += count_miss
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return found[0]

    def put(self, key: K, value: V, size: int) -> None:
        size += ENTRY_OVERHEAD
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.budget:
                return
            self._data[key] = (value, size)
            self._bytes += size
            while self._bytes > self.budget:
                _, (_, dropped) = self._data.popitem(last=False)
                self._bytes -= dropped
                self.evictions += 1

    def __len__(self) -> int:
        return len(self._data)

    @property
    def bytes(self) -> int:
        return self._bytes

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "bytes": self._bytes, "entries": len(self._data),
                    "budget": self.budget, "evictions": self.evictions}


def _levels_size(levels: Sequence[bytes]) -> int:
    return sum(len(level) + 40 for level in levels)


class TreeParts:
    """Proof paths of any leaf of any batch, from the store's tree chunks, under a byte budget.

    ``fetch_levels(batch_id, first)`` gives the levels of the batch's tree from level ``first``
    up; ``fetch_chunk(batch_id, level, chunk)`` one stored chunk (see :mod:`anchor.store.batches`).
    """

    def __init__(self, budget: int, *, fetch_levels: Callable[[int, int], list[bytes]],
                 fetch_chunk: Callable[[int, int, int], bytes]) -> None:
        self.cache: ByteLRU[tuple[int, int], list[bytes]] = ByteLRU(budget)
        self._fetch_levels = fetch_levels
        self._fetch_chunk = fetch_chunk

    def _upper(self, batch_id: int, leaf_count: int) -> list[bytes]:
        """Levels ``SUBTREE_BITS`` and up (the whole tree when it is no taller)."""
        key = (batch_id, -1)
        levels = self.cache.get(key)
        if levels is None:
            first = SUBTREE_BITS if leaf_count > CHUNK else 0
            levels = self._fetch_levels(batch_id, first)
            self.cache.put(key, levels, _levels_size(levels))
        return levels

    def _subtree(self, batch_id: int, chunk: int) -> list[bytes]:
        """Levels 0 .. SUBTREE_BITS - 1 of the aligned subtree holding leaves ``chunk * CHUNK ...``."""
        key = (batch_id, chunk)
        levels = self.cache.get(key)
        if levels is None:
            levels = merkle.build_levels(self._fetch_chunk(batch_id, 0, chunk))[:SUBTREE_BITS]
            self.cache.put(key, levels, _levels_size(levels))
        return levels

    def path_json(self, batch_id: int, index: int, leaf_count: int) -> str:
        """The JSON text of leaf ``index``'s path steps, exactly as :func:`anchor.core.merkle.path_json`
        writes them over the whole tree."""
        merkle.check_index(index, leaf_count)
        upper = self._upper(batch_id, leaf_count)
        if leaf_count <= CHUNK:  # small tree: kept whole
            return merkle.path_json(upper, index, leaf_count)
        chunk = index >> SUBTREE_BITS
        sub = self._subtree(batch_id, chunk)
        steps = []
        for level, pos in merkle.path_positions(index, leaf_count):
            if level < SUBTREE_BITS:
                local = pos - (chunk << (SUBTREE_BITS - level))
                sibling = sub[level][local * merkle.HASH_SIZE : (local + 1) * merkle.HASH_SIZE]
            else:
                sibling = merkle.node(upper, level - SUBTREE_BITS, pos)
            steps.append(merkle.path_step_json(pos, sibling))
        return ",".join(steps)
