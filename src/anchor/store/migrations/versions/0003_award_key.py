"""Schema 3: one credential per award key, batch roots unique per issuer.

One credential per issuer, recipient key and generation (``uq_credentials_award``); batch roots
unique per issuer instead of globally (``uq_batches_issuer_root``).

``recipient_ref`` changed meaning in schema 3: it was sha256 of the normalized email, it became
sha256 of the length-prefixed achievement URI and the email (one key per achievement, so one
email may hold several of an issuer's achievements). Schema 2 kept only the hash, not the email,
so the new key cannot be computed; each old key becomes sha256(prefixed URI, ``legacy-v2:`` and
the old hex key): unique per (achievement, email) as the new key is, and never equal to a key
computed from a roster (that would need the email ``legacy-v2:<64 hex digits>``, which has no ``@``).
Re-issuing a roster for an achievement issued under schema 2 therefore does not recognise its
earlier recipients.

Revision ID: 0003
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LEGACY_MARK = b"legacy-v2:"


def legacy_ref(achievement_uri: str, old_ref: str) -> str:
    uri = achievement_uri.encode("utf-8")
    return hashlib.sha256(len(uri).to_bytes(4, "big") + uri + LEGACY_MARK + old_ref.encode("ascii")).hexdigest()


def _batches_v2(meta: sa.MetaData) -> sa.Table:
    """Schema 2's batches without its global unique root: the shape SQLite copies the table into."""
    return sa.Table(
        "batches", meta,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("issuer_id", sa.Integer(), sa.ForeignKey("issuers.id"), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("leaf_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=True),
        sa.Column("registry_address", sa.String(42), nullable=True),
        sa.Column("tx_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_time", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("confirmed_at", sa.BigInteger(), nullable=True),
        sa.Index("ix_batches_status", "status"),
    )


def upgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("generation", sa.Integer(), nullable=False, server_default="0"))
    # New keys, in one statement: PostgreSQL hashes in SQL; SQLite calls legacy_ref (measured on
    # 100,000 credentials, the whole upgrade to the head: SQLite 3 s, PostgreSQL 8 s on 2 shared cores).
    if conn.dialect.name == "sqlite":
        conn.connection.driver_connection.create_function("anchor_legacy_ref", 2, legacy_ref, deterministic=True)
        new_ref = "anchor_legacy_ref(a.achievement_uri, credentials.recipient_ref)"
    else:
        uri = "convert_to(a.achievement_uri, 'UTF8')"
        new_ref = (f"encode(sha256(int4send(octet_length({uri})) || {uri} || "
                   "convert_to('legacy-v2:' || credentials.recipient_ref, 'UTF8')), 'hex')")
    op.execute(sa.text(f"UPDATE credentials SET recipient_ref = "
                       f"(SELECT {new_ref} FROM achievements a WHERE a.id = credentials.achievement_id)"))
    # Two credentials of one achievement for one email (two schema-2 runs of a roster at once could
    # both insert) become generations 0, 1, … of the award instead of breaking the new unique key.
    op.execute(sa.text(
        "UPDATE credentials SET generation = numbered.n FROM "
        "(SELECT id, ROW_NUMBER() OVER (PARTITION BY issuer_id, recipient_ref ORDER BY id) - 1 AS n FROM credentials) "
        "AS numbered WHERE credentials.id = numbered.id AND numbered.n > 0"
    ))
    with op.batch_alter_table("credentials") as batch:
        batch.create_unique_constraint("uq_credentials_award", ["issuer_id", "recipient_ref", "generation"])

    if conn.dialect.name == "sqlite":
        # The old unique root is an unnamed constraint inside CREATE TABLE: copy the table into a
        # shape without it.
        with op.batch_alter_table("batches", copy_from=_batches_v2(sa.MetaData()), recreate="always") as batch:
            batch.create_unique_constraint("uq_batches_issuer_root", ["issuer_id", "root"])
    else:
        op.drop_constraint("batches_root_key", "batches", type_="unique")
        op.create_unique_constraint("uq_batches_issuer_root", "batches", ["issuer_id", "root"])
    op.execute(sa.text("UPDATE anchor_meta SET value = '3' WHERE key = 'schema_version'"))


def downgrade() -> None:
    raise NotImplementedError("anchor migrations go forward only: restore the backup taken before upgrading")
