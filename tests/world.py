"""A small issuer world on a real Anvil: registry, issuer, anchored batches, exported badges."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from anchor.app.anchoring import Anchorer
from anchor.app.exporting import export_credentials
from anchor.app.issuing import issue_credentials
from anchor.app.registration import register_issuer
from anchor.app.signing import signer_for
from anchor.app.signing_keys import dev_signing_key_for
from anchor.app.status_lists import PublishReport, publish_status_lists, read_chain_revocations
from anchor.chain.anvil import free_port
from anchor.chain.node import Chain
from anchor.chain.signer import Signer, dev_signer
from anchor.chain.writer import Registry
from anchor.core.achievement import build_achievement, parse_achievement_text
from anchor.core.addresses import checksum, keccak256
from anchor.core.ed25519 import did_key
from anchor.core.roster import parse_roster
from anchor.store import Store
from tests.helpers import EXAMPLES
from tests.receipts import receipt_of


def profile_of(address: str) -> str:
    """The DID a world issuer's badges name: the did:key of its development signing key."""
    return did_key(dev_signing_key_for(address).public_key)


PROFILE = profile_of(dev_signer(1).address)


@dataclass
class World:
    chain: Chain
    registry: Registry
    store: Store
    db_url: str
    admin: Signer
    issuer: Signer
    badges: list[dict[str, Any]]  # exported, in roster order of issuance per batch
    out: Path

    def badge(self, n: int) -> dict[str, Any]:
        return json.loads(json.dumps(self.badges[n]))  # a private deep copy


def achievement() -> dict[str, Any]:
    return build_achievement(parse_achievement_text((EXAMPLES / "achievement.yaml").read_text()))


def make_world(chain: Chain, tmp_path: Path, *, n: int = 8, max_batch: int = 1000, db_url: str | None = None,
               valid_from: datetime | None = None, valid_until: datetime | None = None, status_lists: bool = False) -> World:
    """``n`` credentials issued, anchored in batches of ``max_batch`` and exported signed. With
    ``status_lists`` the issuer's status lists are then published from the chain, as ``anchor
    export`` does (tests of the publishing itself start from a world without them)."""
    admin, issuer = dev_signer(0), dev_signer(1)
    registry, _ = Registry.deploy(chain, admin)
    db_url = db_url or f"sqlite:///{tmp_path / 'world.db'}"
    store = Store.open(db_url)
    key = dev_signing_key_for(issuer.address)
    register_issuer(store, registry, issuer, admin, name="Uni", signing_key=key, url="https://uni.example")
    row = store.issuer(issuer.address)
    assert row is not None
    roster = "name,email\n" + "".join(f"Person {i},p{i}@example.org\n" for i in range(n))
    issue_credentials(store, row, achievement(), parse_roster(roster), valid_from=valid_from, valid_until=valid_until,
                      sign=signer_for(row.did, key, row.signing_key))
    Anchorer(store, registry, issuer, row).run(max_batch=max_batch)
    out = tmp_path / "badges"
    export_credentials(store, row.id, issuer.address, out, sign=signer_for(row.did, key, row.signing_key))
    badges = [json.loads(p.read_text()) for p in out.glob("*.json")]
    receipts = {b["id"]: receipt_of(b) for b in badges}
    badges.sort(key=lambda b: (receipts[b["id"]]["blockNumber"], receipts[b["id"]]["leafIndex"]))
    world = World(chain, registry, store, db_url, admin, issuer, badges, out)
    if status_lists:
        publish_lists(world)
    return world


def publish_lists(world: World) -> PublishReport:
    """Publish the world issuer's status lists from the chain's revocations, signed with its
    development key (what ``anchor export``, ``anchor revoke`` and ``anchor status-lists`` do)."""
    row = world.store.issuer(world.issuer.address)
    assert row is not None
    key = dev_signing_key_for(world.issuer.address)
    revoked = read_chain_revocations(world.registry, world.issuer.address)
    return publish_status_lists(world.store, row, revoked, signer_for(row.did, key, row.signing_key).sign_document,
                                head=world.chain.block_number)


# ---------------------------------------------------------------------------- registry storage

# Storage slots of CredentialRegistry's state variables (checked by tests against real reads).
# _issuerCount (uint32) shares slot 1 with _pendingAdmin, at bit 160.
SLOT_ADMIN, SLOT_PENDING_AND_COUNT, SLOT_ISSUERS, SLOT_ISSUER_ACCOUNTS, SLOT_BATCHES = 0, 1, 2, 3, 5


def mapping_slot(key: bytes, slot: int) -> int:
    return int.from_bytes(keccak256(key.rjust(32, b"\0") + slot.to_bytes(32, "big")), "big")


def batch_slot(issuer: str, root: bytes) -> int:
    """Slot of ``_batches[issuer][root]`` (a mapping of mappings)."""
    return mapping_slot(root, mapping_slot(bytes.fromhex(issuer[2:]), SLOT_BATCHES))


def read_slot(chain: Chain, address: str, slot: int) -> int:
    raw = chain.rpc.call("eth_getStorageAt", checksum(address), hex(slot), "latest")
    return int(raw, 16)


def write_slot(chain: Chain, address: str, slot: int, value: int) -> None:
    chain.dev_rpc("anvil_setStorageAt", checksum(address), hex(slot), "0x" + value.to_bytes(32, "big").hex())


def batch_word(leaf_count: int, anchored_at: int, block: int, revoked_at: int = 0) -> int:
    return leaf_count | anchored_at << 64 | block << 112 | revoked_at << 176


def forge_batch(chain: Chain, registry: Registry, issuer: str, root: bytes, *, leaf_count: int, anchored_at: int, block: int) -> None:
    """Write a batch record straight into the registry's storage, as a tampered registry would hold."""
    write_slot(chain, registry.address, batch_slot(issuer, root), batch_word(leaf_count, anchored_at, block))


# ---------------------------------------------------------------------------- a live HTTP service


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` over real HTTP on a free port in a thread; yields the base URL."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(5)
