"""VC-JWT (anchor.core.jwt): round trips, what openbadgeslib and PyJWT accept, what we refuse.

The helpers at the top (an Ed25519 did:key issuer, a minimal OB 3.0 AchievementCredential with
the design's proof set) are shared with tests/test_baking.py and tests/test_forms.py.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openbadgeslib.ob3 import OB3Verifier
from openbadgeslib.ob3.verifier import OB3VerificationError

from anchor.core import jwt
from anchor.core.errors import InputError

# ------------------------------------------------------------------------------ shared helpers

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


@dataclass(frozen=True)
class DidKeyIssuer:
    """An Ed25519 key and its did:key (multicodec 0xed01 + raw key, base58btc multibase)."""

    key: Ed25519PrivateKey

    @classmethod
    def new(cls) -> DidKeyIssuer:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public(self) -> bytes:
        return self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def multibase(self) -> str:
        return "z" + b58encode(b"\xed\x01" + self.public)

    @property
    def did(self) -> str:
        return "did:key:" + self.multibase

    @property
    def kid(self) -> str:
        return f"{self.did}#{self.multibase}"

    @property
    def private_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


NOW = datetime.now(UTC).replace(microsecond=0)


def anchor_receipt() -> dict[str, Any]:
    """An ``anchor-merkle-2026`` proof entry shaped as the design lays it out (values made up)."""
    receipt = {"chainId": 31337, "registry": "0x" + "11" * 20, "merkleRoot": "0x" + "ab" * 32, "leafIndex": 3}
    value = base64.urlsafe_b64encode(json.dumps(receipt, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return {
        "type": "DataIntegrityProof",
        "cryptosuite": "anchor-merkle-2026",
        "created": iso(NOW),
        "verificationMethod": "did:pkh:eip155:31337:0x" + "22" * 20 + "#blockchainAccountId",
        "proofPurpose": "assertionMethod",
        "proofValue": "u" + value,
    }


def sample_credential(issuer_did: str, *, valid_until: datetime | None = None, name: str = "Data Stewardship",
                      receipt: bool = True) -> dict[str, Any]:
    """A minimal OB 3.0 AchievementCredential as anchor issues it (recipient by identifier hash)."""
    cred: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
        "id": "urn:uuid:6f1c1d0e-8a3b-4b7e-9a51-2f0c3d4e5f60",
        "type": ["VerifiableCredential", "AchievementCredential"],
        "name": name,
        "issuer": {"id": issuer_did, "type": ["Profile"], "name": "Example University"},
        "validFrom": iso(NOW - timedelta(days=1)),
        "awardedDate": iso(NOW - timedelta(days=1)),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [
                {"type": "IdentityObject", "identityHash": "sha256$" + "0" * 64, "identityType": "emailAddress",
                 "hashed": True, "salt": "00112233445566778899aabbccddeeff"},
            ],
            "achievement": {
                "id": "https://uni.example/achievements/data-stewardship",
                "type": ["Achievement"],
                "name": name,
                "description": "Stewards research data well.",
                "criteria": {"narrative": "Completed the course."},
            },
        },
    }
    if valid_until is not None:
        cred["validUntil"] = iso(valid_until)
    if receipt:
        cred["proof"] = [anchor_receipt()]
    return cred


# ------------------------------------------------------------------------------ local helpers


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: Any, payload: Any, signature: bytes = b"\0" * 64, *, key: DidKeyIssuer | None = None) -> str:
    """A compact token from arbitrary parts; signed by ``key`` when given."""
    h = b64(json.dumps(header).encode()) if not isinstance(header, bytes) else b64(header)
    p = b64(json.dumps(payload).encode()) if not isinstance(payload, bytes) else b64(payload)
    if key is not None:
        signature = key.sign(f"{h}.{p}".encode())
    return f"{h}.{p}.{b64(signature)}"


@pytest.fixture(scope="module")
def issuer() -> DidKeyIssuer:
    return DidKeyIssuer.new()


def token_for(issuer: DidKeyIssuer, **kwargs: Any) -> str:
    return jwt.encode(sample_credential(issuer.did, **kwargs), issuer.sign, issuer.kid)


def refused(token: str, reason: str) -> InputError:
    with pytest.raises(InputError) as info:
        jwt.decode(token)
    assert info.value.reason == reason, info.value
    return info.value


# ------------------------------------------------------------------------------ round trip


@pytest.mark.parametrize("until", [None, NOW + timedelta(days=365)])
def test_round_trip_gives_back_the_credential_and_verifies(issuer: DidKeyIssuer, until: datetime | None) -> None:
    credential = sample_credential(issuer.did, valid_until=until)
    token = jwt.encode(credential, issuer.sign, issuer.kid)
    decoded = jwt.decode(token)
    assert decoded.credential == credential  # proof set included: the anchor receipt travels in the payload
    assert decoded.header == {"alg": "EdDSA", "kid": issuer.kid, "typ": "JWT"}
    assert decoded.kid == issuer.kid
    assert decoded.payload["iss"] == issuer.did and decoded.payload["jti"] == credential["id"]
    assert decoded.payload["nbf"] == int((NOW - timedelta(days=1)).timestamp())
    assert ("exp" in decoded.payload) == (until is not None)
    assert "sub" not in decoded.payload  # anchor's subjects carry identifier hashes, no id
    assert jwt.verify(decoded, issuer.public)
    assert not jwt.verify(decoded, DidKeyIssuer.new().public)


def test_tokens_are_deterministic_whatever_the_member_order(issuer: DidKeyIssuer) -> None:
    credential = sample_credential(issuer.did)
    reordered = dict(reversed(list(credential.items())))
    assert jwt.encode(credential, issuer.sign, issuer.kid) == jwt.encode(reordered, issuer.sign, issuer.kid)


def test_subject_id_becomes_sub(issuer: DidKeyIssuer) -> None:
    credential = sample_credential(issuer.did)
    credential["credentialSubject"]["id"] = "did:example:learner"
    decoded = jwt.decode(jwt.encode(credential, issuer.sign, issuer.kid))
    assert decoded.payload["sub"] == "did:example:learner"
    assert decoded.credential == credential


# ------------------------------------------------------------------------------ independent judges


def test_openbadgeslib_accepts_our_jwt_with_the_anchor_receipt_in_it(issuer: DidKeyIssuer) -> None:
    token = token_for(issuer, valid_until=NOW + timedelta(days=30))
    credential = OB3Verifier.for_issuer_did(issuer.did).verify(token)
    assert credential.issuer.id == issuer.did
    assert credential.id == "urn:uuid:6f1c1d0e-8a3b-4b7e-9a51-2f0c3d4e5f60"
    assert credential.raw["proof"][0]["cryptosuite"] == "anchor-merkle-2026"
    # ... and a pinned key works too (no DID resolution)
    pem = issuer.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert OB3Verifier(pubkey_pem=pem).verify(token).issuer.id == issuer.did


def test_openbadgeslib_refuses_our_jwt_signed_by_another_key(issuer: DidKeyIssuer) -> None:
    token = jwt.encode(sample_credential(issuer.did), DidKeyIssuer.new().sign, issuer.kid)
    with pytest.raises(OB3VerificationError, match="Invalid signature"):
        OB3Verifier.for_issuer_did(issuer.did).verify(token)


def test_pyjwt_reads_our_token(issuer: DidKeyIssuer) -> None:
    token = token_for(issuer)
    payload = pyjwt.decode(token, issuer.key.public_key(), algorithms=["EdDSA"])
    assert payload == jwt.decode(token).payload
    assert pyjwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": issuer.kid, "typ": "JWT"}


def test_we_read_and_verify_a_token_openbadgeslib_signed(issuer: DidKeyIssuer) -> None:
    from openbadgeslib.ob3 import Achievement, Issuer, OB3Signer, OpenBadgeCredential

    credential = OpenBadgeCredential(
        id="urn:uuid:0b6b0b6b-0000-4000-8000-000000000001",
        issuer=Issuer(id=issuer.did, name="Example University"),
        recipient_id="did:example:learner",
        achievement=Achievement(id="https://uni.example/a/1", name="A", description="B", criteria_narrative="C"),
        issuance_date=NOW - timedelta(hours=2),
        expiration_date=NOW + timedelta(days=2),
    )
    token = OB3Signer(issuer.private_pem, algorithm="EdDSA").sign(credential)
    decoded = jwt.decode(token)
    assert jwt.verify(decoded, issuer.public)
    assert decoded.credential["issuer"]["id"] == issuer.did
    assert decoded.payload["sub"] == "did:example:learner"


# ------------------------------------------------------------------------------ tampering


def test_tampered_payload_is_refused(issuer: DidKeyIssuer) -> None:
    h, p, s = token_for(issuer).split(".")
    payload = json.loads(base64.urlsafe_b64decode(p + "=="))
    payload["name"] = payload["credentialSubject"]["achievement"]["name"] = "Brain Surgery"
    forged = f"{h}.{b64(json.dumps(payload).encode())}.{s}"
    assert not jwt.verify(jwt.decode(forged), issuer.public)
    with pytest.raises(OB3VerificationError):
        OB3Verifier.for_issuer_did(issuer.did).verify(forged)


def test_tampered_signature_is_refused(issuer: DidKeyIssuer) -> None:
    h, p, s = token_for(issuer).split(".")
    sig = bytearray(base64.urlsafe_b64decode(s + "=="))
    sig[10] ^= 1
    assert not jwt.verify(jwt.decode(f"{h}.{p}.{b64(bytes(sig))}"), issuer.public)


def test_tampered_header_kid_breaks_the_signature(issuer: DidKeyIssuer) -> None:
    h, p, s = token_for(issuer).split(".")
    other = DidKeyIssuer.new()
    h2 = b64(json.dumps({"alg": "EdDSA", "kid": other.kid, "typ": "JWT"}, separators=(",", ":")).encode())
    assert not jwt.verify(jwt.decode(f"{h2}.{p}.{s}"), issuer.public)


@pytest.mark.parametrize("alg", ["none", "HS256", "ES256", "RS256", None, "eddsa"])
def test_only_eddsa_is_accepted(issuer: DidKeyIssuer, alg: str | None) -> None:
    payload = jwt.decode(token_for(issuer)).payload
    header: dict[str, Any] = {"typ": "JWT", "kid": issuer.kid}
    if alg is not None:
        header["alg"] = alg
    refused(forge(header, payload, key=issuer), "jwt_alg")
    if alg == "none":
        refused(forge(header, payload).rsplit(".", 1)[0] + ".", "jwt_alg")  # an unsigned token: alg is judged first


# ------------------------------------------------------------------------------ strict parsing


def test_header_rules(issuer: DidKeyIssuer) -> None:
    payload = jwt.decode(token_for(issuer)).payload
    refused(forge({"alg": "EdDSA", "crit": ["b64"], "b64": False}, payload, key=issuer), "jwt_header")
    refused(forge({"alg": "EdDSA", "typ": "vc+ld+json"}, payload, key=issuer), "jwt_header")
    refused(forge({"alg": "EdDSA", "kid": 7}, payload, key=issuer), "jwt_header")
    refused(forge(["EdDSA"], payload, key=issuer), "jwt_header")
    refused(forge(b'{"alg":"EdDSA","alg":"none"}', payload, key=issuer), "duplicate_key")
    refused(forge(b'{"alg":"EdDSA"', payload, key=issuer), "invalid_json")
    refused(forge(b"\xff\xfe", payload, key=issuer), "not_utf8")
    # no kid, no typ: still a well-formed token (the caller must then find the key some other way)
    assert jwt.decode(forge({"alg": "EdDSA"}, payload, key=issuer)).kid is None


def test_payload_rules(issuer: DidKeyIssuer) -> None:
    good = jwt.decode(token_for(issuer)).payload
    header = {"alg": "EdDSA", "kid": issuer.kid}
    refused(forge(header, [good], key=issuer), "jwt_payload")
    refused(forge(header, {k: v for k, v in good.items() if k != "nbf"}, key=issuer), "jwt_claims")
    refused(forge(header, {k: v for k, v in good.items() if k != "iss"}, key=issuer), "jwt_claims")
    refused(forge(header, {**good, "nbf": True}, key=issuer), "jwt_claims")
    refused(forge(header, {**good, "nbf": str(good["nbf"])}, key=issuer), "jwt_claims")
    refused(forge(header, {**good, "nbf": good["nbf"] + 1}, key=issuer), "jwt_claim_mismatch")
    refused(forge(header, {**good, "exp": good["nbf"] + 10}, key=issuer), "jwt_claim_mismatch")
    refused(forge(header, {**good, "iss": "did:key:zSomeoneElse"}, key=issuer), "jwt_claim_mismatch")
    refused(forge(header, {**good, "jti": "urn:uuid:other"}, key=issuer), "jwt_claim_mismatch")
    refused(forge(header, {**good, "sub": "did:example:x"}, key=issuer), "jwt_claim_mismatch")
    refused(forge(header, {k: v for k, v in good.items() if k != "jti"}, key=issuer), "jwt_claim_mismatch")
    body = json.dumps(good)
    refused(forge(header, ('{"name":"x",' + body[1:]).encode(), key=issuer), "duplicate_key")
    refused(forge(header, ("[" * 40 + "]" * 40).encode(), key=issuer), "too_deep")
    # iat is tolerated (other issuers send it) but must be a number, and never ends up in the credential
    decoded = jwt.decode(forge(header, {**good, "iat": good["nbf"]}, key=issuer))
    assert "iat" not in decoded.credential and jwt.verify(decoded, issuer.public)


def test_encoding_rules(issuer: DidKeyIssuer) -> None:
    token = token_for(issuer)
    h, p, s = token.split(".")
    refused(f"{h}.{p}", "jwt_format")
    refused(f"{h}.{p}.{s}.{s}", "jwt_format")
    refused(f"{h}=.{p}.{s}", "jwt_base64")  # padding
    refused(f"{h}.{p}.{s}==", "jwt_base64")
    refused(f" {token}", "jwt_base64")  # white space
    refused(f"{h}.{p.replace('-', '+')}.{s}" if "-" in p else f"{h}.{p[:-1]}+.{s}", "jwt_base64")  # standard alphabet
    refused(f"{h}.{p}.{s[:-1]}B" if s[-1] != "B" else f"{h}.{p}.{s[:-1]}C", "jwt_base64")  # non-zero trailing bits
    refused(f"{h}.{p}.{b64(b'x' * 63)}", "jwt_signature")
    refused(f"{h}.{p}.{b64(b'x' * 65)}", "jwt_signature")
    refused(f"{h}.{p}.", "jwt_signature")
    refused("A" * (jwt.MAX_TOKEN_CHARS + 1), "too_large")
    refused(f"{b64(b'{' * (jwt.MAX_HEADER_BYTES + 3))}.{p}.{s}", "too_large")
    refused(f"{h}.{'A' * (4 * jwt.MAX_PAYLOAD_BYTES // 3 + 8)}.{s}", "too_large")


def test_encode_refuses_what_cannot_round_trip(issuer: DidKeyIssuer) -> None:
    credential = sample_credential(issuer.did)
    for claim in ("iss", "nbf", "jti"):
        with pytest.raises(InputError) as info:
            jwt.encode({**credential, claim: "x"}, issuer.sign, issuer.kid)
        assert info.value.reason == "jwt_claim_collision"
    for missing in ("issuer", "id", "validFrom"):
        with pytest.raises(InputError) as info:
            jwt.encode({k: v for k, v in credential.items() if k != missing}, issuer.sign, issuer.kid)
        assert info.value.reason == "jwt_claims"
    with pytest.raises(InputError):
        jwt.encode({**credential, "validFrom": "yesterday"}, issuer.sign, issuer.kid)
    with pytest.raises(ValueError, match="64-byte"):
        jwt.encode(credential, lambda data: b"short", issuer.kid)
    with pytest.raises(InputError) as info:
        jwt.encode(credential, issuer.sign, "")
    assert info.value.reason == "jwt_header"


def test_verify_wants_a_raw_ed25519_key(issuer: DidKeyIssuer) -> None:
    decoded = jwt.decode(token_for(issuer))
    with pytest.raises(InputError) as info:
        jwt.verify(decoded, issuer.public[:31])
    assert info.value.reason == "invalid_public_key"


# ------------------------------------------------------------------------------ properties

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
_CLAIM_SOURCES = {"id", "issuer", "validFrom", "validUntil", "credentialSubject"}  # members the claims are derived from
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.dictionaries(_text.filter(lambda k: k not in jwt.REGISTERED_CLAIMS | _CLAIM_SOURCES), _json, max_size=5), name=_text)
def test_property_round_trip(issuer: DidKeyIssuer, extra: dict[str, Any], name: str) -> None:
    credential = {**sample_credential(issuer.did, name=name), **extra}
    decoded = jwt.decode(jwt.encode(credential, issuer.sign, issuer.kid))
    assert decoded.credential == credential
    assert jwt.verify(decoded, issuer.public)


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.text(max_size=300),
    st.lists(st.text("ABCDEFabcdef0123456789_-=+/. ", max_size=120), min_size=1, max_size=5).map(".".join),
))
def test_property_decode_never_crashes(text: str) -> None:
    try:
        jwt.decode(text)
    except InputError:
        pass
