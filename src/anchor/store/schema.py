"""Tables of the issuer database. Times are unix seconds (UTC), hashes raw 32-byte blobs.

Life of a credential: inserted by ``issue`` with no batch (pending); ``anchor`` puts it in a
batch at a leaf index (batch ``pending`` → ``submitted`` → ``confirmed``); its proof is released
only once its batch is confirmed. Its status index (its bit in the issuer's Bitstring Status
Lists) is reserved before its document is built, since the document names it. Revocations go
``pending`` → ``submitted`` → ``confirmed``; the status lists are regenerated from the chain.
Every transaction is stored signed, with hash and nonce, before it is broadcast. The status
columns hold the values of the enums in ``anchor.core.status``.

Only ``anchor.store`` imports this module: the rest of anchor gets frozen records
(``anchor.core.records``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# 3: unique award key on credentials, batch roots unique per issuer
# 4: status indexes on credentials (unique per issuer), issuer DID / signing key / public URL, status lists;
# 5: what releases after 5a3e9c3 added to 4 in place: holders' names and emails (for delivery),
#    document signatures, export and page visibility, supersedes, deliveries
# Each version is an Alembic revision ("0002" … ) in anchor.store.migrations: a change to these models
# needs a new revision and a new version (tests/test_migrations.py fails on any drift).
SCHEMA_VERSION = 5


class Base(DeclarativeBase):
    pass


class Meta(Base):
    __tablename__ = "anchor_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class IssuerRow(Base):
    __tablename__ = "issuers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(42), unique=True)
    profile_uri: Mapped[str] = mapped_column(Text)
    profile_json: Mapped[str] = mapped_column(Text)  # the OB 3.0 Profile credentials embed
    created_at: Mapped[int] = mapped_column(BigInteger)
    did: Mapped[str | None] = mapped_column(Text, nullable=True)  # did:key / did:web the credentials name as issuer
    signing_key: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)  # Ed25519 public key (32 bytes)
    public_url: Mapped[str | None] = mapped_column(Text, nullable=True)  # base URL of status lists and pages
    # The next unreserved status index: reserving n indexes adds n in one UPDATE (the row lock
    # serializes concurrent issuing runs), so ranges never overlap.
    next_status_index: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Whether /credentials/<id> pages are served for this issuer's credentials (the issuer may turn them off).
    public_pages: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class AchievementRow(Base):
    __tablename__ = "achievements"
    __table_args__ = (UniqueConstraint("issuer_id", "content_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id"))
    achievement_uri: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the canonical Achievement
    definition_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)


class CredentialRow(Base):
    __tablename__ = "credentials"
    __table_args__ = (
        UniqueConstraint("batch_id", "leaf_index"),
        # One credential per recipient, achievement and generation, enforced by the database: two
        # `anchor issue` runs of the same roster at once cannot both insert (insert-or-skip on this
        # key). recipient_ref already names the achievement (see anchor.app.issuing.recipient_ref).
        # A random-key index has a price: measured +0.6 s per 100,000 inserts on SQLite and +2.2 s
        # on PostgreSQL (~20% of the bare insert, far less of a whole `anchor issue`).
        UniqueConstraint("issuer_id", "recipient_ref", "generation", name="uq_credentials_award"),
        Index("ix_credentials_pending", "issuer_id", "batch_id"),
        Index("ix_credentials_achievement", "achievement_id"),  # reads all holders of one achievement at once
        # A credential's bit in its issuer's status lists (anchor.core.status_list): one credential per bit.
        # Indexes grow with issuance, so this index is appended to, not written at random.
        UniqueConstraint("issuer_id", "status_index", name="uq_credentials_status_index"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    credential_id: Mapped[str] = mapped_column(String(64), unique=True)  # urn:uuid:...
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id"))
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"))
    # hex sha256 of (achievement URI, normalized email): finds duplicates without keeping the address
    recipient_ref: Mapped[str] = mapped_column(String(64))
    # 0 for a first award; re-issuing a revoked or expired badge (a future feature) takes the next
    # generation, so the uniqueness key stays one plain constraint on both databases.
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    valid_from: Mapped[int] = mapped_column(BigInteger)
    valid_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), nullable=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    status_index: Mapped[int] = mapped_column(BigInteger)
    # The holder as the roster named them: issuer-private, kept only to deliver the badge (the
    # credential itself carries a salted hash of the email). NULL for credentials issued before.
    holder_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    holder_email: Mapped[str | None] = mapped_column(Text, nullable=True)  # normalized (anchor.core.roster)
    exported_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # NULL: never exported
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # the holder's page is hidden
    supersedes: Mapped[str | None] = mapped_column(String(64), nullable=True)  # credential id it renews or replaces


class DocumentRow(Base):
    """The credential's RFC 8785 bytes (without proof), apart from its narrow metadata row so that
    batching, which rewrites the metadata row, does not rewrite kilobytes of document per credential."""

    __tablename__ = "credential_documents"
    credential_pk: Mapped[int] = mapped_column(ForeignKey("credentials.id"), primary_key=True, autoincrement=False)
    document: Mapped[bytes] = mapped_column(LargeBinary)
    # The issuer's eddsa-rdfc-2022 proof-set entry (JSON text), made at issuance over ``document``;
    # NULL for a credential issued unsigned (export then signs it).
    signature: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class BatchRow(Base):
    __tablename__ = "batches"
    # A batch is its issuer's root (the registry keys batches by issuer and root): two issuers
    # may anchor the same root, one issuer never has two batches with one root.
    __table_args__ = (UniqueConstraint("issuer_id", "root", name="uq_batches_issuer_root"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id"))
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    leaf_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)  # a BatchStatus
    chain_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    registry_address: Mapped[str | None] = mapped_column(String(42), nullable=True)
    tx_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)  # the anchoring tx
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    confirmed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class TreeChunkRow(Base):
    """``CHUNK`` consecutive nodes of one tree level, so a proof is one small read per level."""

    __tablename__ = "tree_chunks"
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    nodes: Mapped[bytes] = mapped_column(LargeBinary)


class TransactionRow(Base):
    __tablename__ = "transactions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # a TxKind
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    sender: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))  # a TxStatus
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    gas_used: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class RevocationRow(Base):
    __tablename__ = "revocations"
    __table_args__ = (Index("ix_revocations_batch", "batch_id", "leaf_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    credential_pk: Mapped[int | None] = mapped_column(ForeignKey("credentials.id"), nullable=True, unique=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: the whole batch
    reason_code: Mapped[int] = mapped_column(Integer)
    reason_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # a RevocationStatus
    tx_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"), nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class DeliveryRow(Base):
    """The one delivery of a credential to its holder by email (``anchor notify``): a row per
    credential, so a rerun sends nothing that was sent. ``sending`` is written before the SMTP
    transaction starts: a run that dies before recording the outcome leaves it there, and the
    next run does not send it again unless told to (at most once)."""

    __tablename__ = "deliveries"
    credential_pk: Mapped[int] = mapped_column(ForeignKey("credentials.id"), primary_key=True, autoincrement=False)
    email: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)  # sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    message_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class StatusListRow(Base):
    """One published Bitstring Status List credential of an issuer, signed, as served. Regenerated
    from the chain's revocations (``anchor.app.status_lists``); ``chain_block`` is the block it
    reflects."""

    __tablename__ = "status_lists"
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id"), primary_key=True)
    list_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[str] = mapped_column(Text)  # the signed JSON text
    generated_at: Mapped[int] = mapped_column(BigInteger)
    chain_block: Mapped[int] = mapped_column(BigInteger)
