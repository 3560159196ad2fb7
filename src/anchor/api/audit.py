"""Read-only audit views: the registry's history (paginated), one issuer's timeline, one batch
with its revocations. All rebuilt from the chain's events, synced incrementally per block."""

from __future__ import annotations

from typing import Any

from anchor.core.addresses import checksum as to_checksum_address
from anchor.core.addresses import is_address
from flask import Blueprint, Response, request

from anchor.api.credentials import json_response, service
from anchor.api.openapi import PROBLEM, operation, path_param, query_param
from anchor.chain.reader import LogEvent
from anchor.core.errors import InputError, NotFound
from anchor.core.bitmap import from_words
from anchor.core.proof import parse_root
from anchor.app.revoking import REASON_NAMES
from anchor.core.timefmt import format_ts, from_unix

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit")
MAX_LIMIT = 500


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
        args["reasonName"] = REASON_NAMES.get(int(args["reason"]), f"code {args['reason']}")
    return {"event": ev.name, "block": ev.block_number, "time": format_ts(from_unix(ev.block_time)),
            "transaction": "0x" + ev.tx_hash.hex(), "logIndex": ev.log_index, "args": args}


def _int_arg(name: str, default: int, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise InputError(f"query parameter {name} must be a non-negative integer, got {raw!r}")
    value = int(raw)
    return min(value, maximum) if maximum is not None else value


@bp.get("/history")
@operation(
    summary="Every registry event, oldest first, paginated",
    tag="audit",
    parameters=[query_param("offset", "Events to skip", {"type": "integer", "minimum": 0}),
                query_param("limit", f"Events per page (at most {MAX_LIMIT})", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT})],
    responses={200: ("A page of events", {"type": "object"}), 422: ("Bad paging parameter", PROBLEM), 503: ("Chain unavailable", PROBLEM)},
)
def history() -> Response:
    offset = _int_arg("offset", 0)
    limit = max(1, _int_arg("limit", 100, MAX_LIMIT))
    events, state = service().history()
    page = events[offset : offset + limit]
    nxt = offset + limit if offset + limit < len(events) else None
    return json_response({"total": len(events), "offset": offset, "limit": limit, "next": nxt, "toBlock": state.last_block,
                          "events": [event_json(e) for e in page]})


@bp.get("/issuers/<address>")
@operation(
    summary="One issuer's timeline: additions, removals, batches, revocations",
    tag="audit",
    parameters=[path_param("address", "Issuer account", r"^0x[0-9a-fA-F]{40}$")],
    responses={200: ("The timeline", {"type": "object"}), 404: ("Never an issuer", PROBLEM), 422: ("Not an address", PROBLEM),
               503: ("Chain unavailable", PROBLEM)},
)
def issuer_timeline(address: str) -> Response:
    if not is_address(address):
        raise InputError(f"not an address: {address!r}")
    who = to_checksum_address(address)
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
    b = state.batches.get(raw)
    if b is None:
        raise NotFound(f"root 0x{value} was never anchored in this registry")
    related = [e for e in events if e.args.get("root") == raw]
    return json_response({
        "merkleRoot": "0x" + raw.hex(), "issuer": b.issuer, "leafCount": b.leaf_count, "block": b.block,
        "anchoredAt": format_ts(from_unix(b.time)), "transaction": "0x" + b.tx_hash.hex(),
        "revokedAsWhole": b.revoked_block is not None, "revokedIndices": len(state.revoked_indices(raw)),
        "events": [event_json(e) for e in related],
    })
