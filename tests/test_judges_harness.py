"""The independent judges (tests/judges.py) can pass AND fail, and what they say about the proof set.

The credential here is signed by openbadgeslib's OB3LdpSigner, not by anchor: these tests check the
harness, so the signer under test must be someone else's. The document follows the layout of the
issue 10 design (VC 2.0 + OB 3.0.3 contexts, AchievementCredential, awardedDate, a
BitstringStatusListEntry), and the proof-set tests append the anchor-merkle-2026 entry the design
puts next to the eddsa-rdfc-2022 proof.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from openbadgeslib.ob3.credential import Achievement, Issuer, OpenBadgeCredential
from openbadgeslib.ob3.did import did_key_from_pem, multikey_from_pem
from openbadgeslib.ob3.ldp import OB3LdpSigner, OB3LdpVerifier, add_data_integrity_proof

from tests.judges import JudgeHarnessError, di_verify, jsonld_safe_expand, run_judge, status_check

VC2 = "https://www.w3.org/ns/credentials/v2"
OB303 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
STATUS_LIST = "https://issuer.example/status/revocation/1"
STATUS_INDEX = 7
SIGNED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

ANCHOR_ENTRY: dict[str, Any] = {
    "type": "DataIntegrityProof",
    "cryptosuite": "anchor-merkle-2026",
    "created": "2026-01-02T03:05:17Z",
    "verificationMethod": "did:pkh:eip155:31337:0x70997970C51812dc3A010C7d01b50e0d17dc79C8#blockchainAccountId",
    "proofPurpose": "assertionMethod",
    "proofValue": "u"
    + base64.urlsafe_b64encode(b'{"chainId":31337,"leafCount":1,"leafIndex":0,"merkleRoot":"0x00"}').rstrip(b"=").decode(),
}


class AchievementCredential(OpenBadgeCredential):
    """openbadgeslib's model emitting the design's layout: only the VC 2.0 and OB 3.0.3 contexts
    (so no credentialSchema, whose type needs the OB extensions context), AchievementCredential,
    awardedDate and a Bitstring Status List entry."""

    def to_vc(self) -> dict[str, Any]:
        vc = super().to_vc()
        vc.pop("credentialSchema", None)
        vc["@context"] = [VC2, OB303]
        vc["type"] = ["VerifiableCredential", "AchievementCredential"]
        vc["awardedDate"] = vc["validFrom"]
        vc["credentialStatus"] = {
            "id": f"{STATUS_LIST}#{STATUS_INDEX}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(STATUS_INDEX),
            "statusListCredential": STATUS_LIST,
        }
        return vc


class Key:
    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.pem = self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        public_pem = self.private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.multibase = multikey_from_pem(public_pem)
        self.did_key = did_key_from_pem(public_pem)


def sign(key: Key, issuer_did: str, verification_method: str | None = None) -> dict[str, Any]:
    credential = AchievementCredential(
        issuer=Issuer(id=issuer_did, name="Example University"),
        recipient_id="mailto:ada@example.org",
        achievement=Achievement(
            id="https://issuer.example/achievements/rdf-101",
            name="RDF 101",
            description="Canonicalizes datasets by hand.",
            criteria_narrative="Passed the final exam.",
        ),
        id="urn:uuid:2f6b8e0c-9a3e-4f0e-8a57-6d3c1b2a9f10",
        issuance_date=SIGNED_AT,
    )
    return OB3LdpSigner(key.pem, verification_method).sign(credential, created=SIGNED_AT)


def with_proof_set(signed: dict[str, Any], *, anchor_first: bool = False) -> dict[str, Any]:
    doc = copy.deepcopy(signed)
    entries = [doc["proof"], copy.deepcopy(ANCHOR_ENTRY)]
    doc["proof"] = entries[::-1] if anchor_first else entries
    return doc


@pytest.fixture(scope="module")
def key() -> Key:
    return Key()


@pytest.fixture(scope="module")
def signed(key: Key) -> dict[str, Any]:
    return sign(key, key.did_key)


def change_one_byte(value: str) -> str:
    """The same text with one byte changed: its last digit (so a date stays a valid date), else its last character."""
    digits = [i for i, c in enumerate(value) if c.isdigit()]
    i = digits[-1] if digits else len(value) - 1
    replacement = str((int(value[i]) + 1) % 10) if digits else ("X" if value[i] != "X" else "Y")
    return value[:i] + replacement + value[i + 1 :]


# ------------------------------------------------------------------------------ verify-di


def test_openbadgeslib_signed_credential_verifies(signed: dict[str, Any]) -> None:
    result = di_verify(signed)
    assert result.verified, result.messages
    assert result.errors == []
    assert [p["cryptosuite"] for p in result.raw["proofs"]] == ["eddsa-rdfc-2022"]
    sources = {entry["url"]: entry["source"] for entry in result.raw["loaded"]}
    # The contexts come from the files anchor ships, the key from the did:key itself.
    assert sources[VC2] == "anchor:credentials_v2_context.jsonld"
    assert sources[OB303] == "anchor:ob_v3p0_context-3.0.3.json"
    assert sources[signed["proof"]["verificationMethod"]] == "did:key"


@pytest.mark.parametrize(
    "path",
    [("name",), ("issuer", "name"), ("credentialSubject", "achievement", "criteria", "narrative"), ("validFrom",)],
    ids=".".join,
)
def test_one_changed_byte_is_not_verified(signed: dict[str, Any], path: tuple[str, ...]) -> None:
    doc = copy.deepcopy(signed)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = change_one_byte(parent[path[-1]])
    result = di_verify(doc)
    assert not result.verified
    assert result.messages == ["Invalid signature."]


def test_changed_proof_value_is_not_verified(signed: dict[str, Any]) -> None:
    doc = copy.deepcopy(signed)
    value = doc["proof"]["proofValue"]
    doc["proof"]["proofValue"] = value[:10] + ("2" if value[10] != "2" else "3") + value[11:]
    result = di_verify(doc)
    assert not result.verified
    assert result.messages == ["Invalid signature."]


@pytest.mark.parametrize("anchor_first", [False, True], ids=["eddsa-first", "anchor-first"])
def test_proof_set_with_anchor_entry_still_verifies(signed: dict[str, Any], anchor_first: bool) -> None:
    """jsonld-signatures' ProofSet keeps the entries whose proofPurpose matches AND whose
    (type, cryptosuite) a given suite accepts; the anchor-merkle-2026 entry matches no suite, so it is
    skipped (neither verified nor an error) and the credential is verified by the eddsa entry."""
    result = di_verify(with_proof_set(signed, anchor_first=anchor_first))
    assert result.verified, result.messages
    assert [p["cryptosuite"] for p in result.raw["proofs"]] == ["eddsa-rdfc-2022"]
    assert result.raw["ignoredProofs"] == [{"type": "DataIntegrityProof", "cryptosuite": "anchor-merkle-2026"}]
    # The did:pkh method of the skipped entry was never resolved (the offline loader would have failed).
    assert all(not entry["url"].startswith("did:pkh:") for entry in result.raw["loaded"])


def test_proof_set_does_not_hide_a_bad_signature(signed: dict[str, Any]) -> None:
    doc = with_proof_set(signed)
    doc["name"] = change_one_byte(doc["name"])
    result = di_verify(doc)
    assert not result.verified
    assert result.messages == ["Invalid signature."]


def test_anchor_entry_alone_is_not_verified(signed: dict[str, Any]) -> None:
    doc = copy.deepcopy(signed)
    doc["proof"] = copy.deepcopy(ANCHOR_ENTRY)
    result = di_verify(doc)
    assert not result.verified
    assert result.errors[0]["name"] == "NotFoundError"
    assert "insufficient proofs matched" in result.messages[0]


def test_openbadgeslib_verifier_accepts_the_proof_set_too(signed: dict[str, Any]) -> None:
    """The other judge of the design: openbadgeslib selects the one eddsa-rdfc-2022 entry."""
    verified = OB3LdpVerifier().verify(with_proof_set(signed))
    assert verified.id == signed["id"]


def test_did_web_resolves_only_from_the_given_controller_document(key: Key) -> None:
    did = "did:web:issuer.example"
    vm = f"{did}#{key.multibase}"
    doc = sign(key, did, vm)
    controller = {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": [{"id": vm, "type": "Multikey", "controller": did, "publicKeyMultibase": key.multibase}],
        "assertionMethod": [vm],
    }
    assert di_verify(doc, controllers={did: controller}).verified

    offline = di_verify(doc)
    assert not offline.verified
    assert any("neither given nor pinned" in m for m in offline.messages), offline.messages

    not_authorized = dict(controller, assertionMethod=[])
    refused = di_verify(doc, controllers={did: not_authorized})
    assert not refused.verified
    assert any("not authorized by controller" in m for m in refused.messages), refused.messages


# ------------------------------------------------------------------------------ expand-safe


def test_safe_expansion_accepts_the_signed_proof_set(signed: dict[str, Any]) -> None:
    result = jsonld_safe_expand(with_proof_set(signed))
    assert result.ok, result.messages
    (node,) = result.raw["expanded"]
    proofs = node["https://w3id.org/security#proof"]
    suites = sorted(p["@graph"][0]["https://w3id.org/security#cryptosuite"][0]["@value"] for p in proofs)
    assert suites == ["anchor-merkle-2026", "eddsa-rdfc-2022"]
    anchor = next(p["@graph"][0] for p in proofs if "anchor" in json.dumps(p))
    assert anchor["https://w3id.org/security#proofValue"][0]["@value"] == ANCHOR_ENTRY["proofValue"]
    assert node["https://purl.imsglobal.org/spec/vc/ob/vocab.html#awardedDate"]


def test_safe_expansion_refuses_an_undefined_term(signed: dict[str, Any]) -> None:
    doc = dict(signed, foo=1)
    result = jsonld_safe_expand(doc)
    assert not result.ok
    (error,) = result.errors
    assert error["name"] == "jsonld.ValidationError"
    assert error["message"] == "Safe mode validation error."
    assert error["event"]["code"] == "invalid property"
    assert error["event"]["details"] == {"property": "foo", "expandedProperty": "foo"}


def test_safe_expansion_refuses_a_context_it_cannot_load_offline(signed: dict[str, Any]) -> None:
    doc = dict(signed)
    doc["@context"] = [*signed["@context"], "https://example.com/unpinned-context.jsonld"]
    result = jsonld_safe_expand(doc)
    assert not result.ok
    assert result.errors[0]["code"] == "loading remote context failed"
    assert "neither given nor pinned" in result.errors[0]["cause"]

    served = jsonld_safe_expand(doc, contexts={"https://example.com/unpinned-context.jsonld": {"@context": {}}})
    assert served.ok, served.messages


# ------------------------------------------------------------------------------ verify-status


def status_list_credential(key: Key, *, revoked: set[int]) -> dict[str, Any]:
    bits = bytearray(16 * 1024)  # 131,072 entries, the spec's minimum; index 0 = most significant bit of byte 0
    for index in revoked:
        bits[index // 8] |= 0x80 >> (index % 8)
    encoded = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(bits))).rstrip(b"=").decode()
    document = {
        "@context": [VC2],
        "id": STATUS_LIST,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": key.did_key,
        "validFrom": "2026-01-02T03:04:05Z",
        "credentialSubject": {
            "id": f"{STATUS_LIST}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encoded,
        },
    }
    return add_data_integrity_proof(document, key.pem, f"{key.did_key}#{key.multibase}", created=SIGNED_AT)


@pytest.mark.parametrize("revoked", [False, True], ids=["active", "revoked"])
def test_status_judge_reads_the_bit(key: Key, signed: dict[str, Any], revoked: bool) -> None:
    status_list = status_list_credential(key, revoked={STATUS_INDEX} if revoked else {STATUS_INDEX + 1})
    result = status_check(signed, {STATUS_LIST: status_list})
    assert result.passed, result.messages
    assert [s["status"] for s in result.raw["statuses"]] == [revoked]


def test_status_judge_refuses_a_tampered_status_list(key: Key, signed: dict[str, Any]) -> None:
    status_list = status_list_credential(key, revoked=set())
    status_list["credentialSubject"]["encodedList"] = status_list_credential(key, revoked={STATUS_INDEX})["credentialSubject"][
        "encodedList"
    ]
    result = status_check(signed, {STATUS_LIST: status_list})
    assert not result.passed
    assert "not verified" in result.messages[0]


def test_status_judge_has_no_network(signed: dict[str, Any]) -> None:
    result = status_check(signed, {})
    assert not result.passed
    assert "Could not load" in result.messages[0]


# ------------------------------------------------------------------------------ harness failures


def test_a_broken_request_raises_instead_of_returning_a_verdict(signed: dict[str, Any]) -> None:
    with pytest.raises(JudgeHarnessError, match="unknown op"):
        run_judge({"op": "verify-everything", "document": signed})
    with pytest.raises(JudgeHarnessError, match='"document" must be a JSON object'):
        run_judge({"op": "verify-di", "document": [signed]})
    with pytest.raises(JudgeHarnessError, match="timed out"):
        di_verify(signed, timeout=0.001)


def test_the_verifier_clock_is_the_requests(signed: dict[str, Any]) -> None:
    early = di_verify(signed, now="2025-12-31T23:59:59Z")
    assert not early.verified
    assert early.messages == ['The current date time (2025-12-31T23:59:59.000Z) is before "validFrom" (2026-01-02T03:04:05Z).']
    assert di_verify(signed, now="2026-01-02T03:04:05Z").verified


@pytest.mark.parametrize("url", ["https://w3id.org/security/data-integrity/v2", "https://w3id.org/security/multikey/v1"])
def test_security_contexts_are_served_offline(url: str) -> None:
    """Pinned by anchor in src/anchor/schemas/ once shipped; openbadgeslib's copy until then."""
    term = "DataIntegrityProof" if "data-integrity" in url else "Multikey"
    result = jsonld_safe_expand({"@context": url, "id": "urn:example:1", "type": term})
    assert result.ok, result.messages
    (source,) = {entry["source"] for entry in result.raw["loaded"]}
    assert source.split(":")[0] in {"anchor", "openbadgeslib"}
    assert result.raw["expanded"][0]["@type"] == [f"https://w3id.org/security#{term}"]
