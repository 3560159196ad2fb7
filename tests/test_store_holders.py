"""Schema 4's delivery columns on SQLite and PostgreSQL: holders' names and emails kept by the
issuer, documents read back by id, page visibility (hidden per credential, public pages per issuer)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from anchor.app.issuing import recipient_ref
from anchor.core.credential import CredentialFactory, IssuerProfile
from anchor.store import NewCredential, Store

PROFILE = IssuerProfile(id="https://uni.example/issuer", name="Uni")
ACHIEVEMENT: dict[str, Any] = {"id": "https://uni.example/a/1", "type": ["Achievement"], "name": "A", "description": "D",
                               "criteria": {"narrative": "C"}, "achievementType": "MicroCredential"}
FACTORY = CredentialFactory(PROFILE, ACHIEVEMENT)


def _row(email: str, *, name: str, signature: bytes | None = None, generation: int = 0,
         supersedes: str | None = None) -> NewCredential:
    issued = FACTORY.build(name=name, email=email, valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    return NewCredential(issued.credential_id, recipient_ref(ACHIEVEMENT["id"], email), issued.canonical, issued.leaf, 0,
                         None, None, signature, name, email, generation, supersedes)


def test_holder_columns_documents_and_visibility(store: Store) -> None:
    issuer = store.upsert_issuer("0x" + "11" * 20, PROFILE.id, PROFILE.to_json())
    achievement = store.achievement_for(issuer.id, ACHIEVEMENT)
    first = _row("ada@example.org", name="Ada Lovelace", signature=b'{"type":"DataIntegrityProof"}')
    plain = _row("bob@example.org", name="Bob")
    assert store.insert_credentials(issuer.id, achievement.id, [[first, plain]], created_at=1).created == 2

    stored = store.credential(first.credential_id)
    assert stored is not None
    assert (stored.holder_name, stored.holder_email, stored.generation, stored.supersedes) == \
        ("Ada Lovelace", "ada@example.org", 0, None)
    assert (stored.exported_at, stored.hidden) == (None, False)

    assert store.document_of(first.credential_id) == (first.document, b'{"type":"DataIntegrityProof"}')
    assert store.document_of(plain.credential_id) == (plain.document, None)
    assert store.document_of("urn:uuid:00000000-0000-4000-8000-000000000000") is None

    assert store.visibility(first.credential_id) == (False, True)
    assert store.set_hidden(first.credential_id, True) is True
    assert store.visibility(first.credential_id) == (True, True)
    assert store.visibility(plain.credential_id) == (False, True)
    store.set_public_pages(issuer.id, False)
    assert store.visibility(plain.credential_id) == (False, False)
    found = store.issuer_by_id(issuer.id)
    assert found is not None and found.public_pages is False and found.address == issuer.address
    assert store.set_hidden(first.credential_id, False) is True
    store.set_public_pages(issuer.id, True)
    assert store.visibility(first.credential_id) == (False, True)
    assert store.set_hidden("urn:uuid:00000000-0000-4000-8000-000000000000", True) is False
    assert store.issuer_by_id(issuer.id + 99) is None
    assert store.visibility("urn:uuid:00000000-0000-4000-8000-000000000000") is None


def test_a_later_generation_of_the_same_award_is_a_separate_row_linking_the_old_one(store: Store) -> None:
    issuer = store.upsert_issuer("0x" + "22" * 20, PROFILE.id, PROFILE.to_json())
    achievement = store.achievement_for(issuer.id, ACHIEVEMENT)
    old = _row("cy@example.org", name="Cy")
    assert store.insert_credentials(issuer.id, achievement.id, [[old]], created_at=1).created == 1
    again = _row("cy@example.org", name="Cy")
    assert store.insert_credentials(issuer.id, achievement.id, [[again]], created_at=2).skipped == [0]
    renewed = _row("cy@example.org", name="Cy", generation=1, supersedes=old.credential_id)
    assert store.insert_credentials(issuer.id, achievement.id, [[renewed]], created_at=3).created == 1
    got = store.credential(renewed.credential_id)
    assert got is not None and (got.generation, got.supersedes) == (1, old.credential_id)
