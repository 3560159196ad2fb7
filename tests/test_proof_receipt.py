"""The anchor receipt's encoding (anchor.core.proof): a ``DataIntegrityProof`` with cryptosuite
``anchor-merkle-2026`` whose ``proofValue`` is ``u`` + base64url (no padding) of the RFC 8785
JSON receipt, and whose ``verificationMethod`` names the anchoring account as a ``did:pkh``.

What is pinned here: the fast batch renderer writes exactly what :func:`render_proof` writes;
decoding accepts one spelling per receipt and refuses everything else as ``malformed_proof``;
the verification method must agree with the receipt's chain and issuer account; and any receipt
survives encode → parse → encode unchanged.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchor.core import merkle
from anchor.core.addresses import checksum
from anchor.core.canonical import canonical_bytes
from anchor.core.errors import VerificationError
from anchor.core.proof import (
    CRYPTOSUITE,
    MAX_PATH,
    MAX_RECEIPT,
    PROOF_TYPE,
    AnchorProof,
    ReceiptRenderer,
    account_method,
    decode_receipt,
    encode_receipt,
    find_anchor_proof,
    is_anchor_proof,
    receipt_json,
    render_proof,
    sides_for,
    wrap_receipt,
)
from anchor.core.timefmt import format_ts, from_unix
from tests.receipts import legacy_entry, set_receipt

CHAIN_ID = 31337
REGISTRY = checksum("0x5fbdb2315678afecb367f032d93f642f64180aa3")
ISSUER = checksum("0x70997970c51812dc3a010c7d01b50e0d17dc79c8")
MALLORY = checksum("0x" + "4d" * 20)
TX = bytes.fromhex("ab" * 32)
BLOCK_TIME = 1_767_312_000  # 2026-01-02T00:00:00Z


def tree(n: int) -> list[bytes]:
    return merkle.build_levels(b"".join(merkle.hash_leaf(b"leaf %d" % i) for i in range(n)))


def entry_for(index: int = 2, n: int = 5, *, chain_id: int = CHAIN_ID, issuer: str = ISSUER) -> dict[str, Any]:
    levels = tree(n)
    return render_proof(chain_id=chain_id, registry=REGISTRY, issuer_address=issuer, root=levels[-1], index=index, leaf_count=n,
                        path=merkle.prove(levels, index), sides=sides_for(index, n), tx_hash=TX, block_number=12,
                        created=format_ts(from_unix(BLOCK_TIME)))


def malformed(call: Any) -> str:
    with pytest.raises(VerificationError) as e:
        call()
    assert e.value.reason == "malformed_proof", e.value
    return e.value.message


def receipt_text_of(value: str) -> bytes:
    return base64.urlsafe_b64decode(value[1:] + "=" * (-len(value[1:]) % 4))


# ---------------------------------------------------------------------------- the entry's layout


def test_the_entry_is_a_data_integrity_proof_naming_the_anchoring_account() -> None:
    entry = entry_for()
    assert list(entry) == ["type", "cryptosuite", "created", "verificationMethod", "proofPurpose", "proofValue"]
    assert (entry["type"], entry["cryptosuite"], entry["proofPurpose"]) == (PROOF_TYPE, CRYPTOSUITE, "assertionMethod")
    assert (PROOF_TYPE, CRYPTOSUITE) == ("DataIntegrityProof", "anchor-merkle-2026")
    assert entry["created"] == "2026-01-02T00:00:00Z"
    assert entry["verificationMethod"] == f"did:pkh:eip155:31337:{ISSUER}#blockchainAccountId" == account_method(CHAIN_ID, ISSUER)
    assert entry["proofValue"].startswith("u") and "=" not in entry["proofValue"]
    text = receipt_text_of(entry["proofValue"])
    receipt = json.loads(text)
    assert sorted(receipt) == sorted(["chainId", "registry", "issuerAddress", "merkleRoot", "leafIndex", "leafCount", "path",
                                      "transactionHash", "blockNumber"])
    assert text == canonical_bytes(receipt)  # RFC 8785: one spelling per receipt
    assert receipt["leafIndex"] == 2 and receipt["leafCount"] == 5 and receipt["path"][0] == {"right": tree(5)[0][3 * 32:4 * 32].hex()}
    assert decode_receipt(entry["proofValue"]) == receipt


def test_only_the_anchor_suite_is_an_anchor_proof() -> None:
    assert is_anchor_proof(entry_for()) and is_anchor_proof(legacy_entry(entry_for()))
    for other in ({"type": PROOF_TYPE, "cryptosuite": "eddsa-rdfc-2022"}, {"type": PROOF_TYPE}, {"type": "Ed25519Signature2020"},
                  {**entry_for(), "type": ["DataIntegrityProof"]}, "anchored", None, [entry_for()]):
        assert not is_anchor_proof(other), other


def test_the_anchor_entry_is_found_in_a_proof_set_beside_a_signature() -> None:
    signature = {"type": PROOF_TYPE, "cryptosuite": "eddsa-rdfc-2022", "created": "2026-01-01T00:00:00Z",
                 "verificationMethod": "did:key:z6Mk#z6Mk", "proofPurpose": "assertionMethod", "proofValue": "z3abc"}
    entry = entry_for()
    assert find_anchor_proof({"proof": [signature, entry]}) == find_anchor_proof({"proof": [entry, signature]}) == AnchorProof.from_json(entry)
    with pytest.raises(VerificationError) as e:
        find_anchor_proof({"proof": [signature]})
    assert e.value.reason == "missing_proof"
    assert "more than one" in malformed(lambda: find_anchor_proof({"proof": [entry, signature, entry_for(3)]}))
    assert "more than one" in malformed(lambda: find_anchor_proof({"proof": [entry, legacy_entry(entry)]}))


def test_a_legacy_object_reads_as_the_same_proof() -> None:
    """Badges delivered before signing: the receipt's members in a plain AnchorMerkleProof2026."""
    entry = entry_for(4, 5)
    legacy = legacy_entry(entry)
    assert legacy["type"] == "AnchorMerkleProof2026" and "proofValue" not in legacy and "verificationMethod" not in legacy
    assert AnchorProof.from_json(legacy) == AnchorProof.from_json(entry)
    assert find_anchor_proof({"proof": [legacy]}).index == 4


# ---------------------------------------------------------------------------- the batch renderer


def renderer(n: int, *, chain_id: int = CHAIN_ID, block: int = 12) -> ReceiptRenderer:
    return ReceiptRenderer(chain_id=chain_id, registry=REGISTRY, issuer_address=ISSUER, root=tree(n)[-1], leaf_count=n, tx_hash=TX,
                           block_number=block, block_time=BLOCK_TIME)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 300])
def test_the_renderer_writes_what_render_proof_writes(n: int) -> None:
    levels, fast = tree(n), renderer(n)
    for index in {0, 1 % n, n // 2, n - 1}:
        path = merkle.path_json(levels, index, n)
        slow = entry_for(index, n)
        rendered = fast.render(index, path)
        assert json.loads(rendered) == slow
        assert rendered == json.dumps(slow, separators=(",", ":")).encode()  # byte for byte
        assert fast.receipt_text(index, path) == canonical_bytes(receipt_json(
            chain_id=CHAIN_ID, registry=REGISTRY, issuer_address=ISSUER, root=levels[-1], index=index, leaf_count=n,
            path=merkle.prove(levels, index), sides=sides_for(index, n), tx_hash=TX, block_number=12))
        assert decode_receipt(slow["proofValue"]) == json.loads(fast.receipt_text(index, path))


def test_the_renderer_agrees_with_the_exporters_path_text() -> None:
    """Export renders from iter_path_json, the proof endpoint from path_json: same entries."""
    n = 37
    levels, fast = tree(n), renderer(n)
    for index, path in enumerate(merkle.iter_path_json(levels)):
        assert path == merkle.path_json(levels, index, n)
        assert json.loads(fast.render(index, path)) == entry_for(index, n)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 2000), pick=st.integers(0, 2**31), chain_id=st.integers(1, 2**63), block=st.integers(0, 2**63))
def test_the_renderer_matches_render_proof_for_any_batch(n: int, pick: int, chain_id: int, block: int) -> None:
    index = pick % n
    root = merkle.hash_leaf(b"root %d" % n)
    siblings = [merkle.hash_leaf(b"%d" % i) for i in range(merkle.proof_length(index, n))]
    path = ",".join(merkle.path_step_json(pos, s) for (_, pos), s in zip(merkle.path_positions(index, n), siblings, strict=True))
    fast = ReceiptRenderer(chain_id=chain_id, registry=REGISTRY, issuer_address=ISSUER, root=root, leaf_count=n, tx_hash=TX,
                           block_number=block, block_time=BLOCK_TIME)
    slow = render_proof(chain_id=chain_id, registry=REGISTRY, issuer_address=ISSUER, root=root, index=index, leaf_count=n,
                        path=siblings, sides=sides_for(index, n), tx_hash=TX, block_number=block, created="2026-01-02T00:00:00Z")
    assert fast.render(index, path) == json.dumps(slow, separators=(",", ":")).encode()
    assert AnchorProof.from_json(slow).index == index


# ---------------------------------------------------------------------------- decoding: one spelling, or malformed_proof


def u(text: bytes) -> str:
    return encode_receipt(text)


GOOD = entry_for()["proofValue"]


def test_encode_receipt_is_multibase_base64url_without_padding() -> None:
    assert encode_receipt(b"{}") == "ue30"
    assert base64.b64encode(b"\xfb\xff") == b"+/8=" and encode_receipt(b"\xfb\xff") == "u-_8"  # URL alphabet, no padding
    assert all(c not in GOOD for c in "+/=")


@pytest.mark.parametrize(("value", "why"), [
    (None, "multibase"), (42, "multibase"), (b"ue30", "multibase"), ({"u": "e30"}, "multibase"),
    ("", "multibase"), ("e30", "multibase"),  # no multibase prefix at all
    ("ze30", "multibase"), ("me30", "multibase"), ("Ue30", "multibase"),  # base58btc, base64 (RFC 4648), base64urlpad are other codes
    ("u", "padding"), ("ue30=", "padding"), ("ue3==", "padding"),
    ("ue31", "canonical"),  # the same bytes with non-zero trailing bits: a second spelling of {}
    ("u" + GOOD[1:-1] + chr(ord(GOOD[-1]) ^ 1), "canonical|JSON"),
    ("ue3+", "base64url"), ("ue3/", "base64url"), ("ue3 0", "base64url"), ("ue3\n0", "base64url"), ("ue30\u00e9", "padding"),
    ("ue", "base64url"),  # one character is not a whole byte
])
def test_decode_refuses_anything_but_canonical_base64url(value: object, why: str) -> None:
    message = malformed(lambda: decode_receipt(value))
    assert any(w in message for w in why.split("|")), message


def test_decode_refuses_an_oversized_receipt_before_decoding_it() -> None:
    big = u(json.dumps({"pad": "x" * MAX_RECEIPT}).encode())
    assert "longer than" in malformed(lambda: decode_receipt(big))
    fits = u(json.dumps({"pad": "x" * (MAX_RECEIPT * 3 // 4 - 20)}).encode())
    assert len(fits) <= MAX_RECEIPT and decode_receipt(fits)["pad"]
    # The longest receipt a real batch can have (64 steps, the widest numbers) fits with room to spare.
    deep = receipt_json(chain_id=CHAIN_ID, registry=REGISTRY, issuer_address=ISSUER, root=b"\x01" * 32, index=0, leaf_count=2**63,
                        path=[b"\x02" * 32] * MAX_PATH, sides=["right"] * MAX_PATH, tx_hash=TX, block_number=2**63)
    assert len(wrap_receipt(deep, created="2026-01-02T00:00:00Z")["proofValue"]) <= MAX_RECEIPT


@pytest.mark.parametrize(("text", "why"), [
    (b"[]", "object"), (b"42", "object"), (b'"receipt"', "object"), (b"null", "object"), (b"true", "object"),
    (b'{"chainId":1,"chainId":31337}', "duplicate"),
    (b'{"a":1', "JSON"), (b" ", "JSON"), (b'{}{}', "JSON"), (b"\xff\xfe{}", "JSON"), (b'{"a":NaN}', "JSON"),
    (b"[" * 40 + b"]" * 40, "JSON"),
])
def test_decode_refuses_a_receipt_that_is_not_one_json_object(text: bytes, why: str) -> None:
    message = malformed(lambda: decode_receipt(u(text)))
    assert why.lower() in message.lower(), message


def test_a_bad_proof_value_makes_the_whole_proof_malformed() -> None:
    for value in ("ue31", "ue30=", "z" + GOOD[1:], u(b"[]"), u(b'{"leafIndex":1,"leafIndex":2}'), GOOD + "A"):
        entry = {**entry_for(), "proofValue": value}
        malformed(lambda entry=entry: AnchorProof.from_json(entry))
        malformed(lambda entry=entry: find_anchor_proof({"proof": [entry]}))


# ---------------------------------------------------------------------------- the verification method


def test_the_verification_method_must_name_the_receipts_chain_and_account() -> None:
    good = entry_for()
    assert AnchorProof.from_json(good).issuer_address == ISSUER
    # Any case of the address names the same account (CAIP-10 does not fix a case).
    assert AnchorProof.from_json({**good, "verificationMethod": good["verificationMethod"].lower()}) == AnchorProof.from_json(good)
    for method in (account_method(CHAIN_ID, MALLORY), account_method(1, ISSUER), account_method(CHAIN_ID, ISSUER).replace("#", "#key-"),
                   f"did:pkh:eip155:{CHAIN_ID}:{ISSUER}", f"did:pkh:eip155:{CHAIN_ID}:{ISSUER[:-1]}#blockchainAccountId",
                   f"did:pkh:solana:{CHAIN_ID}:{ISSUER}#blockchainAccountId", "did:key:z6Mk#z6Mk", "", None, 31337,
                   [account_method(CHAIN_ID, ISSUER)]):
        assert "verificationMethod" in malformed(lambda m=method: AnchorProof.from_json({**good, "verificationMethod": m}))
    without = {k: v for k, v in good.items() if k != "verificationMethod"}
    assert "verificationMethod" in malformed(lambda: AnchorProof.from_json(without))


@pytest.mark.parametrize(("key", "value"), [("issuerAddress", MALLORY), ("chainId", 1)])
def test_changing_the_receipts_chain_or_account_alone_is_malformed(key: str, value: object) -> None:
    """The receipt and its verification method must be changed together; one alone is a
    malformed proof, before the chain is asked anything."""
    entry = entry_for()
    receipt = json.loads(json.dumps(decode_receipt(entry["proofValue"])))
    receipt[key] = value
    set_receipt(entry, receipt, follow_method=False)
    assert "verificationMethod" in malformed(lambda: AnchorProof.from_json(entry))
    set_receipt(entry, receipt)  # both changed: well formed (and then up to the chain to refuse)
    assert getattr(AnchorProof.from_json(entry), {"issuerAddress": "issuer_address", "chainId": "chain_id"}[key]) == value


def test_the_verification_method_is_checked_in_the_verdict() -> None:
    from anchor.core.verdict import prepare

    badge = {"proof": [{**entry_for(), "verificationMethod": account_method(CHAIN_ID, MALLORY)}]}
    prepared = prepare(badge)
    assert prepared.proof is None and prepared.proof_check.reason == "malformed_proof"


# ---------------------------------------------------------------------------- round trips


addresses = st.binary(min_size=20, max_size=20).map(lambda b: checksum("0x" + b.hex()))
hashes = st.binary(min_size=32, max_size=32)


@st.composite
def receipts(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 2**63 - 1))
    index = draw(st.integers(0, n - 1))
    steps = draw(st.integers(0, MAX_PATH))
    return receipt_json(chain_id=draw(st.integers(1, 2**64 - 1)), registry=draw(addresses), issuer_address=draw(addresses),
                        root=draw(hashes), index=index, leaf_count=n, path=draw(st.lists(hashes, min_size=steps, max_size=steps)),
                        sides=draw(st.lists(st.sampled_from(["left", "right"]), min_size=steps, max_size=steps)),
                        tx_hash=draw(hashes), block_number=draw(st.integers(0, 2**63)))


@settings(max_examples=200, deadline=None)
@given(receipt=receipts(), created=st.sampled_from(["2026-01-02T00:00:00Z", "1970-01-01T00:00:00Z", ""]))
def test_any_receipt_round_trips(receipt: dict[str, Any], created: str) -> None:
    entry = wrap_receipt(receipt, created=created)
    assert decode_receipt(entry["proofValue"]) == receipt
    text = receipt_text_of(entry["proofValue"])
    assert text == json.dumps(receipt, sort_keys=True, separators=(",", ":")).encode()
    if max(receipt["chainId"], receipt["leafCount"], receipt["blockNumber"]) < 2**53:  # (RFC 8785 has no larger integers)
        assert text == canonical_bytes(receipt)
    proof = AnchorProof.from_json(json.loads(json.dumps(entry)))
    assert proof.receipt() == receipt
    assert proof.to_json() == entry
    assert AnchorProof.from_json(legacy_entry(entry)) == proof  # the legacy form carries the same facts


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(obj=st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_any_json_object_round_trips(obj: dict[str, Any]) -> None:
    value = encode_receipt(canonical_bytes(obj))
    assert decode_receipt(value) == obj
    assert encode_receipt(receipt_text_of(value)) == value


@settings(max_examples=200, deadline=None)
@given(text=st.binary(max_size=200))
def test_encode_then_decode_gives_back_the_bytes_or_refuses(text: bytes) -> None:
    value = encode_receipt(text)
    assert value[0] == "u" and set(value[1:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert receipt_text_of(value) == text
    try:
        decoded = decode_receipt(value)
    except VerificationError as e:
        assert e.reason == "malformed_proof"
    else:
        assert isinstance(decoded, dict) and decoded == json.loads(text)


@settings(max_examples=200, deadline=None)
@given(value=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=64))
def test_every_accepted_spelling_is_the_encoders_spelling(value: str) -> None:
    """Decoding never accepts two spellings of one receipt: what decodes re-encodes to itself."""
    try:
        receipt = decode_receipt("u" + value)
    except VerificationError as e:
        assert e.reason == "malformed_proof"
        return
    assert encode_receipt(receipt_text_of("u" + value)) == "u" + value
    assert isinstance(receipt, dict)
