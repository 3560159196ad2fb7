"""Data Integrity proofs with the ``eddsa-rdfc-2022`` cryptosuite (W3C vc-di-eddsa, section 3.2).

    hashData   = SHA-256(canonical proof config) || SHA-256(canonical unsecured document)
    proofValue = "z" + base58btc(Ed25519 signature of hashData)

where canonical means RDFC-1.0 N-Quads (:mod:`anchor.core.jsonld`), the unsecured document is
the document without ``proof`` (a credential may carry a proof *set*: each proof covers the
document without any of them), and the proof config is the proof without ``proofValue``, given
the document's ``@context``.

The proof config of a batch is the same for every credential issued at the same second by the
same key, so its hash is cached by (verificationMethod, created, proofPurpose, @context); the
document goes through a :class:`~anchor.core.jsonld.Canonicalizer` template when the caller
passes one.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from anchor.core import ed25519, jsonld, multibase
from anchor.core.errors import InputError, VerificationError
from anchor.core.jsonld import Canonicalizer, ContextLoader, Slot
from anchor.core.timefmt import format_ts

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-rdfc-2022"
ASSERTION_METHOD = "assertionMethod"
PROOF_KEY = "proof"
PROOF_VALUE = "proofValue"

_CONFIG_KEYS = frozenset({"@context", "type", "cryptosuite", "created", "verificationMethod", "proofPurpose"})
_CONFIG_CACHE_SIZE = 4096

# The proof configs anchor writes differ only in these two values.
PROOF_CONFIG_SLOTS = (Slot(("created",), "literal"), Slot(("verificationMethod",), "iri"))
_proof_canonicalizer = Canonicalizer(PROOF_CONFIG_SLOTS)
_config_hashes: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
_config_lock = threading.Lock()


def proof_options(vm: str, created: str | datetime, *, proof_purpose: str = ASSERTION_METHOD) -> dict[str, Any]:
    """The proof object before it is signed (no ``proofValue``), keys in the spec's order."""
    return {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": format_ts(created) if isinstance(created, datetime) else created,
        "verificationMethod": vm,
        "proofPurpose": proof_purpose,
    }


def unsecured(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document without its proof (or proof set)."""
    return {k: v for k, v in document.items() if k != PROOF_KEY}


def proofs_of(document: Mapping[str, Any]) -> list[Any]:
    """The document's proof entries as a list (``proof`` may be one object or a set)."""
    proof = document.get(PROOF_KEY)
    if proof is None:
        return []
    return list(proof) if isinstance(proof, list) else [proof]


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def _config_hash(config: Mapping[str, Any], loader: ContextLoader | None) -> bytes:
    """SHA-256 of the canonical proof config, cached for the shape anchor writes."""
    if loader is not None and loader is not jsonld.DEFAULT_LOADER:
        return _sha256(jsonld.to_nquads(dict(config), loader=loader))
    context = config.get("@context")
    context_key = tuple(context) if isinstance(context, list) else context
    cacheable = (
        config.keys() == _CONFIG_KEYS
        and all(type(config[k]) is str for k in _CONFIG_KEYS - {"@context"})
        and (type(context_key) is str or (type(context_key) is tuple and all(type(c) is str for c in context_key)))
    )
    if not cacheable:
        return _sha256(jsonld.to_nquads(dict(config)))
    key = (config["verificationMethod"], config["created"], config["proofPurpose"], config["type"], config["cryptosuite"], context_key)
    with _config_lock:
        digest = _config_hashes.get(key)
        if digest is not None:
            _config_hashes.move_to_end(key)
            return digest
    digest = _proof_canonicalizer.canonical_hash(dict(config))
    with _config_lock:
        _config_hashes[key] = digest
        while len(_config_hashes) > _CONFIG_CACHE_SIZE:
            _config_hashes.popitem(last=False)
    return digest


def _document_hash(document: Mapping[str, Any], canonicalizer: Canonicalizer | None, loader: ContextLoader | None) -> bytes:
    if canonicalizer is not None:
        return canonicalizer.canonical_hash(document)
    return _sha256(jsonld.to_nquads(document, loader=loader))


def config_hash(proof: Mapping[str, Any], context: Any) -> bytes:
    """SHA-256 of the canonical proof configuration of ``proof`` (without ``proofValue``) in the
    document's ``context``: the first half of what an ``eddsa-rdfc-2022`` proof signs (cached)."""
    config = {k: v for k, v in proof.items() if k != PROOF_VALUE}
    config["@context"] = context
    return _config_hash(config, None)


def hash_data(document: Mapping[str, Any], proof: Mapping[str, Any], *, canonicalizer: Canonicalizer | None = None,
              loader: ContextLoader | None = None) -> bytes:
    """The 64 bytes an ``eddsa-rdfc-2022`` proof signs: SHA-256 of the canonical proof config
    (``proof`` without ``proofValue``, with the document's ``@context``) then SHA-256 of the
    canonical document without ``proof``. InputError from canonicalization passes through."""
    config = {k: v for k, v in proof.items() if k != PROOF_VALUE}
    config["@context"] = document.get("@context")
    return _config_hash(config, loader) + _document_hash(unsecured(document), canonicalizer, loader)


def create_proof(document: Mapping[str, Any], key: ed25519.SigningKey, vm: str, created: str | datetime, *,
                 canonicalizer: Canonicalizer | None = None, loader: ContextLoader | None = None) -> dict[str, Any]:
    """An ``eddsa-rdfc-2022`` proof of ``document`` (any ``proof`` it already carries is left out
    of what is signed, as in a proof set). ``vm`` must name ``key`` (``<did>#<publicKeyMultibase>``).

    InputError when the verification method names another key or the document cannot be
    canonicalized safely (see :mod:`anchor.core.jsonld`).
    """
    if ed25519.key_of_verification_method(vm) != key.public_key:
        raise InputError(f"verification method {vm[:200]!r} names another key than {key.public_multibase}", reason="bad_verification_method")
    proof = proof_options(vm, created)
    signature = key.sign(hash_data(document, proof, canonicalizer=canonicalizer, loader=loader))
    proof[PROOF_VALUE] = multibase.encode_base58btc(signature)
    return proof


def _signature_of(proof: Any) -> bytes:
    if not isinstance(proof, Mapping):
        raise VerificationError("a proof must be a JSON object", reason="proof_malformed")
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        raise VerificationError(f"not a {PROOF_TYPE} with cryptosuite {CRYPTOSUITE}", reason="unsupported_cryptosuite")
    value = proof.get(PROOF_VALUE)
    if not isinstance(value, str) or not value.startswith("z"):
        raise VerificationError("proofValue must be a multibase base58btc ('z') string", reason="proof_value_malformed")
    try:
        signature = multibase.decode(value)
    except InputError:
        raise VerificationError("proofValue is not valid base58btc", reason="proof_value_malformed") from None
    if len(signature) != ed25519.SIGNATURE_BYTES:  # (base58btc has one spelling per byte string)
        raise VerificationError("proofValue is not a 64-byte Ed25519 signature", reason="proof_value_malformed")
    return signature


def verify_proof(document: Mapping[str, Any], proof: Mapping[str, Any], public_key: bytes, *,
                 canonicalizer: Canonicalizer | None = None, loader: ContextLoader | None = None) -> bool:
    """Whether ``proof`` (one entry of the document's proof set, or its only proof) is a valid
    ``eddsa-rdfc-2022`` signature by ``public_key`` over ``document``.

    False when the signature does not match. VerificationError when the proof is not an
    eddsa-rdfc-2022 proof (``unsupported_cryptosuite``), is malformed (``proof_malformed``,
    ``proof_value_malformed``), or the document or proof cannot be canonicalized safely (the
    canonicalization's reason: ``jsonld_dropped_term``, ``unknown_context``,
    ``canonicalization_too_complex``, ...). Which key *should* have signed is the caller's
    decision (the registry binding, the issuer DID).
    """
    signature = _signature_of(proof)
    try:
        data = hash_data(document, proof, canonicalizer=canonicalizer, loader=loader)
    except InputError as e:
        raise VerificationError(f"the signed document cannot be canonicalized: {e.message}", reason=e.reason) from None
    return ed25519.verify(public_key, signature, data)
