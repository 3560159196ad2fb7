"""``/api/v1/credentials/<id>/proof`` and ``/status``: for credentials this issuer's database holds."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, json

from anchor.api.openapi import PROBLEM, operation, path_param
from anchor.api.service import Service

bp = Blueprint("credentials", __name__, url_prefix="/api/v1/credentials")
ID = path_param("credential_id", "The credential id: urn:uuid:<uuid> or just the uuid",
                r"^(urn:uuid:)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def service() -> Service:
    return current_app.extensions["anchor"]  # type: ignore[no-any-return]


def json_response(body: object, status: int = 200, *, cache: str | None = None) -> Response:
    r = Response(json.dumps(body), status=status, mimetype="application/json")
    if cache:
        r.headers["Cache-Control"] = cache
    return r


@bp.get("/<credential_id>/proof")
@operation(
    summary="The anchor proof of a credential",
    tag="credentials",
    description="Released only once the credential's batch is anchored with the configured confirmations. "
                "Immutable afterwards, so clients may cache it.",
    parameters=[ID],
    responses={200: ("The proof", {"$ref": "#/components/schemas/ProofResponse"}),
               404: ("Unknown credential, or not anchored yet", PROBLEM), 422: ("Not a credential id", PROBLEM),
               503: ("Database unavailable", PROBLEM)},
)
def proof(credential_id: str) -> Response:
    r = Response(service().proof_json(credential_id), mimetype="application/json")
    r.headers["Cache-Control"] = "public, max-age=86400, immutable"
    return r


@bp.get("/<credential_id>/status")
@operation(
    summary="Revocation and validity of a credential, read from the chain",
    tag="credentials",
    parameters=[ID],
    responses={200: ("The status", {"$ref": "#/components/schemas/CredentialStatus"}),
               404: ("Unknown credential", PROBLEM), 422: ("Not a credential id", PROBLEM),
               503: ("Chain or database unavailable", PROBLEM)},
)
def status(credential_id: str) -> Response:
    return json_response(service().status(credential_id, int(time.time())), cache="no-cache")
