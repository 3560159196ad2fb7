"""Schema 4 as first released (5a3e9c3): issuer DID and signing key, status indexes and lists.

The issuer's DID, signing key, public URL and next status index; a status index per credential
(unique per issuer); the status lists.

Credentials issued before have no ``credentialStatus`` in their documents, but the column is
required: they get the indexes 0, 1, 2… of their issuer in issuing order, and the issuer's next
index continues after them, so later credentials never share a bit with them.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issuers") as batch:
        batch.add_column(sa.Column("did", sa.Text(), nullable=True))
        batch.add_column(sa.Column("signing_key", sa.LargeBinary(32), nullable=True))
        batch.add_column(sa.Column("public_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("next_status_index", sa.BigInteger(), nullable=False, server_default="0"))

    op.add_column("credentials", sa.Column("status_index", sa.BigInteger(), nullable=True))
    op.execute(sa.text(
        "UPDATE credentials SET status_index = numbered.n FROM "
        "(SELECT id, ROW_NUMBER() OVER (PARTITION BY issuer_id ORDER BY id) - 1 AS n FROM credentials) AS numbered "
        "WHERE credentials.id = numbered.id"
    ))
    op.execute(sa.text(
        "UPDATE issuers SET next_status_index = "
        "(SELECT COUNT(*) FROM credentials WHERE credentials.issuer_id = issuers.id)"
    ))
    with op.batch_alter_table("credentials") as batch:
        batch.alter_column("status_index", existing_type=sa.BigInteger(), nullable=False)
        batch.create_unique_constraint("uq_credentials_status_index", ["issuer_id", "status_index"])

    op.create_table(
        "status_lists",
        sa.Column("issuer_id", sa.Integer(), sa.ForeignKey("issuers.id"), primary_key=True),
        sa.Column("list_number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("generated_at", sa.BigInteger(), nullable=False),
        sa.Column("chain_block", sa.BigInteger(), nullable=False),
    )
    op.execute(sa.text("UPDATE anchor_meta SET value = '4' WHERE key = 'schema_version'"))


def downgrade() -> None:
    raise NotImplementedError("anchor migrations go forward only: restore the backup taken before upgrading")
