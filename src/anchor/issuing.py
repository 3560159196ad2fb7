"""``anchor issue``: a roster and an achievement become pending credentials in the database.

All or nothing: a roster with bad rows is refused as a whole (every bad row listed) unless the
caller asks to skip them; the credentials of one run are inserted in one database transaction.
Re-running the same roster issues nothing twice: a recipient who already holds the achievement
is reported and skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from anchor.credentials import CredentialFactory, IssuerProfile
from anchor.errors import InputError, NotFound
from anchor.roster import Roster, RowError
from anchor.store import Store
from anchor.store.schema import IssuerRow
from anchor.timefmt import utcnow

INSERT_CHUNK = 5000


@dataclass
class IssueReport:
    achievement_id: str
    created: int = 0
    skipped_rows: list[RowError] = field(default_factory=list)
    already_issued: list[int] = field(default_factory=list)  # roster line numbers


def recipient_ref(email: str) -> str:
    return hashlib.sha256(email.encode("utf-8")).hexdigest()


def issuer_row_for(store: Store, address: str) -> IssuerRow:
    row = store.issuer(address)
    if row is None:
        raise NotFound(f"issuer {address} is not registered in this database; run `anchor issuer register` first")
    return row


def issue_credentials(
    store: Store,
    issuer: IssuerRow,
    achievement: dict[str, Any],
    roster: Roster,
    *,
    skip_invalid: bool = False,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> IssueReport:
    """Create one pending credential per good roster row. Raises :class:`InputError` listing
    every bad row when there are any and ``skip_invalid`` is false (nothing is inserted)."""
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
    factory = CredentialFactory(IssuerProfile.from_json(json.loads(issuer.profile_json)), achievement)
    ach_row = store.achievement_for(issuer.id, achievement)
    holders = store.recipients_of(achievement["id"], issuer.id)
    created_at = int(now.timestamp())

    todo = []
    for row in roster.rows:
        ref = recipient_ref(row.email)
        if ref in holders:
            report.already_issued.append(row.line)
            continue
        start = row.valid_from or default_from
        until = row.valid_until or valid_until
        if until is not None and until <= start:
            raise InputError(f"row {row.line}: validUntil {until:%Y-%m-%dT%H:%M:%SZ} is not after validFrom {start:%Y-%m-%dT%H:%M:%SZ}")
        todo.append((row, ref, start, until))

    with store.session() as s:
        batch: list[dict[str, Any]] = []
        for row, ref, start, until in todo:
            issued = factory.build(
                name=row.name, email=row.email, valid_from=start, valid_until=until, awarded=row.awarded,
                evidence_url=row.evidence_url, narrative=row.narrative,
            )
            batch.append(
                {
                    "credential_id": issued.credential_id,
                    "issuer_id": issuer.id,
                    "achievement_id": ach_row.id,
                    "recipient_ref": ref,
                    "document": issued.canonical,
                    "leaf_hash": issued.leaf,
                    "valid_from": int(start.timestamp()),
                    "valid_until": int(until.timestamp()) if until else None,
                    "created_at": created_at,
                }
            )
            if len(batch) >= INSERT_CHUNK:
                store.insert_credentials(s, batch)
                report.created += len(batch)
                if progress:
                    progress(len(batch))
                batch = []
        store.insert_credentials(s, batch)
        report.created += len(batch)
        if progress and batch:
            progress(len(batch))
    return report
