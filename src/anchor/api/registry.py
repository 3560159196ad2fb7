"""Public views of the registry: one batch, the issuers; and ``/healthz``."""

from __future__ import annotations

import time

from flask import Blueprint, Response

from anchor.api.credentials import json_response, service
from anchor.api.openapi import PROBLEM, operation, path_param
from anchor.chain.client import IssuerInfo
from anchor.core.errors import AnchorError, NotFound
from anchor.core.proof import parse_root
from anchor.core.timefmt import format_ts, from_unix

bp = Blueprint("registry", __name__)


def _issuer_json(i: IssuerInfo) -> dict[str, object]:
    return {"address": i.address, "id": i.id, "active": i.active, "profileURI": i.profile_uri,
            "addedAt": format_ts(from_unix(i.added_at)), "removedAt": format_ts(from_unix(i.removed_at)) if i.removed_at else None}


@bp.get("/api/v1/batches/<root>")
@operation(
    summary="An anchored batch, as the registry records it",
    tag="registry",
    parameters=[path_param("root", "The batch's Merkle root, 32 bytes of hex", r"^(0x)?[0-9a-fA-F]{64}$")],
    responses={200: ("The batch", {"$ref": "#/components/schemas/Batch"}), 404: ("Never anchored", PROBLEM),
               422: ("Not a root", PROBLEM), 503: ("Chain unavailable", PROBLEM)},
)
def batch(root: str) -> Response:
    raw = parse_root(root)
    value = raw.hex()
    view = service().view
    info = view.batch(raw)
    if not info.anchored:
        raise NotFound(f"root 0x{value} was never anchored in registry {view.address}")
    return json_response({
        "merkleRoot": "0x" + raw.hex(), "issuer": info.issuer, "leafCount": info.leaf_count,
        "anchoredAt": format_ts(from_unix(info.anchored_at)), "blockNumber": info.anchored_block,
        "revoked": info.revoked_at != 0, "revokedAt": format_ts(from_unix(info.revoked_at)) if info.revoked_at else None,
        "chainId": view.chain_id, "registry": view.address,
    })


@bp.get("/api/v1/issuers")
@operation(
    summary="Every issuer account the registry ever authorized",
    tag="registry",
    responses={200: ("The issuers", {"$ref": "#/components/schemas/Issuers"}), 503: ("Chain unavailable", PROBLEM)},
)
def issuers() -> Response:
    view = service().view
    return json_response({"registry": view.address, "chainId": view.chain_id, "issuers": [_issuer_json(i) for i in view.issuers()]})


@bp.get("/healthz")
@operation(
    summary="Database and chain reachability",
    tag="health",
    responses={200: ("Everything reachable", {"$ref": "#/components/schemas/Health"}),
               503: ("Something is not", {"$ref": "#/components/schemas/Health"})},
)
def healthz() -> Response:
    svc = service()
    body: dict[str, object] = {}
    ok = True
    started = time.perf_counter()
    try:
        if svc.config.database_url is None:
            body["database"] = {"ok": True, "configured": False}
        else:
            svc.store.ping()
            body["database"] = {"ok": True, "configured": True}
    except AnchorError as e:
        ok = False
        body["database"] = {"ok": False, "error": e.message}
    try:
        head = int(svc.view.rpc([("eth_blockNumber", [])])[0], 16)
        body["chain"] = {"ok": svc.view.code_matches(), "block": head, "chainId": svc.view.chain_id, "registry": svc.view.address}
        ok = ok and bool(body["chain"]["ok"])  # type: ignore[index]
    except AnchorError as e:
        ok = False
        body["chain"] = {"ok": False, "error": e.message}
    body["status"] = "ok" if ok else "degraded"
    body["tookMs"] = round((time.perf_counter() - started) * 1000, 1)
    return json_response(body, 200 if ok else 503, cache="no-store")
