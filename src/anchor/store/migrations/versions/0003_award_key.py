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
    # New keys, in one pass (a few seconds per million credentials). Two credentials of one
    # achievement for one email (two schema-2 runs of a roster at once could both insert) become
    # generations 0, 1, … of the award instead of breaking the new unique key.
    rows = conn.execute(sa.text(
        "SELECT c.id, c.issuer_id, c.recipient_ref, a.achievement_uri FROM credentials c "
        "JOIN achievements a ON a.id = c.achievement_id ORDER BY c.id"
    )).all()
    seen: dict[tuple[int, str], int] = {}
    updates = []
    for row in rows:
        ref = legacy_ref(row.achievement_uri, row.recipient_ref)
        generation = seen[(row.issuer_id, ref)] = seen.get((row.issuer_id, ref), -1) + 1
        updates.append({"id": row.id, "ref": ref, "generation": generation})
    if updates:
        conn.execute(sa.text("UPDATE credentials SET recipient_ref = :ref, generation = :generation WHERE id = :id"),
                     updates)
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
