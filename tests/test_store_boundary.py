"""The store's boundary: plain values in, frozen records out, all SQL inside ``anchor.store``;
uniqueness the database itself enforces (issue 9)."""

from __future__ import annotations

import ast
import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from anchor.app.issuing import recipient_ref
from anchor.core.credential import CredentialFactory, IssuerProfile
from anchor.core.errors import StoreError
from anchor.core.status import BatchStatus
from anchor.store import Batch, Issuer, NewCredential, Store
from anchor.store.schema import BatchRow

SRC = Path(__file__).resolve().parents[1] / "src" / "anchor"
PROFILE = IssuerProfile(id="https://uni.example/issuer", name="Uni")
ACHIEVEMENT = {"id": "https://uni.example/a/1", "type": ["Achievement"], "name": "A", "description": "D",
               "criteria": {"narrative": "C"}, "achievementType": "MicroCredential"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_layer_above_the_store_touches_sql_or_rows() -> None:
    offenders = [
        f"{path.relative_to(SRC)}: {name}"
        for layer in ("app", "api", "cli")
        for path in sorted((SRC / layer).rglob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] == "sqlalchemy" or name.startswith("anchor.store.")
    ]
    assert offenders == []


def _credentials(emails: list[str]) -> list[NewCredential]:
    factory = CredentialFactory(PROFILE, ACHIEVEMENT)
    out = []
    for email in emails:
        issued = factory.build(name="P", email=email, valid_from=datetime(2026, 1, 1, tzinfo=UTC))
        out.append(NewCredential(issued.credential_id, recipient_ref(ACHIEVEMENT["id"], email), issued.canonical, issued.leaf, 0, None))
    return out


def test_records_are_frozen_values_with_enum_states(store: Store) -> None:
    issuer = store.upsert_issuer("0x" + "11" * 20, PROFILE.id, PROFILE.to_json())
    achievement = store.achievement_for(issuer.id, ACHIEVEMENT)
    store.insert_credentials(issuer.id, achievement.id, [_credentials(["a@example.org"])], created_at=0)
    batch = store.create_batch(issuer.id, 10)
    assert isinstance(issuer, Issuer) and isinstance(batch, Batch)
    assert batch.status is BatchStatus.PENDING and store.batches(issuer.id)[0].status is BatchStatus.PENDING
    with pytest.raises(dataclasses.FrozenInstanceError):
        batch.status = BatchStatus.CONFIRMED  # type: ignore[misc]
    assert store.issuer(issuer.address) == issuer  # a value: equal when read again


def test_a_recipient_who_holds_the_achievement_is_skipped_by_the_database(store: Store) -> None:
    issuer = store.upsert_issuer("0x" + "11" * 20, PROFILE.id, PROFILE.to_json())
    other = store.upsert_issuer("0x" + "22" * 20, PROFILE.id, PROFILE.to_json())
    achievement = store.achievement_for(issuer.id, ACHIEVEMENT)
    first = store.insert_credentials(issuer.id, achievement.id, [_credentials(["a@example.org", "b@example.org"])], created_at=0)
    assert (first.created, first.skipped) == (2, [])
    # Same recipients again (fresh credential ids, as a second run builds them), one new, in two chunks.
    again = store.insert_credentials(issuer.id, achievement.id,
                                     [_credentials(["c@example.org", "A@Example.org "]), _credentials(["b@example.org"])],
                                     created_at=0)
    assert (again.created, again.skipped) == (1, [1, 2])
    # Another issuer's credential for the same person is its own.
    theirs = store.insert_credentials(other.id, store.achievement_for(other.id, ACHIEVEMENT).id, [_credentials(["a@example.org"])],
                                      created_at=0)
    assert theirs.created == 1
    assert store.counts(issuer.id).pending == 3
    batch = store.create_batch(issuer.id, 10)
    assert batch is not None and batch.leaf_count == 3
    assert len(list(store.iter_documents(batch.id))) == 3  # no skipped row left a document behind


def test_a_root_is_unique_per_issuer_not_globally(store: Store) -> None:
    a = store.upsert_issuer("0x" + "11" * 20, PROFILE.id, PROFILE.to_json())
    b = store.upsert_issuer("0x" + "22" * 20, PROFILE.id, PROFILE.to_json())
    root = b"\x42" * 32
    with store.session() as s:
        for issuer_id in (a.id, b.id):
            s.add(BatchRow(issuer_id=issuer_id, root=root, leaf_count=1, status=BatchStatus.PENDING.value, created_at=0))
    found_a, found_b = store.batch_by_root(a.id, root), store.batch_by_root(b.id, root)
    assert found_a is not None and found_b is not None and found_a.id != found_b.id
    with pytest.raises(StoreError), store.session() as s:
        s.add(BatchRow(issuer_id=a.id, root=root, leaf_count=1, status=BatchStatus.PENDING.value, created_at=0))
