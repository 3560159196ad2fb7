"""Structured logs: one JSON object per line, every request with an id (the client's when sane),
echoed in X-Request-Id and problem documents, on every line written while handling it; nothing
of bodies, query strings or credentials in the log. In-process, and under real gunicorn."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from anchor.api import create_app
from anchor.api.service import ServiceConfig
from tests.api_support import DEAD_POSTGRES, DEAD_RPC, PG_PASSWORD, REGISTRY, gunicorn, gunicorn_log

FRESH = re.compile(r"[0-9a-f]{32}")
ACCESS_FIELDS = {"ts", "level", "logger", "msg", "request_id", "method", "route", "status", "duration_ms"}


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    """Dead dependencies: nothing here needs them to answer, and their failures are logged."""
    return create_app(ServiceConfig(rpc_url=DEAD_RPC, registry=REGISTRY, database_url=f"sqlite:///{tmp_path / 'none.db'}"))


def lines(err: str) -> list[dict[str, Any]]:
    """Every stderr line as a JSON object (fails on a line that is not one)."""
    out = []
    for line in err.splitlines():
        if line.strip():
            doc = json.loads(line)
            assert isinstance(doc, dict), line
            out.append(doc)
    return out


def test_the_request_id_is_echoed_and_on_every_line_of_the_request(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    r = app.test_client().get("/readyz", headers={"X-Request-Id": "lb-7f3a.9_Z-1"})  # both dependencies fail: logged
    assert r.status_code == 503 and r.headers["X-Request-Id"] == "lb-7f3a.9_Z-1"
    assert r.json["requestId"] == "lb-7f3a.9_Z-1"  # type: ignore[index]  # the problem document names it too
    logged = lines(capsys.readouterr().err)
    mine = [line for line in logged if line.get("request_id") == "lb-7f3a.9_Z-1"]
    assert len(mine) >= 2 and len(mine) == len(logged), logged  # the readiness warnings and the access line
    assert any(line["level"] == "warning" and "not ready" in line["msg"] for line in mine), mine
    access = [line for line in mine if line["logger"] == "anchor.access"]
    assert len(access) == 1 and ACCESS_FIELDS <= access[0].keys(), access
    assert access[0]["method"] == "GET" and access[0]["route"] == "/readyz" and access[0]["status"] == 503
    assert isinstance(access[0]["duration_ms"], float) and access[0]["ts"].endswith("Z")


@pytest.mark.parametrize("offered", ["", "has space", "x" * 65, "<script>", "id\u00e9", "a/b", "../../etc", "1;DROP"])
def test_a_hostile_request_id_is_replaced_by_a_fresh_one(app: Flask, capsys: pytest.CaptureFixture[str], offered: str) -> None:
    capsys.readouterr()
    r = app.test_client().get("/healthz", headers={"X-Request-Id": offered})
    rid = r.headers["X-Request-Id"]
    assert rid != offered and FRESH.fullmatch(rid), rid
    logged = lines(capsys.readouterr().err)
    assert [line["request_id"] for line in logged] == [rid]
    assert offered not in json.dumps(logged) or offered == ""


def test_each_request_without_an_id_gets_its_own(app: Flask) -> None:
    client = app.test_client()
    ids = {client.get("/healthz").headers["X-Request-Id"] for _ in range(5)}
    assert len(ids) == 5 and all(FRESH.fullmatch(i) for i in ids)
    assert client.get("/healthz", headers={"X-Request-Id": "x" * 64}).headers["X-Request-Id"] == "x" * 64  # the longest sane


def test_an_unmatched_path_is_logged_without_a_route(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    r = app.test_client().get("/nothing/here")
    assert r.status_code == 404 and r.json["requestId"] == r.headers["X-Request-Id"]  # type: ignore[index]
    (line,) = lines(capsys.readouterr().err)
    assert line["status"] == 404 and line["path"] == "/nothing/here" and "route" not in line


def test_bodies_query_strings_and_passwords_stay_out_of_the_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = create_app(ServiceConfig(rpc_url=DEAD_RPC, registry=REGISTRY, database_url=DEAD_POSTGRES))
    client = app.test_client()
    capsys.readouterr()
    client.post("/api/v1/verify?email=holder%40private.example", json={"secretMarker": "BODY-7c1e", "proof": {}})
    client.get("/api/v1/credentials/urn:uuid:00000000-0000-4000-8000-000000000000/status")  # database down: logged
    client.get("/readyz")
    err = capsys.readouterr().err
    logged = lines(err)
    assert len(logged) >= 4
    for secret in ("BODY-7c1e", "holder", "private.example", PG_PASSWORD, "rpc-pa55"):
        assert secret not in err, secret


def test_gunicorn_writes_json_lines_with_the_request_id(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with gunicorn(rpc_url=DEAD_RPC, registry=REGISTRY, db_url=f"sqlite:///{home / 'anchor.db'}", home=home, workers=2,
                  threads=2) as url:
        r = requests.get(url + "/healthz", headers={"X-Request-Id": "edge-42"}, timeout=10)
        assert r.headers["X-Request-Id"] == "edge-42"
        hostile = requests.get(url + "/healthz", headers={"X-Request-Id": "no way\t"}, timeout=10).headers["X-Request-Id"]
        assert FRESH.fullmatch(hostile)
    logged = lines(gunicorn_log(home))
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["msg"] for line in logged)  # gunicorn's own
    access = [line for line in logged if line["logger"] == "anchor.access" and line.get("request_id") == "edge-42"]
    assert len(access) == 1 and access[0]["route"] == "/healthz" and access[0]["status"] == 200
    assert [line["request_id"] for line in logged if line.get("request_id") == hostile] == [hostile]
    assert not [line for line in logged if line["logger"] == "gunicorn.access"]  # the app's access line only
