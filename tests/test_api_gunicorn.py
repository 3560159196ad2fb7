"""Over real HTTP, under gunicorn as `anchor serve` runs it: over-long URLs and oversized or
malformed requests get problem documents, never gunicorn's HTML pages.

The app refuses a request target over MAX_URL_BYTES with its own 414; gunicorn's request-line
limit sits above that, and what gunicorn itself refuses is written as problem+json too.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from anchor.api.limits import GUNICORN_LIMIT_REQUEST_FIELDS, GUNICORN_LIMIT_REQUEST_LINE, MAX_URL_BYTES
from tests.api_support import DEAD_RPC, REGISTRY, gunicorn


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with no reachable chain: every request below is refused before it needs one."""
    home = tmp_path_factory.mktemp("gunicorn")
    with gunicorn(rpc_url=DEAD_RPC, registry=REGISTRY, db_url=f"sqlite:///{home / 'anchor.db'}", home=home) as base:
        yield base


def raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as is; (status, headers, body) of the answer."""
    u = urlparse(url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict[str, Any]:
    assert status == expected, body[:300]
    assert headers["content-type"] == "application/problem+json", (headers, body[:300])
    doc = json.loads(body)
    assert doc["status"] == expected and doc["detail"] and doc["reason"] and b"<html" not in body.lower()
    return doc  # type: ignore[no-any-return]


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    r = requests.get(url, timeout=10)
    return r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content


def padded(url: str, path: str, target_length: int) -> str:
    """``url`` + ``path`` + a query string making the request target exactly ``target_length`` bytes."""
    base = f"{path}?pad="
    return url + base + "a" * (target_length - len(base))


def test_a_url_at_the_documented_limit_is_served(url: str) -> None:
    status, headers, body = get(padded(url, "/healthz", MAX_URL_BYTES))
    assert status == 200 and json.loads(body) == {"status": "ok"}


@pytest.mark.parametrize("length", [MAX_URL_BYTES + 1, 5000, GUNICORN_LIMIT_REQUEST_LINE - 100])
def test_a_url_over_the_limit_gets_the_apps_414(url: str, length: int) -> None:
    """Longer than gunicorn's default 4094-byte request line: the configured limit lets it reach
    the app, which answers with the documented limit."""
    doc = problem(*get(padded(url, "/api/v1/issuers", length)), 414)
    assert doc["reason"] == "uri_too_long" and f"{MAX_URL_BYTES:,}" in doc["detail"] and f"{length:,}" in doc["detail"]


def test_a_long_path_is_refused_before_routing(url: str) -> None:
    doc = problem(*get(url + "/api/v1/credentials/" + "x" * 6000 + "/proof"), 414)
    assert doc["reason"] == "uri_too_long"


def test_a_request_line_over_gunicorns_limit_is_still_a_problem_document(url: str) -> None:
    doc = problem(*get(padded(url, "/api/v1/issuers", GUNICORN_LIMIT_REQUEST_LINE + 500)), 414)
    assert doc["reason"] == "uri_too_long" and f"{GUNICORN_LIMIT_REQUEST_LINE:,}" in doc["detail"]


def test_too_many_or_too_large_headers_are_a_problem_document(url: str) -> None:
    many = {f"X-H{i}": "1" for i in range(GUNICORN_LIMIT_REQUEST_FIELDS + 5)}
    r = requests.get(url + "/healthz", headers=many, timeout=10)
    problem(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content, 431)
    r = requests.get(url + "/healthz", headers={"X-Big": "b" * 9000}, timeout=10)
    assert r.status_code in (400, 431)
    problem(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content, r.status_code)


def test_a_malformed_request_is_a_problem_document(url: str) -> None:
    doc = problem(*raw(url, b"GARBAGE\r\n\r\n"), 400)
    assert doc["reason"] == "bad_request"
    problem(*raw(url, b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n"), 400)

