"""Status lists generated from a real chain (Anvil): issue, anchor, revoke credentials, a whole
batch, and one index behind the database's back; publish; the lists' bits equal the chain's.
The audit finds a tampered, missing or unreadable stored list; the service serves the lists over
real HTTP, and openbadgeslib's status check reads them there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from openbadgeslib.ob3 import status as ob_status
from openbadgeslib.ob3.credential import OpenBadgeCredential
from openbadgeslib.ob3.ldp import verify_data_integrity_proof
from openbadgeslib.ob3.verifier import OB3VerificationError
from sqlalchemy import delete, update

from anchor.api import create_app
from anchor.api.service import ServiceConfig
from anchor.app.auditing import issuer_audit, read_history
from anchor.app.revoking import request_batch_revocation, request_revocation, submit_revocations
from anchor.app.signing import signer_for
from anchor.app.signing_keys import dev_signing_key_for
from anchor.app.status_lists import (
    ChainRevocations,
    chain_revocations,
    compare_status_lists,
    publish_status_lists,
    read_chain_revocations,
)
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.chain.reader import RegistryReader
from anchor.core.dataintegrity import create_proof, verify_proof
from anchor.core.ed25519 import SigningKey, did_key, verification_method
from anchor.core.errors import ConfigError
from anchor.core.status_list import LIST_SIZE, decode_list, encode_list, list_location, list_url, set_bits, status_entry
from anchor.store import Issuer
from anchor.store.schema import CredentialRow, StatusListRow
from tests.world import World, live_server, make_world

pytestmark = pytest.mark.chain

PUBLIC = "https://badges.uni.example"
FAR = 2 * LIST_SIZE + 5  # one credential's status index lands in list 2


KEY = SigningKey.from_seed(bytes(range(32)))
DID = did_key(KEY.public_key)


def sign(document: dict[str, Any]) -> dict[str, Any]:
    """The issuer's eddsa-rdfc-2022 proof, as the CLI's signer adds it."""
    return {**document, "proof": create_proof(document, KEY, verification_method(DID, KEY.public_key), document["validFrom"])}


def verify(document: dict[str, Any]) -> bool:
    return verify_proof(document, document["proof"], KEY.public_key)


def public_pem() -> bytes:
    return Ed25519PublicKey.from_public_bytes(KEY.public_key).public_bytes(serialization.Encoding.PEM,
                                                                            serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture
def world(anvil: DevChain, tmp_path: Path) -> World:
    """12 credentials in batches of 5, 5 and 2; status indexes shuffled so that none equals its
    leaf index and one sits in list 2; then revocations of every kind."""
    w = make_world(Chain(anvil.rpc_url), tmp_path, n=12, max_batch=5)
    issuer = issuer_of(w)
    w.store.set_issuer_identity(issuer.id, did=DID, public_url=PUBLIC)
    b1, b2, b3 = w.store.batches(issuer.id)
    members = [cid for b in (b1, b2, b3) for _, cid, _ in w.store.iter_documents(b.id)]
    with w.store.session() as s:  # a permutation: leaf order and status order disagree everywhere
        s.execute(update(CredentialRow).values(status_index=CredentialRow.status_index + 1000))
        for n, cid in enumerate(members):
            s.execute(update(CredentialRow).where(CredentialRow.credential_id == cid)
                      .values(status_index=FAR if n == 11 else (7 * n + 3) % 40))
    # Two credentials of batch 1 through `anchor revoke`, batch 2 as a whole, and index 1 of batch 3
    # straight on chain (another machine with the key, say): the chain is the truth.
    docs1 = {leaf: cid for leaf, cid, _ in w.store.iter_documents(b1.id)}
    request_revocation(w.store, issuer.id, [docs1[1], docs1[3]], 1, None)
    request_batch_revocation(w.store, issuer.id, b2.root, 3, None)
    submit_revocations(w.store, w.registry, w.issuer, issuer.id)
    w.registry.revoke(w.issuer, b3.root, [(0, 0b10)], 2)
    return w


def issuer_of(w: World) -> Issuer:
    row = w.store.issuer(w.issuer.address)
    assert row is not None
    return row


def revoked_status_indexes(w: World) -> set[int]:
    """What the lists must show, from the database's own rows (not through the code under test)."""
    b1, b2, b3 = w.store.batches(issuer_of(w).id)
    docs = {(b.id, leaf): cid for b in (b1, b2, b3) for leaf, cid, _ in w.store.iter_documents(b.id)}
    revoked = [docs[(b1.id, 1)], docs[(b1.id, 3)], docs[(b3.id, 1)]] + [cid for (bid, _), cid in docs.items() if bid == b2.id]
    return {w.store.credential(cid).status_index for cid in revoked}


def shown(w: World, number: int) -> set[int]:
    row = w.store.status_list(issuer_of(w).id, number)
    assert row is not None
    document = json.loads(row.document)
    return {number * LIST_SIZE + i for i in set_bits(decode_list(document["credentialSubject"]["encodedList"]))}


def codes(w: World) -> dict[str, list[dict[str, Any]]]:
    view = RegistryReader.connect(w.chain.rpc_url, w.registry.address, head_ttl=0)
    report = issuer_audit(w.store, read_history(view), w.issuer.address, verify_status_list=verify)
    out: dict[str, list[dict[str, Any]]] = {}
    for f in report.findings:
        if f.code.startswith("status_list"):
            out.setdefault(f.code, []).append(f.to_json())
    return out


def test_published_lists_equal_the_chain(world: World) -> None:
    issuer = issuer_of(world)
    revoked = read_chain_revocations(world.registry, world.issuer.address)
    b1, b2, b3 = world.store.batches(issuer.id)
    assert revoked.indices == {b1.root: frozenset({1, 3}), b3.root: frozenset({1})} and revoked.whole == frozenset({b2.root})
    assert revoked.block == world.chain.block_number()
    # The same from the whole registry's history, as the audit reads it.
    view = RegistryReader.connect(world.chain.rpc_url, world.registry.address, head_ttl=0)
    state = read_history(view)
    assert chain_revocations(state, world.issuer.address, block=revoked.block) == revoked

    report = publish_status_lists(world.store, issuer, revoked, sign)
    assert (report.lists, report.changed, report.kept, report.unmapped) == ([0, 2], [0, 2], [], 0)
    expected = revoked_status_indexes(world)
    assert len(expected) == 2 + 5 + 1 and report.revoked == len(expected)
    assert shown(world, 0) | shown(world, 2) == expected

    row = world.store.status_list(issuer.id, 0)
    assert row is not None and row.chain_block == revoked.block
    document = json.loads(row.document)
    url = list_url(PUBLIC, world.issuer.address, 0)
    assert document["id"] == url and document["issuer"] == DID and document["credentialSubject"]["id"] == url + "#list"
    assert document["type"] == ["VerifiableCredential", "BitstringStatusListCredential"] and verify(document)
    assert document["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    verify_data_integrity_proof(document, public_pem())  # openbadgeslib checks the list's signature too
    assert codes(world) == {}

    # Publishing again from the same chain changes no bit; an older view of the chain is kept out.
    again = publish_status_lists(world.store, issuer, revoked, sign)
    assert (again.lists, again.changed) == ([0, 2], [])
    stale = ChainRevocations({}, frozenset(), revoked.block - 1)
    assert publish_status_lists(world.store, issuer, stale, sign).kept == [0, 2]
    assert shown(world, 0) | shown(world, 2) == expected


def test_a_new_revocation_shows_after_publishing_again(world: World) -> None:
    issuer = issuer_of(world)
    publish_status_lists(world.store, issuer, read_chain_revocations(world.registry, world.issuer.address), sign)
    b3 = world.store.batches(issuer.id)[2]
    (far,) = [cid for leaf, cid, _ in world.store.iter_documents(b3.id) if leaf == 1]
    assert world.store.credential(far).status_index == FAR  # revoked on chain already
    assert FAR in shown(world, 2)
    world.registry.revoke(world.issuer, b3.root, [(0, 0b1)], 2)  # leaf 0 of batch 3, behind the database's back
    assert codes(world)["status_list_unrevoked"][0]["severity"] == "critical"  # the audit sees the list lag
    report = publish_status_lists(world.store, issuer, read_chain_revocations(world.registry, world.issuer.address), sign)
    assert report.changed == [0] and codes(world) == {}
    (leaf0,) = [cid for leaf, cid, _ in world.store.iter_documents(b3.id) if leaf == 0]
    assert world.store.credential(leaf0).status_index in shown(world, 0)


def test_the_audit_finds_a_tampered_missing_or_unreadable_list(world: World) -> None:
    issuer = issuer_of(world)
    revoked = read_chain_revocations(world.registry, world.issuer.address)
    publish_status_lists(world.store, issuer, revoked, sign)
    expected = revoked_status_indexes(world)
    in_list0 = sorted(i for i in expected if i < LIST_SIZE)
    hidden, added = in_list0[0], next(i for i in range(LIST_SIZE) if i not in expected and world.store.credential_by_status_index(issuer.id, i))

    def store_list0(bits: set[int], *, resign: bool) -> None:
        row = world.store.status_list(issuer.id, 0)
        assert row is not None
        document = json.loads(row.document)
        document["credentialSubject"]["encodedList"] = encode_list(bits)
        if resign:
            document = sign({k: v for k, v in document.items() if k != "proof"})
        with world.store.session() as s:
            s.execute(update(StatusListRow).where(StatusListRow.issuer_id == issuer.id, StatusListRow.list_number == 0)
                      .values(document=json.dumps(document)))

    # A revoked credential un-revoked in the list, and a valid one revoked, signed by the key as if
    # the issuer's own publisher had been fed the wrong data: the bits give it away.
    store_list0((set(in_list0) - {hidden}) | {added}, resign=True)
    found = codes(world)
    assert set(found) == {"status_list_unrevoked", "status_list_extra_revocation"}
    (unrevoked,) = found["status_list_unrevoked"]
    assert unrevoked["severity"] == "critical" and unrevoked["subject"]["statusIndexes"] == [hidden]
    assert unrevoked["subject"]["credentials"] == [world.store.credential_by_status_index(issuer.id, hidden).credential_id]
    assert found["status_list_extra_revocation"][0]["subject"]["statusIndexes"] == [added]
    # The same bits without re-signing: the proof no longer verifies either.
    store_list0((set(in_list0) - {hidden}), resign=False)
    assert set(codes(world)) == {"status_list_unreadable", "status_list_unrevoked"}
    # Garbage where the list was, then no list at all.
    with world.store.session() as s:
        s.execute(update(StatusListRow).where(StatusListRow.list_number == 0).values(document='{"credentialSubject": {"encodedList": "uAAAA"}}'))
    assert set(codes(world)) == {"status_list_unreadable"}
    with world.store.session() as s:
        s.execute(delete(StatusListRow).where(StatusListRow.list_number == 2))
    found = codes(world)
    assert set(found) == {"status_list_unreadable", "status_list_missing"} and found["status_list_missing"][0]["subject"]["list"] == 2
    # Publishing again repairs everything.
    publish_status_lists(world.store, issuer, read_chain_revocations(world.registry, world.issuer.address), sign)
    assert codes(world) == {}


def test_an_issuer_without_a_public_url_publishes_nothing_and_the_audit_does_not_ask(anvil: DevChain, tmp_path: Path) -> None:
    w = make_world(Chain(anvil.rpc_url), tmp_path, n=3)
    issuer = w.store.set_issuer_identity(issuer_of(w).id, public_url=None)  # as issuers registered before signed badges
    with w.store.session() as s:
        s.execute(delete(StatusListRow))
    with pytest.raises(ConfigError) as e:
        publish_status_lists(w.store, issuer, read_chain_revocations(w.registry, w.issuer.address), sign)
    assert e.value.reason == "no_public_url"
    assert compare_status_lists(w.store, issuer, read_chain_revocations(w.registry, w.issuer.address)) == []
    # Once it has one, a list its anchored credentials need and that is not there is a finding.
    issuer = w.store.set_issuer_identity(issuer.id, public_url=PUBLIC)
    (missing,) = compare_status_lists(w.store, issuer, read_chain_revocations(w.registry, w.issuer.address))
    assert (missing.code, missing.severity, missing.subject["list"]) == ("status_list_missing", "error", 0)


# ---------------------------------------------------------------------------- over HTTP


@pytest.fixture
def served(world: World, anvil: DevChain) -> Iterator[str]:
    app = create_app(ServiceConfig(rpc_url=anvil.rpc_url, registry=world.registry.address, database_url=world.db_url, head_ttl=0.2))
    with live_server(app) as base:
        issuer = issuer_of(world)
        world.store.set_issuer_identity(issuer.id, public_url=base)
        publish_status_lists(world.store, issuer_of(world), read_chain_revocations(world.registry, world.issuer.address), sign)
        yield base


def test_the_service_serves_the_signed_lists(world: World, served: str) -> None:
    issuer = issuer_of(world)
    address = world.issuer.address
    stored = world.store.status_list(issuer.id, 0)
    assert stored is not None
    for spelling in (address, address.lower(), "0x" + address[2:].upper()):
        r = requests.get(f"{served}/status/{spelling}/0", timeout=5)
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/vc+ld+json"
        assert r.content == stored.document.encode() and r.json()["id"] == f"{served}/status/{address}/0"
        assert r.headers["Cache-Control"] == "public, max-age=60" and r.headers["Access-Control-Allow-Origin"] == "*"
    r = requests.get(f"{served}/status/{address}/0", headers={"Accept": "application/json"}, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json" and r.content == stored.document.encode()
    again = requests.get(f"{served}/status/{address}/0", headers={"If-None-Match": r.headers["ETag"]}, timeout=5)
    assert again.status_code == 304 and not again.content
    assert requests.get(f"{served}/status/{address}/2", timeout=5).status_code == 200

    def problem(path: str, status: int) -> dict[str, Any]:
        r = requests.get(served + path, timeout=5)
        assert r.status_code == status and r.headers["Content-Type"] == "application/problem+json", r.text
        return r.json()  # type: ignore[no-any-return]

    assert problem(f"/status/{address}/1", 404)["reason"] == "not_found"  # no credential in list 1
    assert problem(f"/status/0x{'12' * 20}/0", 404)["reason"] == "not_found"
    problem("/status/nonsense/0", 422)
    problem(f"/status/{address}/abc", 422)
    problem(f"/status/{address}/-1", 422)
    problem(f"/status/{address}/1234567890", 422)
    paths = requests.get(f"{served}/openapi.json", timeout=5).json()["paths"]
    assert set(paths["/status/{address}/{list_number}"]["get"]["responses"]["200"]["content"]) == {
        "application/vc+ld+json", "application/json", "application/ld+json"}


def test_openbadgeslib_reads_revocations_from_the_service(world: World, served: str) -> None:
    """openbadgeslib's own credential status check, fetching our list over HTTP (its default
    downloader insists on HTTPS, so the fetch is injected; everything else is its code)."""
    issuer = issuer_of(world)
    revoked = revoked_status_indexes(world)
    url = list_url(served, world.issuer.address, 0)

    def download(u: str) -> bytes:
        r = requests.get(u, timeout=5)
        r.raise_for_status()
        return r.content

    def badge(status_index: int) -> Any:  # what check_credential_status reads of a parsed credential
        number, index = list_location(status_index)
        entry = status_entry(list_url(served, world.issuer.address, number), index)
        return SimpleNamespace(issuer=SimpleNamespace(id=DID), credential_status=[entry])

    for status_index in sorted(revoked):
        with pytest.raises(OB3VerificationError, match="'revocation' is set"):
            ob_status.check_credential_status(badge(status_index), download=download)
    valid = [c.status_index for c in (world.store.credential_by_status_index(issuer.id, i) for i in range(40)) if c is not None
             and c.status_index not in revoked]
    assert len(valid) == 12 - len(revoked)
    for status_index in valid:
        ob_status.check_credential_status(badge(status_index), download=download)
    assert url in {badge(i).credential_status[0]["statusListCredential"] for i in revoked}


def test_the_status_list_operation_conforms_to_the_openapi_document(world: World, served: str, tmp_path: Path) -> None:
    """schemathesis on GET /status/{address}/{list_number} alone, with real lists to find (the
    suite-wide run has none published): 200 bodies against the schema, content types, 404 / 422."""
    (tmp_path / "schemathesis.toml").write_text("\n".join([
        "[dictionaries.issuers]", f"values = {json.dumps([world.issuer.address, world.issuer.address.lower()])}",
        "[dictionaries.lists]", 'values = ["0", "2"]',
        "[parameters]",
        '"path.address" = { dictionary = "issuers", probability = 0.7 }',
        '"path.list_number" = { dictionary = "lists", probability = 0.7 }',
        "[checks.negative_data_rejection]", 'expected-statuses = ["400", "404", "405", "406", "414", "422"]', "",
    ]))
    cmd = [sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(tmp_path / "schemathesis.toml"), "run",
           f"{served}/openapi.json", "--include-path-regex", "^/status/", "--checks", "all", "--mode", "all",
           "--max-examples", "30", "--seed", "20261128", "--workers", "1", "--request-timeout", "10"]
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=240, env={**os.environ, "NO_COLOR": "1"})
    out = run.stdout + run.stderr
    assert run.returncode == 0 and "No issues found" in out, out[-6000:]
    assert "Tested: 1" in " ".join(out.split()) and "Missing test data" not in out, out[-3000:]


def test_exported_badges_name_lists_that_openbadgeslib_reads(anvil: DevChain, tmp_path: Path) -> None:
    """End to end as wired: badges issued and exported name their bit; one is revoked on chain;
    the lists are published with the issuer's own key; openbadgeslib, given each exported badge,
    fetches the list the badge names (from the service) and finds exactly the revoked one."""
    w = make_world(Chain(anvil.rpc_url), tmp_path, n=6)
    issuer = issuer_of(w)
    victim = w.badges[2]["id"]
    request_revocation(w.store, issuer.id, [victim], 1, None)
    submit_revocations(w.store, w.registry, w.issuer, issuer.id)
    key = dev_signing_key_for(issuer.address)
    signer = signer_for(issuer.did, key, issuer.signing_key)
    app = create_app(ServiceConfig(rpc_url=anvil.rpc_url, registry=w.registry.address, database_url=w.db_url, head_ttl=0.2))
    with live_server(app) as base:
        report = publish_status_lists(w.store, issuer, read_chain_revocations(w.registry, issuer.address), signer.sign_document)
        assert (report.lists, report.revoked) == ([0], 1)
        assert issuer.public_url is not None
        fetched: list[str] = []

        def download(url: str) -> bytes:  # the public URL the badge names, served here
            assert url.startswith(issuer.public_url + "/status/")
            fetched.append(url)
            r = requests.get(base + urlsplit(url).path, timeout=5)
            r.raise_for_status()
            return r.content

        for badge in w.badges:
            credential = OpenBadgeCredential.from_vc_document(badge)
            if badge["id"] == victim:
                with pytest.raises(OB3VerificationError, match="'revocation' is set"):
                    ob_status.check_credential_status(credential, download=download)
            else:
                ob_status.check_credential_status(credential, download=download)
        assert len(fetched) == 6
        listed = json.loads(download(fetched[0]))
    assert listed["issuer"] == issuer.did and listed["proof"]["verificationMethod"].startswith(issuer.did + "#")
    pem = Ed25519PublicKey.from_public_bytes(key.public_key).public_bytes(serialization.Encoding.PEM,
                                                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    verify_data_integrity_proof(listed, pem)


def test_a_revocation_a_reorg_took_away_leaves_the_list(anvil: DevChain, tmp_path: Path) -> None:
    """Lists stored from a block that a reorg removed are not 'newer': the next publish, from the
    chain as it now is, replaces them, so a revocation the chain no longer has stops showing."""
    from tests.world import publish_lists

    chain = Chain(anvil.rpc_url)
    world = make_world(chain, tmp_path, n=4)
    publish_lists(world)
    snapshot = chain.dev_rpc("evm_snapshot")
    row = world.store.issuer(world.issuer.address)
    assert row is not None
    for badge in world.badges[1:3]:  # two revocations, two blocks
        request_revocation(world.store, row.id, [badge["id"]], 1, None)
        submit_revocations(world.store, world.registry, world.issuer, row.id)
        report = publish_lists(world)
        assert report.lists == [0] and report.revoked >= 1
    stored = world.store.status_list(row.id, 0)
    assert stored is not None and stored.chain_block == chain.block_number()
    chain.dev_rpc("evm_revert", snapshot)  # both revocations leave the chain; the head drops below the stored list's block
    assert chain.block_number() < stored.chain_block
    report = publish_lists(world)
    assert report.lists == [0] and not report.kept and report.revoked == 0
    after = world.store.status_list(row.id, 0)
    assert after is not None and set_bits(decode_list(json.loads(after.document)["credentialSubject"]["encodedList"])) == set()
