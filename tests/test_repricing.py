"""A transaction stuck under a rising base fee is re-priced (an EIP-1559 replacement with the same
nonce and higher fees), not only re-broadcast; whichever candidate lands settles the write."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from anchor.app.anchoring import Anchorer
from anchor.app.issuing import issue_credentials
from anchor.app.registration import register_issuer
from anchor.app.signing_keys import dev_signing_key_for
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.chain.signer import Signer, dev_signer
from anchor.chain.writer import Registry, fees_of
from anchor.core.roster import parse_roster
from anchor.core.status import TxKind, TxStatus
from anchor.store import Issuer, Store
from tests.world import achievement

pytestmark = pytest.mark.chain


def raise_fee_once_sent(chain: Chain, sender: str) -> threading.Thread:
    """Mining paused; once ``sender``'s transaction waits in the pool (priced at today's fee),
    the base fee jumps 1000x under it and blocks come every second: it cannot land any more."""
    base = chain.block("latest").base_fee
    chain.dev_rpc("evm_setAutomine", False)

    def watch() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pending = chain.dev_rpc("txpool_content").get("pending", {})
            if any(k.lower() == sender.lower() for k in pending):
                break
            time.sleep(0.02)
        chain.dev_rpc("anvil_setNextBlockBaseFeePerGas", hex(base * 1000))
        chain.dev_rpc("evm_setIntervalMining", 1)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def one_pending_credential(node: DevChain, tmp_path: Path) -> tuple[Chain, Registry, Store, Signer, Issuer]:
    chain = Chain(node.rpc_url)
    admin, issuer = dev_signer(0), dev_signer(1)
    registry, _ = Registry.deploy(chain, admin)
    store = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    register_issuer(store, registry, issuer, admin, name="Uni", signing_key=dev_signing_key_for(issuer.address), url="https://uni.example")
    row = store.issuer(issuer.address)
    assert row is not None
    issue_credentials(store, row, achievement(), parse_roster("name,email\nAda,ada@example.org\n"))
    return chain, registry, store, issuer, row


@pytest.fixture
def node() -> Iterator[DevChain]:
    with DevChain.start() as n:
        yield n


def test_an_anchor_stuck_under_a_raised_base_fee_is_repriced(node: DevChain, tmp_path: Path) -> None:
    chain, registry, store, issuer, row = one_pending_credential(node, tmp_path)

    raise_fee_once_sent(chain, issuer.address)
    anchorer = Anchorer(store, registry, issuer, row, timeout=60, stuck_after=2.0)
    report = anchorer.run()

    assert [o.how for o in report.outcomes] == ["anchored"]
    batch = store.batch(report.outcomes[0].batch_id)
    assert batch is not None
    txs = store.transactions(batch.id, TxKind.ANCHOR)
    assert len(txs) >= 2 and len({t.nonce for t in txs}) == 1  # replacements share the nonce
    first, landed = txs[0], next(t for t in txs if t.status is TxStatus.MINED)
    assert landed.tx_hash != first.tx_hash and landed.tx_hash == report.outcomes[0].tx_hash
    assert first.status is TxStatus.DROPPED
    assert fees_of(landed.raw).max_fee > fees_of(first.raw).max_fee * 9 // 8
    assert registry.batch_info(issuer.address, batch.root).anchored
    store.close()


def test_without_repricing_the_same_stuck_transaction_times_out(node: DevChain, tmp_path: Path) -> None:
    """The control: re-broadcasting the same bytes never gets it in, so the re-pricing is what works."""
    chain, registry, store, issuer, row = one_pending_credential(node, tmp_path)
    raise_fee_once_sent(chain, issuer.address)
    from anchor.core.errors import ChainError

    with pytest.raises(ChainError) as e:
        Anchorer(store, registry, issuer, row, timeout=4, stuck_after=None).run()
    assert e.value.reason == "tx_timeout"
    store.close()
