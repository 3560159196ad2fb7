"""Errors as RFC 9457 ``application/problem+json`` documents."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

from anchor.core.errors import AnchorError, ChainUnavailable, ConfigError, InputError, NotFound, StoreError, VerificationError

PROBLEM_TYPE = "https://anchor.example/problems/"
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """Raise from a view to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str, *, kind: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra
        self.kind = kind or title.lower().replace(" ", "-")


def problem_response(status: int, title: str, detail: str, kind: str, **extra: Any) -> Response:
    body = {"type": PROBLEM_TYPE + kind, "title": title, "status": status, "detail": detail, "instance": request.path}
    body.update(extra)
    return Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE)


_FAMILY: list[tuple[type[AnchorError], int, str]] = [
    (NotFound, 404, "Not Found"),
    (InputError, 422, "Unprocessable Content"),
    (VerificationError, 422, "Unprocessable Content"),
    (ChainUnavailable, 503, "Chain Unavailable"),
    (StoreError, 503, "Database Unavailable"),
    (ConfigError, 500, "Service Misconfigured"),
    (AnchorError, 502, "Chain Error"),
]


def install(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(e: Problem) -> Response:
        return problem_response(e.status, e.title, e.detail, e.kind, **e.extra)

    @app.errorhandler(AnchorError)
    def _anchor_error(e: AnchorError) -> Response:
        status, title = next((s, t) for kind, s, t in _FAMILY if isinstance(e, kind))
        if status >= 500:
            app.logger.warning("%s: %s", type(e).__name__, e.message)
        return problem_response(status, title, e.message, e.reason.replace("_", "-"))

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException) -> Response:
        status = e.code or 500
        detail = e.description or ""
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            detail = f"the request body is larger than the {limit:,}-byte limit" if limit else detail
        return problem_response(status, e.name, detail, e.name.lower().replace(" ", "-"))

    @app.errorhandler(Exception)
    def _unexpected(e: Exception) -> Response:  # never a stack trace to the client
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(500, "Internal Server Error", "an unexpected error occurred; it has been logged", "internal-error")
