"""Tables of the issuer database. Times are unix seconds (UTC), hashes raw 32-byte blobs.

Life of a credential: inserted by ``issue`` with no batch (pending); ``anchor`` puts it in a
batch at a leaf index (batch ``pending`` → ``submitted`` → ``confirmed``); its proof is released
only once its batch is confirmed. Revocations go ``pending`` → ``submitted`` → ``confirmed``.
Every transaction is stored signed, with hash and nonce, before it is broadcast.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_VERSION = 2


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
        Index("ix_credentials_pending", "issuer_id", "batch_id"),
        # Not (achievement_id, recipient_ref): a random-key index costs ~1 s per 100,000 inserts,
        # and duplicate checks read all recipients of one achievement at once anyway.
        Index("ix_credentials_achievement", "achievement_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    credential_id: Mapped[str] = mapped_column(String(64), unique=True)  # urn:uuid:...
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id"))
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"))
    # sha256 of the normalized email: finds duplicates without keeping the address itself
    recipient_ref: Mapped[str] = mapped_column(String(64))
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    valid_from: Mapped[int] = mapped_column(BigInteger)
    valid_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), nullable=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class DocumentRow(Base):
    """The credential's RFC 8785 bytes (without proof), apart from its narrow metadata row so that
    batching, which rewrites the metadata row, does not rewrite kilobytes of document per credential."""

    __tablename__ = "credential_documents"
    credential_pk: Mapped[int] = mapped_column(ForeignKey("credentials.id"), primary_key=True, autoincrement=False)
    document: Mapped[bytes] = mapped_column(LargeBinary)


class BatchRow(Base):
    __tablename__ = "batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id"))
    root: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    leaf_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | submitted | confirmed
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
    kind: Mapped[str] = mapped_column(String(16))  # anchor | revoke | revoke_batch
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    sender: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))  # signed | mined | failed | dropped
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
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | submitted | confirmed
    tx_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"), nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
