"""The verdict on a credential: a pure function of the badge, the chain's facts and the time.

Checks, in order (each gives ``passed``/``failed``/``skipped``, a reason code and a sentence):

1. ``schema``     well-formed Open Badges 3.0 AchievementCredential (official JSON Schema)
2. ``proof``      leaf recomputed from the canonical bytes; the path leads to the stated root with
                  the index bound (each step on the side the index implies)
3. ``anchor``     the batch ``(issuer, root)`` is anchored in the registry on the stated chain,
                  with the proof's leaf count, and has enough confirmations
4. ``issuer``     the anchoring account was an authorized issuer at anchoring time, and its
                  on-chain profile is the credential's issuer
5. ``signature``  the ``eddsa-rdfc-2022`` signature other verifiers check holds, is made by the
                  credential's issuer DID, and its key is bound to the anchoring account in the
                  registry (any key the issuer ever bound: a rotated key keeps verifying what it
                  signed); ``skipped`` for badges delivered before their issuer signed (its first
                  key bound after the batch was anchored, or never), ``failed``
                  (``signature_required``) when an issuer that signed then is missing its signature
6. ``revocation`` neither the index nor the whole batch is revoked
7. ``validity``   ``validFrom`` ≤ time ≤ ``validUntil``
8. ``recipient``  (only when an email is given) the salted identity hash matches

A valid signature never stands in for the anchor: a signed badge that is not anchored, or whose
anchor is revoked, is judged by the chain like any other.

Verdicts: ``valid``; ``invalid`` (checks 1–5 or 8); ``revoked``; ``expired``; ``not_yet_valid``;
``pending`` (anchored, but below the confirmation depth asked for); ``untrusted_registry`` (every
check passed, but against a registry the verifier did not pin: trust-on-first-sight is never
called valid); ``unknown`` (the chain cannot be read): never valid or invalid on a guess.

:func:`prepare` does checks 1–2 once per distinct document; the use case
(:mod:`anchor.app.verifying`) reads :class:`ChainFacts`; :func:`decide` does the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from anchor.core import merkle
from anchor.core.addresses import checksum
from anchor.core.canonical import canonical_bytes
from anchor.core.credential import recipient_matches, schema_errors_fast, without_proof
from anchor.core.errors import AnchorError, VerificationError
from anchor.core.forms import Presented
from anchor.core.proof import AnchorProof, find_anchor_proof, sides_for
from anchor.core.registry import BatchInfo, IssuerInfo, RevocationReason, RevocationRecord
from anchor.core.signature import SignatureClaim, check_jwt, check_signature, combine
from anchor.core.timefmt import format_ts, from_unix, parse_credential_ts


class Verdict(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    PENDING = "pending"
    UNTRUSTED_REGISTRY = "untrusted_registry"
    UNKNOWN = "unknown"


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


CHECKS = ("schema", "proof", "anchor", "issuer", "signature", "revocation", "validity", "recipient")
_CHAIN_CHECKS = ("anchor", "issuer", "signature", "revocation")
_FATAL = ("schema", "proof", "anchor", "issuer", "signature", "recipient")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # a CheckStatus value
    reason: str | None = None  # machine-readable, on failure or skip
    message: str = ""  # one human sentence

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "reason": self.reason, "message": self.message}


@dataclass
class Report:
    verdict: Verdict
    checks: list[Check]
    checked_at: datetime
    credential_id: str | None = None
    anchor: dict[str, Any] | None = None
    revocation: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    form: str | None = None  # the form the badge was read from: json, jwt, png or svg

    @property
    def failed(self) -> Check | None:
        return next((c for c in self.checks if c.status == CheckStatus.FAILED), None)

    @property
    def summary(self) -> str:
        if self.verdict is Verdict.VALID:
            return "valid: every check passed"
        if self.verdict is Verdict.UNTRUSTED_REGISTRY:
            return ("untrusted registry: every check passed, but against a registry you have not pinned "
                    "(give --registry or trusted_registries)")
        bad = self.failed or next((c for c in self.checks if c.reason in ("chain_unavailable", "not_final")), None)
        return f"{self.verdict.value}: {bad.message}" if bad else self.verdict.value

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "summary": self.summary,
            "credentialId": self.credential_id,
            "checkedAt": format_ts(self.checked_at),
            "checks": [c.to_json() for c in self.checks],
            "anchor": self.anchor,
            "revocation": self.revocation,
            "notes": self.notes,
            "format": self.form,
        }


@dataclass(frozen=True)
class VerifyOptions:
    registry: str | None = None  # the registry to trust; None: none pinned (verdict untrusted_registry at best)
    trusted_registries: tuple[str, ...] = ()  # further registries to trust (any chain the RPC serves)
    chain_id: int | None = None  # expected chain id; None: whatever the RPC serves
    confirmations: int = 1
    at: datetime | None = None  # judge validity at this time (default now)
    email: str | None = None  # optional recipient check

    @property
    def pinned(self) -> frozenset[str]:
        return frozenset(checksum(r) for r in (self.registry, *self.trusted_registries) if r)


@dataclass(frozen=True)
class Prepared:
    """What can be known about a credential without the chain or the clock (checks 1 and 2, the
    parsed validity window, the named issuer): computed once per distinct document and reusable
    for any number of verifications of the same bytes."""

    credential_id: str | None
    schema: Check
    proof_check: Check
    proof: AnchorProof | None
    issuer_id: object
    window: tuple[datetime, datetime | None] | None  # None: the dates are bad (see window_error)
    window_error: str | None
    subject: Any  # credentialSubject, for the recipient check
    signature: SignatureClaim | None = None  # None: the credential carries no eddsa-rdfc-2022 proof
    form: str = "json"  # json, jwt, png or svg (see anchor.core.forms)


@dataclass(frozen=True)
class ChainFacts:
    """What the chain said about the batch a proof names, read at block ``head``."""

    chain_id: int
    genuine: bool  # the code at the proof's registry address is a CredentialRegistry of this version
    head: int
    batch: BatchInfo | None = None  # None when not read (wrong chain or not a registry)
    issuer: IssuerInfo | None = None
    bits: int = 0  # the revocation word holding the proof's index
    revocation: RevocationRecord | None = None  # the event that revoked it, when revoked
    signing_key_block: int | None = None  # block that bound the signature's key to the batch's issuer; None: never
    # For a badge without a signature: the block of the issuer's first signing key (None: it has none)
    first_key_block: int | None = None


@dataclass(frozen=True)
class ChainUnreadable:
    """The chain could not be read; ``message`` says why."""

    message: str


def prepare_presented(presented: Presented) -> Prepared:
    """:func:`prepare` for a badge in any form (JSON, VC-JWT, baked PNG or SVG): a VC-JWT's own
    signature is checked too, and must be by the same key as the credential's."""
    prepared = prepare(presented.credential)
    envelope = None
    if presented.jwt is not None:
        envelope = check_jwt(presented.jwt, prepared.issuer_id)
    return replace(prepared, signature=combine(prepared.signature, envelope), form=presented.format)


def validity_window(credential: Mapping[str, Any]) -> tuple[tuple[datetime, datetime | None] | None, str | None]:
    """(validFrom, validUntil or None) as parsed, or (None, why) when either is not a timestamp."""
    try:
        start = parse_credential_ts(credential.get("validFrom"), what="validFrom")
        until_raw = credential.get("validUntil")
        return (start, parse_credential_ts(until_raw, what="validUntil") if until_raw is not None else None), None
    except AnchorError as e:
        return None, e.message


def prepare(credential: Any) -> Prepared:
    """Run the chain-independent part of verification on a parsed credential."""
    if not isinstance(credential, Mapping):
        failed = Check("schema", CheckStatus.FAILED, "not_an_object", "a credential must be a JSON object")
        return Prepared(None, failed, Check("proof", CheckStatus.SKIPPED, "not_an_object", "needs a credential object"), None, None,
                        None, "a credential must be a JSON object", None)
    cid = credential.get("id")
    errors = schema_errors_fast(credential)
    if errors:
        schema = Check("schema", CheckStatus.FAILED, "schema_invalid", "not a valid Open Badges 3.0 credential: " + "; ".join(errors[:3]))
    else:
        schema = Check("schema", CheckStatus.PASSED, message="valid Open Badges 3.0 AchievementCredential")

    proof: AnchorProof | None = None
    try:
        proof = find_anchor_proof(credential)
        leaf = merkle.hash_leaf(canonical_bytes(without_proof(credential)))
        expected_sides = sides_for(proof.index, proof.leaf_count) if proof.index < proof.leaf_count else ()
        if proof.index < proof.leaf_count and len(proof.sides) == len(expected_sides) and proof.sides != expected_sides:
            raise VerificationError(f"path steps are not on the sides leaf {proof.index} of {proof.leaf_count} implies "
                                    "(siblings swapped or index changed)", reason="path_side_mismatch")
        merkle.verify_inclusion(leaf, proof.index, proof.leaf_count, proof.path, proof.root)
        proof_check = Check("proof", CheckStatus.PASSED, message=f"leaf {proof.index} of {proof.leaf_count} leads to root 0x{proof.root.hex()}")
    except AnchorError as e:
        message = e.message
        if e.reason == "root_mismatch":
            message = ("the credential does not match its proof: it was altered after it was issued, or the proof "
                       f"belongs to another credential ({e.message})")
        proof_check = Check("proof", CheckStatus.FAILED, e.reason, message)
        proof = None

    window, window_error = validity_window(credential)
    named = credential.get("issuer")
    issuer_id = named.get("id") if isinstance(named, Mapping) else named
    return Prepared(cid if isinstance(cid, str) else None, schema, proof_check, proof, issuer_id, window, window_error,
                    credential.get("credentialSubject"), check_signature(credential, issuer_id))


def registry_problem(proof: AnchorProof, options: VerifyOptions) -> Check | None:
    """A failed ``anchor`` check when the verifier pinned registries and the proof names another."""
    pinned = options.pinned
    if options.registry is not None and proof.registry not in pinned:
        return Check("anchor", CheckStatus.FAILED, "registry_mismatch",
                     f"the proof names registry {proof.registry}, not the trusted {checksum(options.registry)}")
    if pinned and proof.registry not in pinned:
        return Check("anchor", CheckStatus.FAILED, "registry_mismatch",
                     f"the proof names registry {proof.registry}, which is not one of the {len(pinned)} trusted")
    return None


def needs_chain(prepared: Prepared, options: VerifyOptions) -> bool:
    """Whether :func:`decide` needs chain facts for this credential (a valid proof for a registry
    the verifier accepts)."""
    return prepared.schema.reason != "not_an_object" and prepared.proof is not None and registry_problem(prepared.proof, options) is None


def decide(prepared: Prepared, facts: ChainFacts | ChainUnreadable | None, options: VerifyOptions, at: datetime) -> Report:
    """The full report for a prepared credential, given what the chain said (None when
    :func:`needs_chain` is false) and the time of the check. Pure."""
    report = Report(Verdict.VALID, [prepared.schema, prepared.proof_check], checked_at=at, credential_id=prepared.credential_id,
                    form=prepared.form)
    if prepared.schema.reason == "not_an_object":
        return _finish(report)
    proof = prepared.proof
    if proof is None:
        report.checks.extend(Check(n, CheckStatus.SKIPPED, "no_valid_proof", "needs a valid proof") for n in _CHAIN_CHECKS)
    elif (problem := registry_problem(proof, options)) is not None:
        report.checks.append(problem)
        _skip_after(report.checks, "anchor")
    elif isinstance(facts, ChainUnreadable) or facts is None:
        message = facts.message if facts is not None else "no chain facts were given"
        report.checks.extend(Check(n, CheckStatus.SKIPPED, "chain_unavailable", f"the chain cannot be read: {message}")
                             for n in _CHAIN_CHECKS)
    else:
        _chain_checks(report, prepared, proof, facts, options)
        if not options.pinned:
            report.notes.append(f"registry {proof.registry} was taken from the credential's own proof; "
                                "pin the registries you trust (--registry / trusted_registries)")
    _bad_signature_first(report, prepared.signature)
    report.checks.append(_validity(prepared, at))
    if options.email is not None:
        if recipient_matches({"credentialSubject": prepared.subject}, options.email):
            report.checks.append(Check("recipient", CheckStatus.PASSED, message="the email matches the recipient's salted identity hash"))
        else:
            report.checks.append(Check("recipient", CheckStatus.FAILED, "recipient_mismatch", "the email does not match the recipient"))
    return _finish(report, untrusted=not options.pinned)


def _chain_checks(report: Report, prepared: Prepared, proof: AnchorProof, facts: ChainFacts, options: VerifyOptions) -> None:
    checks = report.checks

    def stop(reason: str, message: str, *, status: str = CheckStatus.FAILED) -> None:
        checks.append(Check("anchor", status, reason, message))
        _skip_after(checks, "anchor")

    if proof.chain_id != facts.chain_id or (options.chain_id is not None and options.chain_id != facts.chain_id):
        expected = options.chain_id if options.chain_id is not None else facts.chain_id
        return stop("chain_mismatch", f"the proof is for chain {proof.chain_id}, the RPC serves chain {facts.chain_id} (expected {expected})")
    if not facts.genuine:
        return stop("not_a_registry", f"no CredentialRegistry at {proof.registry} on chain {facts.chain_id}")
    batch = facts.batch
    if batch is None or batch.root != proof.root or (batch.anchored and batch.issuer != proof.issuer_address):
        # Defence in depth: facts about another batch (a reader or cache bug) never decide anything.
        report.checks.extend(Check(n, CheckStatus.SKIPPED, "chain_unavailable",
                                   "the chain's answer was about another batch than the proof names") for n in _CHAIN_CHECKS)
        return
    report.anchor = _anchor_json(proof, batch, facts.head, facts.chain_id)
    if not batch.anchored:
        return stop("root_not_anchored", f"issuer {proof.issuer_address} never anchored root 0x{proof.root.hex()} in registry {proof.registry}")
    if batch.leaf_count != proof.leaf_count:
        return stop("leaf_count_mismatch", f"the registry says the batch has {batch.leaf_count} leaves, the proof says {proof.leaf_count}")
    depth = facts.head - batch.anchored_block + 1
    if depth < options.confirmations:
        return stop("not_final", f"anchored in block {batch.anchored_block}, {max(depth, 0)} of {options.confirmations} confirmations so far",
                    status=CheckStatus.SKIPPED)
    checks.append(Check("anchor", CheckStatus.PASSED, message=f"anchored in block {batch.anchored_block} at "
                        f"{format_ts(from_unix(batch.anchored_at))} ({depth} confirmations) on chain {facts.chain_id}"))

    issuer = facts.issuer
    assert issuer is not None
    problem = _issuer_problem(prepared.issuer_id, batch, issuer)
    if problem:
        checks.append(Check("issuer", CheckStatus.FAILED, problem[0], problem[1]))
        _skip_after(checks, "issuer")
        return
    checks.append(Check("issuer", CheckStatus.PASSED, message=f"anchored by {batch.issuer}, issuer #{issuer.id} with profile {issuer.profile_uri}"))
    if issuer.removed_at and not issuer.active:
        report.notes.append(f"the issuer account was removed from the registry at {format_ts(from_unix(issuer.removed_at))}, "
                            "after this batch was anchored; credentials anchored before stay valid")

    signature = _signature_check(prepared.signature, batch, facts, options.confirmations)
    checks.append(signature)
    if signature.status == CheckStatus.FAILED:
        _skip_after(checks, "signature")
        return

    if is_revoked(batch, facts.bits, proof.index):
        record = facts.revocation
        what = "the whole batch was revoked" if batch.revoked_at else f"credential {proof.index} of the batch was revoked"
        when = f" at {format_ts(from_unix(record.block_time))}" if record else ""
        why = f" (reason: {RevocationReason.label_of(record.reason)})" if record else ""
        checks.append(Check("revocation", CheckStatus.FAILED, "batch_revoked" if batch.revoked_at else "revoked", f"{what}{when}{why}"))
        report.revocation = revocation_json(record)
        return
    checks.append(Check("revocation", CheckStatus.PASSED, message="not revoked"))


def _signature_check(claim: SignatureClaim | None, batch: BatchInfo, facts: ChainFacts, confirmations: int) -> Check:
    if claim is None:
        if facts.first_key_block is not None and facts.first_key_block <= batch.anchored_block:
            # The issuer signed its badges when this batch was anchored: a badge without its
            # signature had it removed (or mangled), and other verifiers would refuse it.
            return Check("signature", CheckStatus.FAILED, "signature_required",
                         f"the issuer signs its badges (a signing key bound in block {facts.first_key_block}, this batch anchored "
                         f"in block {batch.anchored_block}), but this badge carries no eddsa-rdfc-2022 signature: it was removed")
        return Check("signature", CheckStatus.SKIPPED, "unsigned",
                     "no eddsa-rdfc-2022 signature (a badge delivered before anchor signed badges): the anchor alone vouches for it")
    if not claim.ok:
        return Check("signature", CheckStatus.FAILED, claim.reason, claim.message)
    if facts.signing_key_block is None:
        return Check("signature", CheckStatus.FAILED, "unbound_signing_key",
                     f"the signing key {claim.verification_method!r} was never bound to issuer {batch.issuer} in the registry")
    depth = facts.head - facts.signing_key_block + 1
    if depth < confirmations:
        return Check("signature", CheckStatus.SKIPPED, "not_final", f"the signing key was bound in block {facts.signing_key_block}, "
                     f"{max(depth, 0)} of {confirmations} confirmations so far")
    return Check("signature", CheckStatus.PASSED,
                 message=f"{claim.message}, a key bound to {batch.issuer} in block {facts.signing_key_block}")


def _bad_signature_first(report: Report, claim: SignatureClaim | None) -> None:
    """A signature that fails on its own (altered document, wrong issuer) makes the credential
    invalid even when the chain checks never ran."""
    if claim is None or claim.ok:
        return
    for n, check in enumerate(report.checks):
        if check.name == "signature" and check.status == CheckStatus.SKIPPED:
            report.checks[n] = Check("signature", CheckStatus.FAILED, claim.reason, claim.message)


def is_revoked(batch: BatchInfo, bits: int, index: int) -> bool:
    """Whether ``index`` of ``batch`` is revoked, given the revocation word that holds it."""
    return batch.revoked_at != 0 or (bits >> (index & 0xFF)) & 1 == 1


def _validity(prepared: Prepared, at: datetime) -> Check:
    if prepared.window is None:
        return Check("validity", CheckStatus.FAILED, "bad_validity_dates", prepared.window_error or "bad validity dates")
    start, until = prepared.window
    if at < start:
        return Check("validity", CheckStatus.FAILED, "not_yet_valid", f"valid from {format_ts(start)}, checked at {format_ts(at)}")
    if until is not None and at > until:
        return Check("validity", CheckStatus.FAILED, "expired", f"expired at {format_ts(until)}, checked at {format_ts(at)}")
    window = f"valid from {format_ts(start)}" + (f" until {format_ts(until)}" if until else " with no end")
    return Check("validity", CheckStatus.PASSED, message=window)


def _issuer_problem(named_id: object, batch: BatchInfo, issuer: IssuerInfo) -> tuple[str, str] | None:
    if issuer.id == 0:
        return "issuer_not_authorized", f"{batch.issuer} anchored the root but was never an issuer of this registry"
    if not was_active(issuer, batch.anchored_at):
        return "issuer_not_authorized", (f"{batch.issuer} was not an authorized issuer when the root was anchored "
                                         f"({format_ts(from_unix(batch.anchored_at))})")
    if named_id != issuer.profile_uri:
        return "issuer_mismatch", f"the credential names issuer {named_id!r}, the anchoring account's profile is {issuer.profile_uri!r}"
    return None


def was_active(issuer: IssuerInfo, when: int) -> bool:
    """Whether the account was an active issuer at ``when``, from its latest add/remove times.

    The registry refuses anchors from inactive accounts, so for a genuine registry this holds for
    every anchored root; the check guards against a registry that was tampered with.
    """
    if issuer.added_at > when:
        # (Re-)added after the anchoring: only a removal at or after `when` shows an earlier
        # active period that could have covered it (the registry keeps the latest times only).
        return issuer.removed_at != 0 and issuer.removed_at >= when
    return issuer.removed_at == 0 or issuer.removed_at < issuer.added_at or issuer.removed_at >= when


def _skip_after(checks: list[Check], name: str) -> None:
    for later in CHECKS[CHECKS.index(name) + 1 : CHECKS.index("revocation") + 1]:
        checks.append(Check(later, CheckStatus.SKIPPED, f"{name}_failed", f"needs the {name} check to pass"))


def _finish(report: Report, *, untrusted: bool = False) -> Report:
    by = {c.name: c for c in report.checks}
    reasons = {c.reason for c in report.checks}
    if any(c.status == CheckStatus.FAILED and c.name in _FATAL for c in report.checks):
        report.verdict = Verdict.INVALID
    elif "chain_unavailable" in reasons:
        report.verdict = Verdict.UNKNOWN
    elif "not_final" in reasons:
        report.verdict = Verdict.PENDING
    elif by.get("revocation") and by["revocation"].status == CheckStatus.FAILED:
        report.verdict = Verdict.REVOKED
    elif by.get("validity") and by["validity"].status == CheckStatus.FAILED:
        reason = by["validity"].reason
        report.verdict = {"expired": Verdict.EXPIRED, "not_yet_valid": Verdict.NOT_YET_VALID}.get(reason or "", Verdict.INVALID)
    elif untrusted:
        report.verdict = Verdict.UNTRUSTED_REGISTRY
    else:
        report.verdict = Verdict.VALID
    return report


def _anchor_json(proof: AnchorProof, batch: BatchInfo, head: int, chain_id: int) -> dict[str, Any]:
    out: dict[str, Any] = {"chainId": chain_id, "registry": proof.registry, "issuer": proof.issuer_address,
                           "merkleRoot": "0x" + proof.root.hex(), "leafIndex": proof.index}
    if batch.anchored:
        out.update({"leafCount": batch.leaf_count, "blockNumber": batch.anchored_block,
                    "anchoredAt": format_ts(from_unix(batch.anchored_at)), "confirmations": head - batch.anchored_block + 1})
    return out


def revocation_json(record: RevocationRecord | None) -> dict[str, Any]:
    if record is None:
        return {"wholeBatch": None, "reason": None}
    return {"wholeBatch": record.whole_batch, "reason": RevocationReason.label_of(record.reason), "reasonCode": record.reason,
            "revokedAt": format_ts(from_unix(record.block_time)), "blockNumber": record.block_number,
            "transactionHash": "0x" + record.tx_hash.hex()}
