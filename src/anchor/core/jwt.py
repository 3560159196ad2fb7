"""VC-JWT: an Open Badges 3.0 credential as a compact JWS (OB 3.0 §8.2), signed with Ed25519.

The form OB 3.0 calls "VC-JWT" and openbadgeslib's ``OB3Verifier`` checks:

* JOSE header ``{"alg": "EdDSA", "kid": <verificationMethod>, "typ": "JWT"}``. ``kid`` is the
  same verificationMethod URL the Data Integrity proof names (``<issuer DID>#<publicKeyMultibase>``),
  so a verifier finds the key exactly as for the JSON form.
* The payload IS the credential (OB 3.0 §8.2.4.1, "native" VC-JWT: its members at the top level,
  no ``vc`` wrapper) with the registered claims beside them: ``iss`` = issuer id, ``jti`` =
  credential id, ``sub`` = ``credentialSubject.id`` (only when the subject has an id; anchor's
  subjects are identified by ``identifier`` hashes, so usually absent), ``nbf`` = ``validFrom`` and
  ``exp`` = ``validUntil`` in Unix seconds. No ``iat`` (OB 3.0 maps issuance to ``nbf``).
  openbadgeslib 4.6.3 *requires* ``iss`` and ``nbf``, requires ``jti`` when the credential has an
  ``id`` and ``sub`` when the subject has one, and refuses any of them that disagrees with the
  credential; it does not look at ``typ``.

Where the anchor receipt lives: in the credential, unchanged. :func:`encode` puts the credential it
is given into the payload as is, ``proof`` array included, so the ``anchor-merkle-2026`` receipt
(and the ``eddsa-rdfc-2022`` proof, if the caller keeps it) travel inside the signed payload.
Why there:

* openbadgeslib reads the payload through ``OpenBadgeCredential.from_jwt_payload``, which ignores
  members it does not map (``proof`` among them), and checks only ``@context``, the types, the
  structure and the claims above; the tests hold that it accepts a payload carrying the proof set.
* :func:`decode` gives back exactly the credential that was encoded (payload minus the registered
  claims, which must agree with it), so anchor's verifier takes the receipt from
  ``credential["proof"]``, recomputes the Merkle leaf from the credential without ``proof`` (the
  same bytes as for the JSON form) and checks the chain; the JWS signature is checked on top.
* The alternatives are worse: a JOSE header member would be covered by the signature too but is
  not part of the credential (other tools drop it when they re-serialize), and a detached file
  would not travel with the badge.

Strict on input (:func:`decode`): bounded sizes, unpadded canonical base64url only, JSON through
:mod:`anchor.core.safe_input` (no duplicate keys, bounded depth), ``alg`` must be ``EdDSA`` (so
``none`` and HMAC confusion are refused before anything else), no ``crit`` extensions.
Every refusal is an :class:`~anchor.core.errors.InputError` with a ``jwt_*`` reason (or the
``safe_input`` reason for the JSON inside).

Pure: no I/O. Signing is a callable the caller hands in, so no private key ever enters this
module; verification uses ``cryptography``'s Ed25519.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from anchor.core.canonical import canonical_bytes
from anchor.core.errors import InputError
from anchor.core.safe_input import MAX_JSON_BYTES, load_json
from anchor.core.timefmt import parse_credential_ts

__all__ = [
    "ALG",
    "MAX_HEADER_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MAX_TOKEN_CHARS",
    "REGISTERED_CLAIMS",
    "TYP",
    "DecodedJwt",
    "decode",
    "encode",
    "looks_like_jwt",
    "verify",
]

ALG = "EdDSA"
TYP = "JWT"
SIGNATURE_BYTES = 64  # Ed25519

#: The JWT claims the payload carries next to the credential's own members. A credential that
#: uses one of these names itself cannot be encoded (the payload would be ambiguous).
REGISTERED_CLAIMS = frozenset({"iss", "sub", "jti", "nbf", "exp", "iat"})

#: Largest JOSE header accepted (decoded bytes). Ours is about 120 bytes; a header with an
#: embedded ``jwk`` stays under 400.
MAX_HEADER_BYTES = 4 * 1024
#: Largest payload accepted (decoded bytes): one credential as :mod:`safe_input` bounds it, plus
#: the registered claims.
MAX_PAYLOAD_BYTES = MAX_JSON_BYTES + 4 * 1024


def _b64_len(n: int) -> int:
    return (4 * n + 2) // 3  # unpadded base64 length of n bytes


#: Largest compact token accepted, in characters: the three parts at their limits and two dots.
MAX_TOKEN_CHARS = _b64_len(MAX_HEADER_BYTES) + _b64_len(MAX_PAYLOAD_BYTES) + _b64_len(SIGNATURE_BYTES) + 2

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")  # an empty signature still reads as a JWT


def _refuse(message: str, reason: str) -> NoReturn:
    raise InputError(message, reason=reason)


# ------------------------------------------------------------------------------ base64url


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(part: str, what: str) -> bytes:
    """Strict RFC 7515 base64url: URL alphabet, no padding, no white space, canonical.

    Canonical means the unused low bits of the last character are zero, so every byte string has
    exactly one encoding: two different tokens can never carry the same signature or payload.
    """
    if not _B64URL.fullmatch(part) or len(part) % 4 == 1:
        _refuse(f"JWT {what} is not unpadded base64url", "jwt_base64")
    try:
        data = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        _refuse(f"JWT {what} is not unpadded base64url", "jwt_base64")
    if _b64encode(data) != part:
        _refuse(f"JWT {what} is not canonical base64url (non-zero trailing bits)", "jwt_base64")
    return data


# ------------------------------------------------------------------------------ claims


def _object_id(value: Any) -> Any:
    """``issuer``/``credentialSubject`` as OB 3.0 allows them: an IRI, an object with ``id``, or a
    non-empty array whose first entry counts (as openbadgeslib reads it). None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        return value.get("id")
    return None


def _unix(credential: Mapping[str, Any], key: str) -> int | None:
    """``credential[key]`` (an ISO 8601 date-time) in Unix seconds, None when absent."""
    if key not in credential:
        return None
    return int(parse_credential_ts(credential[key], what=f"credential {key}").timestamp())


def _claims(credential: Mapping[str, Any]) -> dict[str, Any]:
    """The registered claims OB 3.0 §8.2.4.1 derives from ``credential``."""
    issuer = _object_id(credential.get("issuer"))
    if not isinstance(issuer, str) or not issuer:
        _refuse("credential has no issuer id to put in the JWT 'iss' claim", "jwt_claims")
    cred_id = credential.get("id")
    if not isinstance(cred_id, str) or not cred_id:
        _refuse("credential has no id to put in the JWT 'jti' claim", "jwt_claims")
    nbf = _unix(credential, "validFrom")
    if nbf is None:
        _refuse("credential has no validFrom to put in the JWT 'nbf' claim", "jwt_claims")
    claims: dict[str, Any] = {"iss": issuer, "jti": cred_id, "nbf": nbf}
    subject = _object_id(credential.get("credentialSubject"))
    if subject is not None:
        if not isinstance(subject, str):
            _refuse("credentialSubject.id must be a string", "jwt_claims")
        claims["sub"] = subject
    exp = _unix(credential, "validUntil")
    if exp is not None:
        claims["exp"] = exp
    return claims


# ------------------------------------------------------------------------------ encode


def encode(credential: Mapping[str, Any], sign: Callable[[bytes], bytes], kid: str) -> str:
    """The compact VC-JWT of ``credential``, signed by ``sign`` (Ed25519 over the signing input).

    The payload is the credential as given (``proof`` included, see the module docstring) plus
    the registered claims, serialized as RFC 8785 JSON, so the same credential and key always give
    the same token. ``kid`` is the verificationMethod URL (``<issuer DID>#<multibase key>``).
    """
    if not isinstance(kid, str) or not kid:
        _refuse("JWT kid must be a non-empty verificationMethod URL", "jwt_header")
    clash = sorted(REGISTERED_CLAIMS & set(credential))
    if clash:
        _refuse(f"credential uses the JWT claim name(s) {', '.join(clash)} as members; it cannot be a VC-JWT payload",
                "jwt_claim_collision")
    header = {"alg": ALG, "kid": kid, "typ": TYP}
    payload = {**credential, **_claims(credential)}
    header_bytes = canonical_bytes(header)
    payload_bytes = canonical_bytes(payload)
    if len(header_bytes) > MAX_HEADER_BYTES:
        _refuse(f"JWT header would be {len(header_bytes)} bytes, over {MAX_HEADER_BYTES}", "too_large")
    if len(payload_bytes) > MAX_PAYLOAD_BYTES:
        _refuse(f"JWT payload would be {len(payload_bytes)} bytes, over {MAX_PAYLOAD_BYTES}", "too_large")
    signing_input = f"{_b64encode(header_bytes)}.{_b64encode(payload_bytes)}".encode("ascii")
    signature = sign(signing_input)
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        raise ValueError(f"the signer returned {len(signature) if isinstance(signature, bytes) else type(signature).__name__}"
                         f" instead of a {SIGNATURE_BYTES}-byte Ed25519 signature")
    return f"{signing_input.decode('ascii')}.{_b64encode(signature)}"


# ------------------------------------------------------------------------------ decode


@dataclass(frozen=True)
class DecodedJwt:
    """A compact VC-JWT taken apart, its signature not yet checked (see :func:`verify`)."""

    header: dict[str, Any]
    payload: dict[str, Any]
    credential: dict[str, Any]  # the payload without the registered claims: what was encoded
    signing_input: bytes  # ASCII ``<header>.<payload>`` exactly as received
    signature: bytes

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


def looks_like_jwt(text: str) -> bool:
    """Whether ``text`` has the shape of a compact JWS (three base64url parts, the signature
    possibly empty as in an unsigned token, which :func:`decode` then refuses); says nothing more."""
    return len(text) <= MAX_TOKEN_CHARS and _COMPACT.fullmatch(text) is not None


def _check_header(header: Any) -> dict[str, Any]:
    if not isinstance(header, dict):
        _refuse("JWT header is not a JSON object", "jwt_header")
    alg = header.get("alg")
    if alg != ALG:
        _refuse(f"JWT alg must be {ALG!r} (Ed25519), got {alg!r}", "jwt_alg")
    if "crit" in header:
        _refuse("JWT header lists critical extensions ('crit'); none are supported", "jwt_header")
    if "typ" in header and header["typ"] != TYP:
        _refuse(f"JWT typ must be {TYP!r} when present, got {header['typ']!r}", "jwt_header")
    if "kid" in header and (not isinstance(header["kid"], str) or not header["kid"]):
        _refuse("JWT kid must be a non-empty string", "jwt_header")
    return header


def _check_claims(payload: dict[str, Any], credential: dict[str, Any]) -> None:
    """The registered claims must be those :func:`encode` derives from the credential.

    ``iss``/``jti``/``sub`` are checked as openbadgeslib checks them; ``nbf``/``exp`` must equal
    ``validFrom``/``validUntil`` in Unix seconds, so the JWT's validity window and the
    credential's (the one anchor's verdict reads) cannot disagree. ``iat``, when present, only has
    to be a number.
    """
    for name in ("nbf", "exp", "iat"):
        value = payload.get(name)
        if name in payload and (isinstance(value, bool) or not isinstance(value, int | float)):
            _refuse(f"JWT claim {name!r} must be a number of seconds, got {value!r}", "jwt_claims")
    if "iss" not in payload or "nbf" not in payload:
        _refuse("JWT payload lacks the required 'iss' and 'nbf' claims", "jwt_claims")
    expected = _claims(credential)
    for name in ("iss", "jti", "sub", "nbf", "exp"):
        if payload.get(name) != expected.get(name):
            _refuse(f"JWT claim {name!r} is {payload.get(name)!r} but the credential says {expected.get(name)!r}",
                    "jwt_claim_mismatch")


def decode(token: str) -> DecodedJwt:
    """Parse a compact VC-JWT strictly; :class:`InputError` (``jwt_*`` reasons) for anything off.

    Does not check the signature: :func:`verify` does, once the caller has found the key (``kid``).
    """
    if not isinstance(token, str):
        _refuse("JWT must be text", "jwt_format")
    if len(token) > MAX_TOKEN_CHARS:
        _refuse(f"JWT is too large: {len(token)} characters, at most {MAX_TOKEN_CHARS}", "too_large")
    parts = token.split(".")
    if len(parts) != 3:
        _refuse(f"JWT must have 3 dot-separated parts (compact JWS), found {len(parts)}", "jwt_format")
    header_part, payload_part, signature_part = parts
    if len(header_part) > _b64_len(MAX_HEADER_BYTES):
        _refuse(f"JWT header is over {MAX_HEADER_BYTES} bytes", "too_large")
    if len(payload_part) > _b64_len(MAX_PAYLOAD_BYTES):
        _refuse(f"JWT payload is over {MAX_PAYLOAD_BYTES} bytes", "too_large")
    header = _check_header(load_json(_b64decode(header_part, "header"), max_bytes=MAX_HEADER_BYTES, what="JWT header"))
    signature = _b64decode(signature_part, "signature")
    if len(signature) != SIGNATURE_BYTES:
        _refuse(f"JWT signature must be {SIGNATURE_BYTES} bytes (Ed25519), found {len(signature)}", "jwt_signature")
    payload = load_json(_b64decode(payload_part, "payload"), max_bytes=MAX_PAYLOAD_BYTES, what="JWT payload")
    if not isinstance(payload, dict):
        _refuse("JWT payload is not a JSON object", "jwt_payload")
    credential = {k: v for k, v in payload.items() if k not in REGISTERED_CLAIMS}
    _check_claims(payload, credential)
    return DecodedJwt(
        header=header,
        payload=payload,
        credential=credential,
        signing_input=f"{header_part}.{payload_part}".encode("ascii"),
        signature=signature,
    )


# ------------------------------------------------------------------------------ verify


def verify(decoded: DecodedJwt, public_key: bytes) -> bool:
    """Whether ``decoded``'s signature is valid under the raw 32-byte Ed25519 ``public_key``."""
    if not isinstance(public_key, bytes) or len(public_key) != 32:
        _refuse("an Ed25519 public key is 32 bytes", "invalid_public_key")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(decoded.signature, decoded.signing_input)
    except (InvalidSignature, ValueError):
        return False
    return True
