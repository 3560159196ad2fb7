"""gunicorn settings for the public service: ``gunicorn -c python:anchor.api.gunicorn_conf ...``.

Request-size limits come from :mod:`anchor.api.limits`. gunicorn answers requests it refuses
before the app sees them (a request line or header past its limits, a malformed request line)
with a small HTML page; :func:`post_fork` replaces that writer in each worker with one that
sends an RFC 9457 problem document, so a client of this API never gets HTML for an error.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from anchor.api.limits import (
    GUNICORN_LIMIT_REQUEST_FIELD_SIZE,
    GUNICORN_LIMIT_REQUEST_FIELDS,
    GUNICORN_LIMIT_REQUEST_LINE,
)
from anchor.api.problems import MEDIA_TYPE, PROBLEM_TYPE

limit_request_line = GUNICORN_LIMIT_REQUEST_LINE
limit_request_fields = GUNICORN_LIMIT_REQUEST_FIELDS
limit_request_field_size = GUNICORN_LIMIT_REQUEST_FIELD_SIZE

_DETAILS = {
    414: f"the request line is longer than the server's {GUNICORN_LIMIT_REQUEST_LINE:,}-byte limit",
    431: f"the request has more than {GUNICORN_LIMIT_REQUEST_FIELDS} header fields or one longer than "
         f"{GUNICORN_LIMIT_REQUEST_FIELD_SIZE:,} bytes",
    500: "an unexpected error occurred; it has been logged",
}


def problem_bytes(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 response carrying a problem document (the connection is closed after it)."""
    kind = reason.lower().replace(" ", "-")
    detail = _DETAILS.get(status) or message[:200] or reason
    body = json.dumps({"type": PROBLEM_TYPE + kind, "title": reason, "status": status, "detail": detail,
                       "reason": kind.replace("-", "_")}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: {MEDIA_TYPE}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def write_problem(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for ``gunicorn.util.write_error``."""
    from gunicorn import util

    util.write_nonblock(sock, problem_bytes(status_int, reason, mesg))


def post_fork(server: Any, worker: Any) -> None:
    from gunicorn import util

    util.write_error = write_problem
