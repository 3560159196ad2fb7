"""``/healthz`` is liveness (the process answers, nothing else is touched); ``/readyz`` is
readiness (anchor's tables at the expected schema version, the chain answering with the
registry's code), and says which dependency failed without naming its address."""

from __future__ import annotations

import time

import jsonschema
import pytest
from sqlalchemy import update
from werkzeug.test import TestResponse

from anchor.api import create_app
from anchor.api.openapi import build
from anchor.api.service import ServiceConfig
from anchor.chain.anvil import DevChain
from anchor.chain.signer import dev_signer
from anchor.chain.writer import Registry
from anchor.store import Store
from anchor.store.schema import SCHEMA_VERSION, Meta
from tests.api_support import DEAD_POSTGRES, DEAD_RPC, REGISTRY, leaks

pytestmark = pytest.mark.chain


def ready(rpc_url: str, registry: str, db_url: str | None) -> TestResponse:
    return create_app(ServiceConfig(rpc_url=rpc_url, registry=registry, database_url=db_url)).test_client().get("/readyz")


def documented(body: object, schema: str) -> None:
    """``body`` conforms to the OpenAPI document's component ``schema``."""
    doc = build(create_app(ServiceConfig(rpc_url=DEAD_RPC, registry=REGISTRY, database_url=None)))
    jsonschema.validate(body, {"$ref": f"#/components/schemas/{schema}", "components": doc["components"]})


def not_ready(r: TestResponse) -> dict[str, object]:
    assert r.status_code == 503 and r.headers["Content-Type"] == "application/problem+json", r.get_data(as_text=True)
    assert r.headers["Retry-After"] and r.headers["Cache-Control"] == "no-store" and leaks(r) == []
    body = r.get_json()
    documented(body, "NotReady")
    assert body["reason"] == "not_ready" and body["status"] == 503
    for name in body["failed"]:
        assert f"{name} ({body['checks'][name]['reason']})" in body["detail"]
    return body  # type: ignore[no-any-return]


def test_healthz_is_liveness_only_and_cheap() -> None:
    client = create_app(ServiceConfig(rpc_url=DEAD_RPC, registry=REGISTRY, database_url=DEAD_POSTGRES)).test_client()
    started = time.perf_counter()
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok"} and r.headers["Cache-Control"] == "no-store"
    assert time.perf_counter() - started < 0.5  # touched neither the dead database nor the dead chain
    body = not_ready(client.get("/readyz"))
    assert body["failed"] == ["database", "chain"]
    assert body["checks"] == {"database": {"ok": False, "configured": True, "reason": "database_unavailable"},
                              "chain": {"ok": False, "reason": "chain_unavailable"}}


def test_readyz_checks_the_schema_is_there_and_current(anvil: DevChain, registry: Registry, db_url: str) -> None:
    body = not_ready(ready(anvil.rpc_url, registry.address, db_url))  # an empty database: no tables at all
    assert body["failed"] == ["database"] and body["checks"]["database"]["reason"] == "schema_missing"  # type: ignore[index]
    assert body["checks"]["chain"]["ok"] is True  # type: ignore[index]
    assert not_ready(ready(anvil.rpc_url, registry.address, db_url))["failed"] == ["database"], "the probe created nothing"

    store = Store.open(db_url)  # creates the tables at SCHEMA_VERSION
    try:
        r = ready(anvil.rpc_url, registry.address, db_url)
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/json", r.get_data(as_text=True)
        body = r.get_json()
        documented(body, "Readiness")
        assert body["status"] == "ready" and body["database"] == {"ok": True, "configured": True, "schemaVersion": SCHEMA_VERSION}
        assert body["chain"]["ok"] and body["chain"]["registry"] == registry.address and body["chain"]["chainId"] == 31337

        with store.session() as s:  # a database migrated by a newer anchor
            s.execute(update(Meta).where(Meta.key == "schema_version").values(value=str(SCHEMA_VERSION + 1)))
        body = not_ready(ready(anvil.rpc_url, registry.address, db_url))
        assert body["checks"]["database"] == {"ok": False, "configured": True, "reason": "schema_version_mismatch",  # type: ignore[index]
                                              "schemaVersion": SCHEMA_VERSION + 1, "expectedSchemaVersion": SCHEMA_VERSION}
    finally:
        store.close()


def test_readyz_checks_the_chain_and_the_registry_code(anvil: DevChain, registry: Registry, tmp_path: object) -> None:
    body = not_ready(ready(DEAD_RPC, registry.address, None))
    assert body["failed"] == ["chain"] and body["checks"]["database"] == {"ok": True, "configured": False}  # type: ignore[index]
    assert body["checks"]["chain"]["reason"] == "chain_unavailable"  # type: ignore[index]

    not_a_registry = dev_signer(5).address  # an account: no code there
    body = not_ready(ready(anvil.rpc_url, not_a_registry, None))
    assert body["failed"] == ["chain"] and body["checks"]["chain"]["reason"] == "registry_code_mismatch"  # type: ignore[index]

    r = ready(anvil.rpc_url, registry.address, None)
    assert r.status_code == 200 and r.get_json()["chain"]["block"] >= 1
