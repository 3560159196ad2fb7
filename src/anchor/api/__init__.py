"""The public verification service: a Flask app factory with one blueprint per area.

    gunicorn -c python:anchor.api.gunicorn_conf 'anchor.api:create_app()'   # settings from ANCHOR_* / anchor.toml
    anchor serve                                                            # the same, with the embedded defaults

Limits (request target, body, gunicorn's own) are in :mod:`anchor.api.limits`; every error,
including gunicorn's, is an RFC 9457 problem document. Every request has an id, is counted in
``/metrics`` (:mod:`anchor.api.metrics`) and ends with one JSON access line (:mod:`anchor.api.logs`).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, g, json, request
from flask.logging import default_handler

from anchor.api import (
    audit,
    credentials,
    dids,
    health,
    logs,
    metrics,
    monitoring,
    pages,
    problems,
    registry,
    status_lists,
    verify,
)
from anchor.api.limits import MAX_URL_BYTES
from anchor.api.openapi import build as build_openapi
from anchor.api.openapi import operation
from anchor.api.page import bp as page_bp
from anchor.api.service import Service, ServiceConfig
from anchor.app.deployment import registry_from_settings
from anchor.chain.rpc import RetryPolicy
from anchor.config import Settings, load_settings


def config_from_settings(settings: Settings, **overrides: Any) -> ServiceConfig:
    values: dict[str, Any] = {
        "rpc_url": settings.rpc_url,
        # explicit, else the database's record, else deployment.json
        "registry": overrides.get("registry") or registry_from_settings(settings).address,
        "database_url": settings.db_url,
        "confirmations": settings.confirmations,
        "rpc_urls": settings.rpc_urls,
        "chain_id": settings.chain_id,
        "finality": settings.finality,
        "proof_cache_bytes": settings.proof_cache_bytes,
        "rpc_timeout": settings.rpc_timeout,
        "retry": RetryPolicy(budget=settings.rpc_retry_seconds, backoff=settings.rpc_backoff, cooldown=settings.rpc_cooldown),
    }
    values.update(overrides)
    return ServiceConfig(**values)


def _refuse_long_urls() -> None:
    """414 for a request target (path and query as sent) over :data:`MAX_URL_BYTES`, before
    routing: the same answer whatever the path."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    length = len(raw) if raw else len(quote(environ.get("PATH_INFO", ""))) + 1 + len(environ.get("QUERY_STRING", ""))
    if length > MAX_URL_BYTES:
        raise problems.Problem(414, "URI Too Long", f"the request target is {length:,} bytes; "
                               f"this service accepts at most {MAX_URL_BYTES:,} (path and query string)", kind="uri-too-long")


def _begin() -> None:
    g.started = time.perf_counter()
    g.request_id = logs.request_id(request.headers.get(logs.HEADER))


def _finish(response: Response) -> Response:
    """Echo the request id (also into a problem document), count the request, write its access line."""
    rid = g.get("request_id")
    if rid is None:  # a request refused before _begin ran (none is, today): still answer with an id
        _begin()
        rid = g.request_id
    response.headers[logs.HEADER] = rid
    if response.mimetype == problems.MEDIA_TYPE and not response.is_streamed:
        doc = json.loads(response.get_data())
        if isinstance(doc, dict):
            doc["requestId"] = rid
            response.set_data(json.dumps(doc))
    rule = request.url_rule.rule if request.url_rule is not None else None
    metrics.request(rule, request.method, response.status_code, time.perf_counter() - g.started)
    monitoring.sync_caches(credentials.service())
    logs.access(request_id=rid, method=request.method, route=rule, path=request.path, status=response.status_code, started=g.started)
    return response


def create_app(config: ServiceConfig | None = None) -> Flask:
    """Build the app. Without ``config``, settings come from the environment / ``anchor.toml``."""
    config = config or config_from_settings(load_settings())
    logs.install()
    metrics.start()
    app = Flask(__name__)
    app.logger.removeHandler(default_handler)  # the JSON lines of anchor.api.logs instead
    app.config["MAX_CONTENT_LENGTH"] = config.max_body
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["anchor"] = Service(config)
    problems.install(app)
    app.before_request(_begin)  # first: a request refused by the next one still has its id and timing
    app.before_request(_refuse_long_urls)
    app.after_request(_finish)
    for bp in (credentials.bp, verify.bp, registry.bp, audit.bp, health.bp, monitoring.bp, page_bp, pages.bp, status_lists.bp,
               dids.bp):
        app.register_blueprint(bp)

    openapi_cache: dict[str, str] = {}

    @app.get("/openapi.json")
    @operation(summary="This document", tag="meta", responses={200: ("OpenAPI 3.1", {"type": "object"})})
    def openapi() -> Response:
        if "doc" not in openapi_cache:
            openapi_cache["doc"] = json.dumps(build_openapi(app))
        return Response(openapi_cache["doc"], mimetype="application/json")

    return app
