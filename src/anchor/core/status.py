"""The states things in the issuer database move through, as enums.

Each is a ``StrEnum`` whose values are exactly the strings stored in the database, so a member
compares equal to its stored text (``BatchStatus.CONFIRMED == "confirmed"``) and the schema does
not change.
"""

from __future__ import annotations

from enum import StrEnum


class BatchStatus(StrEnum):
    """A batch's life: ``building`` (inside the unit of work that creates it, never committed)
    → ``pending`` (tree built, root known) → ``submitted`` (signed transaction stored, then
    broadcast) → ``confirmed`` (mined with the configured confirmations; proofs released)."""

    BUILDING = "building"
    PENDING = "pending"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"

    @property
    def in_flight(self) -> bool:
        """Batched but not anchored yet."""
        return self is not BatchStatus.CONFIRMED


class TxKind(StrEnum):
    """What a stored transaction does."""

    ANCHOR = "anchor"
    REVOKE = "revoke"  # some indices of one batch
    REVOKE_BATCH = "revoke_batch"  # a whole batch


class TxStatus(StrEnum):
    """A stored transaction: ``signed`` (stored before it is broadcast) → ``mined``; or ``failed``
    (mined but reverted), or ``dropped`` (its nonce went to another transaction)."""

    SIGNED = "signed"
    MINED = "mined"
    FAILED = "failed"
    DROPPED = "dropped"


class RevocationStatus(StrEnum):
    """A revocation: ``pending`` (recorded) → ``submitted`` (in a stored transaction) → ``confirmed``."""

    PENDING = "pending"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"


class Severity(StrEnum):
    """How bad an audit finding is, in increasing order (compare with :attr:`rank`, not ``<``:
    a ``StrEnum`` compares as text)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = tuple(Severity)
