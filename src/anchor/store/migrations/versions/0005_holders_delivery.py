"""Schema 5: what later releases added to schema 4 in place; holders, signatures, deliveries.

Added without a new version number (commits after 5a3e9c3): the issuer's ``public_pages``; the credential's signature (on its document), holder
name and email, ``exported_at``, ``hidden`` and ``supersedes``; the deliveries table.

A database that says version 4 may have none, some or all of these (it was made by a release
from anywhere in that stretch), so each is added only if it is missing.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

def added_columns() -> dict[str, list[sa.Column[object]]]:
    return {
        "issuers": [sa.Column("public_pages", sa.Boolean(), nullable=False, server_default=sa.true())],
        "credentials": [
            sa.Column("holder_name", sa.Text(), nullable=True),
            sa.Column("holder_email", sa.Text(), nullable=True),
            sa.Column("exported_at", sa.BigInteger(), nullable=True),
            sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()),
            sa.Column("supersedes", sa.String(64), nullable=True),
        ],
        "credential_documents": [sa.Column("signature", sa.LargeBinary(), nullable=True)],
    }


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns in added_columns().items():
        present = {c["name"] for c in inspector.get_columns(table)}
        for column in columns:
            if column.name not in present:
                op.add_column(table, column)
    if "deliveries" not in inspector.get_table_names():
        op.create_table(
            "deliveries",
            sa.Column("credential_pk", sa.Integer(), sa.ForeignKey("credentials.id"), primary_key=True,
                      autoincrement=False),
            sa.Column("email", sa.Text(), nullable=False),
            sa.Column("status", sa.String(16), nullable=False, index=True),
            sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
            sa.Column("last_error", sa.Text(), nullable=True),
            sa.Column("sent_at", sa.BigInteger(), nullable=True),
            sa.Column("message_id", sa.Text(), nullable=True),
            sa.Column("updated_at", sa.BigInteger(), nullable=False),
        )
    op.execute(sa.text("UPDATE anchor_meta SET value = '5' WHERE key = 'schema_version'"))


def downgrade() -> None:
    raise NotImplementedError("anchor migrations go forward only: restore the backup taken before upgrading")
