"""Verification against a real Anvil: valid badges, tampering, every forgery with its reason,
revocation, validity windows, and the same verdict from the offline verifier and the service."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anchor.api import create_app
from anchor.api.service import ServiceConfig
from anchor.app.revoking import request_batch_revocation, request_revocation, submit_revocations
from anchor.app.verifying import Report, Verdict, Verifier, VerifyOptions
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.chain.reader import RegistryReader
from anchor.chain.signer import dev_signer
from anchor.core import merkle
from anchor.core.credential import CredentialFactory, IssuerProfile, leaf_of
from anchor.core.proof import render_proof, sides_for
from tests.receipts import anchor_entry, receipt, receipt_of, to_legacy, unsigned
from tests.world import (
    PROFILE,
    SLOT_ADMIN,
    SLOT_PENDING_AND_COUNT,
    World,
    achievement,
    batch_slot,
    batch_word,
    forge_batch,
    live_server,
    make_world,
    read_slot,
)

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("verify")


@pytest.fixture(scope="module")
def world(anvil: DevChain, module_tmp: Path) -> World:
    """Two batches (5 + 5) of valid badges."""
    return make_world(Chain(anvil.rpc_url), module_tmp, n=10, max_batch=5)


@pytest.fixture(scope="module")
def service_url(world: World, anvil: DevChain) -> Iterator[str]:
    app = create_app(ServiceConfig(rpc_url=anvil.rpc_url, registry=world.registry.address, database_url=world.db_url, head_ttl=0.05))
    with live_server(app) as url:
        yield url


def offline(world: World, rpc_url: str, **kw: Any) -> Verifier:
    return Verifier(lambda address: RegistryReader.connect(rpc_url, address, head_ttl=0), VerifyOptions(registry=world.registry.address, **kw))


def both(world: World, anvil: DevChain, service_url: str, badge: Any, **params: str) -> tuple[Report, dict[str, Any], int]:
    """The offline report and the service's answer for the same badge; they must agree."""
    at = params.get("at")
    opts: dict[str, Any] = {"email": params.get("email")}
    if at:
        opts["at"] = datetime.fromisoformat(at.replace("Z", "+00:00"))
    report = offline(world, anvil.rpc_url, **opts).verify(badge)
    r = requests.post(f"{service_url}/api/v1/verify", params=params, data=json.dumps(badge),
                      headers={"Content-Type": "application/json"}, timeout=10)
    body = r.json()
    assert body["verdict"] == report.verdict.value, (body, report.to_json())
    failed = report.failed
    served_failed = next((c for c in body["checks"] if c["status"] == "failed"), None)
    assert (served_failed or {}).get("reason") == (failed.reason if failed else None)
    return report, body, r.status_code


def reason_of(report: Report) -> str | None:
    failed = report.failed
    return failed.reason if failed else None


# ---------------------------------------------------------------------------- valid


def test_valid_badge_every_check_passes(world: World, anvil: DevChain, service_url: str) -> None:
    report, body, status = both(world, anvil, service_url, world.badge(0))
    assert report.verdict is Verdict.VALID and status == 200
    assert [(c.name, c.status, c.reason) for c in report.checks] == [
        ("schema", "passed", None), ("proof", "passed", None), ("anchor", "passed", None), ("issuer", "passed", None),
        ("signature", "passed", None), ("revocation", "passed", None), ("validity", "passed", None)]
    assert body["anchor"]["issuer"] == world.issuer.address and body["anchor"]["leafCount"] == 5
    assert body["checks"][4]["status"] == "passed" and PROFILE in body["checks"][4]["message"]


def test_a_badge_stripped_of_its_signature_is_not_valid(world: World, anvil: DevChain, service_url: str) -> None:
    """The issuer had bound a signing key when it anchored the batch: a badge of that batch
    without its eddsa-rdfc-2022 signature had it removed (other verifiers would refuse it), so
    anchor does not call it valid either, offline or in the service."""
    report, body, status = both(world, anvil, service_url, unsigned(world.badge(0)))
    assert report.verdict is Verdict.INVALID and status == 200, body
    assert [(c.name, c.status, c.reason) for c in report.checks][4] == ("signature", "failed", "signature_required")
    assert body["checks"][4]["reason"] == "signature_required"


def test_a_badge_anchored_before_its_issuer_signed_is_vouched_for_by_the_anchor_alone(world: World, anvil: DevChain) -> None:
    """A badge delivered before anchor signed badges (its batch anchored before the issuer bound
    any key, or an issuer that never did): valid, the signature check skipped as unsigned."""
    from dataclasses import replace

    from anchor.app.verifying import chain_facts
    from anchor.core.verdict import ChainFacts, decide, prepare

    badge = unsigned(world.badge(0))
    prepared = prepare(badge)
    assert prepared.proof is not None and prepared.signature is None
    facts = chain_facts(RegistryReader.connect(anvil.rpc_url, world.registry.address), prepared.proof)
    assert isinstance(facts, ChainFacts) and facts.batch is not None and facts.first_key_block is not None
    options = VerifyOptions(registry=world.registry.address)
    at = datetime.now(UTC)
    for first in (None, facts.batch.anchored_block + 1):  # never bound / bound after this batch was anchored
        report = decide(prepared, replace(facts, first_key_block=first), options, at)
        assert report.verdict is Verdict.VALID
        assert [(c.name, c.status, c.reason) for c in report.checks] == [
            ("schema", "passed", None), ("proof", "passed", None), ("anchor", "passed", None), ("issuer", "passed", None),
            ("signature", "skipped", "unsigned"), ("revocation", "passed", None), ("validity", "passed", None)]
    report = decide(prepared, replace(facts, first_key_block=facts.batch.anchored_block), options, at)
    assert report.verdict is Verdict.INVALID and report.failed is not None and report.failed.reason == "signature_required"


def test_recipient_check(world: World, anvil: DevChain, service_url: str) -> None:
    badge = world.badge(3)
    name = badge["credentialSubject"]["identifier"][1]["identityHash"]
    email = f"p{name.split()[-1]}@example.org"
    report, _, _ = both(world, anvil, service_url, badge, email=email.upper())
    assert report.verdict is Verdict.VALID and report.checks[-1].name == "recipient"
    report, _, _ = both(world, anvil, service_url, badge, email="someone.else@example.org")
    assert report.verdict is Verdict.INVALID and reason_of(report) == "recipient_mismatch"


# ---------------------------------------------------------------------------- tampering


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == "proof" and not prefix:
                continue
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_changing_adding_or_removing_any_field_is_invalid(world: World, anvil: DevChain, data: st.DataObject) -> None:
    badge = world.badge(1)
    paths = sorted(_paths(badge), key=repr)
    path = data.draw(st.sampled_from(paths))
    action = data.draw(st.sampled_from(["change", "remove", "add"]))
    parent = _parent(badge, path)
    key = path[-1]
    if action == "remove":
        del parent[key]
    elif action == "add":
        target = parent[key] if isinstance(parent[key], (dict, list)) else parent
        if isinstance(target, dict):
            target["x" + data.draw(st.text(min_size=1, max_size=5))] = data.draw(st.text(max_size=5))
        else:
            target.append(data.draw(st.text(max_size=5)))
    else:
        old = parent[key]
        new = data.draw(st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none()).filter(lambda v: v != old))
        parent[key] = new
    report = offline(world, anvil.rpc_url).verify(badge)
    assert report.verdict is Verdict.INVALID, (action, path, report.to_json())
    assert reason_of(report) in {"schema_invalid", "root_mismatch", "issuer_mismatch"}


# ---------------------------------------------------------------------------- forgeries


def test_a_legacy_badge_still_verifies(world: World, anvil: DevChain, service_url: str) -> None:
    """A receipt in the form exported before the proof set (a plain AnchorMerkleProof2026 object,
    field by field as the exporter of that time wrote it) is still read: next to the badge's
    signature it verifies against the real registry, offline and in the service, and a tampered
    one fails for the same reason a tampered entry does. (This world's issuer signs, so without
    its signature the legacy badge is signature_required; a badge from before signing, anchored
    before its issuer bound a key, is valid unsigned: see the test above.)"""
    for n in (0, 7):
        badge = world.badge(n)
        r = receipt_of(badge)
        signature = [p for p in badge["proof"] if p.get("cryptosuite") == "eddsa-rdfc-2022"]
        badge["proof"] = [*signature, {
            "type": "AnchorMerkleProof2026", "proofPurpose": "assertionMethod", "created": anchor_entry(badge)["created"],
            "chainId": r["chainId"], "registry": r["registry"], "issuerAddress": r["issuerAddress"],
            "merkleRoot": r["merkleRoot"], "leafIndex": r["leafIndex"], "leafCount": r["leafCount"], "path": r["path"],
            "transactionHash": r["transactionHash"], "blockNumber": r["blockNumber"]}]
        assert unsigned(badge) == unsigned(to_legacy(world.badge(n)))
        report, body, status = both(world, anvil, service_url, badge)
        assert report.verdict is Verdict.VALID and status == 200, body
        assert {c.name: (c.status, c.reason) for c in report.checks}["signature"] == ("passed", None)
        assert reason_of(both(world, anvil, service_url, unsigned(badge))[0]) == "signature_required"
        assert body["anchor"]["leafCount"] == 5 and body["anchor"]["blockNumber"] == r["blockNumber"]
        badge["proof"][-1]["path"] = badge["proof"][-1]["path"][:-1]
        assert reason_of(both(world, anvil, service_url, badge)[0]) == "proof_too_short"


def test_wrong_index(world: World, anvil: DevChain, service_url: str) -> None:
    badge = world.badge(1)
    with receipt(badge) as r:
        r["leafIndex"] = 0
    report, _, _ = both(world, anvil, service_url, badge)
    assert report.verdict is Verdict.INVALID and reason_of(report) in {"path_side_mismatch", "root_mismatch"}


def test_truncated_path_and_extra_step(world: World, anvil: DevChain, service_url: str) -> None:
    badge = world.badge(2)
    with receipt(badge) as r:
        r["path"] = r["path"][:-1]
    report, _, _ = both(world, anvil, service_url, badge)
    assert reason_of(report) == "proof_too_short"
    badge = world.badge(2)
    with receipt(badge) as r:
        r["path"].append({"right": "ab" * 32})
    report, _, _ = both(world, anvil, service_url, badge)
    assert reason_of(report) == "proof_too_long"


def test_swapped_siblings(world: World, anvil: DevChain, service_url: str) -> None:
    badge = world.badge(0)
    with receipt(badge) as r:
        path = r["path"]
        path[0], path[1] = path[1], path[0]
    report, _, _ = both(world, anvil, service_url, badge)
    assert reason_of(report) in {"path_side_mismatch", "root_mismatch"}
    badge = world.badge(0)  # same order, sides flipped
    with receipt(badge) as r:
        r["path"] = [{("left" if "right" in s else "right"): v} for s in r["path"] for v in s.values()]
    report, _, _ = both(world, anvil, service_url, badge)
    assert reason_of(report) == "path_side_mismatch"


def test_valid_proof_from_another_batch(world: World, anvil: DevChain, service_url: str) -> None:
    first, other = world.badge(0), world.badge(7)
    assert receipt_of(first)["merkleRoot"] != receipt_of(other)["merkleRoot"]
    first["proof"] = other["proof"]
    report, _, _ = both(world, anvil, service_url, first)
    assert reason_of(report) == "root_mismatch"


def _self_made_proof(world: World, badge: dict[str, Any], *, block: int = 1) -> bytes:
    """Give ``badge`` a consistent proof over a tree of its own (root not anchored by the issuer)."""
    leaves = [leaf_of(badge), merkle.hash_leaf(b"filler")]
    levels = merkle.build_levels(b"".join(leaves))
    badge["proof"] = [render_proof(chain_id=world.chain.chain_id, registry=world.registry.address, issuer_address=world.issuer.address,
                                   root=levels[-1], index=0, leaf_count=2, path=merkle.prove(levels, 0), sides=sides_for(0, 2),
                                   tx_hash=b"\x11" * 32, block_number=block, created="2026-01-01T00:00:00Z")]
    return levels[-1]


def test_root_never_anchored(world: World, anvil: DevChain, service_url: str) -> None:
    badge = world.badge(0)
    _self_made_proof(world, badge)
    report, _, _ = both(world, anvil, service_url, badge)
    assert reason_of(report) == "root_not_anchored"


def test_storage_layout_the_forgery_tests_rely_on(world: World) -> None:
    assert read_slot(world.chain, world.registry.address, SLOT_ADMIN) == int(world.admin.address, 16)
    assert read_slot(world.chain, world.registry.address, SLOT_PENDING_AND_COUNT) >> 160 == 1
    root = bytes.fromhex(receipt_of(world.badges[0])["merkleRoot"][2:])
    info = world.registry.batch_info(world.issuer.address, root)
    word = read_slot(world.chain, world.registry.address, batch_slot(world.issuer.address, root))
    assert word == batch_word(info.leaf_count, info.anchored_at, info.anchored_block)


def test_root_anchored_by_an_address_that_is_not_an_issuer(anvil: DevChain, tmp_path: Path) -> None:
    w = make_world(Chain(anvil.rpc_url), tmp_path, n=2)
    badge = w.badge(0)
    root = _self_made_proof(w, badge)
    stranger = dev_signer(3).address
    forge_batch(w.chain, w.registry, stranger, root, leaf_count=2, anchored_at=1_800_000_000, block=1)
    with receipt(badge) as r:
        r["issuerAddress"] = stranger
    report = offline(w, anvil.rpc_url).verify(badge)
    assert report.verdict is Verdict.INVALID and reason_of(report) == "issuer_not_authorized"
    assert "never an issuer" in report.failed.message  # type: ignore[union-attr]


def test_root_anchored_after_the_issuer_was_removed(anvil: DevChain, tmp_path: Path) -> None:
    w = make_world(Chain(anvil.rpc_url), tmp_path, n=2)
    before = w.badge(0)
    w.registry.remove_issuer(w.admin, w.issuer.address)
    removed_at = w.registry.issuer_info(w.issuer.address).removed_at
    # History stays valid: a badge anchored before the removal still verifies (with a note).
    report = offline(w, anvil.rpc_url).verify(before)
    assert report.verdict is Verdict.VALID and any("removed" in n for n in report.notes)
    # A root recorded as anchored by that account after its removal is refused.
    badge = w.badge(1)
    root = _self_made_proof(w, badge)
    forge_batch(w.chain, w.registry, w.issuer.address, root, leaf_count=2, anchored_at=removed_at + 100, block=1)
    report = offline(w, anvil.rpc_url).verify(badge)
    assert report.verdict is Verdict.INVALID and reason_of(report) == "issuer_not_authorized"


def test_credential_naming_another_issuer_than_the_anchoring_one(world: World, anvil: DevChain, service_url: str) -> None:
    """A second authorized issuer anchors a badge that claims to come from the first."""
    mallory = dev_signer(4)
    if not world.registry.issuer_info(mallory.address).active:
        world.registry.add_issuer(world.admin, mallory.address, "https://mallory.example/issuer")
    forged = CredentialFactory(IssuerProfile(id=PROFILE, name="Uni (not really)"), achievement())
    issued = forged.build(name="Mallory", email="m@example.org", valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    levels = merkle.build_levels(issued.leaf)
    mined = world.registry.anchor(mallory, levels[-1], 1)
    badge = issued.document
    badge["proof"] = [render_proof(chain_id=world.chain.chain_id, registry=world.registry.address, issuer_address=mallory.address,
                                   root=levels[-1], index=0, leaf_count=1, path=[], sides=(), tx_hash=mined.tx_hash,
                                   block_number=mined.block_number, created="2026-01-01T00:00:00Z")]
    report, _, _ = both(world, anvil, service_url, badge)
    assert reason_of(report) == "issuer_mismatch"
    # Lying about who anchored it does not help: a batch is (issuer, root), and the real issuer
    # never anchored this root.
    with receipt(badge) as r:
        r["issuerAddress"] = world.issuer.address
    report, _, _ = both(world, anvil, service_url, badge)
    assert reason_of(report) == "root_not_anchored"


def test_internal_node_presented_as_a_leaf(world: World, anvil: DevChain, service_url: str) -> None:
    badge = world.badge(0)  # index 0 of a batch of 5
    path = receipt_of(badge)["path"]
    inner = hashlib.sha256(leaf_of(badge) + bytes.fromhex(path[0]["right"])).digest()
    root = bytes.fromhex(receipt_of(badge)["merkleRoot"][2:])
    shorter = [bytes.fromhex(next(iter(s.values()))) for s in path[1:]]
    # On chain: the leaf count (5) fixes the proof length, so the node with a shorter path fails.
    assert not world.registry.verify(world.issuer.address, root, inner, 0, shorter)
    # And no document hashes to it: leaves carry the 0x00 prefix.
    assert merkle.hash_leaf(leaf_of(badge) + bytes.fromhex(path[0]["right"])) != inner
    # A badge claiming the smaller tree above its leaf level is refused by the registry's leaf count.
    with receipt(badge) as r:
        r["leafCount"], r["path"] = 3, path[1:]
    report, _, _ = both(world, anvil, service_url, badge)
    assert report.verdict is Verdict.INVALID and reason_of(report) in {"root_mismatch", "leaf_count_mismatch"}


def test_proof_from_another_registry_or_chain(world: World, anvil: DevChain, service_url: str) -> None:
    badge = world.badge(0)
    with receipt(badge) as r:
        r["registry"] = dev_signer(5).address
    report, _, _ = both(world, anvil, service_url, badge)
    assert reason_of(report) == "registry_mismatch"
    badge = world.badge(0)
    with receipt(badge) as r:
        r["chainId"] = 1
    report, _, _ = both(world, anvil, service_url, badge)
    assert reason_of(report) == "chain_mismatch"


# ---------------------------------------------------------------------------- revocation and time


def test_revoked_index_and_revoked_batch(anvil: DevChain, tmp_path: Path) -> None:
    w = make_world(Chain(anvil.rpc_url), tmp_path, n=6, max_batch=3)
    row = w.store.issuer(w.issuer.address)
    assert row is not None
    request_revocation(w.store, row.id, [w.badges[1]["id"]], 4, "plagiarism")
    request_batch_revocation(w.store, row.id, bytes.fromhex(receipt_of(w.badges[4])["merkleRoot"][2:]), 2, None)
    submit_revocations(w.store, w.registry, w.issuer, row.id)
    app = create_app(ServiceConfig(rpc_url=anvil.rpc_url, registry=w.registry.address, database_url=w.db_url, head_ttl=0))
    with live_server(app) as url:
        report, body, status = both(w, anvil, url, w.badge(1))
        assert report.verdict is Verdict.REVOKED and status == 200 and reason_of(report) == "revoked"
        assert body["revocation"]["reason"] == "misconduct" and body["revocation"]["wholeBatch"] is False
        assert body["revocation"]["revokedAt"].endswith("Z")
        assert both(w, anvil, url, w.badge(0))[0].verdict is Verdict.VALID  # its neighbour is untouched
        report, body, _ = both(w, anvil, url, w.badge(4))
        assert report.verdict is Verdict.REVOKED and reason_of(report) == "batch_revoked"
        assert body["revocation"] == {**body["revocation"], "wholeBatch": True, "reason": "key_compromise"}
        status_body = requests.get(f"{url}/api/v1/credentials/{w.badges[1]['id']}/status", timeout=5).json()
        assert status_body["status"] == "revoked" and status_body["revocation"]["reason"] == "misconduct"


def test_expired_and_not_yet_valid(world: World, anvil: DevChain, service_url: str) -> None:
    badge = world.badge(0)
    start = datetime.fromisoformat(badge["validFrom"].replace("Z", "+00:00"))
    report, _, _ = both(world, anvil, service_url, badge, at=(start - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert report.verdict is Verdict.NOT_YET_VALID
    w2 = make_world(world.chain, world.out.parent / "expiring", n=1,
                    valid_from=datetime(2020, 1, 1, tzinfo=UTC), valid_until=datetime(2021, 1, 1, tzinfo=UTC))
    report = offline(w2, anvil.rpc_url).verify(w2.badge(0))
    assert report.verdict is Verdict.EXPIRED and "expired at 2021-01-01T00:00:00Z" in report.failed.message  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- chain down


def test_chain_down_is_unknown_never_a_verdict(world: World, tmp_path: Path) -> None:
    node = DevChain.start()
    url = node.rpc_url
    node.stop()  # nothing listens there any more
    report = Verifier(lambda a: RegistryReader.connect(url, a, timeout=1), VerifyOptions(registry=world.registry.address)).verify(world.badge(0))
    assert report.verdict is Verdict.UNKNOWN
    assert {c.name: c.reason for c in report.checks if c.status == "skipped"}["anchor"] == "chain_unavailable"
    app = create_app(ServiceConfig(rpc_url=url, registry=world.registry.address, database_url=world.db_url))
    with live_server(app) as service:
        r = requests.post(f"{service}/api/v1/verify", json=world.badge(0), timeout=10)
        assert r.status_code == 503 and r.json()["verdict"] == "unknown" and r.headers["Retry-After"]
        # A badge that is broken regardless of the chain is still reported invalid.
        broken = world.badge(0)
        broken["name"] = "Altered"
        r = requests.post(f"{service}/api/v1/verify", json=broken, timeout=10)
        assert r.status_code == 200 and r.json()["verdict"] == "invalid"
        assert requests.get(f"{service}/readyz", timeout=10).status_code == 503
        r = requests.get(f"{service}/api/v1/credentials/{world.badges[0]['id']}/status", timeout=10)
        assert r.status_code == 503 and r.headers["Content-Type"] == "application/problem+json"


def test_copy_is_not_shared(world: World) -> None:
    a = world.badge(0)
    a["name"] = "changed"
    assert world.badges[0]["name"] != "changed"
    assert copy.deepcopy(world.badges[0]) == world.badge(0)
