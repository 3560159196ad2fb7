"""The pure verdict: every reason :func:`prepare` and :func:`decide` can give, in milliseconds.

Real credentials (CredentialFactory, a real Merkle tree, render_proof) against a small model of
the chain: ``FakeChain.facts`` answers as :func:`anchor.app.verifying.chain_facts` does (the
batch the proof names, ``(issuerAddress, merkleRoot)``, its issuer's record and revocation word),
so tampering with the proof is judged against what a real registry would say. No Anvil here;
tests/test_verifying.py covers the wiring against a real one.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anchor.core import merkle
from anchor.core.achievement import build_achievement, parse_achievement_text
from anchor.core.addresses import ZERO_ADDRESS, checksum
from anchor.core.credential import CredentialFactory, IssuerProfile, leaf_of
from anchor.core.proof import AnchorProof, render_proof, sides_for
from anchor.core.registry import BatchInfo, IssuerInfo, RevocationReason, RevocationRecord
from anchor.core.verdict import (
    CHECKS,
    ChainFacts,
    ChainUnreadable,
    Report,
    Verdict,
    VerifyOptions,
    decide,
    needs_chain,
    prepare,
    was_active,
)
from tests.receipts import anchor_entry, legacy_entry, receipt, receipt_of, to_legacy

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PROFILE = "https://uni.example/issuer"
CHAIN_ID = 31337
REGISTRY = checksum("0x5fbdb2315678afecb367f032d93f642f64180aa3")
OTHER_REGISTRY = checksum("0x" + "ab" * 20)
ISSUER = checksum("0x70997970c51812dc3a010c7d01b50e0d17dc79c8")
MALLORY = checksum("0x" + "4d" * 20)
ANCHORED_AT = 1_767_312_000  # 2026-01-02T00:00:00Z
ANCHOR_BLOCK = 90
HEAD = 100  # 11 confirmations
AT = datetime(2026, 6, 1, tzinfo=UTC)
VALID_FROM = datetime(2026, 1, 1, tzinfo=UTC)
VALID_UNTIL = datetime(2027, 1, 1, tzinfo=UTC)
EMAIL = "p0@example.org"

PINNED = VerifyOptions(registry=REGISTRY)
UNPINNED = VerifyOptions()


# ---------------------------------------------------------------------------- credentials


@cache
def factory(profile: str = PROFILE) -> CredentialFactory:
    achievement = build_achievement(parse_achievement_text((EXAMPLES / "achievement.yaml").read_text()))
    return CredentialFactory(IssuerProfile(id=profile, name="Uni"), achievement)


def credential(n: int, *, profile: str = PROFILE, valid_until: datetime | None = VALID_UNTIL) -> dict[str, Any]:
    issued = factory(profile).build(name=f"Person {n}", email=f"p{n}@example.org", valid_from=VALID_FROM, valid_until=valid_until,
                                    credential_id=f"urn:uuid:00000000-0000-7000-8000-{n:012d}", salt=f"{n:064x}")
    doc: dict[str, Any] = issued.document
    return doc


def with_proofs(docs: dict[int, dict[str, Any]], leaf_count: int, *, issuer: str = ISSUER, registry: str = REGISTRY,
                chain_id: int = CHAIN_ID) -> tuple[bytes, dict[int, dict[str, Any]]]:
    """Put ``docs`` at their indices of a batch of ``leaf_count`` (other leaves are filler) and
    give each its proof; (root, badges by index)."""
    leaves = [leaf_of(docs[i]) if i in docs else merkle.hash_leaf(b"filler %d" % i) for i in range(leaf_count)]
    levels = merkle.build_levels(b"".join(leaves))
    root = levels[-1]
    badges = {}
    for i, doc in docs.items():
        badge = copy.deepcopy(doc)
        badge["proof"] = [render_proof(chain_id=chain_id, registry=registry, issuer_address=issuer, root=root, index=i,
                                       leaf_count=leaf_count, path=merkle.prove(levels, i), sides=sides_for(i, leaf_count),
                                       tx_hash=b"\x11" * 32, block_number=ANCHOR_BLOCK, created="2026-01-02T00:00:00Z")]
        badges[i] = badge
    return root, badges


# ---------------------------------------------------------------------------- the chain's side


@dataclass
class FakeChain:
    """What a registry holds, answered the way app.verifying.chain_facts reads it."""

    chain_id: int = CHAIN_ID
    head: int = HEAD
    registries: set[str] = field(default_factory=lambda: {REGISTRY, OTHER_REGISTRY})
    batches: dict[tuple[str, bytes], BatchInfo] = field(default_factory=dict)
    issuers: dict[str, IssuerInfo] = field(default_factory=dict)
    words: dict[tuple[str, bytes, int], int] = field(default_factory=dict)
    records: dict[tuple[str, bytes, int | None], RevocationRecord] = field(default_factory=dict)

    def add_issuer(self, address: str, *, profile: str = PROFILE, added_at: int = ANCHORED_AT - 86_400, removed_at: int = 0) -> None:
        active = removed_at == 0 or removed_at < added_at
        self.issuers[address] = IssuerInfo(address, len(self.issuers) + 1, active, added_at, removed_at, profile)

    def anchor(self, issuer: str, root: bytes, leaf_count: int, *, at: int = ANCHORED_AT, block: int = ANCHOR_BLOCK) -> None:
        self.batches[(issuer, root)] = BatchInfo(issuer, root, leaf_count, at, block, 0)

    def revoke(self, issuer: str, root: bytes, index: int, reason: RevocationReason | int) -> None:
        key = (issuer, root, index >> 8)
        self.words[key] = self.words.get(key, 0) | 1 << (index & 0xFF)
        self.records[(issuer, root, index)] = RevocationRecord(False, int(reason), HEAD - 2, ANCHORED_AT + 3600, b"\x22" * 32)

    def revoke_batch(self, issuer: str, root: bytes, reason: RevocationReason) -> None:
        self.batches[(issuer, root)] = replace(self.batches[(issuer, root)], revoked_at=ANCHORED_AT + 7200)
        self.records[(issuer, root, None)] = RevocationRecord(True, int(reason), HEAD - 1, ANCHORED_AT + 7200, b"\x33" * 32)

    def facts(self, proof: AnchorProof) -> ChainFacts:
        if proof.chain_id != self.chain_id:
            return ChainFacts(self.chain_id, genuine=True, head=0)
        if proof.registry not in self.registries:
            return ChainFacts(self.chain_id, genuine=False, head=0)
        key = (proof.issuer_address, proof.root)
        batch = self.batches.get(key, BatchInfo(ZERO_ADDRESS, proof.root, 0, 0, 0, 0))
        issuer = self.issuers.get(proof.issuer_address, IssuerInfo(proof.issuer_address, 0, False, 0, 0, "")) if batch.anchored else None
        bits = self.words.get((*key, proof.index >> 8), 0)
        record = None
        if batch.anchored and (batch.revoked_at or bits >> (proof.index & 0xFF) & 1):
            record = self.records.get((*key, None) if batch.revoked_at else (*key, proof.index))
        return ChainFacts(self.chain_id, True, self.head, batch, issuer, bits, record)


def verify(badge: Any, chain: FakeChain, options: VerifyOptions = PINNED, at: datetime = AT) -> Report:
    prepared = prepare(badge)
    facts = chain.facts(prepared.proof) if needs_chain(prepared, options) and prepared.proof is not None else None
    return decide(prepared, facts, options, at)


def failed(report: Report) -> tuple[str, str | None]:
    bad = report.failed
    assert bad is not None, report.to_json()
    return bad.name, bad.reason


def statuses(report: Report) -> dict[str, tuple[str, str | None]]:
    return {c.name: (c.status, c.reason) for c in report.checks}


@dataclass
class World:
    chain: FakeChain
    root: bytes
    badges: dict[int, dict[str, Any]]

    def badge(self, n: int = 0) -> dict[str, Any]:
        return copy.deepcopy(self.badges[n])


@cache
def _batch() -> tuple[bytes, dict[int, dict[str, Any]]]:
    return with_proofs({i: credential(i) for i in range(5)}, 5)


@pytest.fixture
def world() -> World:
    """A batch of 5 real badges, anchored by an authorized issuer."""
    root, badges = _batch()
    chain = FakeChain()
    chain.add_issuer(ISSUER)
    chain.anchor(ISSUER, root, 5)
    return World(chain, root, badges)


# ---------------------------------------------------------------------------- valid and untrusted


def test_valid_badge_passes_every_check(world: World) -> None:
    report = verify(world.badge(), world.chain, replace(PINNED, email=EMAIL))
    assert report.verdict is Verdict.VALID and report.failed is None and report.notes == []
    assert CHECKS == ("schema", "proof", "anchor", "issuer", "signature", "revocation", "validity", "recipient")
    assert [(c.name, c.status, c.reason) for c in report.checks] == [
        (n, "skipped", "unsigned") if n == "signature" else (n, "passed", None) for n in CHECKS]
    assert report.anchor is not None and report.anchor["confirmations"] == HEAD - ANCHOR_BLOCK + 1
    assert report.summary == "valid: every check passed"


def test_no_registry_pinned_is_untrusted_registry_even_when_everything_passes(world: World) -> None:
    report = verify(world.badge(), world.chain, UNPINNED)
    assert report.verdict is Verdict.UNTRUSTED_REGISTRY and report.failed is None
    assert all(c.status == "passed" for c in report.checks if c.name != "signature")
    assert statuses(report)["signature"] == ("skipped", "unsigned")
    assert any(REGISTRY in n and "pin" in n for n in report.notes)
    assert report.summary.startswith("untrusted registry")


def test_a_registry_in_the_trusted_list_is_trusted(world: World) -> None:
    report = verify(world.badge(), world.chain, VerifyOptions(trusted_registries=(OTHER_REGISTRY, REGISTRY.lower())))
    assert report.verdict is Verdict.VALID and report.notes == []


# ---------------------------------------------------------------------------- prepare: schema and proof


@pytest.mark.parametrize("thing", [[], "a badge", None, 42, [{"id": "x"}]])
def test_not_an_object(thing: Any, world: World) -> None:
    report = verify(thing, world.chain)
    assert report.verdict is Verdict.INVALID and failed(report) == ("schema", "not_an_object")
    assert statuses(report)["proof"] == ("skipped", "not_an_object")


def test_schema_invalid_even_with_a_perfect_anchored_proof(world: World) -> None:
    doc = credential(7)
    doc["type"] = ["VerifiableCredential"]  # not an AchievementCredential
    root, badges = with_proofs({0: doc}, 1)
    world.chain.anchor(ISSUER, root, 1)
    report = verify(badges[0], world.chain)
    assert report.verdict is Verdict.INVALID and failed(report) == ("schema", "schema_invalid")
    assert statuses(report)["proof"][0] == "passed" and statuses(report)["anchor"][0] == "passed"


def test_missing_proof(world: World) -> None:
    badge = world.badge()
    del badge["proof"]
    report = verify(badge, world.chain)
    assert report.verdict is Verdict.INVALID and failed(report) == ("proof", "missing_proof")
    chain_checks = ("anchor", "issuer", "signature", "revocation")
    assert {n: statuses(report)[n] for n in chain_checks} == dict.fromkeys(chain_checks, ("skipped", "no_valid_proof"))
    badge["proof"] = [{"type": "DataIntegrityProof"}]  # someone else's proof only
    assert failed(verify(badge, world.chain)) == ("proof", "missing_proof")


def _malformed(badge: dict[str, Any], how: str) -> None:
    if how == "two":
        badge["proof"].append(copy.deepcopy(anchor_entry(badge)))
    elif how == "not_a_list":
        badge["proof"] = "anchored"
    elif how == "method_issuer":  # the receipt's account, but not the one its verificationMethod names
        anchor_entry(badge)["verificationMethod"] = f"did:pkh:eip155:{CHAIN_ID}:{MALLORY}#blockchainAccountId"
    elif how == "method_chain":
        anchor_entry(badge)["verificationMethod"] = f"did:pkh:eip155:1:{ISSUER}#blockchainAccountId"
    elif how == "proof_value":
        anchor_entry(badge)["proofValue"] = "z" + anchor_entry(badge)["proofValue"][1:]
    else:
        with receipt(badge) as p:
            _malformed_receipt(p, how)


def _malformed_receipt(p: dict[str, Any], how: str) -> None:
    if how == "registry":
        p["registry"] = "0x1234"
    elif how == "bad_checksum":
        p["registry"] = REGISTRY.replace("F", "f", 1)
    elif how == "root":
        p["merkleRoot"] = p["merkleRoot"][:-2]
    elif how == "index":
        p["leafIndex"] = -1
    elif how == "bool_index":
        p["leafIndex"] = False
    elif how == "count":
        p["leafCount"] = 0
    elif how == "step_keys":
        p["path"][0] = {"left": p["path"][0].get("right", "00" * 32), "right": "00" * 32}
    elif how == "step_side":
        p["path"][0] = {"up": "00" * 32}
    elif how == "path":
        p["path"] = "none"
    elif how == "issuer":
        p["issuerAddress"] = "uni"
    elif how == "chain":
        p["chainId"] = 0
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["registry", "bad_checksum", "root", "index", "bool_index", "count", "step_keys", "step_side",
                                 "path", "issuer", "two", "not_a_list", "chain", "method_issuer", "method_chain",
                                 "proof_value"])
def test_malformed_proof(world: World, how: str) -> None:
    badge = world.badge()
    _malformed(badge, how)
    report = verify(badge, world.chain)
    assert report.verdict is Verdict.INVALID and statuses(report)["proof"] == ("failed", "malformed_proof")
    if how != "not_a_list":  # (the schema also wants a list of proof objects)
        assert failed(report) == ("proof", "malformed_proof")


def test_altered_credential_is_root_mismatch(world: World) -> None:
    badge = world.badge()
    badge["credentialSubject"]["identifier"][1]["identityHash"] = "Mallory"
    report = verify(badge, world.chain)
    assert report.verdict is Verdict.INVALID and failed(report) == ("proof", "root_mismatch")
    assert "altered" in report.failed.message


def test_proof_of_another_badge_is_root_mismatch(world: World) -> None:
    badge = world.badge(0)
    badge["proof"] = world.badge(1)["proof"]
    assert failed(verify(badge, world.chain)) == ("proof", "root_mismatch")


def test_swapped_sides_and_a_moved_index_are_path_side_mismatch(world: World) -> None:
    badge = world.badge(0)  # index 0 of 5: sides right, right, right
    with receipt(badge) as p:
        p["path"][0] = {"left": p["path"][0]["right"]}
    report = verify(badge, world.chain)
    assert report.verdict is Verdict.INVALID and failed(report) == ("proof", "path_side_mismatch")
    badge = world.badge(0)
    with receipt(badge) as p:
        p["leafIndex"] = 1  # the same path presented as its sibling's
    assert failed(verify(badge, world.chain)) == ("proof", "path_side_mismatch")


@pytest.mark.parametrize(("change", "reason"), [
    (lambda p: p.update(path=p["path"][:-1]), "proof_too_short"),
    (lambda p: p.update(path=[*p["path"], {"right": "00" * 32}]), "proof_too_long"),
    (lambda p: p.update(leafIndex=p["leafCount"]), "index_out_of_range"),
    (lambda p: p.update(leafCount=2**32 + 1), "bad_leaf_count"),
])
def test_path_that_cannot_belong_to_its_index(world: World, change: Any, reason: str) -> None:
    badge = world.badge(2)
    with receipt(badge) as p:
        change(p)
    report = verify(badge, world.chain)
    assert report.verdict is Verdict.INVALID and failed(report) == ("proof", reason)


# ---------------------------------------------------------------------------- legacy badges


def old_render_proof(*, root: bytes, index: int, leaf_count: int, levels: list[bytes], issuer: str = ISSUER) -> dict[str, Any]:
    """The proof object badges carried before the proof set, written out field by field as the
    exporter of that time did (not derived from today's renderer)."""
    return {
        "type": "AnchorMerkleProof2026",
        "proofPurpose": "assertionMethod",
        "created": "2026-01-02T00:00:00Z",
        "chainId": CHAIN_ID,
        "registry": REGISTRY,
        "issuerAddress": issuer,
        "merkleRoot": "0x" + root.hex(),
        "leafIndex": index,
        "leafCount": leaf_count,
        "path": [{side: node.hex()} for side, node in zip(sides_for(index, leaf_count), merkle.prove(levels, index), strict=True)],
        "transactionHash": "0x" + "11" * 32,
        "blockNumber": ANCHOR_BLOCK,
    }


@cache
def _legacy_batch() -> tuple[bytes, list[dict[str, Any]]]:
    docs = [credential(30 + i) for i in range(6)]
    levels = merkle.build_levels(b"".join(leaf_of(d) for d in docs))
    return levels[-1], [{**d, "proof": [old_render_proof(root=levels[-1], index=i, leaf_count=6, levels=levels)]}
                        for i, d in enumerate(docs)]


@pytest.fixture
def legacy() -> tuple[FakeChain, list[dict[str, Any]]]:
    root, badges = _legacy_batch()
    chain = FakeChain()
    chain.add_issuer(ISSUER)
    chain.anchor(ISSUER, root, 6)
    return chain, copy.deepcopy(badges)


def test_a_legacy_badge_still_verifies(legacy: tuple[FakeChain, list[dict[str, Any]]]) -> None:
    """Badges delivered before signing carry a plain AnchorMerkleProof2026 object."""
    chain, badges = legacy
    for n, badge in enumerate(badges):
        report = verify(badge, chain, replace(PINNED, email=f"p{30 + n}@example.org"))
        assert report.verdict is Verdict.VALID, report.to_json()
        assert statuses(report)["signature"] == ("skipped", "unsigned")
        assert report.anchor is not None and report.anchor["blockNumber"] == ANCHOR_BLOCK


def test_to_legacy_gives_the_old_layout() -> None:
    """The helper other tests use to make legacy badges gives exactly the old exporter's object."""
    root, badges = _batch()
    levels = merkle.build_levels(b"".join(leaf_of(credential(i)) for i in range(5)))
    assert to_legacy(badges[2])["proof"] == [old_render_proof(root=root, index=2, leaf_count=5, levels=levels)]


@pytest.mark.parametrize(("change", "where", "reason"), [
    (lambda b, p: b.update(name="Altered"), "proof", "root_mismatch"),
    (lambda b, p: p["path"].__setitem__(0, {"right": p["path"][0]["left"]}), "proof", "path_side_mismatch"),
    (lambda b, p: p.update(leafIndex=p["leafIndex"] ^ 1), "proof", "path_side_mismatch"),
    (lambda b, p: p.update(path=p["path"][:-1]), "proof", "proof_too_short"),
    (lambda b, p: p.update(leafCount=7), "anchor", "leaf_count_mismatch"),
    (lambda b, p: p.update(registry=OTHER_REGISTRY), "anchor", "registry_mismatch"),
    (lambda b, p: p.update(chainId=1), "anchor", "chain_mismatch"),
    (lambda b, p: p.update(issuerAddress=MALLORY), "anchor", "root_not_anchored"),
    (lambda b, p: p.update(merkleRoot="0x" + "00" * 32), "proof", "root_mismatch"),
    (lambda b, p: p.update(leafIndex="1"), "proof", "malformed_proof"),
    (lambda b, p: b["proof"].append(copy.deepcopy(p)), "proof", "malformed_proof"),
], ids=["document", "side", "index", "short", "count", "registry", "chain", "issuer", "root", "index_type", "two"])
def test_a_tampered_legacy_badge_fails_as_a_tampered_entry_does(legacy: tuple[FakeChain, list[dict[str, Any]]], change: Any,
                                                                 where: str, reason: str) -> None:
    chain, badges = legacy
    badge = badges[1]  # index 1 of 6: sides left, right, right
    change(badge, badge["proof"][0])
    report = verify(badge, chain)
    assert report.verdict is Verdict.INVALID and failed(report) == (where, reason), report.to_json()


def test_a_legacy_receipt_beside_a_new_one_is_two_receipts(world: World) -> None:
    badge = world.badge(1)
    badge["proof"].append(legacy_entry(anchor_entry(badge)))
    assert failed(verify(badge, world.chain)) == ("proof", "malformed_proof")
    badge["proof"] = [to_legacy(world.badge(1))["proof"][0]]  # the legacy one alone is fine
    assert verify(badge, world.chain).verdict is Verdict.VALID


# ---------------------------------------------------------------------------- the anchor


def test_registry_mismatch_single_pinned_registry(world: World) -> None:
    badge = world.badge()
    with receipt(badge) as p:
        p["registry"] = OTHER_REGISTRY
    report = verify(badge, world.chain)
    assert report.verdict is Verdict.INVALID and failed(report) == ("anchor", "registry_mismatch")
    assert REGISTRY in report.failed.message
    assert all(statuses(report)[n] == ("skipped", "anchor_failed") for n in ("issuer", "signature", "revocation"))
    assert not needs_chain(prepare(badge), PINNED)  # the chain is not even asked


def test_registry_mismatch_with_a_trusted_list(world: World) -> None:
    options = VerifyOptions(trusted_registries=(OTHER_REGISTRY, checksum("0x" + "cd" * 20)))
    report = verify(world.badge(), world.chain, options)
    assert report.verdict is Verdict.INVALID and failed(report) == ("anchor", "registry_mismatch")
    assert "not one of the 2 trusted" in report.failed.message
    # A pinned registry plus a list: the proof must name one of them.
    report = verify(world.badge(), world.chain, VerifyOptions(registry=OTHER_REGISTRY, trusted_registries=(checksum("0x" + "cd" * 20),)))
    assert failed(report) == ("anchor", "registry_mismatch")
    assert verify(world.badge(), world.chain, VerifyOptions(registry=OTHER_REGISTRY, trusted_registries=(REGISTRY,))).verdict is Verdict.VALID


def test_chain_mismatch_between_proof_and_rpc(world: World) -> None:
    badge = world.badge()
    with receipt(badge) as p:
        p["chainId"] = 1
    report = verify(badge, world.chain)
    assert report.verdict is Verdict.INVALID and failed(report) == ("anchor", "chain_mismatch")
    assert "chain 1" in report.failed.message and f"chain {CHAIN_ID}" in report.failed.message


def test_chain_mismatch_with_the_expected_chain_id(world: World) -> None:
    report = verify(world.badge(), world.chain, replace(PINNED, chain_id=1))
    assert report.verdict is Verdict.INVALID and failed(report) == ("anchor", "chain_mismatch")
    assert "expected 1" in report.failed.message
    assert verify(world.badge(), world.chain, replace(PINNED, chain_id=CHAIN_ID)).verdict is Verdict.VALID


def test_not_a_registry(world: World) -> None:
    world.chain.registries.clear()
    report = verify(world.badge(), world.chain)
    assert report.verdict is Verdict.INVALID and failed(report) == ("anchor", "not_a_registry")
    # Without a pinned registry, pointing the proof at some other contract gains nothing either.
    badge = world.badge()
    with receipt(badge) as p:
        p["registry"] = checksum("0x" + "ef" * 20)
    assert failed(verify(badge, FakeChain(), UNPINNED)) == ("anchor", "not_a_registry")


def test_root_not_anchored(world: World) -> None:
    report = verify(world.badge(), FakeChain())
    assert report.verdict is Verdict.INVALID and failed(report) == ("anchor", "root_not_anchored")
    assert report.anchor is not None and "leafCount" not in report.anchor


def test_root_anchored_by_someone_else_is_not_the_issuers_batch(world: World) -> None:
    """A batch is (issuer, root): Mallory anchoring the same root gives the issuer's badge nothing,
    and claiming Mallory's batch names Mallory's profile, not the credential's issuer."""
    chain = FakeChain()
    chain.add_issuer(ISSUER)
    chain.add_issuer(MALLORY, profile="https://mallory.example/issuer")
    chain.anchor(MALLORY, world.root, 5)
    assert failed(verify(world.badge(), chain)) == ("anchor", "root_not_anchored")
    badge = world.badge()
    with receipt(badge) as p:
        p["issuerAddress"] = MALLORY
    assert failed(verify(badge, chain)) == ("issuer", "issuer_mismatch")


def test_leaf_count_mismatch(world: World) -> None:
    world.chain.anchor(ISSUER, world.root, 6)
    report = verify(world.badge(), world.chain)
    assert report.verdict is Verdict.INVALID and failed(report) == ("anchor", "leaf_count_mismatch")


def test_not_final_is_pending(world: World) -> None:
    options = replace(PINNED, confirmations=HEAD - ANCHOR_BLOCK + 2)  # one more than the chain has
    report = verify(world.badge(), world.chain, options)
    assert report.verdict is Verdict.PENDING and report.failed is None
    assert statuses(report)["anchor"] == ("skipped", "not_final")
    assert statuses(report)["signature"] == statuses(report)["revocation"] == ("skipped", "anchor_failed")
    assert report.summary.startswith("pending: ") and "11 of 12 confirmations" in report.summary
    # Exactly enough confirmations is final.
    assert verify(world.badge(), world.chain, replace(PINNED, confirmations=HEAD - ANCHOR_BLOCK + 1)).verdict is Verdict.VALID
    # A head behind the anchoring block (a lagging node) is 0 confirmations, still pending.
    world.chain.head = ANCHOR_BLOCK - 5
    report = verify(world.badge(), world.chain)
    assert report.verdict is Verdict.PENDING and "0 of 1" in report.summary


# ---------------------------------------------------------------------------- the issuer


def test_anchored_by_an_account_that_was_never_an_issuer(world: World) -> None:
    chain = FakeChain()
    chain.anchor(ISSUER, world.root, 5)  # a tampered registry: an anchor without an issuer record
    report = verify(world.badge(), chain)
    assert report.verdict is Verdict.INVALID and failed(report) == ("issuer", "issuer_not_authorized")
    assert "never an issuer" in report.failed.message
    assert statuses(report)["signature"] == statuses(report)["revocation"] == ("skipped", "issuer_failed")


DAY = 86_400
T = ANCHORED_AT


# (added_at, removed_at) -> whether the account was an issuer at anchoring time T. The registry
# keeps only the latest addition and removal.
TIMELINES = [
    pytest.param(T - DAY, 0, True, id="added-before-never-removed"),
    pytest.param(T, 0, True, id="added-in-the-same-second"),
    pytest.param(T + DAY, 0, False, id="added-only-after"),
    pytest.param(T - 2 * DAY, T - DAY, False, id="removed-before"),
    pytest.param(T - 2 * DAY, T, True, id="removed-in-the-same-second"),
    pytest.param(T - 2 * DAY, T + DAY, True, id="removed-after"),
    pytest.param(T - DAY, T - 2 * DAY, True, id="removed-then-re-added-before"),
    pytest.param(T + 2 * DAY, T - DAY, False, id="removed-before-and-re-added-after"),
    pytest.param(T + 2 * DAY, T + DAY, True, id="removed-after-then-re-added"),
]


@pytest.mark.parametrize(("added_at", "removed_at", "active"), TIMELINES)
def test_issuer_active_at_anchoring_time(world: World, added_at: int, removed_at: int, active: bool) -> None:
    chain = FakeChain()
    chain.add_issuer(ISSUER, added_at=added_at, removed_at=removed_at)
    chain.anchor(ISSUER, world.root, 5)
    assert was_active(chain.issuers[ISSUER], T) is active
    report = verify(world.badge(), chain)
    if active:
        assert report.verdict is Verdict.VALID, report.to_json()
        removed_later = removed_at != 0 and not chain.issuers[ISSUER].active
        assert any("removed" in n for n in report.notes) is removed_later
    else:
        assert report.verdict is Verdict.INVALID and failed(report) == ("issuer", "issuer_not_authorized")
        assert "was not an authorized issuer when the root was anchored" in report.failed.message


def test_issuer_mismatch(world: World) -> None:
    """The anchoring account is an authorized issuer, but its profile is not the one the badge names."""
    chain = FakeChain()
    chain.add_issuer(ISSUER, profile="https://mallory.example/issuer")
    chain.anchor(ISSUER, world.root, 5)
    report = verify(world.badge(), chain)
    assert report.verdict is Verdict.INVALID and failed(report) == ("issuer", "issuer_mismatch")
    assert PROFILE in report.failed.message and "mallory" in report.failed.message


def test_badge_naming_another_issuer_anchored_by_a_real_issuer(world: World) -> None:
    """Mallory, an authorized issuer, anchors a badge that claims to come from the university."""
    forged = credential(9)  # names PROFILE
    root, badges = with_proofs({0: forged}, 1, issuer=MALLORY)
    world.chain.add_issuer(MALLORY, profile="https://mallory.example/issuer")
    world.chain.anchor(MALLORY, root, 1)
    assert failed(verify(badges[0], world.chain)) == ("issuer", "issuer_mismatch")
    with receipt(badges[0]) as p:
        p["issuerAddress"] = ISSUER  # lying about who anchored it
    assert failed(verify(badges[0], world.chain)) == ("anchor", "root_not_anchored")


# ---------------------------------------------------------------------------- revocation


@cache
def _big_batch() -> tuple[bytes, dict[int, dict[str, Any]]]:
    return with_proofs({1: credential(11), 257: credential(12), 258: credential(13)}, 300)


@pytest.mark.parametrize("reason", list(RevocationReason))
def test_revoked_index(reason: RevocationReason) -> None:
    root, badges = _big_batch()
    chain = FakeChain()
    chain.add_issuer(ISSUER)
    chain.anchor(ISSUER, root, 300)
    chain.revoke(ISSUER, root, 257, reason)
    report = verify(copy.deepcopy(badges[257]), chain)
    assert report.verdict is Verdict.REVOKED and failed(report) == ("revocation", "revoked")
    assert f"(reason: {reason.label})" in report.failed.message
    assert report.revocation is not None and report.revocation["reason"] == reason.label and report.revocation["wholeBatch"] is False
    assert report.revocation["reasonCode"] == int(reason)
    # Its neighbour in the same word, and index 1 (bit 1 of word 0, as 257 is bit 1 of word 1), are untouched.
    assert verify(copy.deepcopy(badges[258]), chain).verdict is Verdict.VALID
    assert verify(copy.deepcopy(badges[1]), chain).verdict is Verdict.VALID


def test_revoked_with_a_reason_code_this_version_does_not_know() -> None:
    root, badges = _big_batch()
    chain = FakeChain()
    chain.add_issuer(ISSUER)
    chain.anchor(ISSUER, root, 300)
    chain.revoke(ISSUER, root, 1, 42)
    report = verify(copy.deepcopy(badges[1]), chain)
    assert report.verdict is Verdict.REVOKED and "(reason: code 42)" in report.failed.message


def test_revoked_bit_without_its_event_is_still_revoked(world: World) -> None:
    world.chain.words[(ISSUER, world.root, 0)] = 1 << 3
    report = verify(world.badge(3), world.chain)
    assert report.verdict is Verdict.REVOKED and failed(report) == ("revocation", "revoked")
    assert report.revocation == {"wholeBatch": None, "reason": None}


@pytest.mark.parametrize("reason", [RevocationReason.KEY_COMPROMISE, RevocationReason.ISSUED_IN_ERROR])
def test_batch_revoked(world: World, reason: RevocationReason) -> None:
    world.chain.revoke_batch(ISSUER, world.root, reason)
    for n in range(5):
        report = verify(world.badge(n), world.chain)
        assert report.verdict is Verdict.REVOKED and failed(report) == ("revocation", "batch_revoked")
        assert "the whole batch was revoked" in report.failed.message
        assert report.revocation is not None and report.revocation["wholeBatch"] is True and report.revocation["reason"] == reason.label


# ---------------------------------------------------------------------------- validity and recipient


@pytest.mark.parametrize("valid_from", ["2026-12-31T23:59:60Z", "0001-01-01T00:00:00+14:00"])
def test_bad_validity_dates(world: World, valid_from: str) -> None:
    """Dates the schema's date-time pattern accepts but that are no instant (a leap second, a
    time before year 1 in UTC): invalid, with the proof and the anchor intact."""
    doc = credential(20)
    doc["validFrom"] = valid_from
    root, badges = with_proofs({0: doc}, 1)
    world.chain.anchor(ISSUER, root, 1)
    report = verify(badges[0], world.chain)
    assert statuses(report)["schema"][0] == "passed" and statuses(report)["revocation"][0] == "passed"
    assert report.verdict is Verdict.INVALID and failed(report) == ("validity", "bad_validity_dates")


def test_not_yet_valid(world: World) -> None:
    report = verify(world.badge(), world.chain, at=VALID_FROM - timedelta(seconds=1))
    assert report.verdict is Verdict.NOT_YET_VALID and failed(report) == ("validity", "not_yet_valid")
    assert verify(world.badge(), world.chain, at=VALID_FROM).verdict is Verdict.VALID


def test_expired(world: World) -> None:
    report = verify(world.badge(), world.chain, at=VALID_UNTIL + timedelta(seconds=1))
    assert report.verdict is Verdict.EXPIRED and failed(report) == ("validity", "expired")
    assert "expired at 2027-01-01T00:00:00Z" in report.failed.message
    assert verify(world.badge(), world.chain, at=VALID_UNTIL).verdict is Verdict.VALID


def test_no_valid_until_never_expires() -> None:
    root, badges = with_proofs({0: credential(21, valid_until=None)}, 1)
    chain = FakeChain()
    chain.add_issuer(ISSUER)
    chain.anchor(ISSUER, root, 1)
    report = verify(badges[0], chain, at=datetime(9999, 1, 1, tzinfo=UTC))
    assert report.verdict is Verdict.VALID and "with no end" in report.checks[-1].message


def test_recipient_mismatch(world: World) -> None:
    report = verify(world.badge(), world.chain, replace(PINNED, email="mallory@example.org"))
    assert report.verdict is Verdict.INVALID and failed(report) == ("recipient", "recipient_mismatch")
    assert verify(world.badge(), world.chain, replace(PINNED, email=" P0@Example.org ")).verdict is Verdict.VALID


# ---------------------------------------------------------------------------- the chain unreadable


def test_chain_unavailable_is_unknown(world: World) -> None:
    prepared = prepare(world.badge())
    for facts in (ChainUnreadable("connection refused"), None):
        report = decide(prepared, facts, PINNED, AT)
        assert report.verdict is Verdict.UNKNOWN and report.failed is None
        assert [statuses(report)[n] for n in ("anchor", "issuer", "signature", "revocation")] == [("skipped", "chain_unavailable")] * 4
        assert report.summary.startswith("unknown: the chain cannot be read")
    assert "connection refused" in decide(prepared, ChainUnreadable("connection refused"), PINNED, AT).summary


# ---------------------------------------------------------------------------- precedence


def test_invalid_beats_unknown(world: World) -> None:
    badge = world.badge()
    badge["name"] = "Altered"
    assert decide(prepare(badge), None, PINNED, AT).verdict is Verdict.INVALID
    report = decide(prepare(world.badge()), ChainUnreadable("down"), replace(PINNED, email="x@example.org"), AT)
    assert report.verdict is Verdict.INVALID and failed(report) == ("recipient", "recipient_mismatch")


def test_unknown_beats_expired_and_not_yet_valid(world: World) -> None:
    prepared = prepare(world.badge())
    for at in (VALID_UNTIL + timedelta(days=1), VALID_FROM - timedelta(days=1)):
        report = decide(prepared, ChainUnreadable("down"), PINNED, at)
        assert report.verdict is Verdict.UNKNOWN and report.failed is not None and report.failed.name == "validity"


def test_pending_beats_revoked_and_expired(world: World) -> None:
    world.chain.revoke_batch(ISSUER, world.root, RevocationReason.WITHDRAWN)
    report = verify(world.badge(), world.chain, replace(PINNED, confirmations=100), at=VALID_UNTIL + timedelta(days=1))
    assert report.verdict is Verdict.PENDING and statuses(report)["anchor"] == ("skipped", "not_final")


def test_revoked_beats_expired_and_not_yet_valid(world: World) -> None:
    world.chain.revoke(ISSUER, world.root, 0, RevocationReason.SUPERSEDED)
    for at in (VALID_UNTIL + timedelta(days=1), VALID_FROM - timedelta(days=1)):
        report = verify(world.badge(), world.chain, at=at)
        assert report.verdict is Verdict.REVOKED and statuses(report)["validity"][0] == "failed"


def test_invalid_beats_revoked_and_expired(world: World) -> None:
    world.chain.revoke(ISSUER, world.root, 0, RevocationReason.SUPERSEDED)
    report = verify(world.badge(), world.chain, replace(PINNED, email="x@example.org"), at=VALID_UNTIL + timedelta(days=1))
    assert report.verdict is Verdict.INVALID and statuses(report)["revocation"] == ("failed", "revoked")


def test_untrusted_registry_never_hides_a_worse_verdict(world: World) -> None:
    assert verify(world.badge(), world.chain, UNPINNED, at=VALID_UNTIL + timedelta(days=1)).verdict is Verdict.EXPIRED
    world.chain.revoke(ISSUER, world.root, 0, RevocationReason.MISCONDUCT)
    assert verify(world.badge(), world.chain, UNPINNED).verdict is Verdict.REVOKED
    assert verify(world.badge(), FakeChain(), UNPINNED).verdict is Verdict.INVALID


# ---------------------------------------------------------------------------- any single change


# Proof fields that are informational: not hashed, not trusted, not checked (see anchor.core.proof):
# the entry's time and purpose, the receipt's transaction and block (all four side by side in the
# legacy form).
INFORMATIONAL_ENTRY = {"created", "proofPurpose"}
INFORMATIONAL_RECEIPT = {"transactionHash", "blockNumber"}
INFORMATIONAL = INFORMATIONAL_ENTRY | INFORMATIONAL_RECEIPT
RECEIPT = "<receipt>"  # path step: into the receipt an entry's proofValue encodes


def leaf_paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every scalar of the badge, except the proof's informational fields. The anchor
    entry's ``proofValue`` is entered as the receipt it encodes (step :data:`RECEIPT`), so each
    receipt member is changed as a value, not as a base64 character that might only touch a
    transaction hash digit."""
    if isinstance(doc, dict):
        items: Any = doc.items()
    elif isinstance(doc, list):
        items = enumerate(doc)
    else:
        yield prefix
        return
    for key, value in items:
        in_proof = len(prefix) == 2 and prefix[0] == "proof"
        if (in_proof or len(prefix) == 3 and prefix[2] == RECEIPT) and key in INFORMATIONAL:
            continue
        if in_proof and key == "proofValue":
            yield from leaf_paths(receipt_of({"proof": [doc]}), (*prefix, RECEIPT))
            continue
        yield from leaf_paths(value, (*prefix, key))


def change_at(badge: dict[str, Any], path: tuple[Any, ...], change: Any) -> None:
    """Replace the value at ``path`` (see :func:`leaf_paths`) by ``change(old)``."""
    def edit(parent: Any, steps: tuple[Any, ...]) -> None:
        for key in steps[:-1]:
            parent = parent[key]
        parent[steps[-1]] = change(parent[steps[-1]])

    if RECEIPT in path:
        with receipt(badge) as r:
            edit(r, path[path.index(RECEIPT) + 1:])
    else:
        edit(badge, path)


@st.composite
def changed(draw: st.DrawFn, old: Any) -> Any:
    """A different value: another type, or a one-character edit of a string, or a nearby number."""
    if isinstance(old, str) and old and draw(st.booleans()):
        i = draw(st.integers(0, len(old) - 1))
        c = draw(st.sampled_from("0123456789abcdefxyzABCDEF@ ").filter(lambda c: c.lower() != old[i].lower()))
        return old[:i] + c + old[i + 1 :]
    if isinstance(old, int) and not isinstance(old, bool) and draw(st.booleans()):
        return old + draw(st.integers(-300, 300).filter(lambda d: d != 0))
    return draw(st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))
                .filter(lambda v: v != old or type(v) is not type(old)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_changing_any_single_value_is_never_valid(world: World, data: st.DataObject) -> None:
    badge = world.badge(data.draw(st.integers(0, 4)))
    if data.draw(st.booleans(), label="legacy"):
        badge = to_legacy(badge)
    path = data.draw(st.sampled_from(sorted(leaf_paths(badge), key=repr)))
    change_at(badge, path, lambda old: data.draw(changed(old)))
    options = data.draw(st.sampled_from([PINNED, UNPINNED, replace(PINNED, email=EMAIL)]))
    report = verify(badge, world.chain, options)
    assert report.verdict not in (Verdict.VALID, Verdict.UNTRUSTED_REGISTRY), (path, report.to_json())
    assert report.verdict is Verdict.INVALID and report.failed is not None, (path, report.to_json())


def test_the_paths_cover_every_receipt_member(world: World) -> None:
    paths = set(leaf_paths(world.badge(2)))
    receipt_keys = {p[3] for p in paths if RECEIPT in p}
    assert receipt_keys == {"chainId", "registry", "issuerAddress", "merkleRoot", "leafIndex", "leafCount", "path"}
    assert {p[2] for p in paths if p[0] == "proof" and RECEIPT not in p} == {"type", "cryptosuite", "verificationMethod"}
    assert {p[2] for p in leaf_paths(to_legacy(world.badge(2))) if p[0] == "proof"} == {"type", *receipt_keys}


@pytest.mark.parametrize("legacy", [False, True], ids=["entry", "legacy"])
@pytest.mark.parametrize("key", sorted(INFORMATIONAL))
def test_informational_proof_fields_are_not_trusted(world: World, key: str, legacy: bool) -> None:
    """Changing them changes nothing: the leaf excludes the proof, and the time, block and
    transaction are read from the registry, not from the badge."""
    badge = to_legacy(world.badge()) if legacy else world.badge()
    value = "2020-01-01T00:00:00Z" if key == "created" else 7 if key == "blockNumber" else "0x" + "99" * 32
    if key in INFORMATIONAL_RECEIPT and not legacy:
        with receipt(badge) as r:
            r[key] = value
    else:
        badge["proof"][0][key] = value
    report = verify(badge, world.chain)
    assert report.verdict is Verdict.VALID
    assert report.anchor is not None and report.anchor["blockNumber"] == ANCHOR_BLOCK


def test_facts_about_another_batch_never_decide(world: World) -> None:
    """Defence in depth: a reader or cache bug handing over another batch's facts gives unknown."""
    badge = world.badge()
    prepared = prepare(badge)
    assert prepared.proof is not None
    right = world.chain.facts(prepared.proof)
    assert right.batch is not None
    for wrong in (replace(right.batch, root=b"\x07" * 32), replace(right.batch, issuer="0x" + "ab" * 20)):
        report = decide(prepared, replace(right, batch=wrong), PINNED, AT)
        assert report.verdict is Verdict.UNKNOWN
        assert {c.reason for c in report.checks if c.name in ("anchor", "issuer", "signature", "revocation")} == {"chain_unavailable"}
