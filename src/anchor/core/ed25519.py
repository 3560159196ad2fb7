"""Ed25519 keys as Data Integrity names them: Multikey, did:key, verification methods.

A public key is written ``z`` + base58btc(0xed 0x01 || 32 key bytes) (the Multikey
``publicKeyMultibase``, https://www.w3.org/TR/controller-document/#Multikey); that string is
also the method-specific id of its ``did:key`` and, in anchor's proofs, the fragment of every
verification method, so a verifier reads the key from the proof itself and checks it against
the registry without fetching anything.

:class:`SigningKey` wraps the private key: its repr shows only the public key, and it refuses
to be pickled, so it cannot leak into logs, queues or crash dumps.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from anchor.core import multibase
from anchor.core.errors import InputError

MULTICODEC_ED25519_PUB = b"\xed\x01"
KEY_BYTES = 32
SIGNATURE_BYTES = 64
DID_KEY_PREFIX = "did:key:"
DID_WEB_PREFIX = "did:web:"


class SigningKey:
    """An Ed25519 private key that signs and never shows itself. ``repr`` names the public key only."""

    __slots__ = ("_key", "public_key", "public_multibase")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key: bytes = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public_multibase: str = public_multibase(self.public_key)

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """The key of a 32-byte seed (the RFC 8032 private key)."""
        if not isinstance(seed, bytes | bytearray) or len(seed) != KEY_BYTES:
            raise InputError("an Ed25519 seed is exactly 32 bytes", reason="bad_signing_key")
        return cls(Ed25519PrivateKey.from_private_bytes(bytes(seed)))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls.from_seed(os.urandom(KEY_BYTES))

    @classmethod
    def from_pem(cls, pem: bytes, password: bytes | None) -> SigningKey:
        """From a PKCS#8 PEM (encrypted when ``password`` is given). InputError ``bad_signing_key``
        when it cannot be read, is not Ed25519, or the password is wrong; the message never
        repeats the key material."""
        try:
            key = serialization.load_pem_private_key(pem, password=password)
        except (ValueError, TypeError):
            raise InputError("cannot read the Ed25519 key: wrong password, or not a PKCS#8 PEM key", reason="bad_signing_key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InputError("the key file holds a key that is not Ed25519", reason="bad_signing_key")
        return cls(key)

    def to_encrypted_pem(self, password: bytes) -> bytes:
        """Encrypted PKCS#8 PEM (the best encryption ``cryptography`` offers)."""
        if not password:
            raise InputError("an empty password would leave the key unencrypted", reason="bad_signing_key")
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(password)
        )

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (deterministic, RFC 8032)."""
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey({self.public_multibase})"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[Any, ...]:  # never pickle a key into a queue, cache or crash dump
        raise TypeError("SigningKey objects cannot be pickled")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SigningKey) and other.public_key == self.public_key

    def __hash__(self) -> int:
        return hash(self.public_key)


def public_multibase(pub: bytes) -> str:
    """``z`` + base58btc(0xed01 || pub): the Multikey ``publicKeyMultibase`` of an Ed25519 key."""
    if len(pub) != KEY_BYTES:
        raise InputError("an Ed25519 public key is exactly 32 bytes", reason="bad_public_key")
    return multibase.encode_base58btc(MULTICODEC_ED25519_PUB + bytes(pub))


@lru_cache(maxsize=1024)
def public_key_from_multibase(text: str) -> bytes:
    """The 32 key bytes of an Ed25519 ``publicKeyMultibase``; InputError ``bad_public_key`` otherwise.

    Only the canonical spelling is accepted: the base58btc text of the decoded bytes must be
    ``text`` itself.
    """
    if not isinstance(text, str) or not text.startswith("z"):
        raise InputError("an Ed25519 publicKeyMultibase starts with 'z' (base58btc)", reason="bad_public_key")
    try:
        raw = multibase.decode(text)
    except InputError:
        raise InputError("the publicKeyMultibase is not base58btc", reason="bad_public_key") from None
    if len(raw) != 2 + KEY_BYTES or raw[:2] != MULTICODEC_ED25519_PUB:
        raise InputError("the publicKeyMultibase is not an Ed25519 Multikey (0xed01 + 32 bytes)", reason="bad_public_key")
    key = raw[2:]
    if multibase.encode_base58btc(raw) != text:
        raise InputError("the publicKeyMultibase is not in canonical form", reason="bad_public_key")
    return key


def did_key(pub: bytes) -> str:
    """``did:key:`` + the public multibase."""
    return DID_KEY_PREFIX + public_multibase(pub)


def verification_method(did: str, pub: bytes) -> str:
    """``<did>#<public multibase>``: the verification method anchor's proofs name."""
    return f"{did}#{public_multibase(pub)}"


def key_of_verification_method(vm: str) -> bytes:
    """The public key a ``did:key`` or ``did:web`` verification method names in its fragment.

    For ``did:key`` the DID itself must be the same key (``did:key:X#X``). For ``did:web`` the
    fragment is taken as the key; whether the DID's controller bound it is the caller's check
    (the registry). InputError ``bad_verification_method`` otherwise.
    """
    if not isinstance(vm, str):
        raise InputError("a verification method is a string", reason="bad_verification_method")
    did, sep, fragment = vm.partition("#")
    if not sep or not fragment:
        raise InputError(f"verification method {vm[:200]!r} has no '#<publicKeyMultibase>' fragment", reason="bad_verification_method")
    try:
        key = public_key_from_multibase(fragment)
    except InputError as e:
        raise InputError(f"verification method fragment: {e.message}", reason="bad_verification_method") from None
    if did.startswith(DID_KEY_PREFIX):
        if did[len(DID_KEY_PREFIX):] != fragment:
            raise InputError("a did:key verification method must name its own key (did:key:X#X)", reason="bad_verification_method")
    elif not (did.startswith(DID_WEB_PREFIX) and len(did) > len(DID_WEB_PREFIX)):
        raise InputError(f"unsupported verification method {vm[:200]!r} (expected did:key or did:web)", reason="bad_verification_method")
    return key


@lru_cache(maxsize=1024)
def _public_key(pub: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(pub)


def verify(pub: bytes, sig: bytes, msg: bytes) -> bool:
    """Whether ``sig`` is a valid Ed25519 signature of ``msg`` under ``pub`` (False for any
    malformed key or signature)."""
    if len(pub) != KEY_BYTES or len(sig) != SIGNATURE_BYTES:
        return False
    try:
        _public_key(bytes(pub)).verify(bytes(sig), msg)
    except (InvalidSignature, ValueError):
        return False
    return True
