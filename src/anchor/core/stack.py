"""Stacked credentials: a credential whose ``evidence`` names the component credentials it was
earned with, and the verdict on it given (or not given) those components. Pure, no I/O.

A stacked credential is an ordinary OB 3.0 ``AchievementCredential`` of the pathway's achievement.
Each component is an ``Evidence`` entry (OB 3.0 / VC 2.0 terms, no new vocabulary)::

    {"id": <component credential id>, "type": ["Evidence"], "name": <component achievement name>,
     "description": "Component of <stacked achievement name>, issued by <issuer name>",
     "digestMultibase": "u" + base64url(0x12 0x20 || sha256(RFC 8785 of the component without proof))}

``digestMultibase`` (defined for any node by the VC 2.0 context, so JSON-LD safe mode and the
signature cover it) pins the component's exact content: its recipient's salted identity hash
included. A component of another holder can therefore never match, and proving "same recipient"
reveals no email to anyone who does not know it already. The component's own anchor receipt
proves it on chain; :func:`judge_stack` combines the stack's report with each component's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from anchor.core.canonical import canonical_bytes
from anchor.core.credential import without_proof
from anchor.core.multibase import encode_base64url
from anchor.core.verdict import Report, Verdict

_SHA2_256 = b"\x12\x20"  # multihash header: sha2-256, 32 bytes


def component_digest(credential: Mapping[str, Any]) -> str:
    """The ``digestMultibase`` of a credential: its RFC 8785 bytes without ``proof``, as a
    base64url sha2-256 multihash (the form :mod:`anchor.app.reissue` uses for renewals)."""
    return digest_of_canonical(canonical_bytes(without_proof(credential)))


def digest_of_canonical(canonical: bytes) -> str:
    """:func:`component_digest` of a credential already in RFC 8785 form (as the store keeps it)."""
    return encode_base64url(_SHA2_256 + hashlib.sha256(canonical).digest())


def component_description(pathway_name: str, issuer_name: str) -> str:
    return f"Component of {pathway_name}, issued by {issuer_name}"


def component_evidence(credential: Mapping[str, Any], pathway_name: str, issuer_name: str) -> dict[str, Any]:
    """The ``evidence`` entry naming ``credential`` as a component of a stack of ``pathway_name``."""
    subject = credential.get("credentialSubject")
    achievement = subject.get("achievement") if isinstance(subject, Mapping) else None
    name = achievement.get("name") if isinstance(achievement, Mapping) else None
    return {
        "id": str(credential["id"]),
        "type": ["Evidence"],
        "name": str(name or credential.get("name") or credential["id"]),
        "description": component_description(pathway_name, issuer_name),
        "digestMultibase": component_digest(credential),
    }


@dataclass(frozen=True)
class ComponentRef:
    """A component a stacked credential names: its credential id, digest and achievement name."""

    id: str
    digest: str
    name: str


def components_of(stack: Mapping[str, Any]) -> list[ComponentRef]:
    """The components a credential names: its ``evidence`` entries with an id and a digest (other
    evidence, such as a portfolio link, is not a component). Empty for an ordinary credential."""
    evidence = stack.get("evidence")
    entries = evidence if isinstance(evidence, list) else [evidence] if isinstance(evidence, dict) else []
    out = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        cid, digest = entry.get("id"), entry.get("digestMultibase")
        if isinstance(cid, str) and isinstance(digest, str):
            out.append(ComponentRef(cid, digest, str(entry.get("name") or cid)))
    return out


@dataclass(frozen=True)
class ComponentResult:
    """What became of one component: ``status`` is ``ok`` or the failing reason."""

    ref: ComponentRef
    status: str  # ok | component_missing | component_altered | component_revoked | component_expired | component_invalid | ...
    message: str
    report: Report | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.ref.id,
            "name": self.ref.name,
            "digestMultibase": self.ref.digest,
            "status": self.status,
            "verdict": self.report.verdict.value if self.report is not None else None,
            "message": self.message,
            "report": self.report.to_json() if self.report is not None else None,
        }


@dataclass
class StackReport:
    """The verdict on a stacked credential and its components."""

    verdict: Verdict
    stack: Report
    components: list[ComponentResult]
    reason: str | None = None  # the first component's failing reason that decided the verdict
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        bad = next((c for c in self.components if c.status == self.reason), None) if self.reason else None
        if bad is not None:
            return f"{self.verdict.value}: {bad.message}"
        return self.stack.summary

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "summary": self.summary,
            "reason": self.reason,
            "stack": self.stack.to_json(),
            "components": [c.to_json() for c in self.components],
            "notes": self.notes,
        }


# A component's own verdict → (its status in the stack, the stack's verdict). A component that is
# merely pending or unreadable leaves the stack pending / unknown, never invalid on a guess.
_BY_VERDICT: dict[Verdict, tuple[str, Verdict]] = {
    Verdict.REVOKED: ("component_revoked", Verdict.REVOKED),
    Verdict.EXPIRED: ("component_expired", Verdict.EXPIRED),
    Verdict.INVALID: ("component_invalid", Verdict.INVALID),
    Verdict.NOT_YET_VALID: ("component_invalid", Verdict.INVALID),
    Verdict.PENDING: ("component_pending", Verdict.PENDING),
    Verdict.UNKNOWN: ("component_unknown", Verdict.UNKNOWN),
}
# Which failure decides when several components fail: the most serious first.
_SEVERITY = (Verdict.REVOKED, Verdict.INVALID, Verdict.EXPIRED, Verdict.UNKNOWN, Verdict.PENDING)
_STACK_OK = (Verdict.VALID, Verdict.UNTRUSTED_REGISTRY)


def _judge_one(ref: ComponentRef, credential: Mapping[str, Any] | None, report: Report | None) -> tuple[ComponentResult, Verdict | None]:
    label = f"component {ref.name!r} ({ref.id})"
    if credential is None:
        return ComponentResult(ref, "component_missing", f"{label} was not presented"), Verdict.INVALID
    if component_digest(credential) != ref.digest:
        return ComponentResult(ref, "component_altered", f"{label} does not match the digest the stack pins "
                               "(altered, or another holder's credential)", report), Verdict.INVALID
    if report is None:
        return ComponentResult(ref, "component_unknown", f"{label} was not verified"), Verdict.UNKNOWN
    mapped = _BY_VERDICT.get(report.verdict)
    if mapped is None:  # valid, or valid against an unpinned registry
        untrusted = report.verdict is Verdict.UNTRUSTED_REGISTRY
        return ComponentResult(ref, "ok", f"{label} is {report.verdict.value}", report), Verdict.UNTRUSTED_REGISTRY if untrusted else None
    status, verdict = mapped
    return ComponentResult(ref, status, f"{label} is {report.summary}", report), verdict


def judge_stack(
    stack_report: Report,
    components: Sequence[tuple[ComponentRef, Mapping[str, Any] | None, Report | None]],
    *,
    stack: Mapping[str, Any] | None = None,
) -> StackReport:
    """The stack's verdict: its own report, then each component's (in the order given).

    ``components``: for each :class:`ComponentRef` of the stack, the presented credential with
    that id (None when none was presented) and its full report (None when not verified). When
    none is given at all, the stack alone is judged and the report says what it depends on
    (``stack``: the stacked credential, to list its components)."""
    if not components:
        out = StackReport(stack_report.verdict, stack_report, [])
        refs = components_of(stack) if stack is not None else []
        if refs:
            names = "; ".join(f"{r.name} ({r.id})" for r in refs)
            out.notes.append(f"stack alone verified; depends on {len(refs)} component(s): {names}")
        return out
    results, worst = [], []
    for ref, credential, report in components:
        result, verdict = _judge_one(ref, credential, report)
        results.append(result)
        if verdict is not None:
            worst.append((verdict, result.status))
    out = StackReport(stack_report.verdict, stack_report, results)
    if stack_report.verdict not in _STACK_OK:  # the stack's own failure decides
        return out
    for verdict in _SEVERITY:
        hit = next((status for v, status in worst if v is verdict), None)
        if hit is not None:
            out.verdict, out.reason = verdict, hit
            return out
    if any(v is Verdict.UNTRUSTED_REGISTRY for v, _ in worst):
        out.verdict = Verdict.UNTRUSTED_REGISTRY
    return out


def match_components(stack: Mapping[str, Any], presented: Sequence[Mapping[str, Any]]) -> tuple[list[tuple[ComponentRef, Mapping[str, Any] | None]], list[str]]:
    """Pair each component the stack names with the presented credential of the same id (or
    None); and the ids of presented credentials the stack does not name (for a note)."""
    by_id: dict[str, Mapping[str, Any]] = {}
    for credential in presented:
        cid = credential.get("id")
        if isinstance(cid, str):
            # Two presented under one id: the one matching a digest wins (the other is noise).
            by_id.setdefault(cid, credential)
            if by_id[cid] is not credential:
                by_id[cid] = credential if any(r.digest == component_digest(credential) for r in components_of(stack) if r.id == cid) else by_id[cid]
    refs = components_of(stack)
    named = {r.id for r in refs}
    return [(r, by_id.get(r.id)) for r in refs], sorted(i for i in by_id if i not in named)


def presented_credentials(document: Any) -> list[dict[str, Any]] | None:
    """The credentials of a bundle (a JSON array) or a VerifiablePresentation; None when
    ``document`` is neither (a single credential)."""
    if isinstance(document, list):
        return [c for c in document if isinstance(c, dict)]
    if isinstance(document, dict):
        types = document.get("type")
        types = types if isinstance(types, list) else [types]
        if "VerifiablePresentation" in types:
            vcs = document.get("verifiableCredential")
            vcs = vcs if isinstance(vcs, list) else [vcs] if vcs is not None else []
            return [c for c in vcs if isinstance(c, dict)]
    return None
