"""Signing keys: where they come from, and a wrapper that never shows them.

Keys come from an encrypted keystore file (eth-account's JSON v3 format) with its password, or
from an environment variable. Anvil's published development keys are accepted only for a local
development chain (chain id 31337 on a loopback RPC); :func:`dev_signer` hands them out.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from anchor.core.errors import ConfigError

# Anvil's default mnemonic ("test test ... junk"): public knowledge, worthless on any real chain.
ANVIL_DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
)
DEV_CHAIN_ID = 31337


class Signer:
    """An account that signs transactions. ``repr``/``str`` show the address only."""

    __slots__ = ("_account",)

    def __init__(self, account: LocalAccount) -> None:
        self._account = account

    @property
    def address(self) -> str:
        return str(self._account.address)

    def sign_transaction(self, tx: dict[str, object]) -> tuple[bytes, bytes]:
        """(raw signed transaction, transaction hash)."""
        signed = self._account.sign_transaction(tx)
        return bytes(signed.raw_transaction), bytes(signed.hash)

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    __str__ = __repr__

    def __reduce__(self) -> object:  # never pickle a key into a queue, cache or crash dump
        raise TypeError("Signer objects cannot be pickled")

    @classmethod
    def from_key(cls, key: str) -> Signer:
        try:
            return cls(Account.from_key(key.strip()))
        except (ValueError, TypeError, AttributeError):
            # `from None`: the original message and traceback could echo the key back.
            raise ConfigError("the private key is malformed (expected 32 bytes of hex)") from None

    @classmethod
    def from_keystore(cls, path: Path, password: str) -> Signer:
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"keystore file not found: {path}") from None
        except (OSError, ValueError) as e:
            raise ConfigError(f"keystore file {path} is not readable JSON: {e}") from None
        try:
            key = Account.decrypt(data, password)
        except ValueError:
            raise ConfigError(f"cannot decrypt keystore {path}: wrong password or corrupt file") from None
        return cls(Account.from_key(key))

    def is_dev_key(self) -> bool:
        return self.address in DEV_ADDRESSES


DEV_ADDRESSES = frozenset(str(Account.from_key(k).address) for k in ANVIL_DEV_KEYS)


def dev_signer(n: int = 0) -> Signer:
    """Anvil development account ``n`` (0 = deployer/admin, 1 = demo issuer, ...)."""
    return Signer.from_key(ANVIL_DEV_KEYS[n])


def write_keystore(signer_key: str, path: Path, password: str) -> str:
    """Encrypt ``signer_key`` into a keystore file at ``path`` (see :func:`write_private_file`);
    returns the address."""
    account = Account.from_key(signer_key)
    write_private_file(path, json.dumps(Account.encrypt(account.key, password)).encode())
    return str(account.address)


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` (a key file) to ``path`` atomically, mode 0600, whatever was there before:
    into a new file created 0600 (``O_CREAT | O_EXCL | O_NOFOLLOW``: never an existing file or a
    symlink planted there) in the same directory, flushed to disk, renamed over ``path``. A crash
    leaves the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where the platform allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_signer(
    *, key_env: str | None = None, keystore: Path | None = None, password_env: str | None = None
) -> Signer:
    """A signer from ``$key_env`` (a hex key) or from ``keystore`` decrypted with ``$password_env``."""
    if keystore is not None:
        password = os.environ.get(password_env or "", None) if password_env else None
        if password is None:
            raise ConfigError(f"keystore {keystore} needs its password in ${password_env or 'ANCHOR_KEYSTORE_PASSWORD'}")
        return Signer.from_keystore(keystore, password)
    if key_env and os.environ.get(key_env):
        return Signer.from_key(os.environ[key_env])
    raise ConfigError(f"no signing key: set ${key_env} or give a keystore file")


def resolve_signer(
    role: str, *, key_env: str, keystore: Path | None, dev_index: int, local_dev_chain: bool
) -> tuple[Signer, str]:
    """The signer for ``role`` ("issuer" or "admin") and a phrase saying where it came from.

    Order: ``$key_env`` (hex key), then ``keystore`` (password in ``$ANCHOR_KEYSTORE_PASSWORD``),
    then, on a local development chain only, Anvil's dev account ``dev_index``. An Anvil dev key
    given for any other chain is refused: it is public, so anyone could use it.
    """
    if os.environ.get(key_env):
        signer, source = Signer.from_key(os.environ[key_env]), f"${key_env}"
    elif keystore is not None:
        signer = load_signer(keystore=keystore, password_env="ANCHOR_KEYSTORE_PASSWORD")
        source = f"keystore {keystore}"
    elif local_dev_chain:
        return dev_signer(dev_index), f"Anvil dev account {dev_index} (local chain only)"
    else:
        raise ConfigError(f"no {role} key: set ${key_env} or configure a {role} keystore")
    if signer.is_dev_key() and not local_dev_chain:
        raise ConfigError(f"the {role} key is one of Anvil's public dev keys; refusing to use it on a non-local chain")
    return signer, source
