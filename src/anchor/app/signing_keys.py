"""The issuer's Ed25519 signing key (Data Integrity proofs): where it comes from, handled like
the anchoring key (:mod:`anchor.chain.signer`).

Sources, in order:

1. ``$ANCHOR_SIGNING_KEY``: the 32-byte seed in hex;
2. a keystore file: encrypted PKCS#8 PEM (``cryptography``'s best available encryption), its
   password in ``$ANCHOR_SIGNING_KEYSTORE_PASSWORD``; written atomically with mode 0600 by
   :func:`write_keystore`;
3. on a local development chain only: a key derived from the issuer's Anvil development key,
   so the demo needs no configuration. Those keys are as public as Anvil's, so one of them
   given on any other chain is refused.

The key is never printed: errors do not repeat it, and :class:`~anchor.core.ed25519.SigningKey`
shows only its public key.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from anchor.chain.signer import ANVIL_DEV_KEYS, dev_signer, write_private_file
from anchor.core.ed25519 import SigningKey
from anchor.core.errors import ConfigError, InputError

SIGNING_KEY_ENV = "ANCHOR_SIGNING_KEY"
KEYSTORE_PASSWORD_ENV = "ANCHOR_SIGNING_KEYSTORE_PASSWORD"
_DEV_DERIVATION = b"anchor/dev-ed25519-signing-key/v1\x00"


def key_from_hex(text: str) -> SigningKey:
    """A key from its 32-byte seed in hex (``0x`` allowed). ConfigError that never repeats the text."""
    body = text.strip()
    if body[:2].lower() == "0x":
        body = body[2:]
    try:
        seed = bytes.fromhex(body)
    except ValueError:
        seed = b""
    if len(seed) != 32:
        raise ConfigError("the Ed25519 signing key is malformed (expected a 32-byte seed in hex)")
    return SigningKey.from_seed(seed)


def dev_signing_key(anvil_key: str) -> SigningKey:
    """The development signing key of an Anvil development account: SHA-256 of a fixed label and
    the account's (public) private key. Deterministic, so a demo's did:key is stable."""
    return SigningKey.from_seed(hashlib.sha256(_DEV_DERIVATION + bytes.fromhex(anvil_key.removeprefix("0x"))).digest())


_DEV_PUBLIC_KEYS = frozenset(dev_signing_key(k).public_key for k in ANVIL_DEV_KEYS)


def is_dev_key(key: SigningKey) -> bool:
    """Whether ``key`` is one of the public development keys."""
    return key.public_key in _DEV_PUBLIC_KEYS


def dev_signing_key_for(issuer_address: str) -> SigningKey:
    """The development key of the Anvil account ``issuer_address``; ConfigError for any other account."""
    for n, anvil_key in enumerate(ANVIL_DEV_KEYS):
        if dev_signer(n).address.lower() == issuer_address.lower():
            return dev_signing_key(anvil_key)
    raise ConfigError(f"no signing key: set ${SIGNING_KEY_ENV} or configure a signing keystore "
                      f"(a development key exists only for Anvil's development accounts, not {issuer_address})")


def load_keystore(path: Path, password: str) -> SigningKey:
    """The key in an encrypted PKCS#8 PEM file. ConfigError when missing, unreadable, or the
    password is wrong."""
    try:
        pem = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"signing keystore not found: {path}") from None
    except OSError as e:
        raise ConfigError(f"signing keystore {path} is not readable: {e.strerror}") from None
    try:
        return SigningKey.from_pem(pem, password.encode("utf-8"))
    except InputError:
        raise ConfigError(f"cannot decrypt signing keystore {path}: wrong password or not an Ed25519 PKCS#8 key") from None


def write_keystore(key: SigningKey, path: Path, password: str) -> str:
    """Encrypt ``key`` into ``path``; returns its public multibase.

    Atomic and private whatever was at ``path`` before: the PEM goes into a new file created
    0600 (``O_CREAT | O_EXCL | O_NOFOLLOW``: never an existing or planted file) next to it, is
    flushed to disk and renamed over ``path``; a crash leaves the old file or the new one.
    """
    if not password:
        raise ConfigError("a signing keystore needs a non-empty password")
    write_private_file(path, key.to_encrypted_pem(password.encode("utf-8")))
    return key.public_multibase


def resolve_signing_key(*, keystore: Path | None, issuer_address: str | None, local_dev_chain: bool,
                        key_env: str = SIGNING_KEY_ENV, password_env: str = KEYSTORE_PASSWORD_ENV) -> tuple[SigningKey, str]:
    """The issuer's signing key and a phrase saying where it came from (see the module doc).

    ConfigError when there is none, the keystore has no password, or a development key is
    given for a chain that is not the local development chain.
    """
    if os.environ.get(key_env):
        key, source = key_from_hex(os.environ[key_env]), f"${key_env}"
    elif keystore is not None:
        password = os.environ.get(password_env)
        if not password:
            raise ConfigError(f"signing keystore {keystore} needs its password in ${password_env}")
        key, source = load_keystore(keystore, password), f"signing keystore {keystore}"
    elif local_dev_chain:
        if issuer_address is None:
            raise ConfigError(f"no signing key: set ${key_env} or configure a signing keystore")
        return dev_signing_key_for(issuer_address), "development key of the issuer's Anvil account (local chain only)"
    else:
        raise ConfigError(f"no signing key: set ${key_env} or configure a signing keystore")
    if is_dev_key(key) and not local_dev_chain:
        raise ConfigError("the signing key is one of anchor's public development keys; refusing to use it on a non-local chain")
    return key, source
