"""Named locks: advisory-lock keys per namespace, and the issuer's run lock across processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest

from anchor.app.issuing import recipient_ref
from anchor.core.credential import CredentialFactory, IssuerProfile
from anchor.core.errors import StoreError
from anchor.store import NewCredential, Store
from anchor.store.locks import INT4_MAX, LockSpace, lock_key, xact_lock

PROFILE = IssuerProfile(id="https://uni.example/issuer", name="Uni")
ACHIEVEMENT = {"id": "https://uni.example/a/1", "type": ["Achievement"], "name": "A", "description": "D",
               "criteria": {"narrative": "C"}, "achievementType": "MicroCredential"}


def test_lock_keys_of_different_namespaces_never_collide() -> None:
    ids = [0, 1, 99_999, 100_000, 100_001, INT4_MAX]
    keys = [lock_key(space, i) for space in LockSpace for i in ids]
    assert len(set(keys)) == len(keys)
    # The old single keys: 7_000_000 + 100_000 (batching of issuer 100,000) == 7_100_000 (credential ids).
    assert lock_key(LockSpace.BATCHING, 100_000) != lock_key(LockSpace.CREDENTIAL_IDS, 0)
    with pytest.raises(ValueError):
        lock_key(LockSpace.ISSUER_RUN, INT4_MAX + 1)


def _one_credential(store: Store) -> tuple[int, int, list[NewCredential]]:
    issuer = store.upsert_issuer("0x" + "11" * 20, PROFILE.id, PROFILE.to_json())
    achievement = store.achievement_for(issuer.id, ACHIEVEMENT)
    issued = CredentialFactory(PROFILE, ACHIEVEMENT).build(name="P", email="p@example.org", valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    row = NewCredential(issued.credential_id, recipient_ref(ACHIEVEMENT["id"], "p@example.org"), issued.canonical, issued.leaf, 0, None)
    return issuer.id, achievement.id, [row]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # SQLite has no advisory locks: its writers are serialized anyway
def test_batching_issuer_100000_does_not_block_issuing(store: Store) -> None:
    """With PostgreSQL, the batching lock of issuer 100,000 is held while another issuer inserts
    credentials: the insert must not wait for it (the old keys made them one lock)."""
    assert store.is_postgres
    issuer_id, achievement_id, rows = _one_credential(store)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.session() as s:
            xact_lock(s, LockSpace.BATCHING, 100_000)
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(store.insert_credentials(issuer_id, achievement_id, [rows], created_at=0)))
    worker.start()
    worker.join(timeout=10)
    blocked = worker.is_alive()
    release.set()
    holder.join()
    worker.join()
    assert not blocked, "issuing waited for the batching lock of issuer 100,000"
    assert store.counts(issuer_id).pending == 1


HOLD = """
import sys, time
from anchor.store import Store
store = Store.open(sys.argv[1])
with store.issuer_lock(int(sys.argv[2])):
    print("held", flush=True)
    time.sleep(120)
"""


def test_issuer_run_lock_is_exclusive_across_processes_and_dies_with_its_holder(store: Store, db_url: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, db_url, "1"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError) as busy:
            with store.issuer_lock(1, what="issuer 0xabc"):
                pytest.fail("the lock was granted twice")
        assert busy.value.reason == "issuer_busy" and str(busy.value).startswith("issuer 0xabc is busy")
        with store.issuer_lock(2):  # another issuer is not held up
            pass
    finally:
        holder.kill()  # kill -9: no unlock, no cleanup
        holder.wait()
    deadline = time.monotonic() + 10
    while True:  # the kernel (file lock) or the server (closed session) releases it
        try:
            with store.issuer_lock(1):
                break
        except StoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_issuer_run_lock_nests_in_one_thread_but_not_across_threads(store: Store) -> None:
    """A repair holds the lock around resetting batches and the ordinary anchoring run, which
    takes it again; another thread of the same process is still refused."""
    outcome: list[str] = []

    def other() -> None:
        try:
            with store.issuer_lock(7):
                outcome.append("granted")
        except StoreError as e:
            outcome.append(e.reason)

    with store.issuer_lock(7):
        with store.issuer_lock(7):  # nested: runs
            thread = threading.Thread(target=other)
            thread.start()
            thread.join()
        thread = threading.Thread(target=other)  # still held by the outer block
        thread.start()
        thread.join()
    other()  # released at last
    assert outcome == ["issuer_busy", "issuer_busy", "granted"]


def test_stores_in_two_schemas_of_one_database_never_block_each_other(tmp_path: object) -> None:
    """Advisory locks belong to the whole PostgreSQL database: anchor scopes its keys to the
    schema, so two stores (two deployments, or two test runs) sharing one database each hold
    their issuer 1's run lock at once, while a second holder in the same schema is refused."""
    import uuid

    import psycopg

    from tests.conftest import POSTGRES_URL

    schemas = [f"anchor_locks_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    stores = [Store.open(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}") for schema in schemas]
    try:
        with stores[0].issuer_lock(1), stores[1].issuer_lock(1):
            refused: list[str] = []

            def second_holder() -> None:  # another thread: a thread's own lock nests instead
                same = Store.open(f"{POSTGRES_URL}?options=-csearch_path%3D{schemas[0]}")
                try:
                    with same.issuer_lock(1):
                        refused.append("held")
                except StoreError as e:
                    refused.append(e.reason)
                finally:
                    same.close()

            thread = threading.Thread(target=second_holder)
            thread.start()
            thread.join(30)
            assert refused == ["issuer_busy"]
    finally:
        for store in stores:
            store.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
