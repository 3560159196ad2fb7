"""Revocation requests against a batching that runs at the same moment (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import update

from anchor.app.issuing import recipient_ref
from anchor.core.credential import CredentialFactory, IssuerProfile
from anchor.core.errors import InputError
from anchor.core.status import BatchStatus
from anchor.store import NewCredential, Store
from anchor.store.schema import BatchRow, CredentialRow

PROFILE = IssuerProfile(id="https://uni.example/issuer", name="Uni")
ACHIEVEMENT = {"id": "https://uni.example/a/1", "type": ["Achievement"], "name": "A", "description": "D",
               "criteria": {"narrative": "C"}, "achievementType": "MicroCredential"}


def test_withdrawing_never_deletes_a_credential_that_was_batched_meanwhile(store: Store) -> None:
    """`anchor revoke` of a pending credential deletes it (it was never released). If an `anchor`
    batches it between the revoke's read and its delete, the delete must not happen: the batch's
    tree already holds the leaf, and deleting it would leave a hole in an anchored batch."""
    issuer = store.upsert_issuer("0x" + "11" * 20, PROFILE.id, PROFILE.to_json())
    achievement = store.achievement_for(issuer.id, ACHIEVEMENT)
    issued = CredentialFactory(PROFILE, ACHIEVEMENT).build(name="P", email="p@example.org", valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    row = NewCredential(issued.credential_id, recipient_ref(ACHIEVEMENT["id"], "p@example.org"), issued.canonical, issued.leaf, 0, None)
    store.insert_credentials(issuer.id, achievement.id, [[row]], created_at=0)

    outcome: list[BaseException | object] = []

    def revoke() -> None:
        try:
            outcome.append(store.request_revocations(issuer.id, [issued.credential_id], 1, None))
        except BaseException as e:
            outcome.append(e)

    with store.session() as s:  # a batching unit of work, not committed yet
        batch = BatchRow(issuer_id=issuer.id, root=b"\x01" * 32, leaf_count=1, status=BatchStatus.PENDING.value, created_at=0)
        s.add(batch)
        s.flush()
        s.execute(update(CredentialRow).where(CredentialRow.credential_id == issued.credential_id).values(batch_id=batch.id, leaf_index=0))
        thread = threading.Thread(target=revoke)
        thread.start()
        time.sleep(1.0)  # the revoke has read "in no batch" and now waits for the batching's locks
        assert thread.is_alive() and not outcome
    thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], InputError), outcome
    kept = store.credential(issued.credential_id)
    assert kept is not None and kept.batch_id == batch.id
    assert [cid for _, cid, _ in store.iter_documents(batch.id)] == [issued.credential_id]  # its document too


def test_withdrawing_a_pending_credential_deletes_it(store: Store) -> None:
    issuer = store.upsert_issuer("0x" + "11" * 20, PROFILE.id, PROFILE.to_json())
    achievement = store.achievement_for(issuer.id, ACHIEVEMENT)
    issued = CredentialFactory(PROFILE, ACHIEVEMENT).build(name="P", email="p@example.org", valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    row = NewCredential(issued.credential_id, recipient_ref(ACHIEVEMENT["id"], "p@example.org"), issued.canonical, issued.leaf, 0, None)
    store.insert_credentials(issuer.id, achievement.id, [[row]], created_at=0)
    request = store.request_revocations(issuer.id, [issued.credential_id], 1, None)
    assert (request.recorded, request.withdrawn, request.already) == (0, [issued.credential_id], [])
    assert store.credential(issued.credential_id) is None and store.counts(issuer.id).pending == 0
