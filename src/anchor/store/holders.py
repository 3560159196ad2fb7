"""What the issuer keeps about holders, for delivery: finding credentials by holder, the export
manifest's rows, renewals, expiring credentials, and the record of emails sent (``deliveries``).

Names and emails are issuer-private columns (the credential itself carries only a salted hash
of the email). There is no index on them: a lookup by holder scans the issuer's credentials
(measured about 0.3 s per million rows on SQLite), which costs less than an index on a random
key would add to every issuing run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from anchor.core.records import Delivery, Expiring, HolderCredential, HolderRow, Outgoing, Renewal
from anchor.core.status import BatchStatus, RevocationStatus
from anchor.store.engine import Database, now
from anchor.store.schema import AchievementRow, BatchRow, CredentialRow, DeliveryRow, DocumentRow, RevocationRow

C = CredentialRow
_CONFIRMED = RevocationStatus.CONFIRMED.value
_PK_CHUNK = 500  # ids per IN (...) list


def _revoked(*, confirmed_only: bool) -> Any:
    """SQL: the credential ``C`` is revoked (on chain, or also: being revoked), by itself or with its whole batch."""
    one = exists().where(RevocationRow.credential_pk == C.id)
    whole = exists().where(RevocationRow.batch_id == C.batch_id, RevocationRow.leaf_index.is_(None))
    if confirmed_only:
        one = exists().where(RevocationRow.credential_pk == C.id, RevocationRow.status == _CONFIRMED)
        whole = exists().where(RevocationRow.batch_id == C.batch_id, RevocationRow.leaf_index.is_(None),
                               RevocationRow.status == _CONFIRMED)
    return or_(one, whole)


def _latest() -> Any:
    """SQL: no later generation of ``C``'s award exists (it was not renewed or replaced)."""
    newer = aliased(CredentialRow)
    return ~exists().where(newer.issuer_id == C.issuer_id, newer.recipient_ref == C.recipient_ref,
                           newer.generation > C.generation)


def delivery_record(row: DeliveryRow) -> Delivery:
    return Delivery(row.credential_pk, row.email, row.status, row.attempts, row.last_error, row.sent_at, row.message_id)


class HolderQueries(Database):
    # ------------------------------------------------------------------ renewals

    def renewable(self, issuer_id: int, achievement_uri: str, at: int) -> dict[str, Renewal]:
        """recipient_ref → the latest credential of this achievement for each recipient whose
        latest one is revoked (confirmed on chain) or expired at ``at``."""
        revoked = _revoked(confirmed_only=True)
        q = (
            select(C.id, C.credential_id, C.recipient_ref, C.generation, revoked)
            .join(AchievementRow, C.achievement_id == AchievementRow.id)
            .where(C.issuer_id == issuer_id, AchievementRow.issuer_id == issuer_id,
                   AchievementRow.achievement_uri == achievement_uri,
                   or_(revoked, and_(C.valid_until.is_not(None), C.valid_until <= at)), _latest())
        )
        with self.connect() as conn:
            return {str(ref): Renewal(int(pk), str(cid), int(gen), "revoked" if is_revoked else "expired")
                    for pk, cid, ref, gen, is_revoked in conn.execute(q)}

    def documents_by_pk(self, pks: Sequence[int]) -> dict[int, bytes]:
        """The stored documents of these credentials (by primary key)."""
        out: dict[int, bytes] = {}
        with self.connect() as conn:
            for i in range(0, len(pks), _PK_CHUNK):
                q = select(DocumentRow.credential_pk, DocumentRow.document).where(
                    DocumentRow.credential_pk.in_(list(pks[i : i + _PK_CHUNK])))
                out.update((int(pk), bytes(doc)) for pk, doc in conn.execute(q))
        return out

    # ------------------------------------------------------------------ stacking

    def stack_candidates(self, issuer_id: int, achievement_uris: Sequence[str] | None) -> list[tuple[str, str, str | None, str]]:
        """(credential id, holder email, holder name, achievement URI) of the issuer's latest
        credentials of these achievements (None: of any) that have a holder email, oldest first.
        Revoked and unanchored ones too: ``anchor stack`` asks the chain about each, and tells
        the holder why one does not count."""
        q = (
            select(C.credential_id, C.holder_email, C.holder_name, AchievementRow.achievement_uri)
            .join(AchievementRow, C.achievement_id == AchievementRow.id)
            .where(C.issuer_id == issuer_id, C.holder_email.is_not(None), _latest())
            .order_by(C.id)
        )
        if achievement_uris is not None:
            q = q.where(AchievementRow.achievement_uri.in_(list(achievement_uris)))
        with self.connect() as conn:
            return [(str(cid), str(mail), name, str(uri)) for cid, mail, name, uri in conn.execute(q)]

    # ------------------------------------------------------------------ finding

    def find_credentials(self, issuer_id: int, *, email: str | None = None, name: str | None = None, at: int,
                         limit: int = 200) -> list[HolderCredential]:
        """The issuer's credentials whose holder has exactly this (normalized) email and/or whose
        name contains ``name`` (case-insensitive), oldest first."""
        one = select(RevocationRow.status).where(RevocationRow.credential_pk == C.id).limit(1).scalar_subquery()
        whole = (select(RevocationRow.status).where(RevocationRow.batch_id == C.batch_id, RevocationRow.leaf_index.is_(None))
                 .order_by(RevocationRow.id).limit(1).scalar_subquery())
        q = (
            select(C.credential_id, C.holder_name, C.holder_email, AchievementRow.name, BatchRow.status, C.valid_from,
                   C.valid_until, C.generation, C.supersedes, one, whole)
            .join(AchievementRow, C.achievement_id == AchievementRow.id)
            .outerjoin(BatchRow, C.batch_id == BatchRow.id)
            .where(C.issuer_id == issuer_id)
            .order_by(C.id)
            .limit(limit)
        )
        if email is not None:
            q = q.where(C.holder_email == email)
        if name is not None:
            q = q.where(func.lower(C.holder_name).contains(name.lower(), autoescape=True))
        out = []
        with self.connect() as conn:
            for cid, holder, mail, achievement, batch_status, start, until, gen, supersedes, rev_one, rev_whole in conn.execute(q):
                revs = {rev_one, rev_whole} - {None}
                if _CONFIRMED in revs:
                    state = "revoked"
                elif revs:
                    state = "revoking"
                elif until is not None and until <= at:
                    state = "expired"
                elif batch_status == BatchStatus.CONFIRMED.value:
                    state = "anchored"
                else:
                    state = "pending"
                out.append(HolderCredential(str(cid), holder, mail, str(achievement), state, int(start),
                                            int(until) if until is not None else None, int(gen or 0), supersedes))
        return out

    # ------------------------------------------------------------------ export

    def holder_rows(self, batch_id: int, *, only_unexported: bool = False, page: int = 10_000) -> Iterator[HolderRow]:
        """The batch's credentials with their holders, in leaf order, a page at a time
        (``only_unexported``: those no export has written yet)."""
        start = -1
        while True:
            q = (
                select(C.leaf_index, C.id, C.credential_id, C.holder_name, C.holder_email, AchievementRow.name,
                       C.valid_from, C.valid_until)
                .join(AchievementRow, C.achievement_id == AchievementRow.id)
                .where(C.batch_id == batch_id, C.leaf_index > start)
                .order_by(C.leaf_index)
                .limit(page)
            )
            if only_unexported:
                q = q.where(C.exported_at.is_(None))
            with self.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            for r in rows:
                yield HolderRow(int(r[0]), int(r[1]), str(r[2]), r[3], r[4], str(r[5]), int(r[6]),
                                int(r[7]) if r[7] is not None else None)
            start = int(rows[-1][0])

    def unexported_batches(self, issuer_id: int) -> dict[int, int]:
        """batch id → how many of its credentials no export has written yet (batches with none are left out)."""
        with self.connect() as conn:
            q = (select(C.batch_id, func.count()).where(C.issuer_id == issuer_id, C.batch_id.is_not(None), C.exported_at.is_(None))
                 .group_by(C.batch_id))
            return {int(b): int(n) for b, n in conn.execute(q)}

    def mark_exported(self, batch_id: int, at: int) -> int:
        """Record that the batch's credentials were exported (first export only: a credential
        keeps the time it was first written). Returns how many were new."""
        with self.session() as s:
            done = s.execute(update(CredentialRow).where(CredentialRow.batch_id == batch_id, CredentialRow.exported_at.is_(None))
                             .values(exported_at=at))
            return int(done.rowcount)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ expiry

    def expiring(self, issuer_id: int, at: int, days: int, *, sample: int = 5) -> Expiring:
        """The issuer's credentials whose validity ends in ``(at, at + days]``, not revoked (nor
        being revoked) and not renewed: how many, and the first ``sample`` of them."""
        where = and_(C.issuer_id == issuer_id, C.valid_until.is_not(None), C.valid_until > at,
                     C.valid_until <= at + days * 86_400, ~_revoked(confirmed_only=False), _latest())
        with self.connect() as conn:
            count = int(conn.execute(select(func.count()).select_from(C).where(where)).scalar() or 0)
            first = [(str(cid), int(until)) for cid, until in
                     conn.execute(select(C.credential_id, C.valid_until).where(where).order_by(C.valid_until, C.id).limit(sample))]
        return Expiring(days, count, first)

    # ------------------------------------------------------------------ deliveries

    def outgoing(self, issuer_id: int, *, at: int, batch_id: int | None = None, retry_failed: bool = True,
                 resend_interrupted: bool = False, after_pk: int = 0, limit: int = 200) -> list[Outgoing]:
        """The next ``limit`` credentials (by primary key after ``after_pk``) to email to their
        holders: anchored (confirmed batch), with a holder email, not revoked nor being revoked,
        not expired at ``at``, and not delivered: never tried, or failed (``retry_failed``), or
        interrupted mid-send (``resend_interrupted``)."""
        states: list[Any] = [DeliveryRow.status.is_(None)]
        if retry_failed:
            states.append(DeliveryRow.status == "failed")
        if resend_interrupted:
            states.append(DeliveryRow.status == "sending")
        q = (
            select(C.id, C.credential_id, C.holder_name, C.holder_email, AchievementRow.name, C.batch_id, C.leaf_index,
                   C.valid_from, C.valid_until, DocumentRow.document, DocumentRow.signature, DeliveryRow.status, C.hidden)
            .join(AchievementRow, C.achievement_id == AchievementRow.id)
            .join(BatchRow, C.batch_id == BatchRow.id)
            .join(DocumentRow, DocumentRow.credential_pk == C.id)
            .outerjoin(DeliveryRow, DeliveryRow.credential_pk == C.id)
            .where(C.issuer_id == issuer_id, C.id > after_pk, BatchRow.status == BatchStatus.CONFIRMED.value,
                   C.holder_email.is_not(None), or_(C.valid_until.is_(None), C.valid_until > at),
                   ~_revoked(confirmed_only=False), or_(*states))
            .order_by(C.id)
            .limit(limit)
        )
        if batch_id is not None:
            q = q.where(C.batch_id == batch_id)
        with self.connect() as conn:
            return [Outgoing(int(r[0]), str(r[1]), r[2], str(r[3]), str(r[4]), int(r[5]), int(r[6]), int(r[7]),
                             int(r[8]) if r[8] is not None else None, bytes(r[9]), bytes(r[10]) if r[10] is not None else None,
                             r[11], bool(r[12])) for r in conn.execute(q)]

    def claim_delivery(self, credential_pk: int, email: str, message_id: str, *, was: str | None) -> bool:
        """Mark the credential's delivery ``sending`` before its message is handed to the SMTP
        server, if its status is still ``was`` (None: no delivery yet): compare-and-set, so two
        `anchor notify` runs at once never both send it. False: someone else claimed it."""
        with self.session() as s:
            if was is None:  # RETURNING says whether the row was inserted (rowcount is not reliable for a skipped insert)
                inserted = s.execute(self.insert_ignore(DeliveryRow.__table__).values(
                    credential_pk=credential_pk, email=email, status="sending", attempts=0, message_id=message_id,
                    updated_at=now()).returning(DeliveryRow.credential_pk)).first()
                return inserted is not None
            done = s.execute(update(DeliveryRow).where(DeliveryRow.credential_pk == credential_pk, DeliveryRow.status == was)
                             .values(email=email, status="sending", message_id=message_id, last_error=None, updated_at=now()))
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def finish_delivery(self, credential_pk: int, *, sent: bool, attempts: int, error: str | None = None) -> None:
        """Record the outcome of a claimed delivery (``attempts`` made by this run are added)."""
        at = now()
        with self.session() as s:
            s.execute(update(DeliveryRow).where(DeliveryRow.credential_pk == credential_pk).values(
                status="sent" if sent else "failed", attempts=DeliveryRow.attempts + attempts, last_error=error,
                sent_at=at if sent else None, updated_at=at))

    def delivery(self, credential_id: str) -> Delivery | None:
        with self.session() as s:
            row = s.scalar(select(DeliveryRow).join(C, DeliveryRow.credential_pk == C.id).where(C.credential_id == credential_id))
            return delivery_record(row) if row is not None else None

    def delivery_counts(self, issuer_id: int) -> dict[str, int]:
        """How many of the issuer's deliveries are in each status (sent, failed, sending)."""
        with self.connect() as conn:
            q = (select(DeliveryRow.status, func.count()).join(C, DeliveryRow.credential_pk == C.id)
                 .where(C.issuer_id == issuer_id).group_by(DeliveryRow.status))
            return {str(st): int(n) for st, n in conn.execute(q)}

    def interrupted_deliveries(self, issuer_id: int, *, limit: int = 20) -> list[tuple[str, str, str | None]]:
        """(credential id, email, Message-ID) of deliveries left ``sending`` by a run that stopped."""
        with self.connect() as conn:
            q = (select(C.credential_id, DeliveryRow.email, DeliveryRow.message_id).join(C, DeliveryRow.credential_pk == C.id)
                 .where(C.issuer_id == issuer_id, DeliveryRow.status == "sending").order_by(C.id).limit(limit))
            return [(str(a), str(b), c) for a, b, c in conn.execute(q)]
