"""``anchor export --clr EMAIL``: one holder's learner record (CLR 2.0 ``ClrCredential``).

Every credential of the holder from this issuer that is anchored (confirmed batch), not revoked
and not expired goes in, as the complete badge a holder receives: the stored document, its stored
signature and its anchor receipt (:func:`anchor.app.exporting.credential_with_proof`). So each
embedded badge verifies on its own, on chain, exactly as the holder's own copy does. Stacked
credentials relate to their components by ``isParentOf`` associations
(:func:`anchor.core.clr.stack_associations`). The record itself is signed by the issuer
(``eddsa-rdfc-2022``); it is not anchored: its authority is its signature and its contents'.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anchor.app.exporting import credential_with_proof, receipts_for
from anchor.app.signing import BadgeSigner
from anchor.core import merkle
from anchor.core.clr import clr_credential, stack_associations
from anchor.core.credential import new_credential_id, new_salt, normalize_email
from anchor.core.errors import NotFound, StoreError
from anchor.core.records import Issuer
from anchor.core.status import BatchStatus
from anchor.core.timefmt import format_ts, utcnow
from anchor.store import Store


@dataclass(frozen=True)
class ClrReport:
    path: Path
    credentials: int
    associations: int
    left_out: dict[str, int]  # state (pending, revoked, revoking, expired) -> credentials not in the record


def holder_badges(store: Store, issuer: Issuer, email: str, *, at: int) -> tuple[list[dict[str, Any]], str | None, dict[str, int]]:
    """The complete badges of the holder's anchored, unrevoked, unexpired credentials (oldest
    first), the holder's name, and how many were left out by state."""
    found = store.find_credentials(issuer.id, email=normalize_email(email), at=at, limit=10_000)
    badges: list[dict[str, Any]] = []
    left_out: dict[str, int] = {}
    name: str | None = None
    batches: dict[int, tuple[list[bytes], Any, int]] = {}
    for held in found:
        if held.status != "anchored":
            left_out[held.status] = left_out.get(held.status, 0) + 1
            continue
        credential = store.credential(held.credential_id)
        stored = store.document_of(held.credential_id)
        if credential is None or stored is None or credential.batch_id is None or credential.leaf_index is None:
            raise StoreError(f"credential {held.credential_id} is anchored but its document or batch is missing")
        if credential.batch_id not in batches:
            batch = store.batch(credential.batch_id)
            if batch is None or batch.status is not BatchStatus.CONFIRMED:
                raise StoreError(f"batch {credential.batch_id} of {held.credential_id} is not confirmed")
            batches[batch.id] = (store.levels(batch.id), receipts_for(batch, issuer.address), batch.leaf_count)
        levels, receipts, leaf_count = batches[credential.batch_id]
        document, signature = stored
        path = merkle.path_json(levels, credential.leaf_index, leaf_count)
        badges.append(json.loads(credential_with_proof(document, receipts.render(credential.leaf_index, path), signature)))
        name = name or held.holder_name
    return badges, name, left_out


def export_clr(store: Store, issuer: Issuer, email: str, directory: Path, signer: BadgeSigner, *, at: int) -> ClrReport:
    """Write ``directory/clr-<email>.json``: the holder's signed learner record. NotFound when the
    holder has no anchored, valid credential from this issuer."""
    badges, name, left_out = holder_badges(store, issuer, email, at=at)
    if not badges:
        states = ", ".join(f"{n} {s}" for s, n in sorted(left_out.items())) or "none at all"
        raise NotFound(f"no anchored, valid credential of {normalize_email(email)} from this issuer ({states})")
    associations = stack_associations(badges)
    record = clr_credential(credential_id=new_credential_id(), holder_name=name, holder_email=email, salt=new_salt(),
                            issuer=badges[-1]["issuer"], credentials=badges, associations=associations,
                            valid_from=format_ts(utcnow()))
    signed = signer.sign_document(record)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"clr-{_safe(normalize_email(email))}.json"
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(json.dumps(signed, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, target)
    return ClrReport(target, len(badges), len(associations), left_out)


def _safe(email: str) -> str:
    """The email as a file-name part: letters, digits and ``@._+-`` kept, anything else ``_``."""
    return "".join(c if c.isalnum() or c in "@._+-" else "_" for c in email)[:200]
