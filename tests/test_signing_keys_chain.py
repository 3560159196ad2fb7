"""Issuers' Ed25519 credential-signing keys bound in the registry, against a real Anvil: binding,
rotation history, refusals, isolation between issuers, and the verifier's cached read surviving
reorgs (a binding dropped by a reorg is no longer reported)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anchor.app.keybinding import BindReport, bind_signing_key
from anchor.chain.anvil import DevChain
from anchor.chain.artifact import load_artifact
from anchor.chain.node import Chain
from anchor.chain.reader import RegistryReader
from anchor.chain.signer import Signer, dev_signer
from anchor.chain.writer import Registry
from anchor.core.ed25519 import public_multibase
from anchor.core.errors import ContractRevert, InputError
from anchor.core.history import replay
from anchor.core.registry import SigningKeyRecord
from tests.conftest import ISSUER_PROFILE

pytestmark = pytest.mark.chain


def new_key() -> bytes:
    """A real Ed25519 public key, raw 32 bytes."""
    return Ed25519PrivateKey.generate().public_key().public_bytes_raw()


def bind(registry: Registry, signer: Signer, key: bytes) -> BindReport:
    return bind_signing_key(registry, key, issuer=signer, confirmations=1, receipt_timeout=30)


def block_time(chain: Chain, number: int) -> int:
    return int(chain.rpc.call("eth_getBlockByNumber", hex(number), False)["timestamp"], 16)


# ---------------------------------------------------------------------------- binding and history


def test_the_artifact_has_the_signing_key_functions_event_and_errors() -> None:
    names = {(item["type"], item.get("name")) for item in load_artifact().abi}
    for fn in ("bindSigningKey", "signingKeyCount", "signingKeyAt", "signingKeyBlock"):
        assert ("function", fn) in names
    assert ("event", "SigningKeyBound") in names
    for err in ("RegistrySigningKeyAlreadyBound", "RegistryZeroSigningKey", "RegistrySigningKeyIndexOutOfRange"):
        assert ("error", err) in names


def test_bind_records_the_key_with_its_block_and_time(registry: Registry, issuer: Signer, chain: Chain) -> None:
    key = new_key()
    assert registry.signing_key_count(issuer.address) == 0
    assert registry.signing_key_block(issuer.address, key) == 0
    report = bind(registry, issuer, key)
    assert report.sent and report.index == 0 and report.keys == 1
    assert report.issuer == issuer.address and report.public_key == key
    receipt = chain.receipt(report.tx_hash or b"")
    assert receipt is not None and receipt.status == 1 and receipt.block_number == report.block
    assert registry.signing_key_at(issuer.address, 0) == SigningKeyRecord(key, block_time(chain, report.block), report.block)
    assert registry.signing_key_block(issuer.address, key) == report.block
    assert RegistryReader(chain, registry.address).signing_key_bound(issuer.address, key) == report.block
    assert "bound signing key " + public_multibase(key) in report.summary


def test_three_rotated_keys_stay_listed_in_order_with_their_blocks(registry: Registry, issuer: Signer, chain: Chain) -> None:
    keys = [new_key() for _ in range(3)]
    reports = []
    for key in keys:
        reports.append(bind(registry, issuer, key))
        chain.dev_rpc("anvil_mine", 2)  # bindings in distinct, spaced blocks
    assert [r.index for r in reports] == [0, 1, 2]
    assert [r.keys for r in reports] == [1, 2, 3]
    blocks = [r.block for r in reports]
    assert blocks == sorted(blocks) and len(set(blocks)) == 3
    history = registry.signing_keys(issuer.address)
    assert history == [SigningKeyRecord(k, block_time(chain, b), b) for k, b in zip(keys, blocks, strict=True)]
    reader = RegistryReader(chain, registry.address)
    # Rotation never retires a key: the first one is still bound, at its own block.
    assert [reader.signing_key_bound(issuer.address, k) for k in keys] == blocks
    # The history at an earlier block is the history as it was then.
    assert [r.public_key for r in registry.signing_keys(issuer.address, block=blocks[1])] == keys[:2]
    with pytest.raises(ContractRevert) as e:
        registry.signing_key_at(issuer.address, 3)
    assert e.value.reason == "signing_key_index_out_of_range" and e.value.error_args == (issuer.address, 3, 3)


def test_the_event_history_carries_every_binding(registry: Registry, issuer: Signer) -> None:
    keys = [new_key(), new_key()]
    reports = [bind(registry, issuer, k) for k in keys]
    events = [ev for ev in registry.logs() if ev.name == "SigningKeyBound"]
    assert [(ev.args["issuer"], bytes(ev.args["publicKey"]), ev.args["index"]) for ev in events] == [
        (issuer.address, keys[0], 0), (issuer.address, keys[1], 1)]
    assert [(ev.block_number, ev.tx_hash) for ev in events] == [(r.block, r.tx_hash) for r in reports]
    topic = "0x" + registry.event_topic("SigningKeyBound").hex()
    by_key = list(registry.logs(topics=[topic, None, "0x" + keys[1].hex()]))
    assert [ev.args["index"] for ev in by_key] == [1]
    # The replay of the history still folds without anomalies (it does not know keys yet).
    assert replay(registry.logs()).anomalies == []


# ---------------------------------------------------------------------------- refusals


def test_binding_a_bound_key_again_sends_nothing(registry: Registry, issuer: Signer, chain: Chain) -> None:
    key, other = new_key(), new_key()
    first = bind(registry, issuer, key)
    bind(registry, issuer, other)
    nonce = chain.nonce_of(issuer.address)
    again = bind(registry, issuer, key)  # an older key, after a rotation
    assert not again.sent
    assert (again.block, again.index, again.keys, again.tx_hash) == (first.block, 0, 2, first.tx_hash)
    assert "already bound" in again.summary and "nothing sent" in again.summary
    assert chain.nonce_of(issuer.address) == nonce
    # The writer itself is refused by the registry before anything is sent.
    with pytest.raises(ContractRevert) as e:
        registry.bind_signing_key(issuer, key)
    assert e.value.reason == "signing_key_already_bound" and e.value.error_args == (issuer.address, key)
    assert chain.nonce_of(issuer.address) == nonce
    assert registry.signing_key_count(issuer.address) == 2


def test_strangers_and_removed_issuers_are_refused(registry: Registry, admin: Signer, issuer: Signer, stranger: Signer,
                                                   chain: Chain) -> None:
    key = new_key()
    nonce = chain.nonce_of(stranger.address)
    with pytest.raises(ContractRevert) as e:
        bind(registry, stranger, key)
    assert e.value.reason == "unauthorized_issuer" and "never added" in e.value.message
    assert chain.nonce_of(stranger.address) == nonce  # refused before anything was sent
    assert registry.signing_key_count(stranger.address) == 0
    bind(registry, issuer, key)
    registry.remove_issuer(admin, issuer.address)
    with pytest.raises(ContractRevert) as e:
        bind(registry, issuer, new_key())
    assert e.value.reason == "unauthorized_issuer" and "was removed" in e.value.message
    # A removed issuer keeps its history: credentials it signed still find their key.
    assert [r.public_key for r in registry.signing_keys(issuer.address)] == [key]
    # Re-added, it resumes the same history.
    registry.add_issuer(admin, issuer.address, ISSUER_PROFILE)
    assert bind(registry, issuer, new_key()).index == 1


def test_malformed_and_zero_keys_are_refused_before_the_chain(registry: Registry, issuer: Signer, chain: Chain) -> None:
    nonce = chain.nonce_of(issuer.address)
    for bad in (b"", b"\x01" * 31, b"\x01" * 33):
        with pytest.raises(InputError) as e:
            bind(registry, issuer, bad)
        assert e.value.reason == "bad_signing_key"
        with pytest.raises(InputError):
            registry.signing_key_block(issuer.address, bad)
    with pytest.raises(InputError) as e:
        bind(registry, issuer, bytes(32))
    assert e.value.reason == "zero_signing_key"
    with pytest.raises(ContractRevert) as e:  # the registry refuses it too
        registry.transact(issuer, "bindSigningKey", bytes(32))
    assert e.value.reason == "zero_signing_key"
    assert chain.nonce_of(issuer.address) == nonce


# ---------------------------------------------------------------------------- isolation


def test_one_issuer_cannot_see_or_change_another_issuers_keys(registry: Registry, admin: Signer, issuer: Signer,
                                                             chain: Chain) -> None:
    other = dev_signer(3)
    registry.add_issuer(admin, other.address, "https://other.example/issuer")
    mine, theirs = new_key(), new_key()
    a = bind(registry, issuer, mine)
    before = registry.signing_keys(issuer.address)
    # The other issuer binds a key of its own, and copies mine (as a mempool front-runner would).
    b1 = bind(registry, other, theirs)
    b2 = bind(registry, other, mine)
    assert (b1.index, b2.index, b2.sent) == (0, 1, True)
    assert registry.signing_keys(issuer.address) == before  # mine unchanged
    reader = RegistryReader(chain, registry.address)
    assert reader.signing_key_bound(issuer.address, theirs) is None  # their key is not mine
    assert reader.signing_key_bound(issuer.address, mine) == a.block  # my binding, not their copy
    assert reader.signing_key_bound(other.address, mine) == b2.block
    # Their copy does not block me from binding more, nor is it "already bound" for me.
    assert bind(registry, issuer, theirs).sent
    assert [r.public_key for r in registry.signing_keys(issuer.address)] == [mine, theirs]
    assert [r.public_key for r in registry.signing_keys(other.address)] == [theirs, mine]


# ---------------------------------------------------------------------------- the verifier's read


def test_read_with_key_is_one_round_trip_without_caching(registry: Registry, issuer: Signer, chain: Chain) -> None:
    key = new_key()
    root = b"\x11" * 32
    registry.anchor(issuer, root, 4)
    report = bind(registry, issuer, key)
    reader = RegistryReader(chain, registry.address)
    before = reader.http_requests
    head, batch, info, bits, bound = reader.read_with_key(issuer.address, root, 3, key)
    assert reader.http_requests - before == 1
    assert batch.anchored and info is not None and bits == 0 and bound == report.block and head >= bound
    assert reader.read_with_key(issuer.address, root, 3, new_key())[4] is None


@pytest.fixture
def node() -> Iterator[DevChain]:
    """An Anvil of its own: reorgs here never disturb other tests."""
    with DevChain.start() as n:
        yield n


def _world(node: DevChain) -> tuple[Chain, Registry, Signer]:
    chain = Chain(node.rpc_url)
    admin, issuer = dev_signer(0), dev_signer(1)
    registry, _ = Registry.deploy(chain, admin)
    registry.add_issuer(admin, issuer.address, ISSUER_PROFILE)
    return chain, registry, issuer


def test_a_reorg_that_drops_a_binding_drops_it_from_the_reader(node: DevChain) -> None:
    chain, registry, issuer = _world(node)
    kept, dropped = new_key(), new_key()
    bind(registry, issuer, kept)
    chain.dev_rpc("anvil_mine", 2)
    report = bind(registry, issuer, dropped)
    chain.dev_rpc("anvil_mine", 1)
    cached = RegistryReader(chain, registry.address, head_ttl=0.01)
    plain = RegistryReader(chain, registry.address)
    assert cached.signing_key_bound(issuer.address, dropped) == report.block
    assert cached.cache is not None and cached.cache.signing_keys.get((issuer.address, dropped)) == report.block
    # Replace the binding's block and the one after it with empty blocks: same height, new hashes.
    head = chain.block_number()
    chain.dev_rpc("anvil_reorg", head - report.block + 1, [])
    assert chain.block_number() == head
    assert plain.signing_key_bound(issuer.address, dropped) is None
    time.sleep(0.02)
    assert cached.signing_key_bound(issuer.address, dropped) is None
    assert cached.cache.reorgs >= 1
    assert cached.signing_key_bound(issuer.address, kept) is not None  # older than the reorg
    assert [r.public_key for r in registry.signing_keys(issuer.address)] == [kept]
    # Bound again on the new chain, it is reported again (the negative answer did not stick).
    again = bind(registry, issuer, dropped)
    assert again.sent and again.index == 1
    time.sleep(0.02)
    assert cached.signing_key_bound(issuer.address, dropped) == again.block


def test_a_binding_younger_than_the_checked_block_is_not_cached(node: DevChain) -> None:
    """A binding read at 'latest' above the block the cache checks for reorgs is re-read until a
    head refresh covers it: a shallow reorg (below that block's descendants only) cannot leave it
    cached."""
    chain, registry, issuer = _world(node)
    reader = RegistryReader(chain, registry.address, head_ttl=60)
    reader.head()  # synced (and hash-checked) up to here, for a minute
    key = new_key()
    report = bind(registry, issuer, key)
    assert reader.signing_key_bound(issuer.address, key) == report.block
    assert reader.cache is not None and (issuer.address, key) not in reader.cache.signing_keys
    chain.dev_rpc("anvil_reorg", 1, [])  # drops the binding; the synced block is untouched
    assert reader.signing_key_bound(issuer.address, key) is None
    head, _, _, _, bound = reader.read_with_key(issuer.address, b"\x22" * 32, 0, key)
    assert bound is None
    reader.head(fresh=True)
    assert reader.signing_key_bound(issuer.address, key) is None


def test_not_bound_lasts_only_until_the_next_head_refresh(node: DevChain) -> None:
    chain, registry, issuer = _world(node)
    reader = RegistryReader(chain, registry.address, head_ttl=0.05)
    key = new_key()
    assert reader.signing_key_bound(issuer.address, key) is None
    assert reader.cache is not None and reader.cache.signing_keys.get((issuer.address, key)) == 0  # cached "not bound"
    calls = reader.rpc_calls
    assert reader.signing_key_bound(issuer.address, key) is None
    assert reader.rpc_calls == calls  # served from the cache
    report = bind(registry, issuer, key)
    time.sleep(0.06)
    assert reader.signing_key_bound(issuer.address, key) == report.block  # the sync saw SigningKeyBound
    time.sleep(0.06)
    chain.dev_rpc("anvil_mine", 1)
    reader.head(fresh=True)  # the binding is now at or below the checked block: cached for good
    assert reader.signing_key_bound(issuer.address, key) == report.block
    calls = reader.rpc_calls
    for _ in range(50):
        assert reader.signing_key_bound(issuer.address, key) == report.block
    assert reader.rpc_calls == calls


def test_a_binding_lost_to_a_race_is_reported_not_resent(node: DevChain) -> None:
    """Two runs bind the same key at once: the second transaction reverts on chain; the use case
    sees the key bound and reports it as bound by the other."""
    chain, registry, issuer = _world(node)
    key = new_key()
    chain.dev_rpc("evm_setAutomine", False)
    try:
        first = registry.prepare(issuer, "bindSigningKey", key)
        second = registry.prepare(issuer, "bindSigningKey", key, nonce=first.nonce + 1)
        chain.broadcast(first.raw)
        chain.broadcast(second.raw)
        chain.dev_rpc("anvil_mine", 1)
    finally:
        chain.dev_rpc("evm_setAutomine", True)
    r1, r2 = chain.receipt(first.tx_hash), chain.receipt(second.tx_hash)
    assert r1 is not None and r2 is not None and (r1.status, r2.status) == (1, 0)
    report = bind(registry, issuer, key)
    assert not report.sent and report.tx_hash == first.tx_hash and report.index == 0


def _binding_in_thread(registry: Registry, key: bytes, issuer: Signer, result: dict[str, Any]) -> threading.Thread:
    """bind_signing_key (2 confirmations) in a thread; its report or its error lands in ``result``."""

    def run() -> None:
        try:
            result["report"] = bind_signing_key(registry, key, issuer=issuer, confirmations=2, receipt_timeout=30)
        except Exception as e:  # handed to the test's assertion
            result["error"] = e

    worker = threading.Thread(target=run)
    worker.start()
    return worker


def test_someone_elses_pending_binding_is_waited_for_not_duplicated(node: DevChain) -> None:
    """Another run's binding of the key is in the mempool: the registry refuses ours at the gas
    estimate, and the use case waits for that one to be mined and confirmed, then reports it."""
    chain, registry, issuer = _world(node)
    key = new_key()
    chain.dev_rpc("evm_setAutomine", False)
    result: dict[str, Any] = {}
    try:
        first = registry.prepare(issuer, "bindSigningKey", key)
        chain.broadcast(first.raw)
        worker = _binding_in_thread(registry, key, issuer, result)
        time.sleep(0.3)
        assert worker.is_alive()  # waiting for the other binding
        chain.dev_rpc("anvil_mine", 1)
        time.sleep(0.3)
        assert worker.is_alive()  # mined, one confirmation of two
        chain.dev_rpc("anvil_mine", 1)
        worker.join(10)
    finally:
        chain.dev_rpc("evm_setAutomine", True)
    assert "error" not in result, result
    report = result["report"]
    assert not report.sent and report.tx_hash == first.tx_hash and report.index == 0
    assert chain.nonce_of(issuer.address) == first.nonce + 1  # nothing of ours was sent
    assert chain.block_number() - report.block + 1 == 2


def test_a_pending_binding_is_waited_for_then_reported(node: DevChain) -> None:
    """With manual mining, bind_signing_key waits for its receipt and the confirmations asked for."""
    chain, registry, issuer = _world(node)
    key = new_key()
    chain.dev_rpc("evm_setAutomine", False)
    result: dict[str, Any] = {}
    try:
        worker = _binding_in_thread(registry, key, issuer, result)
        deadline = time.monotonic() + 10
        while not chain.rpc.call("eth_getBlockByNumber", "pending", False)["transactions"]:
            assert time.monotonic() < deadline, "the binding was never sent"
            time.sleep(0.02)
        chain.dev_rpc("anvil_mine", 1)
        time.sleep(0.2)
        assert worker.is_alive()  # one confirmation of two
        chain.dev_rpc("anvil_mine", 1)
        worker.join(10)
    finally:
        chain.dev_rpc("evm_setAutomine", True)
    assert "error" not in result, result
    report = result["report"]
    assert report.sent and chain.block_number() - report.block + 1 == 2


# ---------------------------------------------------------------------------- the same rule for batches


def test_facts_from_blocks_above_the_synced_one_are_not_cached_past_a_reorg(node: DevChain) -> None:
    """The reader reads at 'latest' but caches only what is the same at its synced (hash-checked)
    block: an anchoring or a revocation in a newer block, dropped by a reorg that leaves the synced
    block alone, is not served from the cache afterwards."""
    chain, registry, issuer = _world(node)
    reader = RegistryReader(chain, registry.address, head_ttl=60)
    old_root, new_root = b"\x31" * 32, b"\x32" * 32
    registry.anchor(issuer, old_root, 4)
    reader.head(fresh=True)  # synced at the block of old_root's anchoring
    registry.anchor(issuer, new_root, 4)
    registry.revoke(issuer, old_root, [(0, 0b10)], 1)
    _, fresh, _, bits = reader.read(issuer.address, new_root, 0)
    assert fresh.anchored  # seen at once, younger than the cached head
    assert reader.read(issuer.address, old_root, 1)[3] == 0b10
    assert reader.cache is not None and (issuer.address, new_root) not in reader.cache.batches
    chain.dev_rpc("anvil_reorg", 2, [])  # drops both; the synced block stays
    assert not reader.read(issuer.address, new_root, 0)[1].anchored
    assert reader.read(issuer.address, old_root, 1)[3] == 0
    reader.head(fresh=True)
    assert reader.cache.reorgs == 0  # the synced block was never touched: only the rule above saved us
    assert not reader.read(issuer.address, new_root, 0)[1].anchored
    assert reader.read(issuer.address, old_root, 1)[3] == 0
    # Facts the same at the synced block and at 'latest' are cached: no call the second time.
    calls = reader.rpc_calls
    reader.read(issuer.address, old_root, 1)
    assert reader.rpc_calls == calls
