"""A stacked badge's verdict in one plain sentence (the API's ``headline``, the page's banner).

:func:`anchor.core.summary.headline` speaks of one badge. A stack's verdict may be decided by one
of its components instead (a revoked component makes the stack ``revoked``): the sentence then
names that component first ("A component was revoked: Python — revoked on 2 December 2026 ..."),
because that is what the reader must know; otherwise it is the stack's own headline, and says how
many components were checked. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from anchor.core.stack import ComponentResult, StackReport, components_of
from anchor.core.summary import headline

__all__ = ["COMPONENT_PROBLEM", "component_problem", "stack_headline"]

# What a component's failing status means for a reader, said first.
COMPONENT_PROBLEM: dict[str, str] = {
    "component_revoked": "A component was revoked",
    "component_expired": "A component has expired",
    "component_invalid": "A component is not valid",
    "component_missing": "A component is missing",
    "component_altered": "A component does not match the stacked badge",
    "component_pending": "A component is not final yet",
    "component_unknown": "A component could not be checked",
}
_DETAIL: dict[str, str] = {
    "component_missing": "it was not presented",
    "component_altered": "it was altered, or it is another holder's badge",
}


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def component_problem(result: ComponentResult, credential: Mapping[str, Any] | None = None) -> str:
    """``A component was revoked: Python — revoked on 2 December 2026 (reason: ...); issued by ...``
    (``credential``: the component badge, for its dates and issuer)."""
    lead = COMPONENT_PROBLEM.get(result.status, "A component failed")
    detail = _DETAIL.get(result.status)
    if detail is None and result.report is not None:
        detail = _lower_first(headline(result.report, credential))
    return f"{lead}: {result.ref.name}" + (f" — {detail}" if detail else "")


def stack_headline(report: StackReport, stack: Mapping[str, Any] | None = None,
                   components: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The combined verdict as one sentence. ``stack``: the stacked badge; ``components``: the
    presented component badges by id (for the deciding component's dates and issuer)."""
    if report.reason is not None:
        bad = next((c for c in report.components if c.status == report.reason), None)
        if bad is not None:
            return component_problem(bad, (components or {}).get(bad.ref.id))
    own = headline(replace(report.stack, verdict=report.verdict), stack)
    if report.components:
        ok = sum(1 for c in report.components if c.status == "ok")
        return f"{own}; {ok} of {len(report.components)} components verified"
    refs = components_of(stack) if stack is not None else []
    if refs:
        return f"{own}; stack alone: its {len(refs)} component(s) were not checked"
    return own
