"""Status lists generated from the chain: revocation that verifiers without a chain client see.

The chain's revocation bitmap (and whole-batch revocations) is the truth; the issuer's Bitstring
Status Lists are derived from it, never from the database's own record of what it asked to
revoke. :func:`read_chain_revocations` reads the issuer's anchoring and revocation events (one
filtered ``eth_getLogs`` scan), :func:`publish_status_lists` maps every revoked (batch root, leaf
index) to the credential's status index through the database, sets those bits, signs each list
with the issuer's key and stores it for ``GET /status/<issuer>/<n>``. A whole-batch revocation
sets the bit of every credential of the batch.

:func:`compare_status_lists` is the audit's side: a stored list whose bits differ from the chain
(a revocation the list does not show, a bit the chain does not have) or a list that is missing
or unreadable is a finding.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from anchor.app.auditing import Finding
from anchor.chain.views import RegistryViews
from anchor.core.errors import AnchorError, ConfigError, InputError
from anchor.core.history import RegistryState, replay
from anchor.core.status import Severity
from anchor.core.status_list import (
    LIST_SIZE,
    decode_list,
    encode_list,
    encoded_list_of,
    list_location,
    list_url,
    set_bits,
    status_list_credential,
)
from anchor.core.timefmt import from_unix
from anchor.store import Issuer, Store

Signer = Callable[[dict[str, Any]], dict[str, Any]]  # adds the Data Integrity proof to an unsigned document
_SAMPLE = 20  # status indexes / credential ids named in one finding


@dataclass(frozen=True)
class ChainRevocations:
    """One issuer's revocations as the chain holds them up to ``block``."""

    indices: dict[bytes, frozenset[int]]  # batch root -> revoked leaf indices (the bitmap)
    whole: frozenset[bytes]  # roots revoked as a whole batch
    block: int

    def targets(self) -> Iterator[tuple[bytes, frozenset[int] | None]]:
        """``(root, leaf indices)`` per batch with revocations; None: every leaf of the batch."""
        for root in sorted(self.whole | set(self.indices)):
            yield root, None if root in self.whole else self.indices[root]


def chain_revocations(state: RegistryState, issuer_address: str, *, block: int) -> ChainRevocations:
    """The issuer's revocations in an event-rebuilt registry state (``anchor.core.history``)."""
    indices: dict[bytes, set[int]] = {}
    for (who, root, word), mask in state.bitmap.items():
        if who == issuer_address and mask:
            bits = indices.setdefault(root, set())
            bits.update((word << 8) + b for b in range(256) if mask >> b & 1)
    whole = frozenset(b.root for (who, _), b in state.batches.items() if who == issuer_address and b.revoked_block is not None)
    return ChainRevocations({root: frozenset(v) for root, v in indices.items()}, whole, block)


def read_chain_revocations(reader: RegistryViews, issuer_address: str, *, to_block: int | None = None,
                           page: int = 10_000) -> ChainRevocations:
    """The issuer's revocations read from the chain up to ``to_block`` (default: the head): its
    ``BatchAnchored``, ``CredentialsRevoked`` and ``BatchRevoked`` events (all three index the
    issuer), replayed. Other issuers' events are not read."""
    head = reader.chain.block_number() if to_block is None else to_block
    names = ("BatchAnchored", "CredentialsRevoked", "BatchRevoked")
    topics = [["0x" + reader.event_topic(n).hex() for n in names], None, "0x" + bytes(12).hex() + issuer_address[2:].lower()]
    state = replay(reader.logs(from_block=0, to_block=head, page=page, topics=topics))
    return chain_revocations(state, issuer_address, block=head)


# ---------------------------------------------------------------------------- the lists


@dataclass
class PublishReport:
    at_block: int
    lists: list[int] = field(default_factory=list)  # every list published
    changed: list[int] = field(default_factory=list)  # lists whose bits differ from the stored ones (or new)
    revoked: int = 0  # bits set over all lists
    unmapped: int = 0  # chain revocations of leaves this database does not hold (the audit names them)
    kept: list[int] = field(default_factory=list)  # stored from a later block by another run: left as they are


def expected_lists(store: Store, issuer: Issuer, revoked: ChainRevocations) -> tuple[dict[int, bytearray], int]:
    """The bitstring of every list the issuer has credentials in, with the chain's revocations
    set, and how many chain revocations name no stored credential."""
    lists = {n: bytearray(LIST_SIZE // 8) for n in store.status_list_numbers(issuer.id)}
    unmapped = 0
    for root, leaves in revoked.targets():
        found = 0
        for _leaf, status_index in store.status_indexes_of(issuer.id, root, leaves):
            number, index = list_location(status_index)
            bits = lists.setdefault(number, bytearray(LIST_SIZE // 8))
            bits[index >> 3] |= 0x80 >> (index & 7)
            found += 1
        if leaves is not None:
            unmapped += len(leaves) - found
    return lists, unmapped


def list_document(issuer: Issuer, number: int, bits: bytes, *, generated_at: int, valid_for: int | None = None,
                  ttl_ms: int | None = None) -> dict[str, Any]:
    """The unsigned list credential ``number`` of the issuer. ConfigError if the issuer has no
    public URL (the address lists are served at, which credentials name)."""
    if not issuer.public_url:
        raise ConfigError(f"issuer {issuer.address} has no public URL: status lists cannot be named", reason="no_public_url")
    until = from_unix(generated_at + valid_for) if valid_for is not None else None
    return status_list_credential(list_url(issuer.public_url, issuer.address, number), issuer.did or issuer.profile_uri,
                                  encode_list(bytes(bits)), from_unix(generated_at), valid_until=until, ttl_ms=ttl_ms)


def publish_status_lists(store: Store, issuer: Issuer, revoked: ChainRevocations, sign: Signer, *, at_block: int | None = None,
                         now: int | None = None, valid_for: int | None = None, ttl_ms: int | None = None,
                         head: Callable[[], int] | None = None) -> PublishReport:
    """Build, sign and store every status list of the issuer from the chain's revocations.

    Every list the issuer has credentials in is published, also one without any revocation (a
    verifier must find the list a credential names). ``sign`` turns the unsigned document into
    the signed one (the issuer's ``eddsa-rdfc-2022`` Data Integrity proof). ``valid_for``
    (seconds) adds a ``validUntil``: verifiers then refuse a stale copy, and the lists must be
    published again before it passes. A list stored by another run from a later block is kept,
    unless ``head()`` (the chain's head, read just before each list is saved) is below that block:
    a reorg took it away, and with it, maybe, a revocation the list shows.
    """
    block = revoked.block if at_block is None else at_block
    generated_at = int(time.time()) if now is None else now
    lists, unmapped = expected_lists(store, issuer, revoked)
    report = PublishReport(at_block=block, unmapped=unmapped)
    for number in sorted(lists):
        bits = bytes(lists[number])
        signed = sign(list_document(issuer, number, bits, generated_at=generated_at, valid_for=valid_for, ttl_ms=ttl_ms))
        before = store.status_list(issuer.id, number)
        if store.save_status_list(issuer.id, number, json.dumps(signed, ensure_ascii=False), generated_at=generated_at,
                                  chain_block=block, head=head() if head is not None else None):
            report.lists.append(number)
            if before is None or _stored_bits(before.document) != bits:
                report.changed.append(number)
        else:
            report.kept.append(number)
        report.revoked += sum(bin(b).count("1") for b in bits if b)
    return report


def _stored_bits(document: str) -> bytes | None:
    try:
        return decode_list(encoded_list_of(json.loads(document)), max_bytes=LIST_SIZE // 8)
    except (InputError, ValueError):
        return None


# ---------------------------------------------------------------------------- the audit


def compare_status_lists(store: Store, issuer: Issuer, revoked: ChainRevocations, *,
                         verify: Callable[[dict[str, Any]], bool] | None = None) -> list[Finding]:
    """Findings where the issuer's stored status lists disagree with the chain's revocations.

    ``status_list_unrevoked`` (critical): the chain revoked a credential that its list shows as
    valid, so verifiers that read only the list accept it. ``status_list_extra_revocation``
    (error): a bit the chain does not have. ``status_list_missing`` (error), or
    ``status_list_unreadable`` (critical) when the stored document cannot be decoded or, with
    ``verify``, its proof does not verify. A list is missing when a credential of a confirmed
    batch names it (a credential not anchored yet has not been released). An issuer without a
    public URL and without any list does not publish lists: nothing to compare.
    """
    stored = {s.list_number: s for s in store.status_lists(issuer.id)}
    if not issuer.public_url and not stored:
        return []
    expected, _ = expected_lists(store, issuer, revoked)
    released = set(store.status_list_numbers(issuer.id, anchored_only=True))
    findings: list[Finding] = []
    for number in sorted(released | set(stored)):
        subject: dict[str, Any] = {"issuer": issuer.address, "list": number}
        row = stored.get(number)
        if row is None:
            findings.append(Finding(Severity.ERROR, "status_list_missing", f"status list {number} is not published: verifiers "
                                    "cannot check the status of its credentials; publish the lists again", subject))
            continue
        subject["chainBlock"] = row.chain_block
        try:
            document = json.loads(row.document)
            have = decode_list(encoded_list_of(document), max_bytes=LIST_SIZE // 8, min_bytes=LIST_SIZE // 8)
            if len(have) != LIST_SIZE // 8:
                raise InputError(f"the list is {len(have)} bytes, not {LIST_SIZE // 8}", reason="status_list_malformed")
        except (InputError, ValueError) as e:
            findings.append(Finding(Severity.CRITICAL, "status_list_unreadable", f"stored status list {number} cannot be read "
                                    f"({e}); publish the lists again", subject))
            continue
        if verify is not None and not _verifies(verify, document):
            findings.append(Finding(Severity.CRITICAL, "status_list_unreadable", f"the proof of stored status list {number} does not "
                                    "verify: it was altered after signing; publish the lists again", subject))
        want = expected.get(number, bytearray(LIST_SIZE // 8))
        if bytes(want) == have:
            continue
        shown, listed = set_bits(have), set_bits(bytes(want))
        base = number * LIST_SIZE
        unrevoked, extra = sorted(listed - shown), sorted(shown - listed)
        if unrevoked:
            findings.append(Finding(Severity.CRITICAL, "status_list_unrevoked", f"{len(unrevoked)} credential(s) revoked on chain "
                                    f"are not revoked in status list {number} (published at block {row.chain_block}; chain read to "
                                    f"block {revoked.block}): verifiers reading the list accept them; publish the lists again",
                                    {**subject, **_named(store, issuer, [base + i for i in unrevoked])}))
        if extra:
            findings.append(Finding(Severity.ERROR, "status_list_extra_revocation", f"status list {number} revokes {len(extra)} "
                                    f"credential(s) the chain does not revoke (published at block {row.chain_block}; chain read "
                                    f"to block {revoked.block}): verifiers reading the list refuse them; publish the lists again",
                                    {**subject, **_named(store, issuer, [base + i for i in extra])}))
    return findings


def _verifies(verify: Callable[[dict[str, Any]], bool], document: dict[str, Any]) -> bool:
    try:
        return verify(document)
    except AnchorError:  # no proof, another suite, a document that cannot be canonicalized
        return False


def _named(store: Store, issuer: Issuer, status_indexes: list[int]) -> dict[str, Any]:
    sample = status_indexes[:_SAMPLE]
    ids = [c.credential_id for c in (store.credential_by_status_index(issuer.id, i) for i in sample) if c is not None]
    return {"statusIndexes": sample, "credentials": ids}
