"""Schema 2, the baseline: the tables as releases 0b892bd to 9e44bf6 created them.

``create_all`` of the models at commit 0b892bd. An existing version-2 database is stamped with this revision, never
created by it; a new database goes through it only when built from migrations.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anchor_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "issuers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("address", sa.String(42), nullable=False, unique=True),
        sa.Column("profile_uri", sa.Text(), nullable=False),
        sa.Column("profile_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "achievements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("issuer_id", sa.Integer(), sa.ForeignKey("issuers.id"), nullable=False),
        sa.Column("achievement_uri", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("definition_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("issuer_id", "content_hash"),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("issuer_id", sa.Integer(), sa.ForeignKey("issuers.id"), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("leaf_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=True),
        sa.Column("registry_address", sa.String(42), nullable=True),
        sa.Column("tx_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_time", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("confirmed_at", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("credential_id", sa.String(64), nullable=False, unique=True),
        sa.Column("issuer_id", sa.Integer(), sa.ForeignKey("issuers.id"), nullable=False),
        sa.Column("achievement_id", sa.Integer(), sa.ForeignKey("achievements.id"), nullable=False),
        sa.Column("recipient_ref", sa.String(64), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_until", sa.BigInteger(), nullable=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batches.id"), nullable=True),
        sa.Column("leaf_index", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("batch_id", "leaf_index"),
        sa.Index("ix_credentials_pending", "issuer_id", "batch_id"),
        sa.Index("ix_credentials_achievement", "achievement_id"),
    )
    op.create_table(
        "credential_documents",
        sa.Column("credential_pk", sa.Integer(), sa.ForeignKey("credentials.id"), primary_key=True, autoincrement=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "tree_chunks",
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batches.id"), primary_key=True),
        sa.Column("level", sa.Integer(), primary_key=True),
        sa.Column("chunk", sa.Integer(), primary_key=True),
        sa.Column("nodes", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batches.id"), nullable=False, index=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("sender", sa.String(42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "revocations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batches.id"), nullable=False),
        sa.Column("credential_pk", sa.Integer(), sa.ForeignKey("credentials.id"), nullable=True, unique=True),
        sa.Column("leaf_index", sa.Integer(), nullable=True),
        sa.Column("reason_code", sa.Integer(), nullable=False),
        sa.Column("reason_text", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("tx_id", sa.Integer(), sa.ForeignKey("transactions.id"), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_time", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Index("ix_revocations_batch", "batch_id", "leaf_index"),
    )
    op.execute(sa.text("INSERT INTO anchor_meta (key, value) VALUES ('schema_version', '2')"))


def downgrade() -> None:
    raise NotImplementedError("anchor migrations go forward only: restore the backup taken before upgrading")
