"""Rendering audit reports: readable tables, JSON for machines, CSV for spreadsheets."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from anchor.core.bitmap import from_words
from anchor.core.timefmt import format_ts, from_unix

if TYPE_CHECKING:  # both pull in SQLAlchemy / the chain client; the CLI loads them lazily
    from anchor.app.auditing import HistoryReport, IssuerAuditReport
    from anchor.chain.reader import RegistryReader


def _t(ts: int | None) -> str:
    return format_ts(from_unix(ts)) if ts else ""


def history_json(report: HistoryReport, view: RegistryReader) -> dict[str, Any]:
    st = report.state
    return {
        "registry": view.address,
        "chainId": view.chain_id,
        "fromBlock": report.from_block,
        "toBlock": report.to_block,
        "events": st.events,
        "rpc": {"httpRequests": report.http_requests, "calls": report.rpc_calls},
        "admin": st.admin,
        "issuers": [
            {"address": h.address, "id": h.id, "profileURI": h.profile_uri, "active": h.active,
             "periods": [{"addedBlock": p.added_block, "addedAt": _t(p.added_time), "removedBlock": p.removed_block,
                          "removedAt": _t(p.removed_time) or None} for p in h.periods]}
            for h in st.issuers.values()
        ],
        "batches": [
            {"root": "0x" + b.root.hex(), "issuer": b.issuer, "leafCount": b.leaf_count, "block": b.block, "anchoredAt": _t(b.time),
             "transaction": "0x" + b.tx_hash.hex(), "revokedAt": _t(b.revoked_time) or None, "revokedReason": b.revoked_reason}
            for b in st.batches.values()
        ],
        "revocations": [
            {"root": "0x" + r.root.hex(), "issuer": r.issuer, "reason": r.reason, "count": r.count,
             "indices": _indices(r.words), "block": r.block, "revokedAt": _t(r.time), "transaction": "0x" + r.tx_hash.hex()}
            for r in st.revocations
        ],
        "findings": [f.to_json() for f in report.findings],
        "consistent": not report.findings,
    }


def _indices(words: tuple[tuple[int, int], ...]) -> list[int]:
    return from_words(words)


def history_csv(report: HistoryReport) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["record", "root", "issuer", "id_or_count", "block", "time", "transaction", "detail"])
    for h in report.state.issuers.values():
        for p in h.periods:
            w.writerow(["issuer_added", "", h.address, h.id, p.added_block, _t(p.added_time), "", h.profile_uri])
            if p.removed_block is not None:
                w.writerow(["issuer_removed", "", h.address, h.id, p.removed_block, _t(p.removed_time), "", ""])
    for b in report.state.batches.values():
        w.writerow(["batch", "0x" + b.root.hex(), b.issuer, b.leaf_count, b.block, _t(b.time), "0x" + b.tx_hash.hex(), ""])
        if b.revoked_block is not None:
            w.writerow(["batch_revoked", "0x" + b.root.hex(), b.issuer, b.leaf_count, b.revoked_block, _t(b.revoked_time), "",
                        f"reason {b.revoked_reason}"])
    for r in report.state.revocations:
        w.writerow(["revocation", "0x" + r.root.hex(), r.issuer, r.count, r.block, _t(r.time), "0x" + r.tx_hash.hex(),
                    f"reason {r.reason}; indices {' '.join(map(str, _indices(r.words)))}"])
    for f in report.findings:
        w.writerow(["finding", f.subject.get("root", ""), f.subject.get("issuer", ""), "", f.subject.get("block", ""), "", "",
                    f"{f.severity} {f.code}: {f.message}"])
    return buf.getvalue()


def history_table(report: HistoryReport, view: RegistryReader) -> list[str]:
    st = report.state
    lines = [f"registry {view.address} on chain {view.chain_id}, blocks {report.from_block}..{report.to_block}: {st.events} events "
             f"({report.http_requests} RPC requests, {report.rpc_calls} calls)", f"admin {st.admin}", "", f"issuers ({len(st.issuers)})"]
    for h in st.issuers.values():
        periods = "; ".join(f"added {_t(p.added_time)} (block {p.added_block})"
                            + (f", removed {_t(p.removed_time)} (block {p.removed_block})" if p.removed_block is not None else "")
                            for p in h.periods)
        lines.append(f"  #{h.id} {h.address} {'active ' if h.active else 'removed'} {h.profile_uri}  {periods}")
    lines += ["", f"batches ({len(st.batches)}, {sum(b.leaf_count for b in st.batches.values()):,} credentials)",
              f"  {'block':>7}  {'anchored at':<20}  {'leaves':>8}  {'issuer':<42}  root"]
    for b in st.batches.values():
        revoked = f"  REVOKED {_t(b.revoked_time)} reason {b.revoked_reason}" if b.revoked_block is not None else ""
        lines.append(f"  {b.block:>7}  {_t(b.time):<20}  {b.leaf_count:>8}  {b.issuer:<42}  0x{b.root.hex()}{revoked}")
    total = sum(r.count for r in st.revocations)
    lines += ["", f"revocations ({len(st.revocations)} transactions, {total:,} credentials)"]
    for r in st.revocations:
        idx = _indices(r.words)
        shown = ", ".join(map(str, idx[:10])) + (f", … ({len(idx)} in all)" if len(idx) > 10 else "")
        lines.append(f"  {r.block:>7}  {_t(r.time):<20}  reason {r.reason}  0x{r.root.hex()[:16]}…  indices {shown}")
    lines.append("")
    if report.findings:
        lines.append(f"{len(report.findings)} finding(s): the state rebuilt from events differs from the contract")
        lines += [f"  {f.severity.upper():<8} {f.code}: {f.message}" for f in report.findings]
    else:
        lines.append("consistent: the state rebuilt from events equals the contract's views")
    return lines


def issuer_json(report: IssuerAuditReport) -> dict[str, Any]:
    from anchor.app.auditing import severity_rank

    return {"issuer": report.issuer, "batchesChecked": report.batches_checked, "credentialsChecked": report.credentials_checked,
            "findings": [f.to_json() for f in sorted(report.findings, key=lambda f: -severity_rank(f.severity))],
            "backdating": report.backdating, "clean": not [f for f in report.findings if f.severity != "info"]}


def issuer_table(report: IssuerAuditReport) -> list[str]:
    from anchor.app.auditing import severity_rank

    lines = [f"issuer {report.issuer}: {report.batches_checked} batch(es), {report.credentials_checked:,} credential(s) checked"]
    bd = report.backdating
    if bd:
        s = bd["secondsBeforeAnchor"]
        lines.append(f"dated before anchoring (s): min {s['min']:,}  p50 {s['p50']:,}  p90 {s['p90']:,}  p99 {s['p99']:,}  max {s['max']:,}; "
                     f"{bd['overThreshold']:,} over the {bd['thresholdSeconds']:,} s threshold")
    if not report.findings:
        lines.append("clean: no findings")
    for f in sorted(report.findings, key=lambda f: -severity_rank(f.severity)):
        ids = f.subject.get("credentials")
        lines.append(f"  {f.severity.upper():<8} {f.code}: {f.message}")
        if ids:
            lines.append(f"           credentials: {', '.join(ids[:5])}{' …' if len(ids) > 5 else ''}")
    return lines
