"""Signing badges at export, issuer DIDs, export forms and the JWT envelope check (pure, no chain)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchor.app.badge_forms import FormRenderer, parse_formats
from anchor.app.registration import issuer_did
from anchor.app.signing import BadgeSigner, signer_for
from anchor.core import jwt
from anchor.core.achievement import build_achievement, parse_achievement_text
from anchor.core.credential import CredentialFactory, IssuerProfile
from anchor.core.dataintegrity import create_proof, verify_proof
from anchor.core.did import did_document, did_web, did_web_document_url, did_web_for_url, did_web_path
from anchor.core.ed25519 import SigningKey, did_key
from anchor.core.errors import ConfigError, InputError, StoreError
from anchor.core.forms import read_badge
from anchor.core.signature import check_jwt, check_signature, combine
from tests.helpers import EXAMPLES

KEY = SigningKey.from_seed(bytes(range(32)))
DID = did_key(KEY.public_key)
ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def credential(did: str = DID, n: int = 0) -> bytes:
    achievement = build_achievement(parse_achievement_text((EXAMPLES / "achievement.yaml").read_text()))
    factory = CredentialFactory(IssuerProfile(id=did, name="Uni"), achievement)
    return factory.build(name=f"Ada {n} “Lovelace”", email=f"ada{n}@example.org", valid_from=datetime(2026, 11, 28, tzinfo=UTC),
                         status=("http://127.0.0.1:8000/status/0xabc/0", n)).canonical


def signed(document: bytes, signer: BadgeSigner) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(document)
    out["proof"] = [json.loads(signer(document))]
    return out


def test_badge_signer_makes_the_proof_create_proof_makes_and_it_verifies() -> None:
    signer = BadgeSigner(KEY, DID)
    for n in range(3):
        document = credential(n=n)
        entry = json.loads(signer(document))
        assert entry == create_proof(json.loads(document), KEY, signer.verification_method, json.loads(document)["validFrom"])
        assert verify_proof(signed(document, signer), entry, KEY.public_key)
        claim = check_signature(signed(document, signer), DID)
        assert claim is not None and claim.ok and claim.public_key == KEY.public_key


def test_badge_signer_refuses_a_credential_of_another_issuer() -> None:
    with pytest.raises(StoreError, match="names issuer"):
        BadgeSigner(KEY, DID)(credential(did="did:web:other.example"))


def test_signer_for_refuses_what_would_not_verify() -> None:
    other = SigningKey.from_seed(bytes(32))
    with pytest.raises(ConfigError, match="no DID"):
        signer_for("https://uni.example/issuer", KEY, KEY.public_key)
    with pytest.raises(ConfigError, match="not this issuer's current key"):
        signer_for(DID, other, KEY.public_key)
    with pytest.raises(ConfigError, match="did:key of another key"):
        signer_for(DID, other, None)
    assert signer_for("did:web:uni.example", other, other.public_key).verification_method == f"did:web:uni.example#{other.public_multibase}"


def test_issuer_did_choices() -> None:
    assert issuer_did(profile_id=None, did_method="key", key=KEY, public_url="http://x", address=ADDRESS) == DID
    web = issuer_did(profile_id=None, did_method="web", key=KEY, public_url="http://127.0.0.1:8000", address=ADDRESS)
    assert web == f"did:web:127.0.0.1%3A8000:issuers:{ADDRESS}"
    assert did_web_document_url(web) == f"https://127.0.0.1:8000/issuers/{ADDRESS}/did.json"
    assert issuer_did(profile_id=" did:web:uni.example ", did_method="key", key=KEY, public_url="http://x", address=ADDRESS) == "did:web:uni.example"
    with pytest.raises(InputError, match="must be a DID"):
        issuer_did(profile_id="https://uni.example/issuer", did_method="key", key=KEY, public_url="http://x", address=ADDRESS)
    with pytest.raises(InputError, match="another key"):
        issuer_did(profile_id=did_key(bytes(32)), did_method="key", key=KEY, public_url="http://x", address=ADDRESS)


def test_did_web_names_and_documents() -> None:
    assert did_web("Uni.Example") == "did:web:uni.example"
    assert did_web_document_url("did:web:uni.example") == "https://uni.example/.well-known/did.json"
    assert did_web_for_url("https://anchor.uni.example/badges/", "issuers", "0xab") == "did:web:anchor.uni.example:badges:issuers:0xab"
    assert did_web_path("did:web:127.0.0.1%3A8000:issuers:0xab") == ("127.0.0.1:8000", ("issuers", "0xab"))
    for bad in ("uni example", "-uni.example", "uni.example/path", ""):
        with pytest.raises(InputError):
            did_web(bad)
    with pytest.raises(InputError):
        did_web_for_url("ftp://uni.example")
    doc = did_document("did:web:uni.example", ["z6Mkold", "z6Mknew"])
    assert [m["id"] for m in doc["verificationMethod"]] == ["did:web:uni.example#z6Mkold", "did:web:uni.example#z6Mknew"]
    assert doc["assertionMethod"] == ["did:web:uni.example#z6Mknew", "did:web:uni.example#z6Mkold"]


def test_parse_formats() -> None:
    assert parse_formats("json, PNG,png") == ("json", "png")
    for bad in ("", "pdf", "json,gif"):
        with pytest.raises(InputError, match="--format"):
            parse_formats(bad)


def test_every_form_reads_back_to_the_same_credential_and_says_which_it_was() -> None:
    signer = BadgeSigner(KEY, DID)
    document = credential()
    badge = json.dumps(signed(document, signer)).encode()
    files = dict(FormRenderer(("json", "jwt", "png", "svg"), signer)("abc", badge))
    assert sorted(files) == ["abc.json", "abc.jwt", "abc.png", "abc.svg"]
    for name, data in files.items():
        presented = read_badge(data)
        assert presented.format == name.rsplit(".", 1)[1]
        assert presented.credential == json.loads(badge)
    with pytest.raises(InputError, match="signing key"):
        FormRenderer(("jwt",), None)


def test_a_jwt_must_be_signed_by_the_credentials_own_key() -> None:
    signer = BadgeSigner(KEY, DID)
    body = signed(credential(), signer)
    token = jwt.decode(jwt.encode(body, KEY.sign, signer.verification_method))
    embedded = check_signature(body, DID)
    envelope = check_jwt(token, DID)
    assert envelope.ok and (both := combine(embedded, envelope)) is not None and both.ok
    other = SigningKey.from_seed(bytes(32))
    web = "did:web:uni.example"
    forged = jwt.decode(jwt.encode(body, other.sign, f"{web}#{other.public_multibase}"))
    assert check_jwt(forged, DID).reason == "signature_issuer_mismatch"
    alien = jwt.decode(jwt.encode(body, other.sign, f"{DID}#{other.public_multibase}"))
    assert check_jwt(alien, DID).reason == "malformed_signature"  # a did:key names only its own key
    lying = jwt.decode(jwt.encode(body, other.sign, signer.verification_method))
    assert check_jwt(lying, DID).reason == "bad_signature"
    web_body = signed(credential(did=web), BadgeSigner(KEY, web))
    rotated = jwt.decode(jwt.encode(web_body, other.sign, f"{web}#{other.public_multibase}"))
    mixed = combine(check_signature(web_body, web), check_jwt(rotated, web))
    assert mixed is not None and mixed.reason == "signature_key_mismatch"


NAMES = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(lambda s: s.strip())


@settings(max_examples=60, deadline=None)
@given(name=NAMES, narrative=st.none() | NAMES, until=st.booleans(), evidence=st.booleans(), status=st.booleans(),
       index=st.integers(0, 131_071))
def test_signing_from_the_factorys_template_is_the_general_path(name: str, narrative: str | None, until: bool, evidence: bool,
                                                                status: bool, index: int) -> None:
    """The issuance shortcut (the factory's compiled template filled with the values it used)
    makes exactly the proof the whole-document path makes, and its canonical N-Quads are the
    general JSON-LD → RDFC-1.0 path's (pyld's toRdf underneath)."""
    from anchor.core.credential import credential_canonicalizer
    from anchor.core.jsonld import to_nquads

    achievement = build_achievement(parse_achievement_text((EXAMPLES / "achievement.yaml").read_text()))
    factory = CredentialFactory(IssuerProfile(id=DID, name="Uni"), achievement)
    issued = factory.build(name=name, email="ada@example.org", valid_from=datetime(2026, 11, 28, tzinfo=UTC),
                           valid_until=datetime(2030, 1, 1, tzinfo=UTC) if until else None,
                           evidence_url="https://uni.example/evidence/1" if evidence else None, narrative=narrative,
                           status=("https://uni.example/status/0x1/0", index) if status else None)
    signer = BadgeSigner(KEY, DID)
    assert signer.sign_issued(factory, issued) == signer(issued.canonical)
    bound = factory.bound_template(issued.template)
    assert bound is not None
    general = to_nquads(json.loads(issued.canonical))
    assert bound.canonical_nquads(list(issued.slot_values), lambda: json.loads(issued.canonical)) == general
    assert credential_canonicalizer().canonical_nquads(json.loads(issued.canonical)) == general
