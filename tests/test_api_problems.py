"""Problem documents: what a client is told when something fails, and what it is never told.

Server-side failures name the dependency and a stable reason code, never a DSN, host, port, RPC
URL, SQL text or stack; 405 carries ``Allow``; query parameters outside their documented range
are refused (never clamped) naming the parameter and range; and the document and the behaviour
agree on which query values are accepted.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from anchor.api import create_app
from anchor.api.openapi import build
from anchor.api.problems import redact
from anchor.api.service import ServiceConfig
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from tests.api_support import CID, DEAD_POSTGRES, DEAD_RPC, PG_PASSWORD, REGISTRY, leaks
from tests.world import World, make_world


def problem(r: TestResponse, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.get_json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"].startswith("https://")
    assert body["reason"] == body["type"].rsplit("/", 1)[1].replace("-", "_")
    return body  # type: ignore[no-any-return]


def client(*, rpc_url: str = DEAD_RPC, db: str | None = DEAD_POSTGRES, registry: str = REGISTRY) -> FlaskClient:
    return create_app(ServiceConfig(rpc_url=rpc_url, registry=registry, database_url=db)).test_client()


# ---------------------------------------------------------------------------- 5xx: no leaks


def test_database_outage_says_only_that_the_database_is_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    c = client()
    for path in (f"/api/v1/credentials/{CID}/proof", f"/api/v1/credentials/{CID}/status"):
        with caplog.at_level(logging.WARNING):
            r = c.get(path)
        body = problem(r, 503)
        assert body["detail"] == "the issuer database is unavailable" and body["reason"] == "database_unavailable"
        assert r.headers["Retry-After"]
        assert leaks(r) == []
    # The operator gets the detail in the server's log, without the password.
    log = caplog.text
    assert "database_unavailable" in log and "127.0.0.1" in log and PG_PASSWORD not in log


def test_missing_tables_give_no_sql_or_table_names_to_the_client(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "empty.db"
    sqlite3.connect(db).execute("CREATE TABLE unrelated (x)").connection.close()
    c = client(db=f"sqlite:///{db}")
    for path in (f"/api/v1/credentials/{CID}/proof", f"/api/v1/credentials/{CID}/status"):
        with caplog.at_level(logging.WARNING):
            r = c.get(path)
        assert problem(r, 503)["reason"] == "database_unavailable" and leaks(r) == []
    assert "no such table" in caplog.text  # the operator still learns what is wrong


def test_chain_outage_hides_the_rpc_url_and_its_key(caplog: pytest.LogCaptureFixture) -> None:
    c = client(db=None)
    for path in ("/api/v1/issuers", f"/api/v1/batches/0x{'ab' * 32}", "/api/v1/audit/history"):
        with caplog.at_level(logging.WARNING):
            r = c.get(path)
        body = problem(r, 503)
        assert body["detail"] == "the chain is unavailable" and body["reason"] == "chain_unavailable" and leaks(r) == []
    assert "rpc-pa55" not in caplog.text


def test_an_unexpected_error_is_a_generic_500_with_a_redacted_trace_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(ServiceConfig(rpc_url=DEAD_RPC, registry=REGISTRY, database_url=None))

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError(f"could not connect to {DEAD_POSTGRES}")

    with caplog.at_level(logging.ERROR):
        r = app.test_client().get("/boom")
    assert problem(r, 500)["reason"] == "internal_error" and leaks(r) == []
    assert "RuntimeError" in caplog.text and "Traceback" in caplog.text and PG_PASSWORD not in caplog.text


@pytest.mark.parametrize(("text", "hidden"), [
    ("postgresql://anchor:pw123@db.internal:5432/issuer", "pw123"),
    ("postgresql+psycopg://u:p%40ss@h/db", "p%40ss"),
    ("host=db.internal password=hunter2 dbname=x", "hunter2"),
    ("https://mainnet.example/rpc?apikey=ABCDEF&x=1", "ABCDEF"),
])
def test_redact_masks_credentials(text: str, hidden: str) -> None:
    out = redact(text)
    assert hidden not in out and "***" in out


# ---------------------------------------------------------------------------- 405


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", "/api/v1/verify", {"POST", "OPTIONS"}),
    ("DELETE", "/api/v1/issuers", {"GET", "HEAD", "OPTIONS"}),
    ("TRACE", "/", {"GET", "HEAD", "OPTIONS"}),
    ("PUT", f"/api/v1/credentials/{CID}/status", {"GET", "HEAD", "OPTIONS"}),
    ("POST", "/healthz", {"GET", "HEAD", "OPTIONS"}),
])
def test_405_names_the_allowed_methods(method: str, path: str, allowed: set[str]) -> None:
    r = client(db=None).open(path, method=method)
    problem(r, 405)
    assert {m.strip() for m in r.headers["Allow"].split(",")} == allowed


# ---------------------------------------------------------------------------- query parameters


@pytest.fixture(scope="module")
def world(anvil: DevChain, tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(Chain(anvil.rpc_url), tmp_path_factory.mktemp("problems"), n=3)


@pytest.fixture(scope="module")
def app(world: World, anvil: DevChain) -> Flask:
    return create_app(ServiceConfig(rpc_url=anvil.rpc_url, registry=world.registry.address, database_url=world.db_url))


def query_schema(app: Flask, path: str, method: str, name: str) -> dict[str, Any]:
    op = build(app)["paths"][path][method]
    (param,) = [p for p in op["parameters"] if p["name"] == name]
    return param["schema"]  # type: ignore[no-any-return]


@pytest.mark.chain
@pytest.mark.parametrize(("query", "parameter"), [
    ("limit=501", "limit"), ("limit=0", "limit"), ("limit=-1", "limit"), ("limit=abc", "limit"), ("limit=%C2%B2", "limit"),
    ("limit=1e3", "limit"), ("offset=-1", "offset"), ("offset=1000000001", "offset"), ("offset=%D9%A3", "offset"),
    ("offset=" + "9" * 5000, "offset"),
])
def test_paging_parameters_out_of_range_are_refused_not_clamped(app: Flask, query: str, parameter: str) -> None:
    r = app.test_client().get(f"/api/v1/audit/history?{query}")
    body = problem(r, 422 if len(query) < 4000 else 414)
    if r.status_code == 422:
        assert body["parameter"] == parameter and parameter in body["detail"]
        schema = query_schema(app, "/api/v1/audit/history", "get", parameter)
        assert (body["minimum"], body["maximum"]) == (schema["minimum"], schema["maximum"])
        assert f"from {schema['minimum']} to {schema['maximum']:,}" in body["detail"]


@pytest.mark.chain
def test_paging_at_the_documented_bounds(app: Flask) -> None:
    schema = query_schema(app, "/api/v1/audit/history", "get", "limit")
    assert (schema["minimum"], schema["maximum"]) == (1, 500)
    assert query_schema(app, "/api/v1/audit/history", "get", "offset")["minimum"] == 0
    c = app.test_client()
    assert c.get("/api/v1/audit/history?limit=500").get_json()["limit"] == 500
    page = c.get("/api/v1/audit/history?limit=1&offset=1").get_json()
    assert page["limit"] == 1 and page["offset"] == 1 and len(page["events"]) == 1 and page["next"] == 2


@pytest.mark.chain
@pytest.mark.parametrize("email", ["", "p0@example.org", "P0@Example.org", "nobody", "@", "a@b", "x" * 250 + "@b.c", " "])
def test_email_parameter_schema_and_behaviour_agree(app: Flask, world: World, email: str) -> None:
    """Empty means "not given" (an HTML form sends an empty field); the document says the same."""
    schema = query_schema(app, "/api/v1/verify", "post", "email")
    documented = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).is_valid(email)
    r = app.test_client().post("/api/v1/verify", query_string={"email": email}, json=world.badge(0))
    assert (r.status_code != 422) == documented, (email, r.get_data(as_text=True))
    if email == "":
        plain = app.test_client().post("/api/v1/verify", json=world.badge(0)).get_json()
        assert r.status_code == 200 and r.get_json()["verdict"] == plain["verdict"] == "valid"
        assert [c["name"] for c in r.get_json()["checks"]] == [c["name"] for c in plain["checks"]]


@pytest.mark.chain
@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "tomorrow", "2026-02-30"])
def test_an_unrepresentable_or_bad_time_is_a_422_not_a_500(app: Flask, world: World, at: str) -> None:
    body = problem(app.test_client().post("/api/v1/verify", query_string={"at": at}, json=world.badge(0)), 422)
    assert "at" in body["detail"]


@pytest.mark.chain
def test_empty_at_is_now(app: Flask, world: World) -> None:
    r = app.test_client().post("/api/v1/verify?at=", json=world.badge(0))
    assert r.status_code == 200 and r.get_json()["verdict"] == "valid"
