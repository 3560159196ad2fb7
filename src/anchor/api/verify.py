"""``POST /api/v1/verify``: the verification report of a credential sent in the body."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from flask import Blueprint, Response, request

from anchor.api import metrics
from anchor.api.credentials import json_response, service
from anchor.api.openapi import PROBLEM, operation, query_param
from anchor.api.problems import Problem
from anchor.app.stacking import verify_stack
from anchor.app.verifying import Prepared, Verdict, Verifier, VerifyOptions
from anchor.core.errors import InputError, VerificationError
from anchor.core.forms import Presented, read_badge
from anchor.core.proof import MAX_PATH, decode_receipt, is_anchor_proof
from anchor.core.safe_input import load_json
from anchor.core.stack import components_of, presented_credentials
from anchor.core.stack_summary import stack_headline
from anchor.core.summary import headline
from anchor.core.timefmt import parse_ts
from anchor.core.verdict import prepare_presented

bp = Blueprint("verify", __name__, url_prefix="/api/v1")
MAX_EMAIL = 254  # RFC 5321's limit on a forward path
# What the view accepts, stated for clients: empty (= not given), or an address with an "@".
EMAIL_SCHEMA = {"type": "string", "maxLength": MAX_EMAIL, "anyOf": [{"maxLength": 0}, {"pattern": "@"}]}
AT_SCHEMA = {"type": "string", "anyOf": [{"maxLength": 0}, {"format": "date-time"}, {"format": "date"}]}


JSON_TYPES = ("application/json", "application/ld+json", "application/vc+ld+json", "")
OTHER_FORMS = ("application/jwt", "application/vc+jwt", "application/vc-ld+jwt", "image/png", "image/svg+xml")


HEADLINE_FACTS = 20_000  # the few members a headline names, kept per distinct body (~200 bytes each)
_facts: OrderedDict[bytes, dict[str, Any] | None] = OrderedDict()
_facts_lock = threading.Lock()


def headline_facts(raw: bytes, json_body: bool) -> dict[str, Any] | None:
    """What the human headline names from the badge itself (issuer, dates), read once per
    distinct body like the prepared badge: a badge checked again is not parsed again."""
    key = hashlib.sha256(b"%d" % json_body + raw).digest()
    hit = _facts.get(key, _facts)  # (the dict itself: not cached; None is a cached answer)
    if hit is not _facts:
        return hit  # type: ignore[return-value]
    try:
        credential = load_json(raw, what="the body") if json_body else read_badge(raw, what="the body").credential
    except InputError:
        credential = None
    facts = None
    if isinstance(credential, dict):
        issuer = credential.get("issuer")
        facts = {k: credential[k] for k in ("awardedDate", "validFrom", "validUntil") if k in credential}
        facts["issuer"] = {k: issuer[k] for k in ("id", "name") if k in issuer} if isinstance(issuer, dict) else issuer
    with _facts_lock:
        _facts[key] = facts
        if len(_facts) > HEADLINE_FACTS:
            _facts.popitem(last=False)
    return facts


def parse_presented(raw: bytes) -> Prepared:
    """A VC-JWT or baked image body, prepared (the form is told by the bytes, not the header)."""
    if not raw:
        raise Problem(400, "Bad Request", "the body is empty; send the badge", kind="empty-body")
    try:
        presented = read_badge(raw, what="the body")
    except InputError as e:
        raise Problem(422, "Unprocessable Content", e.message, kind=e.reason.replace("_", "-")) from None
    # the same limits as a JSON body (oversized proof), measured as that body would be: UTF-8, not \u escapes
    parse_body(json.dumps(presented.credential, ensure_ascii=False).encode())
    return prepare_presented(presented)


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request body as a credential object, or a 4xx problem saying what is wrong with it."""
    if not raw:
        raise Problem(400, "Bad Request", "the body is empty; send the credential JSON", kind="empty-body")
    try:
        body = load_json(raw, what="the body")
    except InputError as e:  # limits are checked before parsing: depth, size, duplicate keys
        if e.reason == "invalid_json":
            raise Problem(400, "Bad Request", e.message, kind="malformed-json") from None
        raise Problem(422, "Unprocessable Content", e.message, kind=e.reason.replace("_", "-")) from None
    if not isinstance(body, dict):
        raise Problem(422, "Unprocessable Content", f"the body must be a JSON object (a credential), not {type(body).__name__}",
                      kind="wrong-type")
    check_proof_paths(body)
    return body


def check_proof_paths(body: dict[str, Any]) -> None:
    """Refuse a proof path longer than any batch can have (before any hashing)."""
    proofs = body.get("proof")
    for p in proofs if isinstance(proofs, list) else [proofs]:
        path = p.get("path") if isinstance(p, dict) else None
        if path is None and is_anchor_proof(p):
            try:
                path = decode_receipt(p.get("proofValue")).get("path")
            except VerificationError:
                path = None  # reported by the verifier as malformed_proof
        if isinstance(path, list) and len(path) > MAX_PATH:
            raise Problem(422, "Unprocessable Content", f"the proof path has {len(path)} steps; at most {MAX_PATH} are possible",
                          kind="oversized-proof")


def parse_presentation(raw: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """A VerifiablePresentation body as (the stacked badge, the other credentials: its components),
    or None when the body is no presentation (then it is verified as a credential). The stack is
    the first credential whose evidence names another one presented, else the first naming any
    component; a presentation of a single ordinary credential is that credential, alone."""
    body = parse_body(raw)
    credentials = presented_credentials(body)
    if credentials is None or isinstance(body, list):
        return None
    if not credentials:
        raise Problem(422, "Unprocessable Content", "the presentation holds no credential object", kind="empty-presentation")
    for credential in credentials:
        check_proof_paths(credential)
    ids = {c.get("id") for c in credentials}
    named = [c for c in credentials if components_of(c)]
    stack = next((c for c in named if any(r.id in ids for r in components_of(c))), named[0] if named else None)
    if stack is None:
        if len(credentials) == 1:
            return credentials[0], []
        raise Problem(422, "Unprocessable Content", f"none of the {len(credentials)} credentials presented is a stacked badge "
                      "(one naming its components in evidence with digestMultibase); send one credential at a time",
                      kind="no-stacked-credential")
    return stack, [c for c in credentials if c is not stack]


def _presented(credential: dict[str, Any]) -> Presented:
    return Presented("json", credential, None, json.dumps(credential, ensure_ascii=False))


def stack_body(verifier: Verifier, stack: dict[str, Any], components: list[dict[str, Any]]) -> dict[str, Any]:
    """The stack report JSON, with a headline for the combined verdict and for each report in it."""
    report = verify_stack(verifier, _presented(stack), [_presented(c) for c in components])
    by_id = {str(c.get("id")): c for c in components}
    body = report.to_json()
    body["headline"] = stack_headline(report, stack, by_id)
    body["stack"]["headline"] = headline(report.stack, stack)
    for entry, result in zip(body["components"], report.components, strict=True):
        if result.report is not None:
            entry["report"]["headline"] = headline(result.report, by_id.get(result.ref.id))
    return body


@bp.post("/verify")
@operation(
    summary="Verify a credential against the chain",
    tag="verify",
    description="Runs the ordered checks (schema, proof, anchor, issuer, revocation, validity, recipient). "
                "Any verdict but `unknown` is a 200; `unknown` (the chain cannot be read) is a 503. A stacked badge sent "
                "with its components as a VerifiablePresentation is verified with each of them (matched by id, checked against "
                "the digest the stack pins, verified on chain): the answer is a StackVerificationReport.",
    parameters=[query_param("email", "Also check that the credential was issued to this email. Empty means not given "
                            "(as an HTML form sends an empty field).", EMAIL_SCHEMA),
                query_param("at", "Judge the validity window at this ISO 8601 date-time with a timezone, or date (UTC), "
                            "instead of now. Empty means not given.", AT_SCHEMA)],
    body={"$ref": "#/components/schemas/Credential"},
    responses={200: ("The report; for a stacked badge sent with its components as a VerifiablePresentation "
                     "({\"type\": [\"VerifiablePresentation\"], \"verifiableCredential\": [stack, component, ...]}), the stack report",
                     {"anyOf": [{"$ref": "#/components/schemas/VerificationReport"},
                                {"$ref": "#/components/schemas/StackVerificationReport"}]}),
               400: ("Empty or malformed JSON", PROBLEM), 413: ("Body too large", PROBLEM),
               415: ("Not JSON", PROBLEM), 422: ("Not a credential object (or a presentation without a stacked badge), bad parameter or oversized proof", PROBLEM),
               503: ("Verdict unknown: chain unreachable", {"anyOf": [{"$ref": "#/components/schemas/VerificationReport"},
                                                                       {"$ref": "#/components/schemas/StackVerificationReport"}]})},
)
def verify() -> Response:
    mimetype = request.mimetype
    if mimetype not in JSON_TYPES and mimetype not in OTHER_FORMS:
        raise Problem(415, "Unsupported Media Type", f"send the badge as application/json (or a VC-JWT as application/jwt, "
                      f"a baked image as image/png or image/svg+xml), not {mimetype}", kind="unsupported-media-type")
    raw = request.get_data(cache=False)
    svc = service()
    # A presentation (a stacked badge with its components) is told by a cheap look at the bytes first.
    presentation = parse_presentation(raw) if mimetype in JSON_TYPES and b"VerifiablePresentation" in raw else None
    if presentation is not None and not presentation[1] and not components_of(presentation[0]):
        raw, presentation = json.dumps(presentation[0], ensure_ascii=False).encode(), None  # one ordinary credential
    prepared = svc.prepared(raw, parse_body if mimetype in JSON_TYPES else parse_presented) if presentation is None else None
    at = request.args.get("at") or None  # empty is absent, for both
    email = request.args.get("email") or None
    if email is not None and ("@" not in email or len(email) > MAX_EMAIL):
        raise InputError(f"email {email[:80]!r} is not an email address (one with an @, at most {MAX_EMAIL} characters)")
    options = VerifyOptions(registry=svc.view.address, confirmations=svc.config.confirmations,
                            at=parse_ts(at, what="at") if at else None, email=email)
    verifier = Verifier(lambda _address: svc.view, options)
    if presentation is not None:
        body = stack_body(verifier, *presentation)
        status = 503 if body["verdict"] == Verdict.UNKNOWN.value else 200
        metrics.verdict(body["verdict"], "presentation")
    else:
        assert prepared is not None
        report = verifier.check(prepared)
        status = 503 if report.verdict is Verdict.UNKNOWN else 200
        body = report.to_json()
        body["headline"] = headline(report, headline_facts(raw, mimetype in JSON_TYPES))
        metrics.verdict(report.verdict.value, report.form)
    response = json_response(body, status, cache="no-store")
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response
