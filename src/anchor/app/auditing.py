"""Auditing: the registry's history from the chain alone, and an issuer's database held to it.

``history_audit`` replays every event (``history.replay``) and then re-reads the contract's
views for everything the events mention; any difference between the two is a finding (there
must be none). ``issuer_audit`` compares one issuer's database with that history, and its published status
lists with the chain's revocations (``anchor.app.status_lists``), and lists findings, each with a
severity, the objects involved and a sentence.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from anchor.chain.reader import RegistryReader
from anchor.core import merkle
from anchor.core.addresses import checksum as to_checksum_address
from anchor.core.history import RegistryState, replay
from anchor.core.status import BatchStatus, RevocationStatus, Severity
from anchor.core.timefmt import format_ts, from_unix, parse_ts
from anchor.store import Batch, Revocation, Store

SEVERITIES = tuple(Severity)  # in increasing order


def severity_rank(name: Severity | str) -> int:
    return Severity(name).rank


@dataclass
class Finding:
    severity: Severity
    code: str
    message: str
    subject: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.severity = Severity(self.severity)  # a misspelt severity fails here, not in a report

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity, "code": self.code, "message": self.message, "subject": self.subject}


# ---------------------------------------------------------------------------- chain-only history


@dataclass
class HistoryReport:
    state: RegistryState
    findings: list[Finding]
    from_block: int
    to_block: int
    http_requests: int
    rpc_calls: int


def read_history(view: RegistryReader, *, from_block: int = 0, to_block: int | None = None, page: int = 10_000) -> RegistryState:
    return replay(view.logs(from_block=from_block, to_block=to_block, page=page))


def history_audit(view: RegistryReader, *, from_block: int = 0, page: int = 10_000) -> HistoryReport:
    """Rebuild the registry's state from its events, then check it against the contract's views."""
    requests0, calls0 = view.http_requests, view.rpc_calls
    head = view.chain.block_number()
    state = read_history(view, from_block=from_block, to_block=head, page=page)
    findings = [Finding(Severity.CRITICAL, a.kind, a.message, {**a.subject, "block": a.block, "transaction": "0x" + a.tx_hash.hex()})
                for a in state.anomalies]
    findings += compare_with_views(view, state, block=hex(head), partial=from_block > 0)
    return HistoryReport(state, findings, from_block, head, view.http_requests - requests0, view.rpc_calls - calls0)


def compare_with_views(view: RegistryReader, state: RegistryState, *, block: str = "latest", partial: bool = False) -> list[Finding]:
    """Differences between the event-rebuilt ``state`` and what the contract's views return."""
    out: list[Finding] = []
    keys = list(state.batches)
    issuers = list(state.issuers)
    words = sorted(state.bitmap)
    calls: list[tuple[str, tuple[Any, ...]]] = [("admin", ()), ("issuerCount", ())]
    calls += [("issuerInfo", (a,)) for a in issuers]
    calls += [("batchInfo", key) for key in keys]
    calls += [("revocationWord", key) for key in words]
    results = iter(view.call_many(calls, block=block))

    admin = to_checksum_address(next(results)[0])
    if state.admin is not None and admin != state.admin:
        out.append(Finding(Severity.CRITICAL, "view_mismatch", f"admin is {admin} on chain, events say {state.admin}", {"field": "admin"}))
    count = int(next(results)[0])
    if count != len(state.issuers) and not partial:
        out.append(Finding(Severity.CRITICAL, "view_mismatch", f"issuerCount is {count}, events name {len(state.issuers)} issuers", {"field": "issuerCount"}))
    for address in issuers:
        info = next(results)[0]
        h = state.issuers[address]
        got = (int(info[0]), bool(info[1]), int(info[2]), int(info[3]), str(info[4]))
        want = (h.id, h.active, h.added_at, h.removed_at, h.profile_uri)
        if got != want and not (partial and got[0] == want[0]):
            out.append(Finding(Severity.CRITICAL, "view_mismatch", f"issuer {address}: view {got} differs from events {want}", {"issuer": address}))
    for key in keys:
        info = next(results)[0]
        batch, root = state.batches[key], key[1]
        got_batch = (to_checksum_address(info[0]), int(info[1]), int(info[2]), int(info[3]), int(info[4]))
        want_batch = (batch.issuer, batch.leaf_count, batch.time, batch.block, batch.revoked_time or 0)
        if got_batch != want_batch:
            out.append(Finding(Severity.CRITICAL, "view_mismatch", f"batch 0x{root.hex()}: view {got_batch} differs from events {want_batch}",
                               {"root": "0x" + root.hex()}))
    for who, root, word in words:
        got_bits = int(next(results)[0])
        if got_bits != state.bitmap[(who, root, word)]:
            out.append(Finding(Severity.CRITICAL, "view_mismatch", f"revocation word {word} of 0x{root.hex()} of {who}: view {got_bits:#x} "
                               f"differs from events {state.bitmap[(who, root, word)]:#x}",
                               {"root": "0x" + root.hex(), "issuer": who, "word": word}))
    return out


# ---------------------------------------------------------------------------- issuer cross-check


@dataclass
class IssuerAuditReport:
    issuer: str
    findings: list[Finding]
    credentials_checked: int = 0
    batches_checked: int = 0
    backdating: dict[str, Any] = field(default_factory=dict)

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), key=severity_rank, default=None)


_AWARDED = re.compile(rb'"awardedDate":"([^"]+)"')
_EVIDENCE, _DIGEST = b'"evidence":', b'"digestMultibase":'  # a stack's components (anchor.core.stack)


def issuer_audit(store: Store, state: RegistryState, issuer_address: str, *, backdate_threshold: int = 86_400,
                 id_sample: int = 20, verify_status_list: Callable[[dict[str, Any]], bool] | None = None) -> IssuerAuditReport:
    """Cross-check the issuer's database against the event-rebuilt registry ``state``, and its
    published status lists against the chain's revocations (``verify_status_list``: also check
    each stored list's proof)."""
    findings: list[Finding] = []
    issuer = store.issuer(issuer_address)
    if issuer is None:
        return IssuerAuditReport(issuer_address, [Finding(Severity.ERROR, "unknown_issuer", f"{issuer_address} is not in this database")])
    batches = store.batches(issuer.id)
    revocations = store.revocations(issuer.id)
    pending = store.has_pending(issuer.id)
    failed_txs = store.failed_transactions(issuer.id)
    report = IssuerAuditReport(issuer_address, findings)
    known_roots = {b.root for b in batches}

    # Issuer status on chain.
    chain_issuer = state.issuers.get(issuer_address)
    if chain_issuer is None:
        findings.append(Finding(Severity.ERROR, "not_an_issuer", f"{issuer_address} was never added as an issuer of this registry", {"issuer": issuer_address}))
    elif not chain_issuer.active:
        stuck = [b for b in batches if b.status is not BatchStatus.CONFIRMED]
        detail = f"; {len(stuck)} unanchored batch(es)" + (" and pending credentials" if pending else "") if stuck or pending else ""
        findings.append(Finding(Severity.WARNING, "issuer_removed", f"{issuer_address} was removed as an issuer at "
                                f"{format_ts(from_unix(chain_issuer.removed_at))}: it can no longer anchor{detail}",
                                {"issuer": issuer_address, "removedAt": format_ts(from_unix(chain_issuer.removed_at))}))
    if chain_issuer is not None and chain_issuer.profile_uri != issuer.profile_uri:
        findings.append(Finding(Severity.CRITICAL, "profile_mismatch", f"on-chain profile {chain_issuer.profile_uri!r} differs from the "
                                f"database's {issuer.profile_uri!r}", {"issuer": issuer_address}))
    for tx in failed_txs:
        findings.append(Finding(Severity.WARNING, "anchor_failed", f"{tx.kind} transaction 0x{tx.tx_hash.hex()} of batch {tx.batch_id} reverted",
                                {"batch": tx.batch_id, "transaction": "0x" + tx.tx_hash.hex()}))

    # Registry-level anomalies concerning this issuer.
    for a in state.anomalies:
        if a.subject.get("issuer") == issuer_address or a.subject.get("by") == issuer_address or \
                (a.subject.get("root") and bytes.fromhex(a.subject["root"][2:]) in known_roots):
            findings.append(Finding(Severity.CRITICAL, a.kind, a.message, {**a.subject, "block": a.block, "transaction": "0x" + a.tx_hash.hex()}))

    # Batches: DB vs chain, and stored leaves vs stored root.
    gaps: list[int] = []
    backdated: dict[int, list[str]] = defaultdict(list)
    stacks: list[tuple[str, bytes, Batch]] = []
    for b in batches:
        subject = {"batch": b.id, "root": "0x" + b.root.hex()}
        on_chain = state.batches.get((issuer_address, b.root))
        if b.status is BatchStatus.CONFIRMED:
            if on_chain is None:
                findings.append(Finding(Severity.CRITICAL, "missing_on_chain", f"batch {b.id} is anchored in the database but its root is not on "
                                        "chain (chain reset, reorg, or another registry); `anchor reanchor` anchors it again", subject))
            elif on_chain.issuer != issuer_address or on_chain.leaf_count != b.leaf_count:
                findings.append(Finding(Severity.CRITICAL, "batch_mismatch", f"batch {b.id}: chain says issuer {on_chain.issuer} and "
                                        f"{on_chain.leaf_count} leaves, the database {issuer_address} and {b.leaf_count}", subject))
        elif on_chain is None:
            findings.append(Finding(Severity.INFO, "not_anchored_yet", f"batch {b.id} is {b.status}: not anchored yet", subject))
        report.batches_checked += 1
        report.credentials_checked += _check_leaves(store, b, findings, gaps, backdated, backdate_threshold, id_sample, stacks)

    # Roots this issuer anchored that the database does not know.
    for (who, root), h in state.batches.items():
        if who == issuer_address and root not in known_roots:
            findings.append(Finding(Severity.CRITICAL, "unknown_batch", f"root 0x{root.hex()} ({h.leaf_count} leaves) was anchored by this issuer "
                                    f"in block {h.block} but this database does not know it: a leaked key or a second database",
                                    {"root": "0x" + root.hex(), "block": h.block, "transaction": "0x" + h.tx_hash.hex()}))

    _check_revocations(issuer_address, batches, revocations, state, findings)
    from anchor.app.stack_audit import StoredStack, stack_findings  # it imports Finding from here

    findings += stack_findings(store, state, issuer_address, (StoredStack(*s) for s in stacks))
    from anchor.app.status_lists import chain_revocations, compare_status_lists  # it imports Finding from here

    findings += compare_status_lists(store, issuer, chain_revocations(state, issuer_address, block=state.last_block),
                                     verify=verify_status_list)
    _backdating_summary(report, gaps, backdated, backdate_threshold, id_sample)
    return report


def _check_leaves(store: Store, b: Batch, findings: list[Finding], gaps: list[int], backdated: dict[int, list[str]],
                  threshold: int, sample: int, stacks: list[tuple[str, bytes, Batch]] | None = None) -> int:
    """Recompute every leaf from its stored document and the root from the leaves; collect the
    leaves that may be stacked credentials (their document has ``evidence``) into ``stacks``."""
    leaves: list[bytes] = []
    altered: list[str] = []
    expected = 0
    holes = 0
    for index, credential_id, document, leaf_hash, valid_from in store.iter_leaves(b.id):
        if index != expected:
            holes += index - expected
            leaves.extend([b"\0" * 32] * (index - expected))
            expected = index
        leaf = merkle.hash_leaf(document)
        if stacks is not None and _DIGEST in document and _EVIDENCE in document:
            stacks.append((credential_id, document, b))
        if leaf != leaf_hash:
            altered.append(credential_id)
        leaves.append(leaf)
        expected += 1
        if b.block_time is not None:
            start = valid_from
            m = _AWARDED.search(document)
            if m:
                try:
                    start = min(start, int(parse_ts(m.group(1).decode(), what="awardedDate").timestamp()))
                except Exception:  # an unparseable date is the schema audit's business
                    pass
            gap = b.block_time - start
            gaps.append(gap)
            if gap > threshold:
                backdated[b.id].append(credential_id)
    subject = {"batch": b.id, "root": "0x" + b.root.hex()}
    if altered:
        findings.append(Finding(Severity.CRITICAL, "credential_altered", f"{len(altered)} credential(s) of batch {b.id} no longer match their "
                                "leaf hash: their stored documents were changed after anchoring", {**subject, "credentials": altered[:sample]}))
    count = len(leaves)
    if holes or count != b.leaf_count:
        findings.append(Finding(Severity.CRITICAL, "credentials_missing", f"batch {b.id} should hold {b.leaf_count} credentials; the database "
                                f"has {count - holes}", subject))
    if count and merkle.root_of(b"".join(leaves)) != b.root:
        findings.append(Finding(Severity.CRITICAL, "root_mismatch", f"the stored credentials of batch {b.id} no longer rebuild its root: "
                                "the database was altered after anchoring", subject))
    return count - holes


def _check_revocations(issuer: str, batches: list[Batch], revocations: list[Revocation], state: RegistryState,
                       findings: list[Finding]) -> None:
    roots = {b.id: b.root for b in batches}
    db_indices: dict[bytes, set[int]] = defaultdict(set)
    db_whole: set[bytes] = set()
    for r in revocations:
        if r.status is not RevocationStatus.CONFIRMED:
            continue
        root = roots[r.batch_id]
        if r.leaf_index is None:
            db_whole.add(root)
        else:
            db_indices[root].add(r.leaf_index)
    for root in {b.root for b in batches if b.status is BatchStatus.CONFIRMED}:
        chain_indices = state.revoked_indices(issuer, root)
        subject = {"root": "0x" + root.hex()}
        missing = sorted(db_indices[root] - chain_indices)
        extra = sorted(chain_indices - db_indices[root])
        on_chain = state.batches.get((issuer, root))
        if missing and on_chain is not None:
            findings.append(Finding(Severity.ERROR, "revocation_missing_on_chain", f"{len(missing)} revocation(s) recorded in the database are not "
                                    f"on chain for batch 0x{root.hex()[:16]}…", {**subject, "indices": missing[:50]}))
        if extra:
            findings.append(Finding(Severity.ERROR, "revocation_unknown_to_db", f"{len(extra)} index(es) of batch 0x{root.hex()[:16]}… were revoked "
                                    "on chain without a record in this database", {**subject, "indices": extra[:50]}))
        on_chain_whole = on_chain is not None and on_chain.revoked_block is not None
        if root in db_whole and not on_chain_whole and on_chain is not None:
            findings.append(Finding(Severity.ERROR, "revocation_missing_on_chain", f"whole-batch revocation of 0x{root.hex()[:16]}… is not on chain", subject))
        if on_chain_whole and root not in db_whole:
            findings.append(Finding(Severity.ERROR, "revocation_unknown_to_db", f"batch 0x{root.hex()[:16]}… was revoked as a whole on chain "
                                    "without a record in this database", subject))


def _backdating_summary(report: IssuerAuditReport, gaps: list[int], backdated: dict[int, list[str]], threshold: int, sample: int) -> None:
    if gaps:
        ordered = sorted(gaps)

        def pct(p: float) -> int:
            return ordered[min(len(ordered) - 1, int(p * (len(ordered) - 1) + 0.5))]

        report.backdating = {
            "thresholdSeconds": threshold,
            "credentials": len(gaps),
            "overThreshold": sum(len(v) for v in backdated.values()),
            "secondsBeforeAnchor": {"min": ordered[0], "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": ordered[-1],
                                    "mean": round(statistics.fmean(ordered), 1)},
        }
    for batch_id, ids in backdated.items():
        report.findings.append(Finding(Severity.WARNING, "possible_backdating", f"{len(ids)} credential(s) of batch {batch_id} claim validFrom/"
                                       f"awardedDate more than {threshold:,} s before the batch was anchored",
                                       {"batch": batch_id, "credentials": ids[:sample]}))
