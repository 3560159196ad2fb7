"""Verifying a delivered credential: ordered checks, each with a verdict and a reason.

The use case is the same for the public service and the offline ``anchor verify``: both hand in a
:class:`~anchor.chain.reader.RegistryView` (the chain is the only authority) and get a
:class:`Report` back. Checks, in order:

1. ``schema``     well-formed Open Badges 3.0 AchievementCredential (official JSON Schema)
2. ``proof``      leaf recomputed from the canonical bytes; the path leads to the stated root with
                  the index bound (each step on the side the index implies)
3. ``anchor``     the root is anchored in the trusted registry on the stated chain, with the
                  proof's leaf count, and has enough confirmations
4. ``issuer``     the anchoring account was an authorized issuer at anchoring time, and its
                  on-chain profile is the credential's issuer
5. ``revocation`` neither the index nor the whole batch is revoked
6. ``validity``   ``validFrom`` ≤ time ≤ ``validUntil``
7. ``recipient``  (only when an email is given) the salted identity hash matches

Verdicts: ``valid``; ``invalid`` (checks 1–4 or 7); ``revoked``; ``expired``; ``not_yet_valid``;
``unknown`` when the chain cannot be read or the anchor is not final yet: never valid or invalid
on a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from anchor.core import merkle
from anchor.core.addresses import checksum as to_checksum_address
from anchor.core.canonical import canonical_bytes
from anchor.chain.client import BatchInfo, IssuerInfo
from anchor.chain.reader import RegistryView, RevocationRecord
from anchor.core.credential import recipient_matches, schema_errors_fast, without_proof
from anchor.core.errors import AnchorError, ChainError, ChainUnavailable, VerificationError
from anchor.core.proof import AnchorProof, find_anchor_proof, sides_for
from anchor.core.timefmt import format_ts, from_unix, parse_credential_ts, utcnow


class Verdict(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    UNKNOWN = "unknown"


CHECKS = ("schema", "proof", "anchor", "issuer", "revocation", "validity", "recipient")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # passed | failed | skipped
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

    @property
    def failed(self) -> Check | None:
        return next((c for c in self.checks if c.status == "failed"), None)

    @property
    def summary(self) -> str:
        if self.verdict is Verdict.VALID:
            return "valid: every check passed"
        bad = self.failed or next((c for c in self.checks if c.reason == "chain_unavailable"), None)
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
        }


@dataclass(frozen=True)
class VerifyOptions:
    registry: str | None = None  # the registry to trust; None: the one the proof names (noted)
    chain_id: int | None = None  # expected chain id; None: whatever the RPC serves
    confirmations: int = 1
    at: datetime | None = None  # judge validity at this time (default now)
    email: str | None = None  # optional recipient check


class _Stop(Exception):
    """A check failed in a way that makes the following checks meaningless."""


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


def prepare(credential: Any) -> Prepared:
    """Run the chain-independent part of verification on a parsed credential."""
    if not isinstance(credential, Mapping):
        failed = Check("schema", "failed", "not_an_object", "a credential must be a JSON object")
        return Prepared(None, failed, Check("proof", "skipped", "not_an_object", "needs a credential object"), None, None,
                        None, "a credential must be a JSON object", None)
    cid = credential.get("id")
    errors = schema_errors_fast(credential)
    if errors:
        schema = Check("schema", "failed", "schema_invalid", "not a valid Open Badges 3.0 credential: " + "; ".join(errors[:3]))
    else:
        schema = Check("schema", "passed", message="valid Open Badges 3.0 AchievementCredential")

    proof: AnchorProof | None = None
    try:
        proof = find_anchor_proof(credential)
        leaf = merkle.hash_leaf(canonical_bytes(without_proof(credential)))
        expected_sides = sides_for(proof.index, proof.leaf_count) if proof.index < proof.leaf_count else ()
        if proof.index < proof.leaf_count and len(proof.sides) == len(expected_sides) and proof.sides != expected_sides:
            raise VerificationError(f"path steps are not on the sides leaf {proof.index} of {proof.leaf_count} implies "
                                    "(siblings swapped or index changed)", reason="path_side_mismatch")
        merkle.verify_inclusion(leaf, proof.index, proof.leaf_count, proof.path, proof.root)
        proof_check = Check("proof", "passed", message=f"leaf {proof.index} of {proof.leaf_count} leads to root 0x{proof.root.hex()}")
    except AnchorError as e:
        message = e.message
        if e.reason == "root_mismatch":
            message = ("the credential does not match its proof: it was altered after it was issued, or the proof "
                       f"belongs to another credential ({e.message})")
        proof_check = Check("proof", "failed", e.reason, message)
        proof = None

    window: tuple[datetime, datetime | None] | None = None
    window_error = None
    try:
        start = parse_credential_ts(credential.get("validFrom"), what="validFrom")
        until_raw = credential.get("validUntil")
        window = (start, parse_credential_ts(until_raw, what="validUntil") if until_raw is not None else None)
    except AnchorError as e:
        window_error = e.message
    named = credential.get("issuer")
    return Prepared(cid if isinstance(cid, str) else None, schema, proof_check, proof,
                    named.get("id") if isinstance(named, Mapping) else named, window, window_error,
                    credential.get("credentialSubject"))


class Verifier:
    """Runs the checks for one credential. ``view_for(registry_address)`` gives the chain view."""

    def __init__(self, view_for: Callable[[str], RegistryView], options: VerifyOptions | None = None) -> None:
        self.view_for = view_for
        self.options = options or VerifyOptions()

    def verify(self, credential: Any) -> Report:
        return self.check(prepare(credential))

    def check(self, prepared: Prepared) -> Report:
        """The full report for a prepared credential: chain checks, validity, recipient."""
        opts = self.options
        at = opts.at or utcnow()
        report = Report(Verdict.VALID, [prepared.schema, prepared.proof_check], checked_at=at, credential_id=prepared.credential_id)
        checks = report.checks
        if prepared.schema.reason == "not_an_object":
            return self._finish(report)

        # 3-5. chain
        revoked: RevocationRecord | None = None
        revoked_flag = False
        proof = prepared.proof
        if proof is None:
            for name in ("anchor", "issuer", "revocation"):
                checks.append(Check(name, "skipped", "no_valid_proof", "needs a valid proof"))
        else:
            try:
                revoked_flag, revoked = self._chain_checks(prepared.issuer_id, proof, report)
            except ChainUnavailable as e:
                self._skip_rest(checks, "chain_unavailable", f"the chain cannot be read: {e.message}")
            except ChainError as e:
                self._skip_rest(checks, "chain_unavailable", f"the chain read failed: {e.message}")
            except _Stop:
                pass

        # 6. validity window
        if prepared.window is None:
            checks.append(Check("validity", "failed", "bad_validity_dates", prepared.window_error or "bad validity dates"))
        else:
            start, until = prepared.window
            if at < start:
                checks.append(Check("validity", "failed", "not_yet_valid", f"valid from {format_ts(start)}, checked at {format_ts(at)}"))
            elif until is not None and at > until:
                checks.append(Check("validity", "failed", "expired", f"expired at {format_ts(until)}, checked at {format_ts(at)}"))
            else:
                window = f"valid from {format_ts(start)}" + (f" until {format_ts(until)}" if until else " with no end")
                checks.append(Check("validity", "passed", message=window))

        # 7. recipient
        if opts.email is not None:
            if recipient_matches({"credentialSubject": prepared.subject}, opts.email):
                checks.append(Check("recipient", "passed", message="the email matches the recipient's salted identity hash"))
            else:
                checks.append(Check("recipient", "failed", "recipient_mismatch", "the email does not match the recipient"))

        if revoked_flag:
            report.revocation = _revocation_json(revoked)
        return self._finish(report)

    # ------------------------------------------------------------------ chain checks

    def _chain_checks(self, issuer_id: object, proof: AnchorProof, report: Report) -> tuple[bool, RevocationRecord | None]:
        opts, checks = self.options, report.checks
        trusted = opts.registry
        if trusted is not None and to_checksum_address(trusted) != proof.registry:
            checks.append(Check("anchor", "failed", "registry_mismatch",
                                f"the proof names registry {proof.registry}, not the trusted {to_checksum_address(trusted)}"))
            self._skip_after(checks, "anchor")
            raise _Stop
        if trusted is None:
            report.notes.append(f"registry {proof.registry} was taken from the credential's own proof; trust it only if you know it")
        view = self.view_for(proof.registry)
        chain_id = view.chain_id
        if proof.chain_id != chain_id or (opts.chain_id is not None and opts.chain_id != chain_id):
            expected = opts.chain_id if opts.chain_id is not None else chain_id
            checks.append(Check("anchor", "failed", "chain_mismatch",
                                f"the proof is for chain {proof.chain_id}, the RPC serves chain {chain_id} (expected {expected})"))
            self._skip_after(checks, "anchor")
            raise _Stop
        if not view.code_matches():
            checks.append(Check("anchor", "failed", "not_a_registry", f"no CredentialRegistry at {proof.registry} on chain {chain_id}"))
            self._skip_after(checks, "anchor")
            raise _Stop
        head, batch, issuer, bits = view.read(proof.root, proof.index, proof.issuer_address)
        report.anchor = _anchor_json(proof, batch, head, chain_id)
        if not batch.anchored:
            checks.append(Check("anchor", "failed", "root_not_anchored", f"root 0x{proof.root.hex()} was never anchored in registry {proof.registry}"))
            self._skip_after(checks, "anchor")
            raise _Stop
        if batch.leaf_count != proof.leaf_count:
            checks.append(Check("anchor", "failed", "leaf_count_mismatch",
                                f"the registry says the batch has {batch.leaf_count} leaves, the proof says {proof.leaf_count}"))
            self._skip_after(checks, "anchor")
            raise _Stop
        depth = head - batch.anchored_block + 1
        if depth < opts.confirmations:
            checks.append(Check("anchor", "skipped", "not_final",
                                f"anchored in block {batch.anchored_block}, {depth} of {opts.confirmations} confirmations so far"))
            self._skip_after(checks, "anchor")
            raise _Stop
        checks.append(Check("anchor", "passed", message=f"anchored in block {batch.anchored_block} at {format_ts(from_unix(batch.anchored_at))} "
                                                         f"({depth} confirmations) on chain {chain_id}"))

        # 4. issuer
        assert issuer is not None
        problem = self._issuer_problem(issuer_id, proof, batch, issuer)
        if problem:
            checks.append(Check("issuer", "failed", problem[0], problem[1]))
            self._skip_after(checks, "issuer")
            raise _Stop
        checks.append(Check("issuer", "passed", message=f"anchored by {batch.issuer}, issuer #{issuer.id} with profile {issuer.profile_uri}"))
        if issuer.removed_at and not issuer.active:
            report.notes.append(f"the issuer account was removed from the registry at {format_ts(from_unix(issuer.removed_at))}, "
                                "after this batch was anchored; credentials anchored before stay valid")

        # 5. revocation
        revoked = batch.revoked_at != 0 or (bits >> (proof.index & 0xFF)) & 1 == 1
        if revoked:
            record = view.revocation(batch, proof.index)
            what = "the whole batch was revoked" if batch.revoked_at else f"credential {proof.index} of the batch was revoked"
            when = f" at {format_ts(from_unix(record.block_time))}" if record else ""
            why = f" (reason: {_reason_name(record.reason)})" if record else ""
            checks.append(Check("revocation", "failed", "batch_revoked" if batch.revoked_at else "revoked", f"{what}{when}{why}"))
            return True, record
        checks.append(Check("revocation", "passed", message="not revoked"))
        return False, None

    def _issuer_problem(self, named_id: object, proof: AnchorProof, batch: BatchInfo, issuer: IssuerInfo) -> tuple[str, str] | None:
        if proof.issuer_address is not None and proof.issuer_address != batch.issuer:
            return "issuer_address_mismatch", f"the proof says {proof.issuer_address} anchored the root, the registry says {batch.issuer}"
        if issuer.id == 0:
            return "issuer_not_authorized", f"{batch.issuer} anchored the root but was never an issuer of this registry"
        if not _was_active(issuer, batch.anchored_at):
            return "issuer_not_authorized", (f"{batch.issuer} was not an authorized issuer when the root was anchored "
                                             f"({format_ts(from_unix(batch.anchored_at))})")
        if named_id != issuer.profile_uri:
            return "issuer_mismatch", f"the credential names issuer {named_id!r}, the anchoring account's profile is {issuer.profile_uri!r}"
        return None

    @staticmethod
    def _skip_after(checks: list[Check], name: str) -> None:
        for later in CHECKS[CHECKS.index(name) + 1 : CHECKS.index("revocation") + 1]:
            checks.append(Check(later, "skipped", f"{name}_failed", f"needs the {name} check to pass"))

    @staticmethod
    def _skip_rest(checks: list[Check], reason: str, message: str) -> None:
        done = {c.name for c in checks}
        for name in ("anchor", "issuer", "revocation"):
            if name not in done:
                checks.append(Check(name, "skipped", reason, message))

    @staticmethod
    def _finish(report: Report) -> Report:
        by = {c.name: c for c in report.checks}
        fatal = [c for c in report.checks if c.status == "failed" and c.name in ("schema", "proof", "anchor", "issuer", "recipient")]
        if fatal:
            report.verdict = Verdict.INVALID
        elif any(c.reason in ("chain_unavailable", "not_final") for c in report.checks):
            report.verdict = Verdict.UNKNOWN
        elif by.get("revocation") and by["revocation"].status == "failed":
            report.verdict = Verdict.REVOKED
        elif by.get("validity") and by["validity"].status == "failed":
            reason = by["validity"].reason
            report.verdict = {"expired": Verdict.EXPIRED, "not_yet_valid": Verdict.NOT_YET_VALID}.get(reason or "", Verdict.INVALID)
        else:
            report.verdict = Verdict.VALID
        return report


def _was_active(issuer: IssuerInfo, when: int) -> bool:
    """Whether the account was an active issuer at ``when``, from its latest add/remove times.

    The registry refuses anchors from inactive accounts, so for a genuine registry this holds for
    every anchored root; the check guards against a registry that was tampered with.
    """
    if issuer.added_at > when:
        # (Re-)added after the anchoring: only a removal at or after `when` shows an earlier
        # active period that could have covered it (the registry keeps the latest times only).
        return issuer.removed_at != 0 and issuer.removed_at >= when
    return issuer.removed_at == 0 or issuer.removed_at < issuer.added_at or issuer.removed_at >= when


def _reason_name(code: int) -> str:
    from anchor.app.revoking import REASON_NAMES

    return REASON_NAMES.get(code, f"code {code}")


def _anchor_json(proof: AnchorProof, batch: BatchInfo, head: int, chain_id: int) -> dict[str, Any]:
    out: dict[str, Any] = {"chainId": chain_id, "registry": proof.registry, "merkleRoot": "0x" + proof.root.hex(),
                           "leafIndex": proof.index}
    if batch.anchored:
        out.update({"issuer": batch.issuer, "leafCount": batch.leaf_count, "blockNumber": batch.anchored_block,
                    "anchoredAt": format_ts(from_unix(batch.anchored_at)), "confirmations": head - batch.anchored_block + 1})
    return out


def _revocation_json(record: RevocationRecord | None) -> dict[str, Any]:
    if record is None:
        return {"wholeBatch": None, "reason": None}
    return {"wholeBatch": record.whole_batch, "reason": _reason_name(record.reason), "reasonCode": record.reason,
            "revokedAt": format_ts(from_unix(record.block_time)), "blockNumber": record.block_number,
            "transactionHash": "0x" + record.tx_hash.hex()}
