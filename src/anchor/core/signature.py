"""The credential's portable signature as anchor's verifier sees it: the one ``eddsa-rdfc-2022``
Data Integrity proof of its proof set, checked against the key its verification method names.

The key is read from the verification method itself (``<issuer DID>#<publicKeyMultibase>``, for
``did:key`` and ``did:web`` alike), never fetched: whether that key belongs to the issuer is a
question for the registry (the chain check in :mod:`anchor.core.verdict`), not for a web server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anchor.core.errors import AnchorError

if TYPE_CHECKING:
    from anchor.core.jwt import DecodedJwt

SUITE = "eddsa-rdfc-2022"


@dataclass(frozen=True)
class SignatureClaim:
    """What the signature says and whether it holds, before the chain is asked about its key."""

    verification_method: str | None
    public_key: bytes | None  # None when the method names no key we can read
    ok: bool
    reason: str | None  # on failure: malformed_signature, signature_issuer_mismatch, bad_signature
    message: str


def signature_entries(credential: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    proofs = credential.get("proof")
    if isinstance(proofs, Mapping):
        proofs = [proofs]
    if not isinstance(proofs, list):
        return []
    return [p for p in proofs if isinstance(p, Mapping) and p.get("type") == "DataIntegrityProof" and p.get("cryptosuite") == SUITE]


def check_signature(credential: Mapping[str, Any], issuer_id: object) -> SignatureClaim | None:
    """The credential's signature claim, or None when it carries no ``eddsa-rdfc-2022`` proof
    (badges delivered before anchor signed them: the anchor alone vouches for those)."""
    entries = signature_entries(credential)
    if not entries:
        return None
    if len(entries) > 1:
        return SignatureClaim(None, None, False, "malformed_signature",
                              f"more than one {SUITE} proof: no verifier could tell which one speaks for the credential")
    proof = entries[0]
    method = proof.get("verificationMethod")
    if not isinstance(method, str):
        return SignatureClaim(None, None, False, "malformed_signature", "the signature names no verificationMethod")
    from anchor.core.credential import credential_canonicalizer
    from anchor.core.dataintegrity import verify_proof
    from anchor.core.ed25519 import key_of_verification_method

    try:
        key = key_of_verification_method(method)
    except AnchorError as e:
        return SignatureClaim(method, None, False, "malformed_signature", f"verificationMethod {method!r}: {e.message}")
    did = method.partition("#")[0]
    if did != issuer_id:
        return SignatureClaim(method, key, False, "signature_issuer_mismatch",
                              f"signed by {did!r}, but the credential names issuer {issuer_id!r}")
    if proof.get("proofPurpose") != "assertionMethod":
        return SignatureClaim(method, key, False, "malformed_signature",
                              f"proofPurpose is {proof.get('proofPurpose')!r}, expected 'assertionMethod'")
    try:
        good = verify_proof(credential, proof, key, canonicalizer=credential_canonicalizer())
    except AnchorError as e:
        return SignatureClaim(method, key, False, "malformed_signature", f"the signature cannot be checked: {e.message}")
    if not good:
        return SignatureClaim(method, key, False, "bad_signature",
                              "the eddsa-rdfc-2022 signature does not match the credential: it was altered after it was signed")
    return SignatureClaim(method, key, True, None, f"eddsa-rdfc-2022 signature by {method}")


def check_jwt(decoded: DecodedJwt, issuer_id: object) -> SignatureClaim:
    """The claim of a VC-JWT's own signature (the JWS around the credential): its ``kid`` names
    the issuer's key as a verification method does."""
    from anchor.core.ed25519 import key_of_verification_method
    from anchor.core.jwt import verify

    kid = decoded.kid
    if kid is None:
        return SignatureClaim(None, None, False, "malformed_signature", "the JWT names no key (kid)")
    try:
        key = key_of_verification_method(kid)
    except AnchorError as e:
        return SignatureClaim(kid, None, False, "malformed_signature", f"JWT kid {kid!r}: {e.message}")
    if kid.partition("#")[0] != issuer_id:
        return SignatureClaim(kid, key, False, "signature_issuer_mismatch",
                              f"the JWT is signed by {kid.partition('#')[0]!r}, but the credential names issuer {issuer_id!r}")
    if not verify(decoded, key):
        return SignatureClaim(kid, key, False, "bad_signature", "the JWT signature does not match: the token was altered after it was signed")
    return SignatureClaim(kid, key, True, None, f"VC-JWT (EdDSA) signature by {kid}")


def combine(embedded: SignatureClaim | None, envelope: SignatureClaim | None) -> SignatureClaim | None:
    """One claim for a credential that came with two signatures (a VC-JWT around a signed
    credential): both must hold, by the same key."""
    if envelope is None:
        return embedded
    if not envelope.ok or embedded is None:
        return envelope
    if not embedded.ok:
        return embedded
    if embedded.public_key != envelope.public_key:
        return SignatureClaim(embedded.verification_method, embedded.public_key, False, "signature_key_mismatch",
                              f"the JWT is signed by {envelope.verification_method!r}, the credential by {embedded.verification_method!r}")
    return SignatureClaim(embedded.verification_method, embedded.public_key, True, None, f"{embedded.message} and its VC-JWT")
