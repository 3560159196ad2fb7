"""``GET /status/<issuer address>/<list number>``: the issuer's signed Bitstring Status Lists.

Credentials name these URLs in their ``credentialStatus``; any verifier (openbadgeslib, a wallet,
@digitalbazaar/vc) fetches them to see revocations without a chain client. The documents are
generated from the chain and signed by ``anchor.app.status_lists``; this only serves what is
stored, byte for byte. Cached briefly (a revocation shows within a minute), readable from any
origin (browser-based verifiers fetch it cross-site).
"""

from __future__ import annotations

import hashlib
import re

from flask import Blueprint, Response, request

from anchor.api.credentials import service
from anchor.api.openapi import PROBLEM, operation, path_param
from anchor.core.addresses import checksum as to_checksum_address
from anchor.core.errors import InputError, NotFound

bp = Blueprint("status_lists", __name__)
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
NUMBER = re.compile(r"^[0-9]{1,9}$")
MEDIA = ("application/vc+ld+json", "application/json", "application/ld+json")  # the first is the default
CACHE = "public, max-age=60"


@bp.get("/status/<address>/<list_number>")
@operation(
    summary="One of an issuer's signed Bitstring Status Lists (W3C), as credentials name it",
    tag="status",
    description="A BitstringStatusListCredential with the issuer's Data Integrity proof, generated from the chain's "
                "revocations: bit i of list n is the credential with status index n·131072 + i. Served as "
                "application/vc+ld+json (application/json or application/ld+json when asked for). Cached for 60 s.",
    parameters=[path_param("address", "Issuer account, in any letter case", ADDRESS.pattern),
                path_param("list_number", "The list's number (0 for an issuer's first 131,072 credentials)", NUMBER.pattern)],
    responses={200: ("The signed status list credential", {"$ref": "#/components/schemas/StatusListCredential"}, MEDIA),
               404: ("No such list of this issuer", PROBLEM), 422: ("Not an address or not a list number", PROBLEM),
               503: ("Database unavailable", PROBLEM)},
)
def status_list(address: str, list_number: str) -> Response:
    if not ADDRESS.fullmatch(address):
        raise InputError(f"not an address (0x and 40 hex digits): {address[:60]!r}")
    if not NUMBER.fullmatch(list_number):
        raise InputError(f"a list number is a non-negative integer of at most 9 digits: {list_number[:60]!r}")
    who = to_checksum_address(address.lower())
    found = service().store.status_list_of(who, int(list_number))
    if found is None:
        raise NotFound(f"issuer {who} publishes no status list {int(list_number)} here")
    body = found.document.encode()
    mimetype = request.accept_mimetypes.best_match(MEDIA, default=MEDIA[0]) or MEDIA[0]
    r = Response(body, mimetype=mimetype)
    r.headers["Cache-Control"] = CACHE
    r.headers["Vary"] = "Accept"
    r.headers["Access-Control-Allow-Origin"] = "*"
    r.set_etag(hashlib.sha256(body).hexdigest()[:32])
    r.make_conditional(request)  # 304 for a matching If-None-Match
    return r
