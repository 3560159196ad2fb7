"""Errors as RFC 9457 ``application/problem+json`` documents.

Client errors (4xx) say what was wrong with the request. Server-side failures (5xx) say only which
dependency failed, in a fixed sentence with a stable ``reason`` code: the underlying message can
hold a DSN, a host and port, an RPC URL with an API key in it, or SQL text, so it goes to the
server's log (credentials masked) and never to the client.
"""

from __future__ import annotations

import re
import traceback
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

from anchor.core.errors import (
    AnchorError,
    ChainError,
    ChainUnavailable,
    ConfigError,
    InputError,
    NotFound,
    StoreError,
    VerificationError,
)

PROBLEM_TYPE = "https://anchor.example/problems/"
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """Raise from a view to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str, *, kind: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra
        self.kind = kind or title.lower().replace(" ", "-")
        self.headers = headers or {}


def problem_response(status: int, title: str, detail: str, kind: str, *, headers: dict[str, str] | None = None,
                     **extra: Any) -> Response:
    """A problem document; ``kind`` is the last segment of its ``type`` and, in snake_case, its
    ``reason`` (the code clients match on)."""
    body = {"type": PROBLEM_TYPE + kind, "title": title, "status": status, "detail": detail, "instance": request.path,
            "reason": kind.replace("-", "_")}
    body.update(extra)
    r = Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        r.headers[name] = value
    return r


# Client errors keep their message (it describes the request); server errors get a fixed sentence.
_CLIENT: list[tuple[type[AnchorError], int, str]] = [
    (NotFound, 404, "Not Found"),
    (InputError, 422, "Unprocessable Content"),
    (VerificationError, 422, "Unprocessable Content"),
]
# (family, status, title, reason, detail); the first family the error is an instance of wins.
_SERVER: list[tuple[type[AnchorError], int, str, str, str]] = [
    (ChainUnavailable, 503, "Chain Unavailable", "chain_unavailable", "the chain is unavailable"),
    (StoreError, 503, "Database Unavailable", "database_unavailable", "the issuer database is unavailable"),
    (ConfigError, 500, "Service Misconfigured", "service_misconfigured",
     "the service is misconfigured for this request; the operator has been told"),
    (ChainError, 502, "Chain Error", "chain_error", "the chain gave an unexpected answer"),
    (AnchorError, 500, "Internal Server Error", "internal_error", "an unexpected error occurred; it has been logged"),
]

# user:password@ in URLs, and key=value credentials in libpq-style DSNs and query strings.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*@", re.I)
_KEY_VALUE = re.compile(r"(?P<head>\b(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|key)\s*=\s*)[^\s&;,'\"]+", re.I)


def redact(text: str) -> str:
    """``text`` with passwords and keys in URLs and DSNs replaced by ``***``: safe for a log."""
    return _KEY_VALUE.sub(r"\g<head>***", _URL_PASSWORD.sub(r"\g<head>***@", text))


def server_problem(app: Flask, e: AnchorError) -> Response:
    """The client's view of a server-side failure: which dependency, never its details."""
    status, title, reason, detail = next((s, t, r, d) for kind, s, t, r, d in _SERVER if isinstance(e, kind))
    cause = f" (caused by {type(e.__cause__).__name__}: {e.__cause__})" if e.__cause__ is not None else ""
    app.logger.warning("%s %s -> %d %s: %s: %s%s", request.method, request.path, status, reason, type(e).__name__,
                       redact(e.message), redact(cause))
    headers = {"Retry-After": "5"} if status == 503 else None
    if isinstance(e, ChainError) and not isinstance(e, ChainUnavailable) and e.reason != ChainError.reason:
        return problem_response(status, title, detail, reason.replace("_", "-"), headers=headers, cause=e.reason)
    return problem_response(status, title, detail, reason.replace("_", "-"), headers=headers)


def install(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(e: Problem) -> Response:
        return problem_response(e.status, e.title, e.detail, e.kind, headers=e.headers, **e.extra)

    @app.errorhandler(AnchorError)
    def _anchor_error(e: AnchorError) -> Response:
        client = next(((s, t) for kind, s, t in _CLIENT if isinstance(e, kind)), None)
        if client is None:
            return server_problem(app, e)
        status, title = client
        return problem_response(status, title, e.message, e.reason.replace("_", "-"))

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException) -> Response:
        status = e.code or 500
        detail = e.description or e.name
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            detail = f"the request body is larger than the {limit:,}-byte limit" if limit else detail
        # Headers the status needs (Allow on a 405, WWW-Authenticate, ...); the body is ours.
        headers = {k: v for k, v in e.get_headers() if k.lower() != "content-type"}
        return problem_response(status, e.name, detail, e.name.lower().replace(" ", "-"), headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception) -> Response:  # never a stack trace to the client
        trace = redact("".join(traceback.format_exception(e)))
        app.logger.error("unhandled error on %s %s:\n%s", request.method, request.path, trace.rstrip())
        return problem_response(500, "Internal Server Error", "an unexpected error occurred; it has been logged", "internal-error")
