"""Generate tests/vectors/merkle_vectors.json: shared Merkle proof vectors.

The same file is checked by the Python verifier (tests/test_merkle_vectors.py), by the contract
under forge (contracts/test/MerkleVectors.t.sol) and, through Anvil, by the deployed contract's
``verify`` (tests/test_chain_verify.py). Deterministic: rerun it and the file must not change.

    python tests/vectors/make_merkle_vectors.py
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from anchor.core import merkle

OUT = Path(__file__).with_name("merkle_vectors.json")
SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 33, 100, 255, 256, 257, 1000)


def _leaves(n: int) -> list[bytes]:
    return [merkle.hash_leaf(f"credential {n}/{i}".encode()) for i in range(n)]


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def vectors() -> list[dict[str, object]]:
    rng = random.Random(20261127)
    out: list[dict[str, object]] = []

    def add(case: str, n: int, root: bytes, leaf: bytes, index: int, proof: list[bytes], valid: bool) -> None:
        out.append(
            {
                "case": case,
                "leafCount": n,
                "root": _hex(root),
                "leaf": _hex(leaf),
                "index": index,
                "proof": [_hex(p) for p in proof],
                "valid": valid,
            }
        )

    for n in SIZES:
        leaves = _leaves(n)
        levels = merkle.build_levels(b"".join(leaves))
        root = levels[-1]
        picks = sorted({0, n - 1, n // 2, rng.randrange(n)})
        for i in picks:
            proof = merkle.prove(levels, i)
            add("valid", n, root, leaves[i], i, proof, True)
            if n > 1:
                j = (i + 1) % n
                add("wrong_index", n, root, leaves[i], j, proof, False)
                add("other_leaf", n, root, leaves[j], i, proof, False)
            if proof:
                add("truncated", n, root, leaves[i], i, proof[:-1], False)
                bad = bytearray(proof[0])
                bad[rng.randrange(32)] ^= 1 << rng.randrange(8)
                add("flipped_sibling_bit", n, root, leaves[i], i, [bytes(bad), *proof[1:]], False)
            add("extra_step", n, root, leaves[i], i, [*proof, hashlib.sha256(b"extra").digest()], False)
            if len(proof) >= 2:
                add("swapped_steps", n, root, leaves[i], i, [proof[1], proof[0], *proof[2:]], False)
            add("index_out_of_range", n, root, leaves[i], n + i, proof, False)
            flipped = bytearray(leaves[i])
            flipped[0] ^= 0x80
            add("flipped_leaf_bit", n, root, bytes(flipped), i, proof, False)
        if n >= 4:
            # An internal node (level 1, position 0) presented as a leaf with its own, shorter
            # proof: the leaf count binds the proof length, so this must fail.
            inner = merkle.node(levels, 1, 0)
            inner_proof = [merkle.node(levels, lvl + 1, pos) for lvl, pos in merkle.path_positions(0, (n + 1) // 2)]
            add("internal_node_as_leaf", n, root, inner, 0, inner_proof, False)
    add("unknown_root", 4, hashlib.sha256(b"never anchored").digest(), _leaves(4)[0], 0, [], False)
    return out


def render() -> str:
    data = {"description": "anchor Merkle proof vectors; see tests/vectors/make_merkle_vectors.py", "vectors": vectors()}
    data["count"] = len(data["vectors"])  # type: ignore[arg-type]
    return json.dumps(data, indent=1) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
