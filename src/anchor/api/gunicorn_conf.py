"""gunicorn settings for the public service: ``gunicorn -c python:anchor.api.gunicorn_conf ...``.

Request-size limits come from :mod:`anchor.api.limits`. gunicorn answers requests it refuses
before the app sees them (a request line or header past its limits, a malformed request line)
with a small HTML page; :func:`post_fork` replaces that writer in each worker with one that
sends an RFC 9457 problem document, so a client of this API never gets HTML for an error.

Metrics: before the workers start, ``PROMETHEUS_MULTIPROC_DIR`` points at
``$ANCHOR_HOME/service/metrics/<bind address>`` (a fresh temporary directory without
``ANCHOR_HOME``; an operator's own setting is kept as is), emptied of the last run's files, so
``/metrics`` sums the counters of every worker of this run; :func:`child_exit` tells
prometheus-client a worker is gone.

Logs: gunicorn's own lines are JSON like the app's (:mod:`anchor.api.logs`), on stderr; gunicorn's
access log stays off, the app writes one access line per request with its request id.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
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

accesslog = None  # the app's access line (JSON, with the request id) instead
# gunicorn >= 25 opens a control socket at one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl or
# ~/.gunicorn/gunicorn.ctl): replicas on one host would take it over from each other, and one stopping
# would unlink it under the rest (and a read-only home under systemd's ProtectSystem logs an error).
# anchor does not use it (`anchor serve --stop` signals the pid).
control_socket_disable = True
_JSON_STDERR = {"class": "anchor.api.logs.StderrHandler", "formatter": "json"}
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "anchor.api.logs.JsonFormatter"}},
    "handlers": {"json_stderr": _JSON_STDERR},
    "root": {"level": "WARNING", "handlers": ["json_stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["json_stderr"], "propagate": False, "qualname": "gunicorn.error"},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False, "qualname": "gunicorn.access"},
    },
}

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


_OPERATORS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")


_TEMPORARY: list[Path] = []  # a directory made here, removed when the master exits


def metrics_dir() -> Path:
    """Where the workers keep their counters: the operator's ``PROMETHEUS_MULTIPROC_DIR``, else
    ``$ANCHOR_HOME/service/metrics``, else a new temporary directory."""
    if _OPERATORS_DIR:
        return Path(_OPERATORS_DIR)
    home = os.environ.get("ANCHOR_HOME")
    if home:
        return Path(home) / "service" / "metrics"
    _TEMPORARY.append(Path(tempfile.mkdtemp(prefix="anchor-metrics-")))
    return _TEMPORARY[-1]


# Set when gunicorn reads this file, in the master: before any app is loaded (even with --preload),
# so prometheus-client starts in multiprocess mode in every worker.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir())


# The files prometheus-client's multiprocess mode writes: <type>_<pid>.db (gauges: gauge_<mode>_<pid>.db).
_PROMETHEUS_FILE = re.compile(r"(?:counter|histogram|summary|gauge_[a-z]+)_\d+\.db")


def on_starting(server: Any) -> None:
    """In the master, before any worker: an empty metrics directory of this service's own. Replicas
    sharing one home (one per port) each get a subdirectory named by their bind address, so no
    replica sums or wipes another's counters."""
    d = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if not _OPERATORS_DIR:
        d = d / re.sub(r"[^A-Za-z0-9.-]+", "_", "+".join(server.cfg.bind)).strip("_")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(d)
    d.mkdir(parents=True, exist_ok=True)
    for stale in d.glob("*.db"):  # counters of a previous run: prometheus-client's own files only
        if _PROMETHEUS_FILE.fullmatch(stale.name):  # (an operator's directory may hold anchor.db)
            stale.unlink(missing_ok=True)


def on_exit(server: Any) -> None:
    for d in _TEMPORARY:
        shutil.rmtree(d, ignore_errors=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_fork(server: Any, worker: Any) -> None:
    from gunicorn import util

    util.write_error = write_problem


def freeze_heap() -> None:
    """Move every object alive now (the app, its modules, schemas and contexts: hundreds of
    thousands) out of the garbage collector's sight: a full collection then walks only what
    requests allocate, instead of pausing each worker for tens of milliseconds. Call it once the
    app is loaded."""
    import gc

    gc.collect()
    gc.freeze()


def post_worker_init(worker: Any) -> None:
    freeze_heap()
