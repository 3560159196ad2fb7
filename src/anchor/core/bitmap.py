"""Revocation bitmaps: leaf indices <-> (word, mask) pairs, 256 indices per word, as the registry
stores them (bit ``b`` of word ``w`` is index ``256·w + b``). Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable


def to_words(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Leaf indices → (word, mask) pairs, one per 256-bit word touched, sorted by word."""
    masks: dict[int, int] = defaultdict(int)
    for i in indices:
        masks[i >> 8] |= 1 << (i & 0xFF)
    return sorted(masks.items())


def from_words(words: Iterable[tuple[int, int]]) -> list[int]:
    """(word, mask) pairs → the leaf indices they set, in order."""
    out = []
    for word, mask in words:
        bit = 0
        while mask:
            if mask & 1:
                out.append((word << 8) + bit)
            mask >>= 1
            bit += 1
    return out
