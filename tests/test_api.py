"""The public service over real HTTP: endpoints, problem documents, limits, caching, OpenAPI."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anchor.api import create_app
from anchor.api.openapi import build, documented_rules
from anchor.api.service import ServiceConfig
from anchor.app.issuing import issue_credentials
from anchor.app.revoking import request_revocation, submit_revocations
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.core.roster import parse_roster
from tests.receipts import anchor_entry, receipt, receipt_of, to_legacy
from tests.world import PROFILE, World, achievement, live_server, make_world

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def world(anvil: DevChain, tmp_path_factory: pytest.TempPathFactory) -> World:
    w = make_world(Chain(anvil.rpc_url), tmp_path_factory.mktemp("api"), n=6)
    row = w.store.issuer(w.issuer.address)
    assert row is not None
    issue_credentials(w.store, row, achievement(), parse_roster("name,email\nLate Comer,late@example.org\n"))  # pending
    return w


@pytest.fixture(scope="module")
def app(world: World, anvil: DevChain) -> Flask:
    return create_app(ServiceConfig(rpc_url=anvil.rpc_url, registry=world.registry.address, database_url=world.db_url, head_ttl=0.2))


@pytest.fixture(scope="module")
def url(app: Flask) -> Iterator[str]:
    with live_server(app) as base:
        yield base


def problem(r: requests.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"].startswith("https://")
    return body  # type: ignore[no-any-return]


def test_proof_endpoint_serves_the_exported_proof(world: World, url: str) -> None:
    for badge in world.badges:
        for ident in (badge["id"], badge["id"].removeprefix("urn:uuid:").upper()):
            r = requests.get(f"{url}/api/v1/credentials/{ident}/proof", timeout=5)
            assert r.status_code == 200 and "immutable" in r.headers["Cache-Control"]
            assert r.json() == {"credentialId": badge["id"], "proof": anchor_entry(badge), "receipt": receipt_of(badge)}


def test_proof_endpoint_errors(world: World, url: str) -> None:
    problem(requests.get(f"{url}/api/v1/credentials/urn:uuid:00000000-0000-4000-8000-000000000000/proof", timeout=5), 404)
    problem(requests.get(f"{url}/api/v1/credentials/a/b/proof", timeout=5), 404)
    assert "is not a credential id" in problem(requests.get(f"{url}/api/v1/credentials/42/proof", timeout=5), 422)["detail"]
    pending = world.store.locate  # the late credential has no batch yet
    with world.store.session() as s:
        from sqlalchemy import select

        from anchor.store.schema import CredentialRow

        cid = s.scalar(select(CredentialRow.credential_id).where(CredentialRow.batch_id.is_(None)))
    assert pending(cid) is not None
    assert "not anchored" in problem(requests.get(f"{url}/api/v1/credentials/{cid}/proof", timeout=5), 404)["detail"]
    assert requests.get(f"{url}/api/v1/credentials/{cid}/status", timeout=5).json()["status"] == "pending"


def test_status_endpoint(world: World, url: str) -> None:
    body = requests.get(f"{url}/api/v1/credentials/{world.badges[0]['id']}/status", timeout=5).json()
    assert body["status"] == "active" and body["anchor"]["onChain"] and body["revocation"] is None
    assert body["validFrom"] == world.badges[0]["validFrom"]


def test_revocation_is_visible_within_one_block(world: World, url: str, app: Flask) -> None:
    badge = world.badges[5]
    assert requests.post(f"{url}/api/v1/verify", json=badge, timeout=5).json()["verdict"] == "valid"
    row = world.store.issuer(world.issuer.address)
    assert row is not None
    request_revocation(world.store, row.id, [badge["id"]], 1, None)
    submit_revocations(world.store, world.registry, world.issuer, row.id)
    time.sleep(app.extensions["anchor"].config.head_ttl)  # the head is re-read at most this often
    assert requests.post(f"{url}/api/v1/verify", json=badge, timeout=5).json()["verdict"] == "revoked"
    assert requests.get(f"{url}/api/v1/credentials/{badge['id']}/status", timeout=5).json()["status"] == "revoked"


def test_chain_reads_are_cached_per_block(world: World, anvil: DevChain) -> None:
    app = create_app(ServiceConfig(rpc_url=anvil.rpc_url, registry=world.registry.address, database_url=world.db_url, head_ttl=60))
    view = app.extensions["anchor"].view
    calls: list[int] = []
    real = view.rpc.batch

    def counting(batch: list[tuple[str, list[Any]]]) -> list[Any]:
        calls.append(len(batch))
        return real(batch)

    view.rpc.batch = counting
    client = app.test_client()
    for _ in range(50):
        assert client.post("/api/v1/verify", json=world.badges[1]).json["verdict"] == "valid"
        assert client.get(f"/api/v1/credentials/{world.badges[1]['id']}/status").json["status"] == "active"
    # chain id, code, head, one batched read of batch+word+issuer: then nothing for 99 more requests
    assert len(calls) <= 5, calls


def test_batches_and_issuers(world: World, url: str) -> None:
    root = receipt_of(world.badges[0])["merkleRoot"]
    body = requests.get(f"{url}/api/v1/batches/{root}", timeout=5).json()
    assert body["issuer"] == world.issuer.address and body["leafCount"] == 6 and body["revoked"] is False
    problem(requests.get(f"{url}/api/v1/batches/0x{'ab' * 32}", timeout=5), 404)
    problem(requests.get(f"{url}/api/v1/batches/0x1234", timeout=5), 422)
    problem(requests.get(f"{url}/api/v1/batches/{'zz' * 32}", timeout=5), 422)
    issuers = requests.get(f"{url}/api/v1/issuers", timeout=5).json()["issuers"]
    assert [(i["address"], i["active"], i["profileURI"]) for i in issuers] == [(world.issuer.address, True, PROFILE)]


def test_health(world: World, url: str, anvil: DevChain) -> None:
    assert requests.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}  # liveness (more in test_api_health)
    body = requests.get(f"{url}/readyz", timeout=5).json()
    assert body["status"] == "ready" and body["database"]["ok"] and body["chain"]["ok"]
    broken = create_app(ServiceConfig(rpc_url=anvil.rpc_url, registry=world.registry.address,
                                      database_url="postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"))
    assert broken.test_client().get("/healthz").status_code == 200
    r = broken.test_client().get("/readyz")
    assert r.status_code == 503 and r.json["failed"] == ["database"] and r.json["checks"]["chain"]["ok"] is True


def test_request_limits_and_bad_bodies(world: World, url: str) -> None:
    post = lambda data, ct="application/json": requests.post(f"{url}/api/v1/verify", data=data, headers={"Content-Type": ct}, timeout=5)  # noqa: E731
    assert "not valid JSON" in problem(post("{nope"), 400)["detail"]
    assert "empty" in problem(post(""), 400)["detail"]
    assert "must be a JSON object" in problem(post("[1, 2]"), 422)["detail"]
    assert "must be a JSON object" in problem(post('"a string"'), 422)["detail"]
    problem(post("x" * (300 * 1024)), 413)
    problem(post("{}", "text/plain"), 415)
    huge = to_legacy(json.loads(json.dumps(world.badges[0])))  # a legacy receipt's path is in plain sight
    huge["proof"][0]["path"] = [{"left": "ab" * 32}] * 65
    assert "at most 64" in problem(post(json.dumps(huge)), 422)["detail"]
    huge = json.loads(json.dumps(world.badges[0]))  # inside a proofValue: the same answer
    with receipt(huge) as r:
        r["path"] = [{"left": "ab" * 32}] * 65
    assert "at most 64" in problem(post(json.dumps(huge)), 422)["detail"]
    anchor_entry(huge)["proofValue"] = "u" + "A" * (16 * 1024)  # and a proofValue is bounded before it is decoded
    bad = next(c for c in post(json.dumps(huge)).json()["checks"] if c["status"] == "failed")
    assert bad["reason"] == "malformed_proof" and "longer than" in bad["message"]
    assert "not an email" in problem(requests.post(f"{url}/api/v1/verify?email=nobody", json=world.badges[0], timeout=5), 422)["detail"]
    problem(requests.post(f"{url}/api/v1/verify?at=tomorrow", json=world.badges[0], timeout=5), 422)
    problem(requests.get(f"{url}/api/v1/verify", timeout=5), 405)
    problem(requests.get(f"{url}/no/such/route", timeout=5), 404)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values, data=st.data())
def test_no_body_ever_causes_a_500(world: World, url: str, body: Any, data: st.DataObject) -> None:
    if data.draw(st.booleans()):  # mutate a real badge rather than send noise
        badge = json.loads(json.dumps(world.badges[2]))
        target = data.draw(st.sampled_from(["proof", "credentialSubject", "issuer", "validFrom", "@context", "type"]))
        badge[target] = body
        body = badge
    r = requests.post(f"{url}/api/v1/verify", data=json.dumps(body), headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code in (200, 400, 422), r.text
    if r.status_code == 200:
        assert r.json()["verdict"] == "invalid"


def test_openapi_document_matches_the_routes(app: Flask, url: str) -> None:
    doc = requests.get(f"{url}/openapi.json", timeout=5).json()
    assert doc["openapi"] == "3.1.0"
    routes = {(rule.rule, m.lower()) for rule in app.url_map.iter_rules() for m in rule.methods or () if m not in ("HEAD", "OPTIONS") and rule.endpoint != "static"}
    documented = {(p, m) for p, m, _ in documented_rules(app)}
    as_flask = {(p.replace("{", "<").replace("}", ">"), m) for p, m in documented}
    assert as_flask == routes, "every route documented, and nothing documented that is not a route"
    assert set(doc["paths"]) == {p for p, _ in documented}
    text = json.dumps(doc)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}:
        assert ref in doc["components"]["schemas"], ref
    assert doc == build(app)
    # Responses the spec declares for the verify endpoint are the ones it gives.
    assert set(doc["paths"]["/api/v1/verify"]["post"]["responses"]) >= {"200", "400", "413", "415", "422", "503"}


def test_verification_page(url: str) -> None:
    r = requests.get(url + "/", timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "/api/v1/verify" in r.text and "Content-Security-Policy" in r.headers


def test_the_same_bytes_sent_as_another_form_get_their_own_answer(world: World, url: str) -> None:
    """The prepared-badge cache is keyed by how the body was read, not by its bytes alone."""
    from anchor.app.signing import signer_for
    from anchor.app.signing_keys import dev_signing_key_for
    from anchor.core import jwt

    row = world.store.issuer(world.issuer.address)
    assert row is not None
    signer = signer_for(row.did, dev_signing_key_for(world.issuer.address), row.signing_key)
    token = jwt.encode(world.badge(0), signer.key.sign, signer.verification_method).encode()
    post = lambda ct: requests.post(f"{url}/api/v1/verify", data=token, headers={"Content-Type": ct}, timeout=10)  # noqa: E731
    for _ in range(2):
        as_jwt = post("application/jwt")
        assert as_jwt.status_code == 200 and as_jwt.json()["verdict"] == "valid" and as_jwt.json()["format"] == "jwt"
        assert problem(post("application/json"), 400)["type"].endswith("malformed-json")
