"""The issuer database, on SQLite and on PostgreSQL: same code, same answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from anchor.app.issuing import recipient_ref
from anchor.core import merkle
from anchor.core.credential import CredentialFactory, IssuerProfile
from anchor.core.errors import StoreError
from anchor.core.status import BatchStatus, TxKind, TxStatus
from anchor.store import NewCredential, Store
from anchor.store.batches import CHUNK

PROFILE = IssuerProfile(id="https://uni.example/issuer", name="Uni")
ACHIEVEMENT = {"id": "https://uni.example/a/1", "type": ["Achievement"], "name": "A", "description": "D",
               "criteria": {"narrative": "C"}, "achievementType": "MicroCredential"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def seed(store: Store, n: int, issuer_address: str = "0x" + "11" * 20) -> tuple[int, list[bytes]]:
    issuer = store.upsert_issuer(issuer_address, PROFILE.id, PROFILE.to_json())
    ach = store.achievement_for(issuer.id, ACHIEVEMENT)
    factory = CredentialFactory(PROFILE, ACHIEVEMENT)
    leaves = []
    rows = []
    for i in range(n):
        issued = factory.build(name=f"P{i}", email=f"p{i}@example.org", valid_from=T0)
        leaves.append(issued.leaf)
        rows.append(NewCredential(issued.credential_id, recipient_ref(ACHIEVEMENT["id"], f"p{i}@example.org"), issued.canonical,
                                  issued.leaf, 0, None))
    inserted = store.insert_credentials(issuer.id, ach.id, [rows[:n // 2], rows[n // 2:]], created_at=0)
    assert (inserted.created, inserted.skipped) == (n, [])
    return issuer.id, leaves


def test_batches_take_pending_credentials_in_order_with_their_tree(store: Store) -> None:
    issuer_id, leaves = seed(store, 2 * CHUNK + 37)  # more than one chunk per low level
    first = store.create_batch(issuer_id, 1500)
    second = store.create_batch(issuer_id, 1500)
    assert first is not None and second is not None
    assert store.create_batch(issuer_id, 1500) is None  # nothing left
    assert (first.leaf_count, second.leaf_count) == (1500, 2 * CHUNK + 37 - 1500)
    assert first.status is BatchStatus.PENDING and first.root == merkle.root_of(b"".join(leaves[:1500]))
    assert second.root == merkle.root_of(b"".join(leaves[1500:]))

    levels = store.levels(first.id)
    assert levels == merkle.build_levels(b"".join(leaves[:1500]))
    for index in (0, 1, 1023, 1024, 1499):
        assert store.proof_path(first.id, index, 1500) == merkle.prove(levels, index)
    docs = list(store.iter_documents(first.id, page=400))
    assert [d[0] for d in docs] == list(range(1500))
    assert all(merkle.hash_leaf(doc) == leaves[i] for i, _, doc in docs)


def test_counts_follow_the_batch_lifecycle(store: Store) -> None:
    issuer_id, _ = seed(store, 10)
    c = store.counts(issuer_id)
    assert (c.pending, c.batched, c.anchored) == (10, 0, 0)
    batch = store.create_batch(issuer_id, 4)
    assert batch is not None
    c = store.counts(issuer_id)
    assert (c.pending, c.batched, c.anchored) == (6, 4, 0)
    store.record_signed_tx(batch.id, TxKind.ANCHOR, 31337, "0x" + "11" * 20, 0, b"\x01" * 32, b"raw",
                           batch_status=BatchStatus.SUBMITTED)
    assert store.batch(batch.id).status is BatchStatus.SUBMITTED  # type: ignore[union-attr]
    store.confirm_batch(batch.id, chain_id=31337, registry="0x" + "22" * 20, tx_hash=b"\x01" * 32, block_number=5, block_time=100)
    c = store.counts(issuer_id)
    assert (c.pending, c.batched, c.anchored) == (6, 0, 4)
    got = store.batch_by_root(issuer_id, batch.root)
    assert got is not None and (got.status, got.block_number, got.block_time) == (BatchStatus.CONFIRMED, 5, 100)
    assert store.batch_by_root(issuer_id + 1, batch.root) is None  # a root is looked up per issuer


def test_signed_transaction_is_unique_by_hash(store: Store) -> None:
    issuer_id, _ = seed(store, 6)
    batch, other = store.create_batch(issuer_id, 3), store.create_batch(issuer_id, 3)
    assert batch is not None and other is not None and batch.id != other.id
    first = store.record_signed_tx(batch.id, TxKind.ANCHOR, 1, "0x" + "11" * 20, 7, b"\x02" * 32, b"raw")
    store.set_tx_status(first, TxStatus.MINED, block_number=3)
    # The same signed bytes again (a reset chain): the row is reused and back to "signed".
    assert store.record_signed_tx(batch.id, TxKind.ANCHOR, 1, "0x" + "11" * 20, 7, b"\x02" * 32, b"raw") == first
    (tx,) = store.transactions(batch.id, TxKind.ANCHOR)
    assert (tx.nonce, tx.status, tx.raw, tx.block_number) == (7, TxStatus.SIGNED, b"raw", None)
    # A hash belongs to one transaction of one batch: not to another batch, nor to another kind.
    with pytest.raises(StoreError):
        store.record_signed_tx(other.id, TxKind.ANCHOR, 1, "0x" + "11" * 20, 7, b"\x02" * 32, b"raw")
    with pytest.raises(StoreError):
        store.record_signed_tx(batch.id, TxKind.REVOKE, 1, "0x" + "11" * 20, 7, b"\x02" * 32, b"raw")
    assert store.transactions(other.id, TxKind.ANCHOR) == [] and store.transactions(batch.id, TxKind.REVOKE) == []


def test_achievements_are_stored_once_per_content(store: Store) -> None:
    issuer = store.upsert_issuer("0x" + "33" * 20, PROFILE.id, PROFILE.to_json())
    a = store.achievement_for(issuer.id, ACHIEVEMENT)
    b = store.achievement_for(issuer.id, dict(ACHIEVEMENT))
    c = store.achievement_for(issuer.id, {**ACHIEVEMENT, "description": "changed"})
    assert a.id == b.id != c.id


def test_unreachable_database_is_a_store_error() -> None:
    with pytest.raises(StoreError) as e:
        Store.open("postgresql://nobody:secret@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    assert "secret" not in str(e.value)
