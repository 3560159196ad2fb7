"""The registry's state rebuilt from its events alone: a pure replay, no I/O.

Every state change of ``CredentialRegistry`` emits an event, so folding the events in order
(block, log index) yields issuers with their active periods and signing keys, every batch, every
revocation and the revocation bitmap, each batch keyed by ``(issuer, root)`` as the registry keys it.
:func:`replay` also flags what a genuine registry can never emit (an anchor by an account that was
not an active issuer, a revocation in a batch the revoker never anchored, a second anchor of one
batch): an auditor wants to see those, not assume them away.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from anchor.core.bitmap import from_words
from anchor.core.registry import BatchKey, LogEvent


@dataclass
class IssuerPeriod:
    added_block: int
    added_time: int
    removed_block: int | None = None
    removed_time: int | None = None


@dataclass
class IssuerHistory:
    address: str
    id: int
    profile_uri: str
    periods: list[IssuerPeriod] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.periods) and self.periods[-1].removed_block is None

    @property
    def added_at(self) -> int:
        return self.periods[-1].added_time if self.periods else 0

    @property
    def removed_at(self) -> int:
        removed = [p.removed_time for p in self.periods if p.removed_time is not None]
        return removed[-1] if removed else 0


@dataclass
class BatchHistory:
    root: bytes
    issuer: str
    leaf_count: int
    block: int
    time: int
    tx_hash: bytes
    revoked_block: int | None = None
    revoked_time: int | None = None
    revoked_reason: int | None = None


@dataclass
class RevocationHistory:
    root: bytes
    issuer: str
    reason: int
    words: tuple[tuple[int, int], ...]
    block: int
    time: int
    tx_hash: bytes

    @property
    def count(self) -> int:
        return sum(bin(mask).count("1") for _, mask in self.words)


@dataclass
class SigningKeyHistory:
    issuer: str
    public_key: bytes  # raw 32-byte Ed25519 public key
    index: int  # its number in the issuer's key history
    block: int
    time: int
    tx_hash: bytes


@dataclass
class Anomaly:
    kind: str  # anchor_by_non_issuer | anchor_after_removal | reanchored_root | unknown_root | double_revocation
    #            | key_by_non_issuer | rebound_signing_key | signing_key_index_gap
    message: str
    block: int
    tx_hash: bytes
    subject: dict[str, Any] = field(default_factory=dict)


@dataclass
class RegistryState:
    admin: str | None = None
    issuers: dict[str, IssuerHistory] = field(default_factory=dict)
    batches: dict[BatchKey, BatchHistory] = field(default_factory=dict)  # by (issuer, root)
    revocations: list[RevocationHistory] = field(default_factory=list)
    bitmap: dict[tuple[str, bytes, int], int] = field(default_factory=dict)  # (issuer, root, word) -> bits
    signing_keys: dict[str, list[SigningKeyHistory]] = field(default_factory=dict)  # issuer -> keys, oldest first
    anomalies: list[Anomaly] = field(default_factory=list)
    events: int = 0
    last_block: int = 0

    def revoked_indices(self, issuer: str, root: bytes) -> set[int]:
        return set(from_words((word, mask) for (who, r, word), mask in self.bitmap.items() if r == root and who == issuer))


def replay(events: Iterable[LogEvent], state: RegistryState | None = None) -> RegistryState:
    """Fold ``events`` (oldest first) into ``state`` (a fresh one by default) and return it."""
    st = state or RegistryState()
    for ev in events:
        st.events += 1
        st.last_block = max(st.last_block, ev.block_number)
        handler = _HANDLERS.get(ev.name)
        if handler:
            handler(st, ev)
    return st


def _admin_transferred(st: RegistryState, ev: LogEvent) -> None:
    st.admin = ev.args["newAdmin"]


def _issuer_added(st: RegistryState, ev: LogEvent) -> None:
    a = ev.args
    record = st.issuers.get(a["issuer"])
    if record is None:
        record = st.issuers[a["issuer"]] = IssuerHistory(a["issuer"], int(a["id"]), a["profileURI"])
    record.periods.append(IssuerPeriod(ev.block_number, ev.block_time))


def _issuer_removed(st: RegistryState, ev: LogEvent) -> None:
    record = st.issuers.get(ev.args["issuer"])
    if record and record.periods and record.periods[-1].removed_block is None:
        record.periods[-1].removed_block = ev.block_number
        record.periods[-1].removed_time = ev.block_time


def _batch_anchored(st: RegistryState, ev: LogEvent) -> None:
    a = ev.args
    root, who = bytes(a["root"]), a["issuer"]
    record = st.issuers.get(who)
    if record is None:
        st.anomalies.append(Anomaly("anchor_by_non_issuer", f"root 0x{root.hex()} was anchored by {who}, which was never an issuer",
                                    ev.block_number, ev.tx_hash, {"root": "0x" + root.hex(), "issuer": who}))
    elif not record.active:
        st.anomalies.append(Anomaly("anchor_after_removal", f"root 0x{root.hex()} was anchored by {who} after it was removed as an issuer",
                                    ev.block_number, ev.tx_hash, {"root": "0x" + root.hex(), "issuer": who}))
    if (who, root) in st.batches:
        st.anomalies.append(Anomaly("reanchored_root", f"root 0x{root.hex()} was anchored a second time by {who}", ev.block_number,
                                    ev.tx_hash, {"root": "0x" + root.hex(), "issuer": who}))
        return
    st.batches[(who, root)] = BatchHistory(root, who, int(a["leafCount"]), ev.block_number, ev.block_time, ev.tx_hash)


def _credentials_revoked(st: RegistryState, ev: LogEvent) -> None:
    a = ev.args
    root, who = bytes(a["root"]), a["issuer"]
    words = tuple((int(w), int(m)) for w, m in a["words"])
    batch = _revocation_target(st, ev, root, who)
    if batch is None:
        return
    for word, mask in words:
        old = st.bitmap.get((who, root, word), 0)
        if old & mask:
            st.anomalies.append(Anomaly("double_revocation", f"indices of 0x{root.hex()} were revoked twice", ev.block_number,
                                        ev.tx_hash, {"root": "0x" + root.hex(), "issuer": who, "word": word}))
        st.bitmap[(who, root, word)] = old | mask
    st.revocations.append(RevocationHistory(root, who, int(a["reason"]), words, ev.block_number, ev.block_time, ev.tx_hash))


def _batch_revoked(st: RegistryState, ev: LogEvent) -> None:
    root = bytes(ev.args["root"])
    batch = _revocation_target(st, ev, root, ev.args["issuer"])
    if batch is not None and batch.revoked_block is None:
        batch.revoked_block, batch.revoked_time, batch.revoked_reason = ev.block_number, ev.block_time, int(ev.args["reason"])


def _revocation_target(st: RegistryState, ev: LogEvent, root: bytes, who: str) -> BatchHistory | None:
    batch = st.batches.get((who, root))
    if batch is None:
        st.anomalies.append(Anomaly("unknown_root", f"{who} revoked in root 0x{root.hex()}, which it never anchored",
                                    ev.block_number, ev.tx_hash, {"root": "0x" + root.hex(), "issuer": who}))
    return batch


def _signing_key_bound(st: RegistryState, ev: LogEvent) -> None:
    a = ev.args
    who, key, index = a["issuer"], bytes(a["publicKey"]), int(a["index"])
    subject = {"issuer": who, "publicKey": "0x" + key.hex()}
    record = st.issuers.get(who)
    if record is None or not record.active:
        st.anomalies.append(Anomaly("key_by_non_issuer", f"signing key 0x{key.hex()} was bound by {who}, which was not an active issuer",
                                    ev.block_number, ev.tx_hash, subject))
    keys = st.signing_keys.setdefault(who, [])
    if any(k.public_key == key for k in keys):
        st.anomalies.append(Anomaly("rebound_signing_key", f"signing key 0x{key.hex()} was bound a second time by {who}",
                                    ev.block_number, ev.tx_hash, subject))
        return
    if index != len(keys):
        st.anomalies.append(Anomaly("signing_key_index_gap", f"signing key 0x{key.hex()} of {who} has index {index}, expected {len(keys)}",
                                    ev.block_number, ev.tx_hash, subject))
    keys.append(SigningKeyHistory(who, key, index, ev.block_number, ev.block_time, ev.tx_hash))


_HANDLERS = {
    "AdminTransferred": _admin_transferred,
    "IssuerAdded": _issuer_added,
    "IssuerRemoved": _issuer_removed,
    "BatchAnchored": _batch_anchored,
    "CredentialsRevoked": _credentials_revoked,
    "BatchRevoked": _batch_revoked,
    "SigningKeyBound": _signing_key_bound,
}
