"""Ethereum addresses: validation and EIP-55 checksum casing, cached.

``eth_utils.to_checksum_address`` hashes with keccak on every call (~0.2 ms with the pure
backend); verification touches the same few addresses over and over, so the answers are cached.
"""

from __future__ import annotations

from functools import lru_cache

from eth_utils import is_address as _is_address
from eth_utils import to_checksum_address as _to_checksum


@lru_cache(maxsize=65_536)
def checksum(address: str) -> str:
    """EIP-55 form of ``address``; ValueError if it is not an address."""
    return str(_to_checksum(address))


@lru_cache(maxsize=65_536)
def is_address(value: str) -> bool:
    """Whether ``value`` is an address (a mixed-case one must carry a valid EIP-55 checksum)."""
    return bool(_is_address(value))
