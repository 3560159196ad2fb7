"""``/healthz`` (liveness) and ``/readyz`` (readiness), for load balancers and orchestrators.

Liveness answers "is this process up?": cheap, touches no dependency, always 200 while the
worker can answer at all, so a database outage never gets healthy workers restarted. Readiness
answers "can this instance serve?": the issuer database has anchor's tables at the schema
version this code expects, and the chain answers with the registry's code at the configured
address. A failed check is a 503 problem document naming the dependency and a reason code; the
underlying error (which can carry a DSN, host or RPC URL) goes to the server log only.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app

from anchor.api.credentials import json_response, service
from anchor.api.openapi import operation
from anchor.api.problems import problem_response, redact
from anchor.core.errors import AnchorError, ChainUnavailable
from anchor.store import SCHEMA_VERSION

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@operation(
    summary="Liveness: the process is up (no dependency is checked)",
    tag="health",
    responses={200: ("Alive", {"$ref": "#/components/schemas/Liveness"})},
)
def healthz() -> Response:
    return json_response({"status": "ok"}, cache="no-store")


def _log(dependency: str, reason: str, e: AnchorError) -> None:
    current_app.logger.warning("readiness: %s not ready (%s): %s: %s", dependency, reason, type(e).__name__, redact(e.message))


def _database() -> dict[str, Any]:
    svc = service()
    if svc.config.database_url is None:
        return {"ok": True, "configured": False}
    try:
        missing, version = svc.store.schema_state()
    except AnchorError as e:
        _log("database", "database_unavailable", e)
        return {"ok": False, "configured": True, "reason": "database_unavailable"}
    if missing:
        return {"ok": False, "configured": True, "reason": "schema_missing", "missingTables": len(missing)}
    if version != SCHEMA_VERSION:
        return {"ok": False, "configured": True, "reason": "schema_version_mismatch", "schemaVersion": version,
                "expectedSchemaVersion": SCHEMA_VERSION}
    return {"ok": True, "configured": True, "schemaVersion": version}


def _chain() -> dict[str, Any]:
    view = service().view
    try:
        head = view.chain.block_number()  # uncached: readiness asks the node itself
        if not view.code_matches():
            return {"ok": False, "reason": "registry_code_mismatch", "block": head}
        return {"ok": True, "block": head, "chainId": view.chain_id, "registry": view.address}
    except AnchorError as e:
        reason = "chain_unavailable" if isinstance(e, ChainUnavailable) else "chain_error"
        _log("chain", reason, e)
        return {"ok": False, "reason": reason}


@bp.get("/readyz")
@operation(
    summary="Readiness: the issuer database has the expected schema and the chain answers",
    tag="health",
    responses={200: ("Ready", {"$ref": "#/components/schemas/Readiness"}),
               503: ("Not ready: which dependency failed, and why", {"$ref": "#/components/schemas/NotReady"})},
)
def readyz() -> Response:
    started = time.perf_counter()
    checks = {"database": _database(), "chain": _chain()}
    took = round((time.perf_counter() - started) * 1000, 1)
    failed = [name for name, check in checks.items() if not check["ok"]]
    if not failed:
        return json_response({"status": "ready", **checks, "tookMs": took}, cache="no-store")
    detail = "not ready: " + "; ".join(f"{name} ({checks[name]['reason']})" for name in failed)
    return problem_response(503, "Service Unavailable", detail, "not-ready", headers={"Retry-After": "5", "Cache-Control": "no-store"},
                            failed=failed, checks=checks, tookMs=took)
