"""The service's per-worker caches, each bounded by bytes, not entries: what a worker holds does
not grow with the size of the batches it answers for.

- :class:`ByteLRU`: least-recently-used entries under a byte budget, with hit/miss counters.
- :class:`TreeParts`: proof paths of large batches without holding whole trees. A batch's tree is
  stored in chunks of :data:`anchor.store.batches.CHUNK` nodes (1,024: ``SUBTREE_BITS`` levels).
  The upper levels (at most ~2 MiB) are kept per batch; the lower steps of a leaf's path are
  recomputed from its aligned group of leaf hashes, read from the store in one query.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

from anchor.core import merkle
from anchor.store import CHUNK

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

ENTRY_OVERHEAD = 160  # bytes per entry beyond its payload: key object, dict slot, list of levels
SUBTREE_BITS = CHUNK.bit_length() - 1  # 10: a stored chunk of level 0 holds an aligned subtree of 2**10 leaves
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


def split_level(leaf_count: int) -> int:
    """The level from which a batch's tree is kept in memory: the one whose levels up hold at most
    ~2**16 nodes (2 MiB; ~62,500 nodes for 1,000,000 leaves), so a path's lower part is one aligned
    group of at most 2**SUBTREE_BITS leaves, inside one stored chunk."""
    return min(SUBTREE_BITS, max(0, (leaf_count - 1).bit_length() - 15))


class TreeParts:
    """Proof paths of any leaf of any batch without holding whole trees.

    Per batch, the levels from :func:`split_level` up are kept (at most ~2 MiB); the steps of a
    path under that level are recomputed from the leaf's aligned group of 2**level leaf hashes
    (32 for 1,000,000 leaves: one slice of one stored chunk, one query, 31 hashes).
    ``fetch_levels(batch_id, first)`` gives the levels from ``first`` up; ``fetch_slice(batch_id,
    level, start, count)`` nodes ``[start, start + count)`` of a level.
    """

    def __init__(self, budget: int, *, fetch_levels: Callable[[int, int], list[bytes]],
                 fetch_slice: Callable[[int, int, int, int], bytes]) -> None:
        self.cache: ByteLRU[int, list[bytes]] = ByteLRU(budget)
        self._fetch_levels = fetch_levels
        self._fetch_slice = fetch_slice

    def _upper(self, batch_id: int, split: int) -> list[bytes]:
        levels = self.cache.get(batch_id)
        if levels is None:
            levels = self._fetch_levels(batch_id, split)
            self.cache.put(batch_id, levels, _levels_size(levels))
        return levels

    def siblings(self, batch_id: int, index: int, leaf_count: int) -> bytes:
        """The sibling hashes of leaf ``index``, leaf to root, concatenated (as :func:`anchor.core.merkle.prove`)."""
        merkle.check_index(index, leaf_count)
        split = split_level(leaf_count)
        upper = self._upper(batch_id, split)
        if split == 0:
            return b"".join(merkle.prove(upper, index))
        group = index >> split
        first = group << split
        lower = merkle.build_levels(self._fetch_slice(batch_id, 0, first, min(1 << split, leaf_count - first)))
        size = merkle.HASH_SIZE
        out = []
        for level, pos in merkle.path_positions(index, leaf_count):
            if level < split:
                local = pos - (group << (split - level))
                out.append(lower[level][local * size : (local + 1) * size])
            else:
                out.append(merkle.node(upper, level - split, pos))
        return b"".join(out)

    def path_json(self, batch_id: int, index: int, leaf_count: int) -> str:
        """The JSON text of leaf ``index``'s path steps, exactly as :func:`anchor.core.merkle.path_json`
        writes them over the whole tree."""
        return path_json_of(self.siblings(batch_id, index, leaf_count), index, leaf_count)


def path_json_of(siblings: bytes, index: int, leaf_count: int) -> str:
    """The JSON text of a path from its concatenated sibling hashes (see :meth:`TreeParts.siblings`)."""
    size = merkle.HASH_SIZE
    return ",".join(merkle.path_step_json(pos, siblings[n * size : (n + 1) * size])
                    for n, (_, pos) in enumerate(merkle.path_positions(index, leaf_count)))
