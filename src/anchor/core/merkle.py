"""Merkle trees over credential leaves: pure functions, no I/O.

Shape: the one of ``merkletools`` (maintained as ``blockcerts-merkletools``). Internal nodes are
``sha256(left || right)``; the last node of a level with an odd count is promoted unchanged. The
tree over leaf hashes is byte-identical to merkletools'. Leaf hashes are domain-separated
(``sha256(0x00 || data)``, RFC 9162 §2.1.1), so the 64 bytes of an internal node never hash to
a leaf that verifies.

A proof for leaf ``index`` of a tree of ``leaf_count`` leaves is the list of sibling hashes from
the leaf up. Which levels have a sibling, and on which side it sits, follow from
``(index, leaf_count)`` alone, so verification *binds the index*: a proof for index i never
passes as index j. ``CredentialRegistry.verify`` on chain runs the same algorithm.

Levels are kept as contiguous ``bytes`` (node k at ``[32k, 32k + 32)``): half the memory of a
list of digests, cheap to slice and to store, and what the optional C extension hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from anchor.core.errors import VerificationError

LEAF_PREFIX = b"\x00"
HASH_SIZE = 32
MAX_LEAVES = 2**32  # keeps depth ≤ 32; the contract stores counts as uint64
_sha256 = hashlib.sha256

try:  # the C extension hashes a level ~10x faster and releases the GIL while doing it
    from anchor.core._sha256pairs import next_level as _next_level_c
except ImportError:  # pragma: no cover - exercised on machines without a compiler
    _next_level_c = None

_PARALLEL_MIN_NODES = 1 << 16  # below this, a second thread costs more than it saves


def hash_leaf(data: bytes) -> bytes:
    """Leaf hash of ``data`` (a credential's canonical bytes)."""
    return _sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Internal node over two children (merkletools' rule: no prefix)."""
    return _sha256(left + right).digest()


def _next_level_py(level: bytes) -> bytes:
    view = memoryview(level)
    pairs_end = (len(level) // 64) * 64
    up = b"".join([_sha256(view[i : i + 64]).digest() for i in range(0, pairs_end, 64)])
    return up + level[pairs_end:]  # the promoted odd node, if any


def next_level(level: bytes) -> bytes:
    """The level above ``level`` (n nodes → ceil(n/2)): pairs hashed, an odd last node promoted."""
    if _next_level_c is None:
        return _next_level_py(level)
    n = len(level) // HASH_SIZE
    if n < _PARALLEL_MIN_NODES:
        return bytes(_next_level_c(level))
    # Two halves on two threads; the split is on an even node so no pair straddles it.
    split = (n // 4) * 2 * HASH_SIZE
    view = memoryview(level)
    with ThreadPoolExecutor(max_workers=2) as pool:
        right = pool.submit(_next_level_c, view[split:])
        left = _next_level_c(view[:split])
        return bytes(left + right.result())


def join_leaves(leaves: Iterable[bytes]) -> bytes:
    """Concatenate 32-byte leaf hashes into a level buffer, checking their size."""
    buf = b"".join(leaves)
    if len(buf) % HASH_SIZE:
        raise VerificationError("every leaf hash must be 32 bytes", reason="bad_hash")
    return buf


def _leaf_count_of(level0: bytes) -> int:
    if not level0 or len(level0) % HASH_SIZE:
        raise VerificationError(
            f"a leaf level must be a non-empty multiple of {HASH_SIZE} bytes, got {len(level0)}",
            reason="empty_tree" if not level0 else "bad_hash",
        )
    n = len(level0) // HASH_SIZE
    if n > MAX_LEAVES:
        raise VerificationError(f"at most {MAX_LEAVES} leaves per tree", reason="tree_too_large")
    return n


def build_levels(leaf_level: bytes) -> list[bytes]:
    """All levels of the tree over the concatenated leaf hashes, leaves first, root last."""
    _leaf_count_of(leaf_level)
    levels = [bytes(leaf_level)]
    while len(levels[-1]) > HASH_SIZE:
        levels.append(next_level(levels[-1]))
    return levels


def root_of(leaf_level: bytes) -> bytes:
    """Merkle root over the concatenated leaf hashes."""
    return build_levels(leaf_level)[-1]


def level_counts(leaf_count: int) -> list[int]:
    """Node count of every level, leaves first, for a tree of ``leaf_count`` leaves."""
    counts = [leaf_count]
    while counts[-1] > 1:
        counts.append((counts[-1] + 1) >> 1)
    return counts


def path_positions(index: int, leaf_count: int) -> Iterator[tuple[int, int]]:
    """(level, sibling position) for each level where leaf ``index`` has a sibling.

    Levels where its ancestor is promoted (last of an odd count) are skipped, as merkletools
    leaves them out of its proofs. Bit 0 of the sibling position says its side: odd = right.
    """
    level = 0
    count = leaf_count
    while count > 1:
        sibling = index ^ 1
        if sibling < count:
            yield level, sibling
        index >>= 1
        count = (count + 1) >> 1
        level += 1


def proof_length(index: int, leaf_count: int) -> int:
    """Number of siblings in the proof of ``index`` in a tree of ``leaf_count`` leaves."""
    return sum(1 for _ in path_positions(index, leaf_count))


def node(levels: Sequence[bytes], level: int, pos: int) -> bytes:
    """Node ``pos`` of ``level``."""
    return levels[level][pos * HASH_SIZE : (pos + 1) * HASH_SIZE]


def prove(levels: Sequence[bytes], index: int) -> list[bytes]:
    """Sibling hashes, leaf to root, for leaf ``index`` of a tree built by :func:`build_levels`."""
    leaf_count = len(levels[0]) // HASH_SIZE
    check_index(index, leaf_count)
    return [node(levels, level, pos) for level, pos in path_positions(index, leaf_count)]


def _chunks(levels: Sequence[bytes], chunk_bits: int, first: int = 0, stop: int | None = None,
            ) -> Iterator[tuple[int, list[tuple[int, int]], list[tuple[int, int, int]]]]:
    """Aligned chunks of 2**chunk_bits leaves, for building proofs top-down chunk by chunk,
    covering leaves ``[first, stop)`` (``first`` a multiple of the chunk size).

    Yields ``(height, upper, spans)``: the chunk's subtree root sits at level ``height``; ``upper``
    are the (level, position) steps above it; ``spans`` are (level, lo, hi) node ranges of the
    chunk from level height-1 down to the leaves.
    """
    leaf_count = len(levels[0]) // HASH_SIZE
    counts = level_counts(leaf_count)
    height = min(chunk_bits, len(levels) - 1)
    if first % (1 << height):
        raise ValueError(f"first leaf {first} is not a multiple of the chunk size {1 << height}")
    end = leaf_count if stop is None else min(stop, leaf_count)
    for start in range(first, end, 1 << height):
        upper = [(height + level, pos) for level, pos in path_positions(start >> height, counts[height])]
        spans = []
        for level in range(height - 1, -1, -1):
            lo = start >> level
            spans.append((level, lo, min(lo + (1 << (height - level)), counts[level])))
        yield height, upper, spans


def iter_proofs(levels: Sequence[bytes], *, chunk_bits: int = 16) -> Iterator[tuple[bytes, ...]]:
    """The proof of every leaf, in leaf order, streamed in aligned chunks of 2**chunk_bits leaves.

    Inside a chunk, proofs are built top-down: a node's proof is its sibling prepended to its
    parent's proof, so each leaf costs one tuple concatenation instead of a walk up the tree.
    """
    for _, upper, spans in _chunks(levels, chunk_bits):
        parents: list[tuple[bytes, ...]] = [tuple(node(levels, level, pos) for level, pos in upper)]
        for level, lo, hi in spans:
            raw = levels[level][lo * HASH_SIZE : hi * HASH_SIZE]
            nodes = [raw[i : i + HASH_SIZE] for i in range(0, len(raw), HASH_SIZE)]
            proofs = [
                p
                for left, right, up in zip(nodes[0::2], nodes[1::2], parents, strict=False)
                for p in ((right, *up), (left, *up))
            ]
            if len(nodes) & 1:  # last node of an odd level: promoted, no step here
                proofs.append(parents[len(nodes) >> 1])
            parents = proofs
        yield from parents


def path_step_json(pos: int, sibling: bytes) -> str:
    """One step of a proof path as JSON text: the sibling at position ``pos`` of its level sits
    right of the path when ``pos`` is odd (merkletools/Chainpoint format)."""
    return f'{{"{"right" if pos & 1 else "left"}":"{sibling.hex()}"}}'


def path_json(levels: Sequence[bytes], index: int, leaf_count: int) -> str:
    """The JSON text of leaf ``index``'s path steps, without brackets, exactly as
    :func:`iter_path_json` writes them (one leaf; for the proof endpoint)."""
    return ",".join(path_step_json(pos, node(levels, level, pos)) for level, pos in path_positions(index, leaf_count))


def iter_path_json(levels: Sequence[bytes], *, chunk_bits: int = 12, first: int = 0, stop: int | None = None) -> Iterator[str]:
    """Like :func:`iter_proofs`, but each proof comes as the JSON text of its steps in the
    merkletools format (``{"right":"<hex>"},{"left":"<hex>"},…``, without brackets).

    Each level's slice is hex-encoded once and each leaf costs one string concatenation, which
    is what lets export write 100,000 badges in seconds. Chunks of 4,096 leaves keep memory flat.
    """

    def step(level: int, pos: int) -> str:
        return path_step_json(pos, node(levels, level, pos))

    produced = first
    end = len(levels[0]) // HASH_SIZE if stop is None else stop
    for _, upper, spans in _chunks(levels, chunk_bits, first, stop):
        parents = [",".join(step(level, pos) for level, pos in upper)]
        for level, lo, hi in spans:
            hexed = levels[level][lo * HASH_SIZE : hi * HASH_SIZE].hex()
            count = hi - lo
            out: list[str] = []
            add = out.append
            for j, up in zip(range(0, count - 1, 2), parents, strict=False):
                tail = "," + up if up else ""
                add('{"right":"' + hexed[64 * j + 64 : 64 * j + 128] + '"}' + tail)
                add('{"left":"' + hexed[64 * j : 64 * j + 64] + '"}' + tail)
            if count & 1:  # promoted: no step at this level
                add(parents[count >> 1])
            parents = out
        if produced + len(parents) > end:  # `stop` inside the last chunk
            parents = parents[: end - produced]
        produced += len(parents)
        yield from parents


def root_from_proof(leaf: bytes, index: int, leaf_count: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf`` at ``index``, or raise with the reason.

    Raises :class:`VerificationError` with reason ``bad_leaf_count``, ``index_out_of_range``,
    ``bad_hash``, ``proof_too_short`` or ``proof_too_long`` when the proof cannot belong to that
    index of a tree of that size.
    """
    check_index(index, leaf_count)
    if len(leaf) != HASH_SIZE:
        raise VerificationError(f"leaf must be {HASH_SIZE} bytes, got {len(leaf)}", reason="bad_hash")
    expected = proof_length(index, leaf_count)
    if len(proof) != expected:
        raise VerificationError(
            f"proof has {len(proof)} steps; index {index} of {leaf_count} needs {expected}",
            reason="proof_too_short" if len(proof) < expected else "proof_too_long",
        )
    acc = leaf
    for step, (sibling, (_, pos)) in enumerate(zip(proof, path_positions(index, leaf_count), strict=False)):
        if len(sibling) != HASH_SIZE:
            raise VerificationError(f"proof step {step} is {len(sibling)} bytes, not {HASH_SIZE}", reason="bad_hash")
        acc = _sha256(acc + sibling).digest() if pos & 1 else _sha256(sibling + acc).digest()
    return acc


def verify_inclusion(leaf: bytes, index: int, leaf_count: int, proof: Sequence[bytes], root: bytes) -> None:
    """Return iff ``proof`` shows ``leaf`` is leaf ``index`` of the tree with ``root``.

    Raises :class:`VerificationError` otherwise: the reasons of :func:`root_from_proof`, or
    ``root_mismatch`` when the path is well-formed but leads to another root.
    """
    computed = root_from_proof(leaf, index, leaf_count, proof)
    if computed != root:
        raise VerificationError(f"proof leads to root {computed.hex()}, expected {root.hex()}", reason="root_mismatch")


def check_index(index: int, leaf_count: int) -> None:
    """Raise unless ``0 <= index < leaf_count <= MAX_LEAVES``."""
    if not 0 < leaf_count <= MAX_LEAVES:
        raise VerificationError(f"leaf count must be in 1..{MAX_LEAVES}, got {leaf_count}", reason="bad_leaf_count")
    if not 0 <= index < leaf_count:
        raise VerificationError(f"index {index} is outside the batch of {leaf_count} leaves", reason="index_out_of_range")
