"""What the issuer database hands out: frozen values, never live ORM rows.

The store (``anchor.store``) reads rows and returns these; use cases never see a session, a
query or a mapped object, so nothing they hold can lazily load, go stale inside a transaction,
or be written back by accident. Times are unix seconds (UTC), hashes raw 32-byte strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from anchor.core.status import BatchStatus, RevocationStatus, TxKind, TxStatus


@dataclass(frozen=True)
class Issuer:
    id: int
    address: str  # checksummed
    profile_uri: str
    profile_json: str  # the OB 3.0 Profile that credentials embed, as JSON text
    created_at: int
    did: str | None = None  # the DID credentials name as their issuer (did:key, did:web)
    signing_key: bytes | None = None  # its Ed25519 public key, 32 bytes
    public_url: str | None = None  # base URL credentials name for status lists and pages
    public_pages: bool = True  # whether its credentials have public pages (/credentials/<id>)


@dataclass(frozen=True)
class Achievement:
    id: int
    issuer_id: int
    achievement_uri: str
    name: str
    content_hash: str  # hex sha256 of the canonical Achievement


class NewCredential(NamedTuple):
    """One credential to insert (a tuple: issuing builds up to a million of them)."""

    credential_id: str  # urn:uuid:...
    recipient_ref: str  # the recipient's identity key for this achievement (see anchor.app.issuing)
    document: bytes  # RFC 8785 bytes of the credential without its proof
    leaf_hash: bytes
    valid_from: int
    valid_until: int | None
    # The credential's bit in the issuer's status lists, as its credentialStatus names it (from
    # Store.reserve_status_indexes). None: the store assigns the next free one at insert.
    status_index: int | None = None
    # The issuer's eddsa-rdfc-2022 proof-set entry over ``document`` (JSON text), or None (unsigned).
    signature: bytes | None = None
    # The holder as the roster names them, kept by the issuer (never in the credential) to deliver it.
    holder_name: str | None = None
    holder_email: str | None = None  # normalized (anchor.core.roster.normalize_email)
    # 0 for a first award; a renewal or replacement (``anchor issue --reissue``) takes the next one.
    generation: int = 0
    supersedes: str | None = None  # the credential id this one renews or replaces


@dataclass(frozen=True)
class Inserted:
    """Outcome of inserting a stream of :class:`NewCredential`."""

    created: int
    skipped: list[int]  # positions in the stream whose recipient already held the achievement


@dataclass(frozen=True)
class Credential:
    pk: int
    credential_id: str
    issuer_id: int
    achievement_id: int
    recipient_ref: str
    leaf_hash: bytes
    valid_from: int
    valid_until: int | None
    batch_id: int | None
    leaf_index: int | None
    created_at: int
    status_index: int  # its bit in the issuer's status lists
    holder_name: str | None = None
    holder_email: str | None = None
    generation: int = 0
    supersedes: str | None = None  # the credential id it renews or replaces
    exported_at: int | None = None  # last `anchor export` that wrote it; None: never exported
    hidden: bool = False  # its public page is hidden


@dataclass(frozen=True)
class Batch:
    id: int
    issuer_id: int
    root: bytes
    leaf_count: int
    status: BatchStatus
    chain_id: int | None
    registry_address: str | None
    tx_hash: bytes | None  # the anchoring transaction
    block_number: int | None
    block_time: int | None
    created_at: int
    confirmed_at: int | None


@dataclass(frozen=True)
class Transaction:
    id: int
    kind: TxKind
    batch_id: int
    chain_id: int
    sender: str
    nonce: int
    tx_hash: bytes
    raw: bytes  # the signed bytes, re-broadcast as they are
    status: TxStatus
    block_number: int | None
    gas_used: int | None
    created_at: int


@dataclass(frozen=True)
class Revocation:
    id: int
    batch_id: int
    root: bytes  # of its batch
    leaf_index: int | None  # None: the whole batch
    reason_code: int
    reason_text: str | None
    status: RevocationStatus
    tx_id: int | None
    block_number: int | None
    block_time: int | None


@dataclass
class RevocationRequest:
    """What recording a revocation request did, per credential id."""

    recorded: int = 0
    withdrawn: list[str] = field(default_factory=list)  # never anchored: deleted instead
    already: list[str] = field(default_factory=list)  # revoked (or being revoked) already


@dataclass(frozen=True)
class Counts:
    pending: int  # not in any batch yet
    batched: int  # in a batch that is not confirmed yet
    anchored: int  # in a confirmed batch
    revoked: int  # revocation confirmed on chain (index or whole batch)
    revoking: int  # revocation recorded, not yet confirmed


@dataclass(frozen=True)
class CredentialLocation:
    credential_id: str
    valid_from: int
    valid_until: int | None
    leaf_index: int | None
    batch_id: int | None
    batch_status: str | None
    root: bytes | None
    leaf_count: int | None
    chain_id: int | None
    registry: str | None
    tx_hash: bytes | None
    block_number: int | None
    block_time: int | None
    issuer_address: str


class Leaf(NamedTuple):
    """One stored leaf of a batch, as the auditor re-checks it (a tuple: audits read millions)."""

    leaf_index: int
    credential_id: str
    document: bytes
    leaf_hash: bytes
    valid_from: int


@dataclass(frozen=True)
class Renewal:
    """A recipient's latest credential of an achievement that may be renewed or replaced
    (``anchor issue --reissue``): revoked on chain, or expired."""

    pk: int
    credential_id: str
    generation: int
    why: str  # "revoked" | "expired"


@dataclass(frozen=True)
class HolderCredential:
    """A credential as an issuer looks it up by its holder (``anchor find``)."""

    credential_id: str
    holder_name: str | None
    holder_email: str | None
    achievement_name: str
    status: str  # pending | anchored | revoking | revoked | expired
    valid_from: int
    valid_until: int | None
    generation: int
    supersedes: str | None


class HolderRow(NamedTuple):
    """One credential of a batch with its holder, in leaf order (the export manifest, delivery)."""

    leaf_index: int
    pk: int
    credential_id: str
    holder_name: str | None
    holder_email: str | None
    achievement_name: str
    valid_from: int
    valid_until: int | None


@dataclass(frozen=True)
class Expiring:
    """Credentials whose validity ends within ``days`` from now (not revoked, not renewed)."""

    days: int
    count: int
    first: list[tuple[str, int]]  # (credential id, validUntil), soonest first


class Outgoing(NamedTuple):
    """A credential to email to its holder (``anchor notify``), with what its badge is made of."""

    pk: int
    credential_id: str
    holder_name: str | None
    holder_email: str
    achievement_name: str
    batch_id: int
    leaf_index: int
    valid_from: int
    valid_until: int | None
    document: bytes
    signature: bytes | None
    delivery: str | None  # its delivery's status so far: None (never tried), failed, sending (interrupted)
    hidden: bool = False  # its public page is hidden (the email then gives no page link)


@dataclass(frozen=True)
class Delivery:
    """The email delivery of one credential to its holder (``anchor notify``)."""

    credential_pk: int
    email: str
    status: str  # sending | sent | failed
    attempts: int
    last_error: str | None
    sent_at: int | None
    message_id: str | None


@dataclass(frozen=True)
class StatusList:
    """One published status list of an issuer (``anchor.core.status_list``), as served."""

    issuer_id: int
    list_number: int
    document: str  # the signed BitstringStatusListCredential, JSON text
    generated_at: int
    chain_block: int  # the chain block whose revocations it shows
