"""``anchor issue``: a roster and an achievement become pending credentials in the database.

All or nothing: a roster with bad rows is refused as a whole (every bad row listed) unless the
caller asks to skip them; the credentials of one run are inserted in one database transaction.
Re-running the same roster issues nothing twice: a recipient who already holds the achievement
is reported and skipped. The database enforces it (a unique key on the recipient's identity key
for the achievement and the award's generation, with insert-or-skip), so two runs of one roster
at the same time cannot both issue it either.

A recipient whose credential is revoked or expired is skipped too, and counted apart: with
``reissue`` they get a new credential, the award's next generation, linked to the one it
supersedes (:mod:`anchor.app.reissue`).

The issuer keeps each holder's name and normalized email with the credential (issuer-private
columns, for the export manifest and ``anchor notify``); the credential carries a salted hash.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from anchor.app.faults import crashpoint
from anchor.app.reissue import link_superseded
from anchor.app.signing import BadgeSigner
from anchor.core import merkle
from anchor.core.credential import CredentialFactory, IssuerProfile, normalize_email
from anchor.core.errors import AnchorError, InputError, NotFound, StoreError
from anchor.core.roster import Roster, RosterRow, RowError
from anchor.core.status_list import list_location, list_url
from anchor.core.timefmt import utcnow
from anchor.store import Issuer, NewCredential, Renewal, Store

INSERT_CHUNK = 5000
PARALLEL_MIN = 20_000  # below this, forking a builder process costs more than it saves
BUILDERS = max(1, min(2, os.cpu_count() or 1))  # builder processes when signing


@dataclass
class IssueReport:
    achievement_id: str
    created: int = 0
    skipped_rows: list[RowError] = field(default_factory=list)
    already_issued: list[int] = field(default_factory=list)  # roster line numbers
    # Recipients whose credential is revoked or expired: skipped without ``reissue`` (roster lines) ...
    renewable: list[int] = field(default_factory=list)
    # ... and with it: (roster line, the credential the new one supersedes, "revoked" | "expired")
    reissued: list[tuple[int, str, str]] = field(default_factory=list)


def recipient_refs(achievement_uri: str) -> Callable[[str], str]:
    """The recipient identity key for one achievement: hex sha256 of the length-prefixed
    achievement URI followed by the normalized email (no two pairs share bytes). The database
    holds one credential per issuer, key and generation; the credential never carries the address
    (the issuer's database keeps it apart, for delivery)."""
    uri = achievement_uri.encode("utf-8")
    prefix = hashlib.sha256(len(uri).to_bytes(4, "big") + uri)

    def ref(email: str) -> str:
        h = prefix.copy()
        h.update(normalize_email(email).encode("utf-8"))
        return h.hexdigest()

    return ref


def recipient_ref(achievement_uri: str, email: str) -> str:
    return recipient_refs(achievement_uri)(email)


def issuer_row_for(store: Store, address: str) -> Issuer:
    row = store.issuer(address)
    if row is None:
        raise NotFound(f"issuer {address} is not registered in this database; run `anchor issuer register` first")
    return row


def issue_credentials(
    store: Store,
    issuer: Issuer,
    achievement: dict[str, Any],
    roster: Roster,
    *,
    skip_invalid: bool = False,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    sign: Sign | None = None,
    progress: Callable[[int], None] | None = None,
    reissue: bool = False,
    factory: CredentialFactory | None = None,
    components: Components = None,
) -> IssueReport:
    """Create one pending credential per good roster row. Raises :class:`InputError` listing
    every bad row when there are any and ``skip_invalid`` is false (nothing is inserted).

    ``reissue``: a recipient whose credential of the achievement is revoked or expired gets a new
    one (see the module doc); without it they are skipped and listed in ``report.renewable``.

    ``factory`` and ``components`` (stacked credentials, :mod:`anchor.app.stacking`): the factory
    of the stacked achievement, and each roster line's (component id, digest) pairs."""
    if roster.errors and not skip_invalid:
        shown = "\n  ".join(str(e) for e in roster.errors[:50])
        more = f"\n  ... and {len(roster.errors) - 50} more" if len(roster.errors) > 50 else ""
        raise InputError(
            f"roster has {len(roster.errors)} bad row(s); nothing was issued "
            f"(fix them, or pass --skip-invalid to issue the {len(roster.rows)} good rows):\n  {shown}{more}"
        )
    now = utcnow()
    default_from = valid_from or now
    report = IssueReport(achievement_id=achievement["id"], skipped_rows=list(roster.errors))
    factory = factory or CredentialFactory(IssuerProfile.from_json(json.loads(issuer.profile_json)), achievement)
    stored_achievement = store.achievement_for(issuer.id, achievement)
    holders = store.recipients_of(achievement["id"], issuer.id)  # to skip building their badges at all
    created_at = int(now.timestamp())

    todo: Todo = []
    ref_of = recipient_refs(achievement["id"])
    renewals: dict[str, Renewal] | None = None  # read once, only if some row's recipient holds it already
    renewing: dict[int, Renewal] = {}  # todo position → the credential it supersedes
    for row in roster.rows:
        ref = ref_of(row.email)
        if ref in holders:
            if renewals is None:
                renewals = store.renewable(issuer.id, achievement["id"], created_at)
            renewal = renewals.get(ref)
            if renewal is None:
                report.already_issued.append(row.line)
                continue
            if not reissue:
                report.renewable.append(row.line)
                continue
            renewing[len(todo)] = renewal
        start = row.valid_from or default_from
        until = row.valid_until or valid_until
        if until is not None and until <= start:
            raise InputError(f"row {row.line}: validUntil {until:%Y-%m-%dT%H:%M:%SZ} is not after validFrom {start:%Y-%m-%dT%H:%M:%SZ}")
        todo.append((row, ref, start, until, None))
    if renewing:  # the documents they supersede, for the link's digest (one read per 500)
        old = store.documents_by_pk([r.pk for r in renewing.values()])
        for position, renewal in renewing.items():
            row, ref, start, until, _ = todo[position]
            todo[position] = (row, ref, start, until, (renewal.credential_id, old[renewal.pk]))

    # One unit of work. (Overlapping inserts with building on a second thread was measured
    # slower: the driver binds parameters under the GIL, and the two threads convoy.)
    seconds: dict[datetime, int] = {}

    def unix(moment: datetime) -> int:
        value = seconds.get(moment)
        if value is None:
            value = seconds[moment] = int(moment.timestamp())
        return value

    # Each credential names its bit in the issuer's status lists (W3C Bitstring Status List), so
    # the bits are reserved before the documents are built. A row skipped at insert (issued by a
    # racing run) leaves its bit unused: it stays 0 in every list.
    first_status = store.reserve_status_indexes(issuer.id, len(todo)) if todo and issuer.public_url else None
    chunks = [todo[i : i + INSERT_CHUNK] for i in range(0, len(todo), INSERT_CHUNK)]
    status_base = (issuer.public_url, issuer.address) if first_status is not None and issuer.public_url else None
    built = _built_chunks(factory, chunks, status_base, first_status or 0, sign, parallel=len(todo) >= PARALLEL_MIN,
                          components=components)
    generation_of = {r.credential_id: r.generation + 1 for r in renewing.values()}
    rows = (
        [
            NewCredential(credential_id, ref, canonical, leaf, unix(start), unix(until) if until else None, status_index, signature,
                          row.name, row.email)
            if prior is None else
            NewCredential(credential_id, ref, canonical, leaf, unix(start), unix(until) if until else None, status_index, signature,
                          row.name, row.email, generation_of[prior[0]], prior[0])
            for (row, ref, start, until, prior), (credential_id, canonical, leaf, status_index, signature)
            in zip(chunk, issued_chunk, strict=True)
        ]
        for chunk, issued_chunk in zip(chunks, built, strict=True)
    )
    crashpoint("issue_before_insert")  # holders read, nothing inserted yet: the window a second run could race into
    inserted = store.insert_credentials(issuer.id, stored_achievement.id, rows, created_at=created_at, progress=progress)
    report.created = inserted.created
    skipped = set(inserted.skipped)
    if skipped:  # issued by another run between our read of the holders and our insert
        report.already_issued = sorted(report.already_issued + [todo[i][0].line for i in inserted.skipped])
    report.reissued = [(todo[i][0].line, r.credential_id, r.why) for i, r in sorted(renewing.items()) if i not in skipped]
    return report


Prior = tuple[str, bytes] | None  # (id, RFC 8785 document) of the credential a new one supersedes
Todo = list[tuple[RosterRow, str, datetime, datetime | None, Prior]]
Built = list[tuple[str, bytes, bytes, int | None, bytes | None]]
StatusBase = tuple[str, str] | None  # (public URL, issuer address) of the status lists; None: no credentialStatus
Sign = BadgeSigner  # makes each credential's eddsa-rdfc-2022 entry as it is built
Components = dict[int, tuple[tuple[str, str], ...]] | None  # roster line → a stacked credential's (component id, digest)s


def _build(factory: CredentialFactory, chunk: Todo, status_base: StatusBase, first_status: int, sign: Sign | None,
           components: Components = None) -> Built:
    out = []
    urls: dict[int, str] = {}
    for n, (row, _ref, start, until, prior) in enumerate(chunk):
        status = index = None
        if status_base is not None:
            index = first_status + n
            number, bit = list_location(index)
            url = urls.get(number) or urls.setdefault(number, list_url(status_base[0], status_base[1], number))
            status = (url, bit)
        issued = factory.build(name=row.name, email=row.email, valid_from=start, valid_until=until, awarded=row.awarded,
                               evidence_url=row.evidence_url, narrative=row.narrative, status=status,
                               components=components[row.line] if components else ())
        if prior is None:
            out.append((issued.credential_id, issued.canonical, issued.leaf, index, sign.sign_issued(factory, issued) if sign else None))
        else:  # a renewal or replacement names the credential it supersedes (anchor.app.reissue)
            canonical = link_superseded(issued.canonical, *prior)
            out.append((issued.credential_id, canonical, merkle.hash_leaf(canonical), index, sign(canonical) if sign else None))
    return out


def _built_chunks(factory: CredentialFactory, chunks: list[Todo], status_base: StatusBase, first_status: int,
                  sign: Sign | None, *, parallel: bool, components: Components = None) -> Iterator[Built]:
    """The credentials of each chunk, in order.

    For large rosters forked worker processes build (and sign) them while this process inserts
    the previous chunks: building and signing are pure CPU and SQLite's inserts are too, so on two
    cores the stages overlap (a thread would not: all need the GIL). Signed issuing takes two
    builders (signing is most of the work), each taking every other chunk. Workers touch no
    database and leave with ``os._exit``; if one dies, the insert transaction is rolled back and
    nothing is issued.
    """
    starts = [first_status + INSERT_CHUNK * i for i in range(len(chunks))]
    if not parallel or "fork" not in multiprocessing.get_all_start_methods():
        for chunk, start in zip(chunks, starts, strict=True):
            yield _build(factory, chunk, status_base, start, sign, components)
        return
    ctx = multiprocessing.get_context("fork")
    n_workers = max(1, min(len(chunks), BUILDERS if sign is not None else 1))
    receivers, workers = [], []
    for k in range(n_workers):
        receiver, sender = ctx.Pipe(duplex=False)
        worker = ctx.Process(target=_worker, args=(factory, chunks[k::n_workers], status_base, starts[k::n_workers], sign, sender,
                                                   components),
                             daemon=True)
        worker.start()
        sender.close()
        receivers.append(receiver)
        workers.append(worker)
    try:
        for n in range(len(chunks)):
            k = n % n_workers
            try:
                built = receivers[k].recv()
            except EOFError:
                raise StoreError(f"a credential builder process died (exit code {workers[k].exitcode})") from None
            if isinstance(built, _Failed):  # the worker's own error, as the serial path would raise it
                raise built.error
            yield built
    finally:
        for receiver in receivers:
            receiver.close()
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.kill()


@dataclass(frozen=True)
class _Failed:
    """What a builder sends instead of a chunk when building it raised an anchor error."""

    error: AnchorError


def _worker(factory: CredentialFactory, chunks: list[Todo], status_base: StatusBase, starts: list[int],
            sign: Sign | None, sender: Connection, components: Components = None) -> None:
    code = 0
    try:
        for chunk, start in zip(chunks, starts, strict=True):
            sender.send(_build(factory, chunk, status_base, start, sign, components))
    except AnchorError as e:  # the parent raises it: the same message as without a worker
        code = 1
        try:
            sender.send(_Failed(e))
        except BaseException:
            pass
    except BaseException:  # the parent sees EOF and reports it
        code = 1
    finally:
        sender.close()
        os._exit(code)  # no finalizers: nothing inherited (database handles) is closed from here
