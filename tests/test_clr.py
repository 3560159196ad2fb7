"""Learner records (CLR 2.0 ``ClrCredential``): built from a holder's anchored badges on a real
Anvil, signed by the issuer, accepted by jsonld.js safe mode and Digital Bazaar's verifier, and
every embedded badge still verifies on chain with anchor's verifier."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from anchor.app.anchoring import Anchorer
from anchor.app.clr import export_clr, holder_badges
from anchor.app.issuing import issue_credentials
from anchor.app.revoking import request_revocation, submit_revocations
from anchor.app.signing import signer_for
from anchor.app.signing_keys import dev_signing_key_for
from anchor.app.verifying import Verdict, Verifier, VerifyOptions
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.chain.reader import RegistryReader
from anchor.core import jsonld
from anchor.core.clr import CLR_CONTEXT, CLR_DOCUMENT_CONTEXT, IS_PARENT_OF, clr_credential, stack_associations
from anchor.core.credential import identity_hash
from anchor.core.dataintegrity import verify_proof
from anchor.core.ed25519 import key_of_verification_method
from anchor.core.errors import InputError, NotFound
from anchor.core.roster import parse_roster
from anchor.core.stack import component_evidence
from anchor.core.timefmt import utcnow
from tests.helpers import EXAMPLES, Cli
from tests.judges import di_verify, jsonld_safe_expand
from tests.world import World, achievement, make_world

pytestmark = pytest.mark.chain

HOLDER = "p0@example.org"
CONTEXTS = {CLR_CONTEXT: jsonld.pinned_context(CLR_CONTEXT)}  # served to the JS judges by URL


def second_achievement() -> dict[str, Any]:
    other = achievement()
    other.update(id="https://uni.example/achievements/clr-second", name="Second badge")
    return other


@pytest.fixture(scope="module")
def world(anvil: DevChain, tmp_path_factory: pytest.TempPathFactory) -> World:
    """Two holders with one badge each, then a second achievement for HOLDER: two badges."""
    w = make_world(Chain(anvil.rpc_url), tmp_path_factory.mktemp("clr"), n=2)
    row = w.store.issuer(w.issuer.address)
    assert row is not None
    key = dev_signing_key_for(w.issuer.address)
    issue_credentials(w.store, row, second_achievement(), parse_roster(f"name,email\nPerson 0,{HOLDER}\n"),
                      sign=signer_for(row.did, key, row.signing_key))
    Anchorer(w.store, w.registry, w.issuer, row).run(max_batch=100)
    return w


def signer(world: World) -> Any:
    row = world.store.issuer(world.issuer.address)
    assert row is not None
    return signer_for(row.did, dev_signing_key_for(world.issuer.address), row.signing_key)


def verifier(world: World, anvil: DevChain) -> Verifier:
    return Verifier(lambda a: RegistryReader.connect(anvil.rpc_url, a, head_ttl=0), VerifyOptions(registry=world.registry.address))


@pytest.fixture(scope="module")
def record(world: World) -> dict[str, Any]:
    row = world.store.issuer(world.issuer.address)
    assert row is not None
    report = export_clr(world.store, row, " P0@Example.org ", world.out.parent / "clr", signer(world), at=int(utcnow().timestamp()))
    assert report.credentials == 2 and report.associations == 0 and report.left_out == {}
    assert report.path.name == "clr-p0@example.org.json"
    loaded: dict[str, Any] = json.loads(report.path.read_text())
    return loaded


def test_record_shape(record: dict[str, Any]) -> None:
    assert record["@context"] == CLR_DOCUMENT_CONTEXT
    assert record["type"] == ["VerifiableCredential", "ClrCredential"]
    subject = record["credentialSubject"]
    assert subject["type"] == ["ClrSubject"]
    email, name = subject["identifier"]
    assert email["identityHash"] == identity_hash(HOLDER, email["salt"]) and email["hashed"] is True
    assert name == {"type": "IdentityObject", "identityHash": "Person 0", "identityType": "name", "hashed": False}
    names = sorted(c["credentialSubject"]["achievement"]["name"] for c in subject["verifiableCredential"])
    assert names == sorted([achievement()["name"], "Second badge"])
    assert sorted(a["id"] for a in subject["achievement"]) == sorted([achievement()["id"], second_achievement()["id"]])
    for badge in subject["verifiableCredential"]:  # the complete badge: signature + anchor receipt
        assert [p["type"] for p in badge["proof"]][0] == "DataIntegrityProof" and len(badge["proof"]) == 2


def test_record_signature_verifies_with_anchor_and_digital_bazaar(record: dict[str, Any]) -> None:
    proof = record["proof"]
    key = key_of_verification_method(proof["verificationMethod"])
    assert verify_proof(record, proof, key)
    assert di_verify(record, contexts=CONTEXTS).verified
    tampered = copy.deepcopy(record)
    tampered["credentialSubject"]["verifiableCredential"][0]["credentialSubject"]["achievement"]["name"] = "Forged"
    assert not verify_proof(tampered, proof, key)
    assert not di_verify(tampered, contexts=CONTEXTS).verified


def test_record_signature_verifies_with_openbadgeslib(record: dict[str, Any]) -> None:
    """A third verifier: openbadgeslib's Data Integrity check with its own pinned CLR context."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from openbadgeslib.ob3.clr import bundled_clr_contexts
    from openbadgeslib.ob3.ldp import OB3VerificationError, verify_data_integrity_proof

    raw = key_of_verification_method(record["proof"]["verificationMethod"])
    pem = Ed25519PublicKey.from_public_bytes(raw).public_bytes(serialization.Encoding.PEM,
                                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    verify_data_integrity_proof(record, pem, extra_contexts=bundled_clr_contexts())
    tampered = copy.deepcopy(record)
    tampered["credentialSubject"]["identifier"][1]["identityHash"] = "Someone Else"
    with pytest.raises(OB3VerificationError):
        verify_data_integrity_proof(tampered, pem, extra_contexts=bundled_clr_contexts())


def test_record_passes_jsonld_safe_mode(record: dict[str, Any]) -> None:
    result = jsonld_safe_expand(record, contexts=CONTEXTS)
    assert result.ok, result.messages
    # and pyld agrees with jsonld.js on the dataset (the canonical form the signature covers)
    assert jsonld.to_nquads({k: v for k, v in record.items() if k != "proof"})


def test_every_embedded_badge_verifies_on_chain(record: dict[str, Any], world: World, anvil: DevChain) -> None:
    check = verifier(world, anvil)
    for badge in record["credentialSubject"]["verifiableCredential"]:
        report = check.verify(badge)
        assert report.verdict is Verdict.VALID, report.summary


def test_unknown_and_revoked_holders(world: World) -> None:
    row = world.store.issuer(world.issuer.address)
    assert row is not None
    with pytest.raises(NotFound):
        export_clr(world.store, row, "nobody@example.org", world.out.parent / "none", signer(world), at=int(utcnow().timestamp()))
    badges, name, left = holder_badges(world.store, row, "p1@example.org", at=int(utcnow().timestamp()))
    assert len(badges) == 1 and name == "Person 1" and left == {}
    # a revoked badge is left out of the record, and said so (here: the holder's only one)
    request_revocation(world.store, row.id, [badges[0]["id"]], 4, "withdrawn")
    _, _, left = holder_badges(world.store, row, "p1@example.org", at=int(utcnow().timestamp()))
    assert left == {"revoking": 1}
    submit_revocations(world.store, world.registry, world.issuer, row.id)
    with pytest.raises(NotFound) as e:
        export_clr(world.store, row, "p1@example.org", world.out.parent / "none", signer(world), at=int(utcnow().timestamp()))
    assert "(1 revoked)" in e.value.message


def test_stacked_credential_associations(world: World) -> None:
    """A stack (evidence entries with digests naming the components) relates its achievement to
    each component's by isParentOf; the record then carries the association."""
    row = world.store.issuer(world.issuer.address)
    assert row is not None
    badges, _, _ = holder_badges(world.store, row, HOLDER, at=int(utcnow().timestamp()))
    stacked = copy.deepcopy(badges[0])
    stacked["id"] = "urn:uuid:00000000-0000-7000-8000-000000000001"
    stacked["credentialSubject"]["achievement"] = dict(stacked["credentialSubject"]["achievement"],
                                                      id="https://uni.example/achievements/stacked", name="Stacked")
    stacked["evidence"] = [component_evidence(b, "Stacked", "Uni") for b in badges]
    edges = stack_associations([*badges, stacked])
    assert edges == [("https://uni.example/achievements/stacked", b["credentialSubject"]["achievement"]["id"], IS_PARENT_OF)
                     for b in badges]
    doc = clr_credential(credential_id="urn:uuid:00000000-0000-7000-8000-000000000002", holder_name=None,
                         holder_email=HOLDER, salt="00", issuer=badges[0]["issuer"], credentials=[*badges, stacked],
                         associations=edges, valid_from="2026-01-01T00:00:00Z")
    assert [(a["sourceId"], a["targetId"], a["associationType"]) for a in doc["credentialSubject"]["association"]] == edges
    assert all(a["type"] == "Association" for a in doc["credentialSubject"]["association"])
    assert jsonld_safe_expand(doc, contexts=CONTEXTS).ok
    assert jsonld.to_nquads(doc)
    with pytest.raises(InputError) as e:
        clr_credential(credential_id="urn:uuid:x", holder_name=None, holder_email=HOLDER, salt="00", issuer={},
                       credentials=badges, associations=[(edges[0][0], edges[0][1], IS_PARENT_OF)], valid_from="2026-01-01T00:00:00Z")
    assert e.value.reason == "clr_association_unknown"
    with pytest.raises(InputError) as e:
        clr_credential(credential_id="urn:uuid:x", holder_name=None, holder_email=HOLDER, salt="00", issuer={},
                       credentials=[], valid_from="2026-01-01T00:00:00Z")
    assert e.value.reason == "clr_empty"


def test_nested_context_must_repeat_the_top_level() -> None:
    """Only an embedded credential's own list of the record's contexts is accepted nested."""
    base = {"@context": CLR_DOCUMENT_CONTEXT, "id": "urn:uuid:1", "type": ["VerifiableCredential", "ClrCredential"]}
    for nested in (["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json"],
                   [CLR_DOCUMENT_CONTEXT[2], CLR_DOCUMENT_CONTEXT[0]], {"x": "http://x/"}, [CLR_DOCUMENT_CONTEXT[0], {"x": "http://x/"}]):
        doc = dict(base, credentialSubject={"type": ["ClrSubject"], "verifiableCredential": [{"@context": nested, "id": "urn:uuid:2"}]})
        with pytest.raises(InputError) as e:
            jsonld.to_nquads(doc)
        assert e.value.reason == "jsonld_inline_context", nested


def test_cli_export_clr(tmp_path: Path, anvil: DevChain, capsys: pytest.CaptureFixture[str]) -> None:
    cli = Cli(tmp_path / "home", anvil.rpc_url, capsys)
    cli.setup_issuer()
    cli.ok("issue", str(EXAMPLES / "roster.csv"), "--achievement", str(EXAMPLES / "achievement.yaml"))
    cli.ok("anchor")
    out = tmp_path / "out"
    said = cli.ok("export", str(out), "--clr", "Ada.Lovelace@example.org")
    target = out / "clr-ada.lovelace@example.org.json"
    assert f"wrote {target}: a learner record of 1 badge(s)" in said
    written = json.loads(target.read_text())
    assert written["type"] == ["VerifiableCredential", "ClrCredential"]
    (badge,) = written["credentialSubject"]["verifiableCredential"]
    assert badge["credentialSubject"]["identifier"][1]["identityHash"] == "Ada Lovelace"
    assert verify_proof(written, written["proof"], key_of_verification_method(written["proof"]["verificationMethod"]))
    assert not list(out.glob("*.tmp")) and [p.name for p in out.iterdir()] == [target.name]
    code, _, err = cli("export", str(out), "--clr", "nobody@example.org")
    assert code != 0 and "no anchored, valid credential of nobody@example.org" in err
