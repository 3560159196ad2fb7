"""The pathway on a stacked credential's page: its components, earned of required, each verified.

A stacked credential names its components in ``evidence`` (digest-pinned, :mod:`anchor.core.stack`).
The components this service's database holds (this issuer's own) are assembled into their badges
and verified on chain like the page's own badge; their verdicts are combined with the stack's as
``POST /api/v1/verify`` combines them for a presentation, so a component revoked after stacking
makes the page say so first ("A component was revoked: ..."). A component the database does not
hold (another issuer's) is listed, not checked here: the holder presents it to a verifier.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from anchor.api.service import Service
from anchor.app.exporting import credential_with_proof
from anchor.core.errors import NotFound
from anchor.core.sharing import page_url
from anchor.core.stack import ComponentRef, StackReport, components_of, judge_stack
from anchor.core.stack_summary import component_problem, stack_headline
from anchor.core.summary import headline
from anchor.core.timefmt import utcnow
from anchor.core.verdict import Report, Verdict

# What the page says of a component per status, when it is not plainly earned.
_STATUS_WORDS = {"ok": "earned", "component_revoked": "revoked", "component_expired": "expired",
                 "component_invalid": "not valid", "component_altered": "does not match", "component_pending": "pending",
                 "component_unknown": "cannot check now", "not_held": "held elsewhere: not checked here",
                 "not_anchored": "not recorded on the blockchain yet"}


@dataclass
class PathwayView:
    """The components of a stacked credential as its page shows them."""

    required: int
    components: list[dict[str, Any]] = field(default_factory=list)
    report: StackReport | None = None  # the combined verdict, over the components held here (None: stack pending)
    headline: str | None = None  # the combined headline when a component decides the verdict
    problem: str | None = None  # "A component was revoked: ..." when one does

    @property
    def earned(self) -> int:
        return sum(1 for c in self.components if c["status"] == "ok")

    def to_json(self) -> dict[str, Any]:
        return {"earned": self.earned, "required": self.required, "components": self.components,
                "verdict": self.report.verdict.value if self.report is not None else None,
                "reason": self.report.reason if self.report is not None else None, "problem": self.problem}


def _component_badge(svc: Service, cid: str, base: str) -> tuple[dict[str, Any], bytes | None, str | None] | None:
    """(the component's credential, its complete badge when anchored, its page URL when public), or
    None when this database does not hold it."""
    store = svc.store
    stored = store.document_of(cid)
    if stored is None:
        return None
    try:
        loc = svc.locate(cid)
    except NotFound:
        return None
    visibility = store.visibility(cid)
    url = page_url(base, cid.removeprefix("urn:uuid:")) if visibility is not None and not visibility[0] and visibility[1] else None
    document, signature = stored
    if loc.batch_status != "confirmed":
        return json.loads(document), None, url
    entry = json.dumps(json.loads(svc.proof_json(cid))["proof"], separators=(",", ":")).encode()
    badge = credential_with_proof(document, entry, signature)
    return json.loads(badge), badge, url


def pathway_view(svc: Service, stack: dict[str, Any], stack_report: Report | None, base: str,
                 verify: Callable[[bytes], Report]) -> PathwayView | None:
    """The page's pathway for ``stack`` (None when it names no components)."""
    refs = components_of(stack)
    if not refs:
        return None
    view = PathwayView(required=len(refs))
    judged: list[tuple[ComponentRef, dict[str, Any], Report]] = []
    rows: list[tuple[ComponentRef, dict[str, Any], str | None]] = []
    credentials: dict[str, dict[str, Any]] = {}
    for ref in refs:
        held = _component_badge(svc, ref.id, base)
        if held is None:
            rows.append((ref, {"status": "not_held"}, None))
            continue
        credential, badge, url = held
        credentials[ref.id] = credential
        if badge is None:
            rows.append((ref, {"status": "not_anchored"}, url))
            continue
        judged.append((ref, credential, verify(badge)))
        rows.append((ref, {}, url))
    # Each held component judged (digest, own verdict) even while the stack is pending; combined only once it is not.
    combined = judge_stack(stack_report or Report(Verdict.PENDING, [], utcnow()), judged, stack=stack) if judged else None
    if stack_report is not None:
        view.report = combined
    results = {r.ref.id: r for r in combined.components} if combined is not None else {}
    reports = {ref.id: one for ref, _, one in judged}
    for ref, extra, url in rows:
        result, report = results.get(ref.id), reports.get(ref.id)
        status = extra.get("status") or (result.status if result is not None else "component_unknown")
        view.components.append({
            "id": ref.id, "name": ref.name, "status": status, "words": _STATUS_WORDS.get(status, status),
            "verdict": report.verdict.value if report is not None else None,
            "headline": headline(report, credentials.get(ref.id)) if report is not None else None,
            "url": url,
        })
    if view.report is not None and view.report.reason is not None:
        bad = next((c for c in view.report.components if c.status == view.report.reason), None)
        if bad is not None:
            view.problem = component_problem(bad, credentials.get(bad.ref.id))
        view.headline = stack_headline(view.report, stack, credentials)
    elif view.report is not None:  # counted over every component named, held here or not
        own = headline(replace(view.report.stack, verdict=view.report.verdict), stack)
        view.headline = f"{own}; {view.earned} of {view.required} components verified"
    return view
