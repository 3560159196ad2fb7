"""Signing badges: the issuer's ``eddsa-rdfc-2022`` proof-set entry for each credential, made as
issuing builds it (and stored with it), and the issuer's proofs on its status lists.

The signature covers the stored document (the credential without ``proof``): the same bytes the
Merkle leaf hashes, so the two proofs of a badge are independent and either can be checked alone.
Its ``created`` is the credential's ``validFrom``, so signing again gives the same entry, and all
credentials issued together share one proof configuration (hashed once).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from anchor.core import multibase
from anchor.core.credential import CREDENTIAL_CONTEXT, CredentialFactory, Issued, credential_canonicalizer
from anchor.core.dataintegrity import config_hash, create_proof, hash_data, proof_options, verify_proof
from anchor.core.ed25519 import SigningKey, key_of_verification_method, verification_method
from anchor.core.errors import AnchorError, ConfigError, StoreError
from anchor.core.timefmt import format_ts, utcnow


class BadgeSigner:
    """``signer(document_bytes) -> proof entry JSON`` for one issuer's DID and key."""

    __slots__ = ("did", "key", "verification_method")

    def __init__(self, key: SigningKey, did: str) -> None:
        self.key, self.did = key, did
        self.verification_method = verification_method(did, key.public_key)  # checked once, not per credential

    def __call__(self, document: bytes) -> bytes:
        credential = json.loads(document)
        issuer = credential.get("issuer", {}).get("id")
        if issuer != self.did:
            raise StoreError(f"credential {credential.get('id')} names issuer {issuer!r}, not the signing DID {self.did!r}; "
                             "it cannot be signed by this key")
        proof = proof_options(self.verification_method, credential["validFrom"])  # what create_proof signs
        return self._entry(proof, hash_data(credential, proof, canonicalizer=credential_canonicalizer()))

    def sign_issued(self, factory: CredentialFactory, issued: Issued) -> bytes:
        """:meth:`__call__` for a credential the factory just built, without parsing it again:
        the factory's compiled template takes the values it filled in (the same canonical form,
        held to the general path by the tests)."""
        bound = factory.bound_template(issued.template)
        if bound is None or factory.issuer.get("id") != self.did:
            return self(issued.canonical)
        created = issued.slot_values[1]  # validFrom
        assert created is not None
        proof = proof_options(self.verification_method, created)
        values = list(issued.slot_values)
        document_hash = bound.canonical_hash(values, lambda: json.loads(issued.canonical))
        return self._entry(proof, config_hash(proof, CREDENTIAL_CONTEXT) + document_hash)

    def _entry(self, proof: dict[str, Any], data: bytes) -> bytes:
        """The proof entry's JSON text: ``proof`` with the signature of ``data`` (hashData)."""
        proof["proofValue"] = multibase.encode_base58btc(self.key.sign(data))
        return json.dumps(proof, separators=(",", ":"), ensure_ascii=False).encode()

    def sign_document(self, document: dict[str, Any]) -> dict[str, Any]:
        """``document`` with this issuer's ``eddsa-rdfc-2022`` proof (for status lists: the
        general canonicalization path, created = its validFrom or now)."""
        created = document.get("validFrom") or format_ts(utcnow())
        return {**document, "proof": create_proof(document, self.key, self.verification_method, created)}


def signer_for(did: str | None, key: SigningKey, bound_key: bytes | None) -> BadgeSigner:
    """The signer of an issuer whose profile names ``did``; ConfigError unless the key is the one
    the issuer registered (``bound_key``, its current key in the database)."""
    if not did or not did.startswith("did:"):
        raise ConfigError("this issuer's badges name no DID (registered before anchor signed badges): register a new issuer "
                          "account with `anchor issuer register` to issue portable badges")
    if bound_key is not None and bound_key != key.public_key:
        raise ConfigError(f"the signing key {key.public_multibase} is not this issuer's current key; bind it first "
                          "(`anchor issuer key bind`) or use the key the issuer registered")
    if did.startswith("did:key:") and did != f"did:key:{key.public_multibase}":
        raise ConfigError(f"the issuer is {did}, a did:key of another key than {key.public_multibase}: a did:key issuer "
                          "signs with its own key only")
    return BadgeSigner(key, did)


def signed_by_any(keys: Iterable[bytes]) -> Callable[[dict[str, Any]], bool]:
    """A check that a document (a status list) carries a valid ``eddsa-rdfc-2022`` proof by one of
    ``keys`` (the keys its issuer bound in the registry): for the audit."""
    bound = frozenset(keys)

    def check(document: dict[str, Any]) -> bool:
        proof = document.get("proof")
        if not isinstance(proof, dict) or not isinstance(proof.get("verificationMethod"), str):
            return False
        try:
            key = key_of_verification_method(proof["verificationMethod"])
            return key in bound and verify_proof(document, proof, key)
        except AnchorError:
            return False

    return check
