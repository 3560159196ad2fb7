"""What the registry says, as plain values: issuers, batches, signing keys, events, revocation
reasons. Pure.

A batch is identified by its issuer account **and** its Merkle root (invariant 9): two issuers
anchoring the same root own two independent batches, so copying a root from the mempool gains
nothing and blocks nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from anchor.core.addresses import ZERO_ADDRESS
from anchor.core.errors import InputError

__all__ = ["ZERO_ADDRESS", "BatchInfo", "BatchKey", "IssuerInfo", "LogEvent", "RevocationReason", "RevocationRecord",
           "SigningKeyRecord"]

BatchKey = tuple[str, bytes]  # (checksummed issuer account, root)


class RevocationReason(IntEnum):
    """The reason code a revocation carries on chain (``uint8``)."""

    UNSPECIFIED = 0
    ISSUED_IN_ERROR = 1
    KEY_COMPROMISE = 2
    SUPERSEDED = 3
    MISCONDUCT = 4
    WITHDRAWN = 5
    EXPIRED_REQUIREMENT = 6

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> RevocationReason:
        """The reason named ``name`` (``key_compromise``); InputError listing the names otherwise."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise InputError(f"unknown revocation reason {name!r}; one of: {', '.join(r.label for r in cls)}",
                             reason="unknown_reason") from None

    @classmethod
    def label_of(cls, code: int) -> str:
        """The name of ``code``, or ``code N`` for a code this version does not know."""
        try:
            return cls(code).label
        except ValueError:
            return f"code {code}"


@dataclass(frozen=True, slots=True)
class IssuerInfo:
    address: str
    id: int  # 0: never added
    active: bool
    added_at: int  # unix seconds of the latest (re-)addition
    removed_at: int  # unix seconds of the latest removal, 0 if never
    profile_uri: str


@dataclass(frozen=True, slots=True)
class BatchInfo:
    issuer: str  # the account that owns the batch (zero address: never anchored)
    root: bytes
    leaf_count: int
    anchored_at: int
    anchored_block: int
    revoked_at: int  # whole-batch revocation time, 0 if not revoked

    @property
    def anchored(self) -> bool:
        return self.issuer != ZERO_ADDRESS

    @property
    def key(self) -> BatchKey:
        return (self.issuer, self.root)


@dataclass(frozen=True, slots=True)
class SigningKeyRecord:
    """One Ed25519 credential-signing key an issuer bound to its account on chain.

    Bindings are never undone: an issuer's records are its key history, oldest first, and a key
    rotated out keeps verifying the credentials signed before the rotation.
    """

    public_key: bytes  # the raw 32-byte Ed25519 public key
    bound_at: int  # unix seconds (block time) of the binding
    bound_block: int  # block number of the binding (never 0)


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One decoded registry event with where and when it happened."""

    name: str
    args: dict[str, Any]
    block_number: int
    block_time: int
    tx_hash: bytes
    log_index: int
    block_hash: bytes = b""


@dataclass(frozen=True, slots=True)
class RevocationRecord:
    whole_batch: bool
    reason: int
    block_number: int
    block_time: int
    tx_hash: bytes
