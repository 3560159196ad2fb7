"""Read-only audit views: the registry's history (paginated), one issuer's timeline, one batch
with its revocations. All rebuilt from the chain's events, synced incrementally per block."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response

from anchor.api.credentials import json_response, service
from anchor.api.openapi import PROBLEM, operation, path_param
from anchor.api.params import IntParam
from anchor.core.addresses import checksum as to_checksum_address
from anchor.core.bitmap import from_words
from anchor.core.errors import InputError, NotFound
from anchor.core.proof import parse_root
from anchor.core.registry import LogEvent, RevocationReason
from anchor.core.timefmt import format_ts, from_unix

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit")
MAX_LIMIT = 500
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
OFFSET = IntParam("offset", "Events to skip", default=0, minimum=0, maximum=1_000_000_000)
LIMIT = IntParam("limit", "Events per page", default=100, minimum=1, maximum=MAX_LIMIT)


def _value(v: Any) -> Any:
    if isinstance(v, bytes):
        return "0x" + v.hex()
    if isinstance(v, tuple | list):
        return [_value(x) for x in v]
    return v


def event_json(ev: LogEvent) -> dict[str, Any]:
    args = {k: _value(v) for k, v in ev.args.items()}
    if ev.name == "CredentialsRevoked":
        args["indices"] = from_words(ev.args["words"])
        del args["words"]
    if "reason" in args:
        args["reasonName"] = RevocationReason.label_of(int(args["reason"]))
    return {"event": ev.name, "block": ev.block_number, "time": format_ts(from_unix(ev.block_time)),
            "transaction": "0x" + ev.tx_hash.hex(), "logIndex": ev.log_index, "args": args}


@bp.get("/history")
@operation(
    summary="Every registry event, oldest first, paginated",
    tag="audit",
    parameters=[OFFSET.spec(), LIMIT.spec()],
    responses={200: ("A page of events", {"type": "object"}),
               422: ("A paging parameter that is not an integer in its range", PROBLEM), 503: ("Chain unavailable", PROBLEM)},
)
def history() -> Response:
    offset, limit = OFFSET.get(), LIMIT.get()
    events, state = service().history()
    page = events[offset : offset + limit]
    nxt = offset + limit if offset + limit < len(events) else None
    return json_response({"total": len(events), "offset": offset, "limit": limit, "next": nxt, "toBlock": state.last_block,
                          "events": [event_json(e) for e in page]})


@bp.get("/issuers/<address>")
@operation(
    summary="One issuer's timeline: additions, removals, batches, revocations",
    tag="audit",
    parameters=[path_param("address", "Issuer account, in any letter case (the answer carries its EIP-55 form)", ADDRESS.pattern)],
    responses={200: ("The timeline", {"type": "object"}), 404: ("Never an issuer", PROBLEM), 422: ("Not an address", PROBLEM),
               503: ("Chain unavailable", PROBLEM)},
)
def issuer_timeline(address: str) -> Response:
    if not ADDRESS.fullmatch(address):
        raise InputError(f"not an address (0x and 40 hex digits): {address[:60]!r}")
    # Any case: a lookup with a mistyped address finds nothing (404); nothing is sent or signed.
    who = to_checksum_address(address.lower())
    events, state = service().history()
    record = state.issuers.get(who)
    if record is None:
        raise NotFound(f"{who} was never an issuer of this registry")
    mine = [e for e in events if who in (e.args.get("issuer"), e.args.get("by"))]
    return json_response({"address": who, "id": record.id, "profileURI": record.profile_uri, "active": record.active,
                          "batches": sum(1 for b in state.batches.values() if b.issuer == who),
                          "timeline": [event_json(e) for e in mine]})


@bp.get("/batches/<root>")
@operation(
    summary="One batch with its revocations",
    tag="audit",
    parameters=[path_param("root", "The batch's Merkle root", r"^(0x)?[0-9a-fA-F]{64}$")],
    responses={200: ("The batch and its revocations", {"type": "object"}), 404: ("Never anchored", PROBLEM),
               422: ("Not a root", PROBLEM), 503: ("Chain unavailable", PROBLEM)},
)
def batch(root: str) -> Response:
    raw = parse_root(root)
    value = raw.hex()
    events, state = service().history()
    found = [b for (_, root), b in state.batches.items() if root == raw]
    if not found:  # anchored since the cached head? look again before saying "never"
        events, state = service().history(fresh=True)
        found = [b for (_, root), b in state.batches.items() if root == raw]
    if not found:
        raise NotFound(f"root 0x{value} was never anchored in this registry")
    # A batch is (issuer, root): the same root anchored by several issuers is several batches; the
    # first anchoring is shown, and every batch of the root is listed.
    b = min(found, key=lambda x: (x.block, x.issuer))
    related = [e for e in events if e.args.get("root") == raw and e.args.get("issuer") == b.issuer]
    return json_response({
        "merkleRoot": "0x" + raw.hex(), "issuer": b.issuer, "leafCount": b.leaf_count, "block": b.block,
        "anchoredAt": format_ts(from_unix(b.time)), "transaction": "0x" + b.tx_hash.hex(),
        "revokedAsWhole": b.revoked_block is not None, "revokedIndices": len(state.revoked_indices(b.issuer, raw)),
        "events": [event_json(e) for e in related],
        "issuers": [x.issuer for x in sorted(found, key=lambda x: (x.block, x.issuer))],
    })
