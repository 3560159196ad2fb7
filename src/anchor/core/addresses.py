"""Ethereum addresses and Keccak-256: validation and EIP-55 checksum casing, cached. Pure.

Keccak-256 comes from pycryptodome (the backend eth-hash uses too), imported in ~0.08 s where
``eth_utils`` takes ~0.5 s, which matters for a one-shot ``anchor verify``. Verification touches
the same few addresses over and over, so the answers are cached.
"""

from __future__ import annotations

import re
from functools import lru_cache

from Crypto.Hash import keccak as _keccak

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
_HEX40 = re.compile(r"0[xX][0-9a-fA-F]{40}")


def keccak256(data: bytes) -> bytes:
    """Keccak-256 (Ethereum's hash, not FIPS SHA3-256) of ``data``."""
    return _keccak.new(data=data, digest_bits=256).digest()


def _eip55(lower_hex: str) -> str:
    digest = keccak256(lower_hex.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(lower_hex))


def checksum(address: str) -> str:
    """EIP-55 form of ``address``; ValueError if it is not a 20-byte hex address."""
    if not isinstance(address, str):  # (before the cache: a list or dict would raise TypeError there)
        raise ValueError(f"not an Ethereum address: {address!r}")
    return _checksum(address)


@lru_cache(maxsize=65_536)
def _checksum(address: str) -> str:
    if not _HEX40.fullmatch(address):
        raise ValueError(f"not an Ethereum address: {address!r}")
    return _eip55(address[2:].lower())


def is_address(value: str) -> bool:
    """Whether ``value`` is an address (a mixed-case one must carry a valid EIP-55 checksum)."""
    return isinstance(value, str) and _is_address(value)


@lru_cache(maxsize=65_536)
def _is_address(value: str) -> bool:
    if not _HEX40.fullmatch(value):
        return False
    body = value[2:]
    if body == body.lower() or body == body.upper():
        return True
    return checksum(value) == "0x" + body


def from_word(word: bytes) -> str:
    """The checksummed address held in the low 20 bytes of a 32-byte ABI word or topic."""
    return checksum("0x" + word[-20:].hex())
