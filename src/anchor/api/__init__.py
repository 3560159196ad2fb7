"""The public verification service: a Flask app factory with one blueprint per area.

    gunicorn 'anchor.api:create_app()'        # settings from ANCHOR_* / anchor.toml
    anchor serve                               # the same, with the embedded defaults
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, json

from anchor.api import audit, credentials, problems, registry, verify
from anchor.api.openapi import build as build_openapi
from anchor.api.openapi import operation
from anchor.api.page import bp as page_bp
from anchor.api.service import Service, ServiceConfig
from anchor.config import Settings, load_settings


def config_from_settings(settings: Settings, **overrides: Any) -> ServiceConfig:
    values: dict[str, Any] = {
        "rpc_url": settings.rpc_url,
        "registry": settings.registry_address(),
        "database_url": settings.db_url,
        "confirmations": settings.confirmations,
    }
    values.update(overrides)
    return ServiceConfig(**values)


def create_app(config: ServiceConfig | None = None) -> Flask:
    """Build the app. Without ``config``, settings come from the environment / ``anchor.toml``."""
    config = config or config_from_settings(load_settings())
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["anchor"] = Service(config)
    problems.install(app)
    for bp in (credentials.bp, verify.bp, registry.bp, audit.bp, page_bp):
        app.register_blueprint(bp)

    openapi_cache: dict[str, str] = {}

    @app.get("/openapi.json")
    @operation(summary="This document", tag="meta", responses={200: ("OpenAPI 3.1", {"type": "object"})})
    def openapi() -> Response:
        if "doc" not in openapi_cache:
            openapi_cache["doc"] = json.dumps(build_openapi(app))
        return Response(openapi_cache["doc"], mimetype="application/json")

    return app
