"""The service's bounded caches: never past their byte budget, least recently used out first, and
proofs built from cached tree parts byte-identical to proofs over the whole tree."""

from __future__ import annotations

import hashlib
import random
import uuid

import pytest

from anchor.api.caches import ENTRY_OVERHEAD, ByteLRU, TreeParts, split_level
from anchor.api.service import Service, ServiceConfig
from anchor.core import merkle
from anchor.core.proof import ReceiptRenderer
from anchor.core.records import NewCredential
from anchor.core.verdict import prepare
from anchor.store import Store
from anchor.store.batches import CHUNK

ISSUER = "0x" + "11" * 20
REGISTRY = "0x" + "22" * 20


def test_byte_lru_never_exceeds_its_budget_and_evicts_least_recently_used() -> None:
    rnd = random.Random(5)
    cache: ByteLRU[int, bytes] = ByteLRU(10_000)
    for i in range(2_000):
        cache.put(i, b"x" * rnd.randrange(0, 3_000), rnd.randrange(0, 3_000))
        if rnd.random() < 0.3:
            cache.get(rnd.randrange(0, i + 1))
        assert cache.bytes <= 10_000
    stats = cache.stats()
    assert stats["bytes"] == cache.bytes and stats["entries"] == len(cache) and stats["evictions"] > 0

    lru: ByteLRU[str, bytes] = ByteLRU(3 * (100 + ENTRY_OVERHEAD))
    for key in "abc":
        lru.put(key, key.encode(), 100)
    assert lru.get("a") == b"a"  # a is now the most recent: b goes first
    lru.put("d", b"d", 100)
    assert lru.get("b") is None and lru.get("c") == b"c" and lru.get("a") == b"a" and lru.get("d") == b"d"
    lru.put("huge", b"", 10_000)  # larger than the whole budget: not kept, nothing evicted for it
    assert lru.get("huge") is None and len(lru) == 3
    assert lru.stats()["hits"] == 4 and lru.stats()["misses"] == 2
    lru.put("a", b"A", 100)  # replacing an entry counts its size once
    assert lru.bytes == 3 * (100 + ENTRY_OVERHEAD) and lru.get("a") == b"A"
    assert lru.get("zzz", count_miss=False) is None and lru.stats()["misses"] == 2


def _stored(levels: list[bytes]) -> tuple[list[str], TreeParts]:
    """TreeParts reading ``levels`` as the store serves them; a log of the reads."""
    reads: list[str] = []

    def fetch_levels(_batch: int, first: int) -> list[bytes]:
        reads.append(f"levels>={first}")
        return levels[first:]

    def fetch_slice(_batch: int, level: int, start: int, count: int) -> bytes:
        assert start // CHUNK == (start + count - 1) // CHUNK  # inside one stored chunk
        reads.append("slice")
        return levels[level][start * merkle.HASH_SIZE : (start + count) * merkle.HASH_SIZE]

    return reads, TreeParts(10**7, fetch_levels=fetch_levels, fetch_slice=fetch_slice)


@pytest.mark.parametrize("n", [1, 2, 5, CHUNK + 1, 2**15, 2**15 + 1, 3 * 2**15 - 1, 200_000 + 333, 2**20 + 5])
def test_tree_parts_give_the_paths_of_the_whole_tree(n: int) -> None:
    rnd = random.Random(n)
    levels = merkle.build_levels(b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(n)))
    reads, parts = _stored(levels)
    split = split_level(n)
    picks = {0, n - 1, min(n - 1, CHUNK - 1), min(n - 1, CHUNK), *(rnd.randrange(n) for _ in range(300))}
    for index in sorted(picks, key=lambda _: rnd.random()):
        assert parts.path_json(7, index, n) == merkle.path_json(levels, index, n)
        assert parts.siblings(7, index, n) == b"".join(merkle.prove(levels, index))
    assert reads.count(f"levels>={split}") == 1  # upper levels read once
    assert reads.count("slice") == (0 if split == 0 else 2 * len(picks))  # the rest: one read per path
    assert parts.cache.bytes <= 2**16 * 2 * merkle.HASH_SIZE + 2000  # never the whole tree of a big batch
    assert parts.cache.bytes == sum(len(level) + 40 for level in levels[split:]) + ENTRY_OVERHEAD  # from the split up


def _seed_batch(store: Store, n: int) -> int:
    """A confirmed batch of ``n`` credentials (synthetic documents: only their leaves matter here)."""
    issuer = store.upsert_issuer(ISSUER, "https://uni.example/issuer", {"id": "https://uni.example/issuer", "name": "Uni"})
    ach = store.achievement_for(issuer.id, {"id": "https://uni.example/a/1", "type": ["Achievement"], "name": "A"})
    rnd = random.Random(n)
    rows = [NewCredential(f"urn:uuid:{uuid.UUID(int=rnd.getrandbits(128), version=4)}", f"ref{i}", b'{"i":%d}' % i,
                          hashlib.sha256(b"leaf %d" % i).digest(), 0, None) for i in range(n)]
    store.insert_credentials(issuer.id, ach.id, [rows], created_at=0)
    batch = store.create_batch(issuer.id, n)
    assert batch is not None
    store.confirm_batch(batch.id, chain_id=31337, registry=REGISTRY, tx_hash=b"\x01" * 32, block_number=5, block_time=100)
    return batch.id


def test_service_proofs_match_the_uncached_path_within_the_budget(store: Store, db_url: str) -> None:
    n = 40 * CHUNK + 101  # over 2**15 leaves: the tree is kept in part
    batch_id = _seed_batch(store, n)
    levels = store.levels(batch_id)
    budget = 150_000  # a couple of hundred proofs: far less than the batch's
    service = Service(ServiceConfig(rpc_url="http://127.0.0.1:9", registry=REGISTRY, database_url=db_url,
                                    proof_cache_bytes=budget))
    batch = store.batch(batch_id)
    assert batch is not None and batch.tx_hash is not None and batch.block_number is not None
    receipts = ReceiptRenderer(chain_id=31337, registry=REGISTRY, issuer_address=ISSUER, root=batch.root, leaf_count=n,
                               tx_hash=batch.tx_hash, block_number=batch.block_number, block_time=100)
    ids = {index: cid for index, cid, _ in store.iter_documents(batch_id)}
    rnd = random.Random(3)
    candidates = rnd.sample(range(n), 300)  # more than the budget holds, drawn again and again
    for index in [0, n - 1, *(rnd.choice(candidates) for _ in range(600))]:
        path = merkle.path_json(levels, index, n)
        expected = b'{"credentialId":"%s","proof":%s,"receipt":%s}' % (
            ids[index].encode(), receipts.render(index, path), receipts.receipt_text(index, path))
        assert service.proof_json(ids[index]) == expected
        stats = service.cache_stats()
        assert stats["proofs"]["bytes"] + stats["trees"]["bytes"] <= budget
    stats = service.cache_stats()
    assert stats["proofs"]["evictions"] > 0 and stats["proofs"]["hits"] > 0
    hits = stats["proofs"]["hits"]
    service.proof_json(ids[n - 1].upper().replace("URN:UUID:", "urn:uuid:"))  # another spelling, same credential
    service.proof_json(ids[n - 1])
    assert service.cache_stats()["proofs"]["hits"] >= hits + 1
    assert set(service.cache_stats()) == {"proofs", "trees", "prepared"}
    assert all({"hits", "misses", "bytes", "entries"} <= set(s) for s in service.cache_stats().values())


def test_prepared_documents_are_kept_as_bytes_within_their_budget() -> None:
    service = Service(ServiceConfig(rpc_url="http://127.0.0.1:9", registry=REGISTRY, database_url=None,
                                    prepared_cache_bytes=20_000))

    def parse(body: bytes) -> dict[str, object]:
        return {"id": body.decode(), "validFrom": "2026-01-01T00:00:00Z", "issuer": {"id": "did:key:z6Mk"}}

    first = service.prepared(b"urn:uuid:1", parse)
    again = service.prepared(b"urn:uuid:1", parse)
    assert again == first == prepare(parse(b"urn:uuid:1")) and again is not first  # rebuilt from its bytes
    for i in range(500):
        service.prepared(b"urn:uuid:%d" % i, parse)
        assert service.cache_stats()["prepared"]["bytes"] <= 20_000
    stats = service.cache_stats()["prepared"]
    assert stats["hits"] == 2 and stats["evictions"] > 0 and 0 < stats["entries"] < 500


def test_worker_init_freezes_the_loaded_heap_out_of_the_collectors_sight(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    # Reading gunicorn's config sets PROMETHEUS_MULTIPROC_DIR for the processes it starts; here it
    # must not outlive the test (a later gunicorn started by another test would inherit it).
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    from anchor.api import gunicorn_conf

    assert gunicorn_conf.post_worker_init.__module__ == "anchor.api.gunicorn_conf"  # the hook gunicorn calls
    try:
        gc.unfreeze()
        tracked = len(gc.get_objects())
        gunicorn_conf.post_worker_init(object())
        assert gc.get_freeze_count() >= tracked // 2 and len(gc.get_objects()) < tracked // 10
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
