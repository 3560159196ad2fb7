"""The verdict in one plain sentence, for people who do not read hashes.

A :class:`~anchor.core.verdict.Report` is precise and technical ("leaf 0 of 3 leads to root
0x0845..."); an employer following a link wants to know whether to trust the badge and why.
:func:`headline` says it first, in words, from the report and the credential itself:

* ``Verified: issued by Demo University on 28 November 2026, recorded on chain 31337, not revoked``
* ``Revoked on 2 December 2026 (reason: issued in error); issued by Demo University on ...``
* ``Expired on 31 December 2028; issued by ...`` / ``Not valid yet: valid from ...``
* ``Not valid: this badge was altered after it was issued`` (and the other reasons in words:
  not anchored, unknown issuer, bad signature, ...)
* ``Pending: ...`` / ``Not confirmed: ...`` (untrusted registry) / ``Cannot check right now: ...``

Dates are in words and UTC ("28 November 2026"), never ISO strings: the page, the verify page
(through the API report's ``headline``) and the CLI all say the same. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from anchor.core.errors import AnchorError
from anchor.core.timefmt import parse_credential_ts, parse_ts
from anchor.core.verdict import Check, Report, Verdict

__all__ = ["date_in_words", "failure_in_words", "headline", "issued_on", "issuer_name", "moment_of", "pending_headline"]

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")

# Why a credential is not valid, in words, by the failed check's reason code.
_WHY: dict[str, str] = {
    "not_an_object": "this is not a credential (not a JSON object)",
    "schema_invalid": "this is not a well-formed Open Badges 3.0 credential",
    "root_mismatch": "this badge was altered after it was issued",
    "missing_proof": "this badge carries no blockchain anchor proof (not anchored)",
    "malformed_proof": "its blockchain anchor proof is malformed",
    "path_side_mismatch": "its blockchain anchor proof was tampered with",
    "root_not_anchored": "it was never recorded on the blockchain (not anchored)",
    "registry_mismatch": "it was recorded in a registry this verifier does not trust",
    "chain_mismatch": "it was recorded on another blockchain than the one checked",
    "not_a_registry": "the registry it names is not a genuine credential registry",
    "leaf_count_mismatch": "its anchor proof does not match the record on the blockchain",
    "issuer_not_authorized": "the account that recorded it is not an authorized issuer (unknown issuer)",
    "issuer_mismatch": "the issuer it names is not the one that recorded it (unknown issuer)",
    "bad_signature": "its digital signature does not match (bad signature): it was altered after it was signed",
    "signature_issuer_mismatch": "it was signed by someone other than the issuer it names (bad signature)",
    "unbound_signing_key": "it was signed with a key the issuer never registered (bad signature)",
    "signature_key_mismatch": "its two signatures are by different keys (bad signature)",
    "malformed_signature": "its digital signature is malformed (bad signature)",
    "signature_required": "its issuer's digital signature was removed (bad signature)",
    "bad_validity_dates": "its validity dates are malformed",
    "recipient_mismatch": "it was not issued to this email address",
}
# Fallback per check, for reason codes not listed above (a proof path that does not hold, ...).
_WHY_CHECK: dict[str, str] = {
    "schema": "this is not a well-formed Open Badges 3.0 credential",
    "proof": "its blockchain anchor proof does not hold",
    "anchor": "its blockchain record does not match",
    "issuer": "its issuer could not be confirmed (unknown issuer)",
    "signature": "its digital signature does not hold (bad signature)",
    "validity": "its validity dates are malformed",
    "recipient": "it was not issued to this email address",
}


def date_in_words(moment: datetime) -> str:
    """``28 November 2026`` (the UTC date; no leading zero)."""
    day = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def moment_of(value: object) -> datetime | None:
    """A credential's or a report's timestamp (ISO 8601 with a zone), or None when absent or malformed."""
    if not isinstance(value, str):
        return None
    try:
        return parse_credential_ts(value, what="date")
    except AnchorError:
        try:
            return parse_ts(value, what="date")
        except AnchorError:
            return None


def issuer_name(credential: Mapping[str, Any] | None) -> str | None:
    """The issuer's name as the credential gives it (its id when it has no name)."""
    if credential is None:
        return None
    issuer = credential.get("issuer")
    if isinstance(issuer, Mapping):
        name = issuer.get("name")
        if isinstance(name, str) and name.strip():
            return " ".join(name.split())
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) and issuer else None


def issued_on(credential: Mapping[str, Any] | None) -> datetime | None:
    """When it was issued: its ``awardedDate``, else its ``validFrom``."""
    if credential is None:
        return None
    return moment_of(credential.get("awardedDate")) or moment_of(credential.get("validFrom"))


def _issued_by(credential: Mapping[str, Any] | None) -> str:
    """``issued by Demo University on 28 November 2026`` with what is known ("" if nothing)."""
    name, when = issuer_name(credential), issued_on(credential)
    out = f"issued by {name}" if name else "issued" if when else ""
    return f"{out} on {date_in_words(when)}" if when else out


def failure_in_words(check: Check) -> str:
    """Why a failed check makes the credential not valid, in words."""
    return _WHY.get(check.reason or "", _WHY_CHECK.get(check.name, check.message or "a check failed"))


def _reason_words(label: object) -> str | None:
    if not isinstance(label, str) or label in ("unspecified", ""):
        return None
    return label.replace("_", " ")


def headline(report: Report, credential: Mapping[str, Any] | None = None) -> str:
    """The verdict as one sentence a person understands (see the module docstring).

    ``credential`` (the badge that was checked) gives the issuer's name and the dates; without it
    the sentence says what the report alone can."""
    verdict = report.verdict
    by = _issued_by(credential)
    then = f"; {by}" if by else ""
    chain = report.anchor.get("chainId") if report.anchor else None
    if verdict is Verdict.VALID:
        parts = [by] if by else []
        if chain is not None:
            parts.append(f"recorded on chain {chain}")
        parts.append("not revoked")
        until = moment_of(credential.get("validUntil")) if credential is not None else None
        tail = f"; valid until {date_in_words(until)}" if until else ""
        return "Verified: " + ", ".join(parts) + tail
    if verdict is Verdict.REVOKED:
        revocation = report.revocation or {}
        when = moment_of(revocation.get("revokedAt"))
        why = _reason_words(revocation.get("reason"))
        notes = [f"reason: {why}"] if why else []
        if revocation.get("wholeBatch"):
            notes.append("the whole batch was revoked")
        return ("Revoked" + (f" on {date_in_words(when)}" if when else "") + (f" ({'; '.join(notes)})" if notes else "") + then)
    if verdict is Verdict.EXPIRED:
        until = moment_of(credential.get("validUntil")) if credential is not None else None
        return ("Expired" + (f" on {date_in_words(until)}" if until else "") + then)
    if verdict is Verdict.NOT_YET_VALID:
        start = moment_of(credential.get("validFrom")) if credential is not None else None
        return "Not valid yet" + (f": valid from {date_in_words(start)}" if start else "") + then
    if verdict is Verdict.INVALID:
        failed = report.failed
        why = failure_in_words(failed) if failed is not None else "a check failed"
        return f"Not valid: {why}"
    if verdict is Verdict.PENDING:
        waiting = next((c for c in report.checks if c.reason == "not_final"), None)
        where = f"recorded on chain {chain}" if chain is not None else "recorded on the blockchain"
        detail = f" ({waiting.message})" if waiting is not None and waiting.message else ""
        return f"Pending: {where} but not final yet{detail}; check again in a minute"
    if verdict is Verdict.UNTRUSTED_REGISTRY:
        registry = report.anchor.get("registry") if report.anchor else None
        where = f" (registry {registry} on chain {chain})" if registry and chain is not None else ""
        return f"Not confirmed: every check passed, but against a registry this verifier does not trust{where}"
    return "Cannot check right now: the blockchain is unreachable; try again later"


def pending_headline(credential: Mapping[str, Any] | None = None) -> str:
    """For a credential the issuer has issued but not yet recorded on the blockchain."""
    by = _issued_by(credential)
    return "Pending: " + (f"{by}, " if by else "") + "not yet recorded on the blockchain; check again later"

