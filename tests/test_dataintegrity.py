"""eddsa-rdfc-2022 Data Integrity proofs (anchor.core.dataintegrity), multibase and Ed25519 keys:
the official W3C vc-di-eddsa test vector byte for byte, openbadgeslib accepting what anchor
signs (one proof or a proof set) and anchor accepting what openbadgeslib signs, and no signed
value changing without the proof failing."""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openbadgeslib.ob3.credential import OpenBadgeCredential
from openbadgeslib.ob3.ldp import OB3LdpSigner, OB3LdpVerifier, add_data_integrity_proof
from openbadgeslib.ob3.verifier import OB3VerificationError

from anchor.core import dataintegrity, ed25519, jsonld, multibase
from anchor.core.dataintegrity import create_proof, hash_data, verify_proof
from anchor.core.errors import InputError, VerificationError
from anchor.core.jsonld import Canonicalizer
from tests.test_rdfc import ANCHOR_SLOTS, credentials

VECTORS = Path(__file__).parent / "vectors" / "di"
EXAMPLES_V2 = "https://www.w3.org/ns/credentials/examples/v2"
# The W3C examples context the vectors need: this loader only, never the product's.
VECTOR_LOADER = jsonld.ContextLoader({EXAMPLES_V2: json.loads((VECTORS / "credentials_examples_v2.jsonld").read_text())})


def vector(name: str) -> Any:
    text = (VECTORS / name).read_text()
    return json.loads(text) if name.endswith(".json") else text


def vector_key() -> ed25519.SigningKey:
    secret = multibase.decode(vector("keyPair.json")["privateKeyMultibase"])
    assert secret[:2] == b"\x80\x26"  # multicodec ed25519-priv
    return ed25519.SigningKey.from_seed(secret[2:])


# ----------------------------------------------------------------------------- the W3C test vector


def test_w3c_vector_canonical_forms_hashes_and_signature() -> None:
    unsigned = vector("unsigned.json")
    config = vector("proofConfigDataInt.json")
    canonical_doc = jsonld.to_nquads(unsigned, loader=VECTOR_LOADER)
    canonical_config = jsonld.to_nquads(config, loader=VECTOR_LOADER)
    assert canonical_doc == vector("canonDocDataInt.txt")
    assert canonical_config == vector("proofCanonDataInt.txt")
    assert hashlib.sha256(canonical_doc.encode()).hexdigest() == vector("docHashDataInt.txt")
    assert hashlib.sha256(canonical_config.encode()).hexdigest() == vector("proofHashDataInt.txt")
    proof = {k: v for k, v in config.items() if k != "@context"}
    data = hash_data(unsigned, proof, loader=VECTOR_LOADER)
    assert data.hex() == vector("combinedHashDataInt.txt")
    key = vector_key()
    assert key.public_multibase == vector("keyPair.json")["publicKeyMultibase"]
    assert key.sign(data).hex() == vector("sigHexDataInt.txt")
    assert multibase.encode_base58btc(key.sign(data)) == vector("sigBTC58DataInt.txt")


def test_w3c_vector_proof_is_reproduced_and_verifies() -> None:
    signed = vector("signedDataInt.json")
    config = vector("proofConfigDataInt.json")
    proof = create_proof(vector("unsigned.json"), vector_key(), config["verificationMethod"], config["created"], loader=VECTOR_LOADER)
    assert proof == signed["proof"]
    assert list(proof) == list(signed["proof"])
    public = ed25519.key_of_verification_method(proof["verificationMethod"])
    assert verify_proof(signed, signed["proof"], public, loader=VECTOR_LOADER) is True
    tampered = dict(signed, name="Alumni Credential!")
    assert verify_proof(tampered, signed["proof"], public, loader=VECTOR_LOADER) is False


def test_the_product_loader_does_not_serve_the_examples_context() -> None:
    with pytest.raises(VerificationError) as e:
        verify_proof(vector("signedDataInt.json"), vector("signedDataInt.json")["proof"], vector_key().public_key)
    assert e.value.reason == "unknown_context"


# ----------------------------------------------------------------------------- keys and encodings


@given(st.binary(max_size=80))
def test_multibase_round_trips(data: bytes) -> None:
    assert multibase.decode(multibase.encode_base58btc(data)) == data
    assert multibase.decode(multibase.encode_base64url(data)) == data
    assert "=" not in multibase.encode_base64url(data)


@given(st.binary(max_size=80))
def test_base58btc_matches_openbadgeslib(data: bytes) -> None:
    from openbadgeslib.ob3.did import _b58btc_encode

    assert multibase.b58encode(data) == _b58btc_encode(data)


# "uAB": 12 bits for one byte, the 4 left over not zero: another spelling of "uAA"'s byte
@pytest.mark.parametrize("text", ["", "x123", "z0OIl", "u=", "uAB=", "uA", "uAB", "f00", "u+/"])
def test_multibase_refuses_what_it_does_not_know(text: str) -> None:
    with pytest.raises(InputError) as e:
        multibase.decode(text)
    assert e.value.reason == "bad_multibase"


def test_signing_keys_never_show_their_secret() -> None:
    key = vector_key()
    secret = multibase.decode(vector("keyPair.json")["privateKeyMultibase"])[2:]
    for text in (repr(key), str(key), f"{key}"):
        assert text == "SigningKey(z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2)"
        assert secret.hex() not in text
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        copy.copy(key)
    pem = key.to_encrypted_pem(b"pw")
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert ed25519.SigningKey.from_pem(pem, b"pw") == key
    with pytest.raises(InputError) as e:
        ed25519.SigningKey.from_pem(pem, b"wrong")
    assert e.value.reason == "bad_signing_key"


def test_did_key_and_verification_methods() -> None:
    key = vector_key()
    did = ed25519.did_key(key.public_key)
    assert did == "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    vm = ed25519.verification_method(did, key.public_key)
    assert vm == vector("proofConfigDataInt.json")["verificationMethod"]
    assert ed25519.key_of_verification_method(vm) == key.public_key
    assert ed25519.key_of_verification_method(f"did:web:uni.example:issuers:1#{key.public_multibase}") == key.public_key
    assert ed25519.public_key_from_multibase(key.public_multibase) == key.public_key
    other = ed25519.SigningKey.from_seed(bytes(32))
    for bad in [f"did:key:{other.public_multibase}#{key.public_multibase}",  # a did:key names its own key only
                f"did:key:{key.public_multibase}", "did:web:uni.example#key-1", f"https://uni.example/k#{key.public_multibase}",
                f"did:web:#{key.public_multibase}", "did:web:uni.example#z" + "1" * 40]:
        with pytest.raises(InputError) as e:
            ed25519.key_of_verification_method(bad)
        assert e.value.reason == "bad_verification_method", bad
    with pytest.raises(InputError):
        ed25519.public_key_from_multibase("z" + multibase.b58encode(b"\xec\x01" + key.public_key))  # x25519, not ed25519


def test_verify_rejects_malformed_keys_and_signatures_without_raising() -> None:
    key = vector_key()
    sig = key.sign(b"m")
    assert ed25519.verify(key.public_key, sig, b"m")
    assert not ed25519.verify(key.public_key, sig, b"n")
    assert not ed25519.verify(key.public_key[:31], sig, b"m")
    assert not ed25519.verify(key.public_key, sig[:63], b"m")
    assert not ed25519.verify(b"\x00" * 32, sig, b"m")


# ----------------------------------------------------------------------------- anchor's credentials

KEY = ed25519.SigningKey.from_seed(bytes(range(32)))
DID = ed25519.did_key(KEY.public_key)
VM = ed25519.verification_method(DID, KEY.public_key)
CREATED = "2026-01-15T09:30:00Z"
MERKLE_PROOF = {"type": "DataIntegrityProof", "cryptosuite": "anchor-merkle-2026", "created": "2026-01-15T09:31:07Z",
                "verificationMethod": "did:pkh:eip155:31337:0x70997970C51812dc3A010C7d01b50e0d17dc79C8#blockchainAccountId",
                "proofPurpose": "assertionMethod", "proofValue": "ueyJjaGFpbklkIjozMTMzN30"}


def anchor_credential(i: int = 1, name: str = "Ada \"Lovelace\"\n😀") -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
        "id": f"urn:uuid:01a2232c-1f00-7000-8000-{i:012d}", "type": ["VerifiableCredential", "AchievementCredential"],
        "name": "Data Analytics", "issuer": {"id": DID, "type": ["Profile"], "name": "Demo University"},
        "validFrom": CREATED, "awardedDate": CREATED,
        "credentialSubject": {"type": ["AchievementSubject"], "identifier": [
            {"type": "IdentityObject", "identityHash": f"sha256${i:064x}", "identityType": "emailAddress", "hashed": True, "salt": f"{i:032x}"},
            {"type": "IdentityObject", "identityHash": name, "identityType": "name", "hashed": False}],
            "achievement": {"id": "https://uni.example/achievements/data", "type": ["Achievement"], "name": "Data Analytics",
                            "description": "SQL and Python.", "criteria": {"narrative": "Six modules."}, "achievementType": "MicroCredential"}},
        "credentialStatus": {"id": f"https://uni.example/status/1#{i}", "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
                             "statusListIndex": str(i), "statusListCredential": "https://uni.example/status/1"},
    }


def signed(doc: dict[str, Any], proof_set: bool = False) -> dict[str, Any]:
    proof = create_proof(doc, KEY, VM, CREATED)
    return dict(doc, proof=[proof, MERKLE_PROOF] if proof_set else proof)


def test_proof_shape() -> None:
    proof = create_proof(anchor_credential(), KEY, VM, datetime(2026, 1, 15, 9, 30, tzinfo=UTC))
    assert list(proof) == ["type", "cryptosuite", "created", "verificationMethod", "proofPurpose", "proofValue"]
    assert proof["created"] == CREATED and proof["verificationMethod"] == VM and proof["proofPurpose"] == "assertionMethod"
    assert proof["proofValue"].startswith("z") and len(multibase.decode(proof["proofValue"])) == 64
    assert dataintegrity.proof_options(VM, CREATED) == {k: v for k, v in proof.items() if k != "proofValue"}


def test_openbadgeslib_verifies_what_anchor_signs() -> None:
    doc = signed(anchor_credential())
    credential = OB3LdpVerifier().verify(doc)  # no pinned key: resolved from the did:key, bound to the issuer
    assert credential.id == doc["id"]
    assert OB3LdpVerifier.for_issuer_did(DID).verify(doc).issuer.id == DID


def test_openbadgeslib_verifies_anchors_proof_set_and_ignores_the_merkle_entry() -> None:
    doc = signed(anchor_credential(), proof_set=True)
    assert OB3LdpVerifier().verify(doc).id == doc["id"]
    assert verify_proof(doc, doc["proof"][0], KEY.public_key) is True
    # each proof covers the document without any proof: the set's order does not matter
    doc["proof"].reverse()
    assert OB3LdpVerifier().verify(doc).id == doc["id"]
    assert verify_proof(doc, doc["proof"][1], KEY.public_key) is True


def test_openbadgeslib_refuses_tampering_too() -> None:
    doc = signed(anchor_credential())
    doc["credentialSubject"]["identifier"][1]["identityHash"] = "Mallory"
    with pytest.raises(OB3VerificationError):
        OB3LdpVerifier().verify(doc)


def _pem(key: ed25519.SigningKey) -> bytes:
    return ed25519.SigningKey.from_pem(key.to_encrypted_pem(b"x"), b"x")._key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def test_anchor_verifies_what_openbadgeslib_signs() -> None:
    doc = anchor_credential()
    theirs = add_data_integrity_proof(doc, _pem(KEY), VM, created=datetime(2026, 1, 15, 9, 30, tzinfo=UTC))
    assert verify_proof(theirs, theirs["proof"], KEY.public_key) is True
    assert theirs["proof"] == create_proof(doc, KEY, VM, CREATED)  # Ed25519 is deterministic: the very same proof
    # its full OB 3.0 signer re-renders the credential (its own model, the extensions context)
    rendered = OB3LdpSigner(_pem(KEY)).sign(OpenBadgeCredential.from_vc_document(signed(doc)), created=datetime(2026, 2, 1, tzinfo=UTC))
    assert "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json" in rendered["@context"]
    assert verify_proof(rendered, rendered["proof"], KEY.public_key) is True
    assert verify_proof(rendered, rendered["proof"], ed25519.SigningKey.from_seed(bytes(32)).public_key) is False


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, (*path, i))
    else:
        yield path, node


def _tamper(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, str):
        return [value + "x", value[:-1] if value else "y", value.upper() if value != value.upper() else value.lower()]
    return [value + 1]


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        doc = doc[step]
    doc[path[-1]] = value


@pytest.mark.parametrize("canonicalizer", [None, "template"])
def test_changing_any_signed_value_fails_verification(canonicalizer: str | None) -> None:
    c = Canonicalizer(ANCHOR_SLOTS) if canonicalizer else None
    original = signed(anchor_credential())
    proof = original["proof"]
    assert verify_proof(original, proof, KEY.public_key, canonicalizer=c) is True
    checked = 0
    for path, value in _leaves({k: v for k, v in original.items() if k != "proof"}):
        for new in _tamper(value):
            if new == value:
                continue
            doc = copy.deepcopy(original)
            _set(doc, path, new)
            try:
                assert verify_proof(doc, proof, KEY.public_key, canonicalizer=c) is False, (path, new)
            except VerificationError:
                pass  # e.g. an id that is no longer an IRI, a context that is not pinned
            checked += 1
    for field in ["type", "cryptosuite", "created", "verificationMethod", "proofPurpose", "proofValue"]:
        for new in _tamper(proof[field]):
            bad = dict(proof, **{field: new})
            try:
                assert verify_proof(dict(original, proof=bad), bad, KEY.public_key, canonicalizer=c) is False, (field, new)
            except VerificationError:
                pass
            checked += 1
    assert checked > 80


def test_removing_or_adding_statements_fails_verification() -> None:
    original = signed(anchor_credential())
    proof = original["proof"]
    without = copy.deepcopy(original)
    del without["credentialStatus"]  # hiding the revocation entry
    assert verify_proof(without, proof, KEY.public_key) is False
    added = copy.deepcopy(original)
    added["validUntil"] = "2027-01-01T00:00:00Z"
    assert verify_proof(added, proof, KEY.public_key) is False
    unsigned_member = copy.deepcopy(original)
    unsigned_member["motto"] = "not defined by any pinned context"
    with pytest.raises(VerificationError) as e:
        verify_proof(unsigned_member, proof, KEY.public_key)
    assert e.value.reason == "jsonld_dropped_term"


@pytest.mark.parametrize(("change", "reason"), [
    ({"cryptosuite": "ecdsa-rdfc-2019"}, "unsupported_cryptosuite"),
    ({"type": "Ed25519Signature2020"}, "unsupported_cryptosuite"),
    ({"proofValue": "u" + "A" * 86}, "proof_value_malformed"),
    ({"proofValue": "z" + "1" * 10}, "proof_value_malformed"),
    ({"proofValue": "z0OIl"}, "proof_value_malformed"),
    ({"proofValue": 7}, "proof_value_malformed"),
])
def test_malformed_proofs_are_errors_not_false(change: dict[str, Any], reason: str) -> None:
    doc = signed(anchor_credential())
    with pytest.raises(VerificationError) as e:
        verify_proof(doc, dict(doc["proof"], **change), KEY.public_key)
    assert e.value.reason == reason
    with pytest.raises(VerificationError) as e:
        verify_proof(doc, "not an object", KEY.public_key)  # type: ignore[arg-type]
    assert e.value.reason == "proof_malformed"


def test_a_proof_must_name_the_signing_key() -> None:
    other = ed25519.SigningKey.from_seed(bytes(32))
    with pytest.raises(InputError) as e:
        create_proof(anchor_credential(), other, VM, CREATED)
    assert e.value.reason == "bad_verification_method"


def test_proof_config_hash_is_cached_and_equals_the_general_path() -> None:
    doc = anchor_credential()
    before = dict(dataintegrity._config_hashes)
    first = create_proof(doc, KEY, VM, "2031-05-05T05:05:05Z")
    assert len(dataintegrity._config_hashes) == min(len(before) + 1, 4096)
    assert create_proof(doc, KEY, VM, "2031-05-05T05:05:05Z") == first
    config = dict(dataintegrity.proof_options(VM, "2031-05-05T05:05:05Z"), **{"@context": doc["@context"]})
    key = (VM, "2031-05-05T05:05:05Z", "assertionMethod", "DataIntegrityProof", "eddsa-rdfc-2022", tuple(doc["@context"]))
    assert dataintegrity._config_hashes[key] == hashlib.sha256(jsonld.to_nquads(config).encode()).digest()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(credentials(), st.booleans())
def test_sign_and_verify_generated_credentials_both_paths(doc: dict[str, Any], proof_set: bool) -> None:
    doc["issuer"]["id"] = DID
    canonicalizer = Canonicalizer(ANCHOR_SLOTS)
    try:
        general = create_proof(doc, KEY, VM, CREATED)
    except InputError as e:
        assert e.reason == "rdf_not_portable"
        return
    assert create_proof(doc, KEY, VM, CREATED, canonicalizer=canonicalizer) == general
    secured = dict(doc, proof=[MERKLE_PROOF, general] if proof_set else general)
    assert verify_proof(secured, general, KEY.public_key) is True
    assert verify_proof(secured, general, KEY.public_key, canonicalizer=canonicalizer) is True
    assert OB3LdpVerifier().verify(secured).id == doc["id"]
