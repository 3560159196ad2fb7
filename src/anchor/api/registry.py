"""Public views of the registry: one batch, the issuers."""

from __future__ import annotations

from flask import Blueprint, Response

from anchor.api.credentials import json_response, service
from anchor.api.openapi import PROBLEM, operation, path_param
from anchor.core.errors import NotFound
from anchor.core.proof import parse_root
from anchor.core.registry import IssuerInfo
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
    found = view.batches_of_root(raw)
    info = found[0] if found else None
    if info is None:
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

