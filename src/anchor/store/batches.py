"""Batches with their Merkle trees, and the lifecycle counts of an issuer's credentials."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import and_, func, insert, literal, select, union_all, update

from anchor.core import merkle
from anchor.core.errors import StoreError
from anchor.core.records import Batch, Counts
from anchor.core.status import BatchStatus, RevocationStatus
from anchor.store.engine import Database, now
from anchor.store.locks import LockSpace, xact_lock
from anchor.store.schema import BatchRow, CredentialRow, RevocationRow, TreeChunkRow

CHUNK = 1024  # tree nodes per stored chunk (32 KiB)


def batch_record(row: BatchRow) -> Batch:
    return Batch(row.id, row.issuer_id, bytes(row.root), row.leaf_count, BatchStatus(row.status), row.chain_id,
                 row.registry_address, bytes(row.tx_hash) if row.tx_hash is not None else None, row.block_number,
                 row.block_time, row.created_at, row.confirmed_at)


class BatchQueries(Database):
    def create_batch(self, issuer_id: int, max_size: int) -> Batch | None:
        """Put up to ``max_size`` pending credentials (oldest first) into a new batch, with its tree.

        One unit of work: indices, tree chunks and the batch row appear together or not at all.
        Returns None when nothing is pending.
        """
        with self.session() as s:
            xact_lock(s, LockSpace.BATCHING, issuer_id)  # one batcher per issuer at a time
            batch = BatchRow(issuer_id=issuer_id, root=b"\0" * 32, leaf_count=0, status=BatchStatus.BUILDING.value,
                             created_at=now())
            s.add(batch)
            s.flush()
            batch.root = batch.id.to_bytes(32, "big")  # placeholder, unique until the real root is set
            s.flush()
            picked = (
                select(CredentialRow.id, (func.row_number().over(order_by=CredentialRow.id) - 1).label("idx"))
                .where(CredentialRow.issuer_id == issuer_id, CredentialRow.batch_id.is_(None))
                .order_by(CredentialRow.id)
                .limit(max_size)
                .subquery()
            )
            s.execute(
                update(CredentialRow)
                .where(CredentialRow.id == picked.c.id)
                .values(batch_id=batch.id, leaf_index=picked.c.idx)
                .execution_options(synchronize_session=False)
            )
            leaves = b"".join(
                s.scalars(
                    select(CredentialRow.leaf_hash).where(CredentialRow.batch_id == batch.id).order_by(CredentialRow.leaf_index)
                )
            )
            if not leaves:
                s.rollback()
                return None
            levels = merkle.build_levels(leaves)
            batch.root = levels[-1]
            batch.leaf_count = len(leaves) // merkle.HASH_SIZE
            batch.status = BatchStatus.PENDING.value
            s.execute(insert(TreeChunkRow), list(_chunks(batch.id, levels)))
            s.flush()
            return batch_record(batch)

    def batch(self, batch_id: int) -> Batch | None:
        with self.session() as s:
            row = s.get(BatchRow, batch_id)
            return batch_record(row) if row is not None else None

    def batch_by_root(self, issuer_id: int, root: bytes) -> Batch | None:
        """The issuer's batch with this root (another issuer may have a batch with the same root)."""
        with self.session() as s:
            row = s.scalar(select(BatchRow).where(BatchRow.issuer_id == issuer_id, BatchRow.root == root))
            return batch_record(row) if row is not None else None

    def batches(self, issuer_id: int | None = None, statuses: Iterable[BatchStatus | str] | None = None,
                limit: int | None = None, newest_first: bool = False) -> list[Batch]:
        with self.session() as s:
            q = select(BatchRow)
            if issuer_id is not None:
                q = q.where(BatchRow.issuer_id == issuer_id)
            if statuses is not None:
                q = q.where(BatchRow.status.in_([BatchStatus(st).value for st in statuses]))
            q = q.order_by(BatchRow.id.desc() if newest_first else BatchRow.id)
            if limit:
                q = q.limit(limit)
            return [batch_record(r) for r in s.scalars(q)]

    def confirm_batch(self, batch_id: int, *, chain_id: int, registry: str, tx_hash: bytes, block_number: int,
                      block_time: int) -> None:
        with self.session() as s:
            s.execute(
                update(BatchRow)
                .where(BatchRow.id == batch_id)
                .values(status=BatchStatus.CONFIRMED.value, chain_id=chain_id, registry_address=registry, tx_hash=tx_hash,
                        block_number=block_number, block_time=block_time, confirmed_at=now())
            )

    def reset_batch(self, batch_id: int) -> None:
        """Back to pending (its transaction failed or was dropped): it will be signed again."""
        with self.session() as s:
            s.execute(update(BatchRow).where(BatchRow.id == batch_id).values(status=BatchStatus.PENDING.value))

    # ------------------------------------------------------------------ trees and proofs

    def levels(self, batch_id: int, first: int = 0) -> list[bytes]:
        """Every level of the batch's tree from level ``first`` up (default: leaves first)."""
        with self.session() as s:
            rows = s.execute(
                select(TreeChunkRow.level, TreeChunkRow.nodes)
                .where(TreeChunkRow.batch_id == batch_id, TreeChunkRow.level >= first)
                .order_by(TreeChunkRow.level, TreeChunkRow.chunk)
            ).all()
        out: list[list[bytes]] = []
        for level, nodes in rows:
            while len(out) <= level - first:
                out.append([])
            out[level - first].append(bytes(nodes))
        return [b"".join(parts) for parts in out]

    def tree_slice(self, batch_id: int, level: int, start: int, count: int) -> bytes:
        """Nodes ``[start, start + count)`` of ``level`` of the batch's tree, from one stored chunk
        (the range must not cross a chunk boundary; fewer nodes at the end of the level). One
        indexed query on a per-thread driver connection, as :meth:`locate` (the proof endpoint's path)."""
        chunk, offset = divmod(start, CHUNK)
        if count < 1 or offset + count > CHUNK:
            raise ValueError(f"nodes {start}..{start + count - 1} are not inside one chunk of {CHUNK}")
        m = self.mark
        sql = f"SELECT substr(nodes, {m}, {m}) FROM tree_chunks WHERE batch_id = {m} AND level = {m} AND chunk = {m}"
        row = self.fetch_one_raw(sql, (offset * 32 + 1, count * 32, batch_id, level, chunk))
        if row is None or not row[0]:
            raise StoreError(f"tree of batch {batch_id} is incomplete in the database (level {level}, chunk {chunk})")
        return bytes(row[0])

    def proof_path(self, batch_id: int, index: int, leaf_count: int) -> list[bytes]:
        """Sibling hashes of leaf ``index``, in one query of one 32-byte slice per level."""
        positions = list(merkle.path_positions(index, leaf_count))
        if not positions:
            return []
        parts = [
            select(literal(n).label("n"), func.substr(TreeChunkRow.nodes, (pos % CHUNK) * 32 + 1, 32).label("node")).where(
                and_(TreeChunkRow.batch_id == batch_id, TreeChunkRow.level == level, TreeChunkRow.chunk == pos // CHUNK)
            )
            for n, (level, pos) in enumerate(positions)
        ]
        with self.session() as s:
            rows = s.execute(union_all(*parts)).all()
        got = {int(n): bytes(node) for n, node in rows}
        if len(got) != len(positions) or any(len(v) != 32 for v in got.values()):
            raise StoreError(f"tree of batch {batch_id} is incomplete in the database")
        return [got[n] for n in range(len(positions))]

    # ------------------------------------------------------------------ status

    def counts(self, issuer_id: int) -> Counts:
        with self.session() as s:
            by_status = dict(
                s.execute(
                    select(func.coalesce(BatchRow.status, "none"), func.count(CredentialRow.id))
                    .select_from(CredentialRow)
                    .outerjoin(BatchRow, CredentialRow.batch_id == BatchRow.id)
                    .where(CredentialRow.issuer_id == issuer_id)
                    .group_by(BatchRow.status)
                ).all()
            )
            revoked = dict(
                s.execute(
                    select(RevocationRow.status, func.count())
                    .join(BatchRow, RevocationRow.batch_id == BatchRow.id)
                    .where(BatchRow.issuer_id == issuer_id, RevocationRow.leaf_index.is_not(None))
                    .group_by(RevocationRow.status)
                ).all()
            )
            whole = s.execute(
                select(RevocationRow.status, func.sum(BatchRow.leaf_count))
                .join(BatchRow, RevocationRow.batch_id == BatchRow.id)
                .where(BatchRow.issuer_id == issuer_id, RevocationRow.leaf_index.is_(None))
                .group_by(RevocationRow.status)
            ).all()
        for st, n in whole:
            revoked[st] = revoked.get(st, 0) + int(n or 0)
        return Counts(
            pending=int(by_status.get("none", 0)),
            batched=sum(int(n) for st, n in by_status.items() if st != "none" and BatchStatus(st).in_flight),
            anchored=int(by_status.get(BatchStatus.CONFIRMED, 0)),
            revoked=int(revoked.get(RevocationStatus.CONFIRMED, 0)),
            revoking=int(revoked.get(RevocationStatus.PENDING, 0)) + int(revoked.get(RevocationStatus.SUBMITTED, 0)),
        )


def _chunks(batch_id: int, levels: Sequence[bytes]) -> Iterator[dict[str, Any]]:
    size = CHUNK * merkle.HASH_SIZE
    for level, data in enumerate(levels):
        for chunk, start in enumerate(range(0, len(data), size)):
            yield {"batch_id": batch_id, "level": level, "chunk": chunk, "nodes": data[start : start + size]}
