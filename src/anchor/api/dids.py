"""DID documents of the issuers this service serves, built from the registry alone.

``did:web:<host>:issuers:<address>`` resolves (for other verifiers) to
``https://<host>/issuers/<address>/did.json``; ``did:web:<host>`` to
``https://<host>/.well-known/did.json``. The document lists every Ed25519 key the account ever
bound in the registry (oldest first), so a rotated key keeps verifying what it signed; the
service holds no key and no DID of its own: both come from the chain.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from anchor.api.credentials import json_response, service
from anchor.api.openapi import PROBLEM, operation, path_param
from anchor.core.addresses import checksum, is_address
from anchor.core.did import did_document, did_web_path
from anchor.core.errors import InputError, NotFound

bp = Blueprint("dids", __name__)

_DID_JSON = "application/did+json"


def _document_for(address: str) -> dict[str, object]:
    from anchor.core.ed25519 import public_multibase

    view = service().view
    info = view.issuer_info(address)
    if not info.id:
        raise NotFound(f"{address} is not an issuer of registry {view.address}")
    did = info.profile_uri
    if not did.startswith("did:"):
        raise NotFound(f"issuer {address} is named by {did!r}, not by a DID")
    keys = [public_multibase(k.public_key) for k in view.signing_keys(address)]
    return did_document(did, keys)


def _respond(document: dict[str, object]) -> Response:
    response = json_response(document, cache="public, max-age=60")
    response.content_type = _DID_JSON
    return response


@bp.get("/issuers/<address>/did.json")
@operation(
    summary="The DID document of an issuer (its keys, from the registry)",
    tag="registry",
    parameters=[path_param("address", "The issuer's account address", r"^0x[0-9a-fA-F]{40}$")],
    responses={200: ("The DID document", {"type": "object"}, (_DID_JSON,)), 404: ("Not an issuer named by a DID", PROBLEM),
               422: ("Not an address", PROBLEM), 503: ("Chain unavailable", PROBLEM)},
)
def issuer_did(address: str) -> Response:
    if not is_address(address.lower()):
        raise InputError(f"{address!r} is not an account address")
    return _respond(_document_for(checksum(address.lower())))


@bp.get("/.well-known/did.json")
@operation(
    summary="The DID document of the issuer named did:web:<this host>",
    tag="registry",
    responses={200: ("The DID document", {"type": "object"}, (_DID_JSON,)), 404: ("No issuer is named by this host", PROBLEM),
               503: ("Chain unavailable", PROBLEM)},
)
def host_did() -> Response:
    host = (request.host or "").lower()
    for info in service().view.issuers():
        did = info.profile_uri
        if did.startswith("did:web:"):
            did_host, path = did_web_path(did)
            if not path and did_host.lower() == host:
                return _respond(_document_for(info.address))
    raise NotFound(f"no issuer of this registry is named did:web for host {host!r}")
