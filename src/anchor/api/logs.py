"""Structured logs: one JSON object per line, each carrying the id of the request being handled.

Every request gets an id: the client's ``X-Request-Id`` when it is a sane token (1-64 characters
of ``[A-Za-z0-9._-]``), else a fresh one. It is echoed in the response's ``X-Request-Id`` header,
added to problem documents as ``requestId``, and to every log line written while the request is
handled. After each request one access line is written (logger ``anchor.access``): method, URL
rule, path, status and duration. Bodies, query strings (an email can be in one) and headers are
never logged; every message passes :func:`anchor.api.problems.redact` (passwords, keys in URLs
and DSNs). gunicorn's own lines use the same format (see :mod:`anchor.api.gunicorn_conf`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any, TextIO

from flask import g, has_request_context

from anchor.api.problems import redact

HEADER = "X-Request-Id"
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")
ACCESS = logging.getLogger("anchor.access")
# Fields an emitter may pass with ``extra=``; only these reach the line.
FIELDS = ("method", "route", "path", "status", "duration_ms")
MAX_PATH = 256  # characters of the path an access line keeps


def request_id(offered: str | None) -> str:
    """``offered`` when it is a sane token, else a fresh random id (32 hex digits)."""
    if offered is not None and _SANE.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: ts (UTC, ms), level, logger, msg, request_id when handling a
    request, the access fields when given, and a redacted traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        ms = int(record.msecs)
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{ms:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            # An access line is made of the method, URL rule and status only; any other can quote an error.
            "msg": record.getMessage() if record.name == ACCESS.name else redact(record.getMessage()),
        }
        rid = getattr(record, "request_id", None) or current_request_id()
        if rid is not None:
            line["request_id"] = rid
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        line["pid"] = record.process
        return json.dumps(line, ensure_ascii=False, default=str)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """A stream handler writing to whatever ``sys.stderr`` is now (a test's capture, a redirect)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def install() -> None:
    """JSON lines on stderr for the ``anchor`` loggers (access lines at INFO), once per process.
    Under gunicorn the root logger already writes JSON (see :mod:`anchor.api.gunicorn_conf`) and
    the records go there; elsewhere (the app in-process) a handler on ``anchor`` writes them, and
    they still reach the root's handlers (a test's log capture)."""
    anchor = logging.getLogger("anchor")
    if anchor.level == logging.NOTSET:
        anchor.setLevel(logging.INFO)
    if any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers + anchor.handlers):
        return
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    anchor.addHandler(handler)


def access(*, request_id: str, method: str, route: str | None, path: str, status: int, started: float) -> None:
    if not ACCESS.isEnabledFor(logging.INFO):
        return
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    ACCESS.info("%s %s %d %.2fms", method, route or "unmatched", status, duration_ms,
                extra={"request_id": request_id, "method": method, "route": route, "path": path[:MAX_PATH], "status": status,
                       "duration_ms": duration_ms})
