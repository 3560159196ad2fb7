"""Invariant 9 on a real chain: an issuer that copies another's pending anchor from the mempool
and gets it mined first gains nothing and blocks nobody (the attack from the hardening review)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anchor.app.anchoring import Anchorer, AnchorReport
from anchor.app.exporting import export_credentials
from anchor.app.issuing import issue_credentials
from anchor.app.registration import register_issuer
from anchor.app.revoking import request_revocation, submit_revocations
from anchor.app.signing import signer_for
from anchor.app.signing_keys import dev_signing_key_for
from anchor.app.verifying import Verdict, Verifier, VerifyOptions
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain, Fees
from anchor.chain.reader import RegistryReader
from anchor.chain.signer import dev_signer
from anchor.chain.writer import Registry
from anchor.core.roster import parse_roster
from anchor.store import Store
from tests.world import achievement

pytestmark = pytest.mark.chain


@pytest.fixture
def node() -> Iterator[DevChain]:
    with DevChain.start() as n:
        yield n


def _pending_anchor_calls(chain: Chain, registry: Registry, sender: str) -> list[dict[str, Any]]:
    pool = chain.dev_rpc("txpool_content")
    txs = pool.get("pending", {}).get(sender, {}) or pool.get("pending", {}).get(sender.lower(), {})
    selector = "0x" + registry.abi.fn("anchor").selector.hex()
    return [tx for tx in txs.values() if str(tx.get("input", tx.get("data", ""))).startswith(selector)]


def test_a_root_copied_from_the_mempool_blocks_nobody(node: DevChain, tmp_path: Path) -> None:
    chain = Chain(node.rpc_url)
    admin, alice, mallory = dev_signer(0), dev_signer(1), dev_signer(2)
    registry, _ = Registry.deploy(chain, admin)
    registry.add_issuer(admin, mallory.address, "https://mallory.example/issuer")
    store = Store.open(f"sqlite:///{tmp_path / 'alice.db'}")
    register_issuer(store, registry, alice, admin, name="Uni", signing_key=dev_signing_key_for(alice.address), url="https://uni.example")
    row = store.issuer(alice.address)
    assert row is not None
    issue_credentials(store, row, achievement(), parse_roster("name,email\nAda,ada@example.org\nBob,bob@example.org\n"),
                      sign=signer_for(row.did, dev_signing_key_for(alice.address), row.signing_key))

    chain.dev_rpc("evm_setAutomine", False)
    result: dict[str, Any] = {}

    def run_alice() -> None:
        try:
            result["report"] = Anchorer(store, registry, alice, row, timeout=30).run()
        except Exception as e:
            result["error"] = e

    worker = threading.Thread(target=run_alice)
    worker.start()
    deadline = time.monotonic() + 20
    while not (calls := _pending_anchor_calls(chain, registry, alice.address)):
        assert time.monotonic() < deadline, "alice's anchor never reached the mempool"
        time.sleep(0.05)
    data = bytes.fromhex(str(calls[0].get("input", calls[0].get("data")))[2:])
    root, leaf_count = registry.abi.decode_raw_call("anchor", data)
    # Mallory front-runs with a higher tip: same root, same count, mined first.
    market = chain.fees()
    greedy = Fees(market.max_priority_fee * 10 + 10**9, market.max_fee * 10 + 10**10)
    stolen = registry.prepare(mallory, "anchor", root, leaf_count, fees=greedy)
    chain.broadcast(stolen.raw)
    chain.dev_rpc("evm_mine")
    chain.dev_rpc("evm_setAutomine", True)
    worker.join(30)
    assert "error" not in result, result.get("error")
    report: AnchorReport = result["report"]
    assert [o.how for o in report.outcomes] == ["anchored"]

    mined = chain.receipt(stolen.tx_hash)
    assert mined is not None and mined.status == 1  # mallory's copy went through too...
    mine, theirs = registry.batch_info(alice.address, root), registry.batch_info(mallory.address, root)
    assert mine.anchored and theirs.anchored and mine.issuer == alice.address  # ...as mallory's own batch

    out = tmp_path / "badges"
    export_credentials(store, row.id, alice.address, out)
    badges = sorted(out.glob("*.json"))
    verifier = Verifier(lambda a: RegistryReader.connect(node.rpc_url, a), VerifyOptions(registry=registry.address))
    import json

    first = json.loads(badges[0].read_text())
    assert verifier.verify(first).verdict is Verdict.VALID
    # Mallory revoking "her" copy touches nothing of alice's; alice still revokes her own.
    registry.revoke_batch(mallory, root, 2)
    assert verifier.verify(first).verdict is Verdict.VALID
    request_revocation(store, row.id, [first["id"]], 1, None)
    sent = submit_revocations(store, registry, alice, row.id)
    assert sent.indices == 1
    assert verifier.verify(first).verdict is Verdict.REVOKED
    store.close()
