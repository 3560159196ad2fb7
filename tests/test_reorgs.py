"""Answers survive reorgs (invariant 10): the service drops facts from blocks that left the
canonical chain, says ``pending`` below the confirmation depth, and polls O(new blocks), not
O(requests). Each test runs on its own Anvil so reorgs never disturb other tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anchor.api import create_app
from anchor.api.service import ServiceConfig
from anchor.app.verifying import Verdict, Verifier, VerifyOptions
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.chain.reader import RegistryReader
from tests.receipts import receipt_of
from tests.world import World, make_world

pytestmark = pytest.mark.chain


@pytest.fixture
def node() -> Iterator[DevChain]:
    with DevChain.start() as n:
        yield n


def _offline(w: World, badge: Any, **kw: Any) -> Verdict:
    verifier = Verifier(lambda a: RegistryReader.connect(w.chain.rpc_url, a), VerifyOptions(registry=w.registry.address, **kw))
    return verifier.verify(badge).verdict


def _anchor_block(badge: dict[str, Any]) -> int:
    return int(receipt_of(badge)["blockNumber"])


def test_service_drops_facts_from_blocks_a_reorg_removed(node: DevChain, tmp_path: Path) -> None:
    w = make_world(Chain(node.rpc_url), tmp_path, n=3)
    app = create_app(ServiceConfig(rpc_url=node.rpc_url, registry=w.registry.address, database_url=w.db_url, head_ttl=0.01))
    client = app.test_client()
    badge = w.badge(0)
    assert client.post("/api/v1/verify", json=badge).json["verdict"] == "valid"  # now cached
    head = w.chain.block_number()
    depth = head - _anchor_block(badge) + 1
    # Replace the anchoring block and every block after it with empty ones: same height, new hashes.
    w.chain.dev_rpc("anvil_reorg", depth, [])
    assert w.chain.block_number() == head
    assert _offline(w, badge) is Verdict.INVALID  # the chain no longer has the batch
    import time

    time.sleep(0.05)
    answer = client.post("/api/v1/verify", json=badge).json
    assert answer["verdict"] == "invalid", answer
    assert [c["reason"] for c in answer["checks"] if c["status"] == "failed"] == ["root_not_anchored"]
    assert app.extensions["anchor"].view.cache.reorgs >= 1
    # The audit views forget the reorged-out anchoring event too.
    root = receipt_of(badge)["merkleRoot"]
    assert client.get(f"/api/v1/audit/batches/{root}").status_code == 404


def test_below_the_confirmation_depth_the_answer_is_pending(node: DevChain, tmp_path: Path) -> None:
    w = make_world(Chain(node.rpc_url), tmp_path, n=2)
    app = create_app(ServiceConfig(rpc_url=node.rpc_url, registry=w.registry.address, database_url=w.db_url,
                                   head_ttl=0.01, confirmations=3))
    client = app.test_client()
    badge = w.badge(0)
    assert w.chain.block_number() - _anchor_block(badge) + 1 < 3
    answer = client.post("/api/v1/verify", json=badge).json
    assert answer["verdict"] == "pending", answer
    assert _offline(w, badge, confirmations=3) is Verdict.PENDING
    assert client.get(f"/api/v1/credentials/{badge['id']}/status").json["status"] == "pending"
    w.chain.dev_rpc("anvil_mine", 3)
    import time

    time.sleep(0.05)
    assert client.post("/api/v1/verify", json=badge).json["verdict"] == "valid"
    assert client.get(f"/api/v1/credentials/{badge['id']}/status").json["status"] == "active"


def test_repeated_verifies_cost_no_rpc_per_request_on_an_idle_chain(node: DevChain, tmp_path: Path) -> None:
    w = make_world(Chain(node.rpc_url), tmp_path, n=2)
    app = create_app(ServiceConfig(rpc_url=node.rpc_url, registry=w.registry.address, database_url=w.db_url, head_ttl=60))
    client = app.test_client()
    reader = app.extensions["anchor"].view
    assert client.post("/api/v1/verify", json=w.badge(0)).json["verdict"] == "valid"
    before = reader.rpc_calls
    for _ in range(200):
        assert client.post("/api/v1/verify", json=w.badge(1)).json["verdict"] == "valid"
    # The second badge shares batch and word with the first: no chain read at all.
    assert reader.rpc_calls - before == 0
    assert reader.cache.reorgs == 0


def test_idle_head_polls_never_ask_for_logs_or_wipe_the_cache(node: DevChain, tmp_path: Path) -> None:
    w = make_world(Chain(node.rpc_url), tmp_path, n=2)
    reader = RegistryReader(Chain(node.rpc_url), w.registry.address, head_ttl=0.001)
    methods: list[str] = []
    real = reader.rpc.batch

    def counting(calls: list[tuple[str, list[Any]]]) -> list[Any]:
        methods.extend(m for m, _ in calls)
        return real(calls)

    reader.rpc.batch = counting  # type: ignore[method-assign]
    reader.read(w.issuer.address, bytes.fromhex(receipt_of(w.badge(0))["merkleRoot"][2:]), 0)
    import time

    for _ in range(20):
        time.sleep(0.002)
        reader.head()
    assert "eth_getLogs" not in methods  # no new block: nothing to ask
    assert reader.cache is not None and len(reader.cache.batches) == 1  # the cached batch survived every poll
    w.chain.dev_rpc("anvil_mine", 1)
    time.sleep(0.002)
    reader.head()
    assert methods.count("eth_getLogs") == 1  # one new block: one log query


def test_a_revocation_lost_to_a_reorg_is_written_again_by_repair(node: DevChain, tmp_path: Path) -> None:
    from anchor.app.auditing import read_history
    from anchor.app.repair import repair
    from anchor.app.revoking import request_revocation, submit_revocations

    w = make_world(Chain(node.rpc_url), tmp_path, n=3)
    row = w.store.issuer(w.issuer.address)
    assert row is not None
    badge = w.badge(1)
    request_revocation(w.store, row.id, [badge["id"]], 2, "key lost")
    assert submit_revocations(w.store, w.registry, w.issuer, row.id).indices == 1
    assert _offline(w, badge) is Verdict.REVOKED
    # A reorg drops the block holding the revocation (the anchor, older, stays).
    w.chain.dev_rpc("anvil_reorg", 1, [])
    assert _offline(w, badge) is Verdict.VALID  # the chain forgot; the database still says revoked
    reader = RegistryReader(w.chain, w.registry.address)

    dry = repair(w.store, lambda: w.registry, w.issuer, row, lambda: read_history(reader), confirmations=1, timeout=30,
                 dry_run=True)
    assert [r.leaf_index for r in dry.missing_revocations] == [receipt_of(badge)["leafIndex"]] and not dry.missing
    fixed = repair(w.store, lambda: w.registry, w.issuer, row, lambda: read_history(reader), confirmations=1, timeout=30)
    assert fixed.revocation_transactions == 1
    assert _offline(w, badge) is Verdict.REVOKED
    assert repair(w.store, lambda: w.registry, w.issuer, row, lambda: read_history(reader), confirmations=1,
                  timeout=30, dry_run=True).clean


def test_a_fresh_anchor_is_not_unconfirmed_because_of_a_cached_head(node: DevChain, tmp_path: Path) -> None:
    """The head is cached for head_ttl; a batch anchored after that read is still at least one block deep."""
    w = make_world(Chain(node.rpc_url), tmp_path, n=2)
    reader = RegistryReader(Chain(node.rpc_url), w.registry.address, head_ttl=60)
    head = reader.head()  # cached for a minute
    root = b"\x42" * 32
    w.registry.anchor(w.issuer, root, 3)
    seen, batch, _, _ = reader.read(w.issuer.address, root, 0)
    assert batch.anchored and batch.anchored_block > head
    assert seen - batch.anchored_block + 1 >= 1
