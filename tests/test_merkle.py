"""Merkle tree and proof math: round trips, index binding, tampering, merkletools as oracle."""

from __future__ import annotations

import hashlib

import pytest
from blockcerts_merkletools import MerkleTools
from hypothesis import given, settings
from hypothesis import strategies as st

from anchor.core import merkle
from anchor.core.errors import VerificationError


def leaves_for(n: int, salt: int = 0) -> list[bytes]:
    return [merkle.hash_leaf(f"{salt}:{i}".encode()) for i in range(n)]


def test_leaf_hash_is_domain_separated() -> None:
    data = b"x" * 64
    assert merkle.hash_leaf(data) == hashlib.sha256(b"\x00" + data).digest()
    assert merkle.hash_leaf(data) != hashlib.sha256(data).digest()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 100, 257, 1000, 4097])
def test_tree_over_leaf_hashes_matches_merkletools(n: int) -> None:
    leaves = leaves_for(n)
    levels = merkle.build_levels(b"".join(leaves))
    oracle = MerkleTools()
    oracle.add_leaf([leaf.hex() for leaf in leaves])
    oracle.make_tree()
    assert levels[-1].hex() == oracle.get_merkle_root()
    for i in sorted({0, 1 % n, n // 2, n - 1}):
        ours = merkle.prove(levels, i)
        theirs = oracle.get_proof(i)
        assert [step for d in theirs for step in d.values()] == [p.hex() for p in ours]
        # The side of each sibling (merkletools' left/right) is what the index implies.
        sides = ["right" if pos & 1 else "left" for _, pos in merkle.path_positions(i, n)]
        assert [next(iter(d)) for d in theirs] == sides
        assert oracle.validate_proof(theirs, leaves[i].hex(), levels[-1].hex())


def test_python_and_c_level_hashing_agree() -> None:
    level = b"".join(leaves_for(12345))
    assert merkle._next_level_py(level) == merkle.next_level(level)
    big = b"".join(leaves_for(70001))  # above the two-thread threshold
    assert merkle._next_level_py(big) == merkle.next_level(big)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 10_000), data=st.data())
def test_every_proof_round_trips_and_binds_its_index(n: int, data: st.DataObject) -> None:
    leaves = leaves_for(n, salt=n)
    levels = merkle.build_levels(b"".join(leaves))
    root = levels[-1]
    proofs = list(merkle.iter_proofs(levels, chunk_bits=data.draw(st.integers(1, 16))))
    assert len(proofs) == n
    for i in (data.draw(st.integers(0, n - 1)) for _ in range(5)):
        assert list(proofs[i]) == merkle.prove(levels, i)
        merkle.verify_inclusion(leaves[i], i, n, proofs[i], root)
        j = data.draw(st.integers(0, n - 1))
        if j != i:
            with pytest.raises(VerificationError):
                merkle.verify_inclusion(leaves[i], j, n, proofs[i], root)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 2000), data=st.data())
def test_all_proofs_verify(n: int, data: st.DataObject) -> None:
    leaves = leaves_for(n, salt=7)
    levels = merkle.build_levels(b"".join(leaves))
    for i, proof in enumerate(merkle.iter_proofs(levels, chunk_bits=data.draw(st.integers(1, 12)))):
        assert merkle.root_from_proof(leaves[i], i, n, proof) == levels[-1]


@settings(max_examples=300, deadline=None)
@given(n=st.integers(2, 3000), data=st.data())
def test_any_single_byte_or_step_change_is_rejected(n: int, data: st.DataObject) -> None:
    leaves = leaves_for(n, salt=3)
    levels = merkle.build_levels(b"".join(leaves))
    root = levels[-1]
    i = data.draw(st.integers(0, n - 1))
    proof = merkle.prove(levels, i)
    # (The leaf count is not varied: it comes from the chain, not from the proof.)
    kind = data.draw(st.sampled_from(["leaf_byte", "step_byte", "drop", "add", "swap", "index"]))
    leaf, index = leaves[i], i
    if kind == "leaf_byte":
        b = bytearray(leaf)
        b[data.draw(st.integers(0, 31))] ^= data.draw(st.integers(1, 255))
        leaf = bytes(b)
    elif kind == "step_byte":
        k = data.draw(st.integers(0, len(proof) - 1))
        b = bytearray(proof[k])
        b[data.draw(st.integers(0, 31))] ^= data.draw(st.integers(1, 255))
        proof[k] = bytes(b)
    elif kind == "drop":
        del proof[data.draw(st.integers(0, len(proof) - 1))]
    elif kind == "add":
        proof.insert(data.draw(st.integers(0, len(proof))), data.draw(st.binary(min_size=32, max_size=32)))
    elif kind == "swap":
        if len(proof) < 2:
            return
        a, b2 = data.draw(st.lists(st.integers(0, len(proof) - 1), min_size=2, max_size=2, unique=True))
        if proof[a] == proof[b2]:
            return
        proof[a], proof[b2] = proof[b2], proof[a]
    else:
        index = data.draw(st.integers(0, n - 1).filter(lambda j: j != i))
    with pytest.raises(VerificationError):
        merkle.verify_inclusion(leaf, index, n, proof, root)


def test_internal_node_is_not_a_leaf() -> None:
    leaves = leaves_for(8)
    levels = merkle.build_levels(b"".join(leaves))
    inner = merkle.node(levels, 1, 0)  # sha256(leaf0 || leaf1)
    upper_proof = [merkle.node(levels, 1, 1), merkle.node(levels, 2, 1)]
    # The same path works in a 4-leaf tree over level 1, but not as index 0 of the 8-leaf batch.
    assert merkle.root_from_proof(inner, 0, 4, upper_proof) == levels[-1]
    with pytest.raises(VerificationError) as e:
        merkle.verify_inclusion(inner, 0, 8, upper_proof, levels[-1])
    assert e.value.reason == "proof_too_short"
    # And the 64 bytes of the node, hashed as credential data, are a different leaf.
    assert merkle.hash_leaf(leaves[0] + leaves[1]) != inner


@pytest.mark.parametrize(
    ("index", "count", "reason"),
    [(0, 0, "bad_leaf_count"), (5, 5, "index_out_of_range"), (-1, 5, "index_out_of_range")],
)
def test_bad_index_or_count_reasons(index: int, count: int, reason: str) -> None:
    with pytest.raises(VerificationError) as e:
        merkle.root_from_proof(b"\x00" * 32, index, count, [])
    assert e.value.reason == reason


def test_empty_tree_is_an_error() -> None:
    with pytest.raises(VerificationError) as e:
        merkle.build_levels(b"")
    assert e.value.reason == "empty_tree"


def test_single_leaf_tree_root_is_the_leaf() -> None:
    leaf = merkle.hash_leaf(b"only")
    levels = merkle.build_levels(leaf)
    assert levels[-1] == leaf
    assert merkle.prove(levels, 0) == []
    merkle.verify_inclusion(leaf, 0, 1, [], leaf)


def test_one_leaf_path_json_is_what_export_writes() -> None:
    """The proof endpoint (one leaf) and export (every leaf, top-down) write identical path text."""
    import json

    for n in (1, 2, 5, 33, 1000):
        leaves = b"".join(merkle.hash_leaf(i.to_bytes(4, "big")) for i in range(n))
        levels = merkle.build_levels(leaves)
        every = list(merkle.iter_path_json(levels, chunk_bits=3))
        for i in range(n):
            assert merkle.path_json(levels, i, n) == every[i]
            steps = json.loads("[" + every[i] + "]")
            assert [bytes.fromhex(next(iter(s.values()))) for s in steps] == merkle.prove(levels, i)
