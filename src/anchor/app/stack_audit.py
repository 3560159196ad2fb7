"""Auditing stacked credentials: a stack whose component was revoked on chain after it was issued.

``anchor stack`` only awards a stack over components that verify on chain at that moment, so a
stack never starts out over a revoked component; but a component can be revoked later, and the
stack then no longer stands (a verifier given its components says ``revoked``, naming the
component), while the stack itself is still valid on chain. The issuer wants to hear of it: to
revoke the stack too, or to tell the holder. The chain's history decides (when each revocation
happened: its block), not the database; only components this issuer's database holds (its own)
can be located in a batch, and so checked. A component revoked *before* its stack was issued
(by more than :data:`CLOCK_SKEW`) cannot come from ``anchor stack``: it is reported as an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from anchor.app.auditing import Finding
from anchor.core.history import RegistryState
from anchor.core.records import Batch
from anchor.core.stack import ComponentRef, components_of
from anchor.core.status import Severity
from anchor.core.timefmt import format_ts, from_unix
from anchor.store import Store

# Block times come from the chain, issue times from this machine's clock: a revocation is said to
# come before a stack's issue only when it precedes it by more than this (else: after, a warning).
CLOCK_SKEW = 300


class StoredStack(NamedTuple):
    """A credential of the issuer's database that may be a stack (its stored document has
    ``evidence``), with the batch it is in: the audit collects these as it reads every leaf."""

    credential_id: str
    document: bytes
    batch: Batch


@dataclass(frozen=True)
class _Revoked:
    block: int
    time: int
    tx_hash: bytes | None  # None: the batch was revoked as a whole (its event's transaction is not kept)
    whole_batch: bool


def _revocation_of(state: RegistryState, issuer: str, root: bytes, index: int) -> _Revoked | None:
    """When the chain revoked leaf ``index`` of ``(issuer, root)``: the first revocation event that
    set its bit, or the batch's revocation as a whole (whichever came first); None: never."""
    found: _Revoked | None = None
    word, bit = index >> 8, 1 << (index & 0xFF)
    for r in state.revocations:  # oldest first
        if r.issuer == issuer and r.root == root and any(w == word and mask & bit for w, mask in r.words):
            found = _Revoked(r.block, r.time, r.tx_hash, False)
            break
    batch = state.batches.get((issuer, root))
    if batch is not None and batch.revoked_block is not None and batch.revoked_time is not None and \
            (found is None or batch.revoked_block < found.block):
        found = _Revoked(batch.revoked_block, batch.revoked_time, None, True)
    return found


def _is_revoked(state: RegistryState, issuer: str, root: bytes, index: int) -> bool:
    return _revocation_of(state, issuer, root, index) is not None


def stack_findings(store: Store, state: RegistryState, issuer: str, stacks: Iterable[StoredStack]) -> list[Finding]:
    """A finding per (stack, component) where the component, a credential of this issuer's
    database, was revoked on chain: ``stack_component_revoked`` (warning) when after the stack
    was issued, ``stack_over_revoked_component`` (error) when before. Stacks revoked themselves
    are left out: the issuer has acted on them already."""
    findings: list[Finding] = []
    for stack in stacks:
        refs = components_of(json.loads(stack.document))
        if not refs:
            continue
        stack_loc = store.locate(stack.credential_id)
        if stack_loc is not None and stack_loc.leaf_index is not None and \
                _is_revoked(state, issuer, stack.batch.root, stack_loc.leaf_index):
            continue
        for ref in refs:
            finding = _component_finding(store, state, issuer, stack, ref)
            if finding is not None:
                findings.append(finding)
    return findings


def _component_finding(store: Store, state: RegistryState, issuer: str, stack: StoredStack, ref: ComponentRef) -> Finding | None:
    loc = store.locate(ref.id)
    if loc is None or loc.issuer_address != issuer or loc.root is None or loc.leaf_index is None:
        return None  # another issuer's component (not locatable here), or not anchored
    revoked = _revocation_of(state, issuer, loc.root, loc.leaf_index)
    if revoked is None:
        return None
    record = store.credential(stack.credential_id)
    issued = record.created_at if record is not None else stack.batch.created_at
    on_chain = state.batches.get((issuer, stack.batch.root))
    anchored_block = on_chain.block if on_chain is not None else stack.batch.block_number
    anchored_time = on_chain.time if on_chain is not None else stack.batch.block_time
    how = "its whole batch was revoked" if revoked.whole_batch else "revoked"
    when = f"in block {revoked.block} ({format_ts(from_unix(revoked.time))})"
    stack_when = f"issued {format_ts(from_unix(issued))}" + (
        f", anchored in block {anchored_block}" if anchored_block is not None else ", not anchored yet")
    subject = {
        "stack": stack.credential_id, "component": ref.id, "componentName": ref.name,
        "stackIssuedAt": format_ts(from_unix(issued)), "stackBlock": anchored_block,
        "stackAnchoredAt": format_ts(from_unix(anchored_time)) if anchored_time is not None else None,
        "componentRevokedBlock": revoked.block, "componentRevokedAt": format_ts(from_unix(revoked.time)),
        "componentRevokedTransaction": "0x" + revoked.tx_hash.hex() if revoked.tx_hash is not None else None,
        "wholeBatch": revoked.whole_batch, "batch": stack.batch.id,
    }
    if revoked.time + CLOCK_SKEW >= issued:
        return Finding(Severity.WARNING, "stack_component_revoked",
                       f"stacked credential {stack.credential_id} ({stack_when}) names component {ref.name!r} ({ref.id}), "
                       f"{how} {when}, after the stack was issued: the stack no longer stands on its components "
                       "(revoke it too, or tell its holder)", subject)
    return Finding(Severity.ERROR, "stack_over_revoked_component",
                   f"stacked credential {stack.credential_id} ({stack_when}) names component {ref.name!r} ({ref.id}), "
                   f"{how} {when}, before the stack was issued: it should never have been awarded", subject)
