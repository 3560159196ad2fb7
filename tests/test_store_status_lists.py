"""Schema 4 on SQLite and PostgreSQL: status indexes (reserved per issuer, safe across processes),
issuer identity, published status lists; an older database refused with what to do."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text, update

from anchor.app.issuing import recipient_ref
from anchor.core.credential import CredentialFactory, IssuerProfile
from anchor.core.errors import InputError, NotFound, StoreError
from anchor.core.status_list import LIST_SIZE
from anchor.store import SCHEMA_VERSION, NewCredential, Store
from anchor.store.schema import IssuerRow, Meta
from anchor.store.status_lists import reserve_in

PROFILE = IssuerProfile(id="https://uni.example/issuer", name="Uni")
ACHIEVEMENT: dict[str, Any] = {"id": "https://uni.example/a/1", "type": ["Achievement"], "name": "A", "description": "D",
               "criteria": {"narrative": "C"}, "achievementType": "MicroCredential"}
FACTORY = CredentialFactory(PROFILE, ACHIEVEMENT)


def rows(emails: list[str], status_indexes: list[int | None] | None = None) -> list[NewCredential]:
    out = []
    for n, email in enumerate(emails):
        issued = FACTORY.build(name=email, email=email, valid_from=datetime(2026, 1, 1, tzinfo=UTC))
        index = status_indexes[n] if status_indexes is not None else None
        out.append(NewCredential(issued.credential_id, recipient_ref(ACHIEVEMENT["id"], email), issued.canonical, issued.leaf, 0,
                                 None, index))
    return out


def issuer_and_achievement(store: Store, address: str = "0x" + "11" * 20) -> tuple[int, int]:
    issuer = store.upsert_issuer(address, PROFILE.id, PROFILE.to_json())
    return issuer.id, store.achievement_for(issuer.id, ACHIEVEMENT).id


def test_an_older_database_is_refused_with_what_to_do_and_left_untouched(db_url: str) -> None:
    store = Store.open(db_url)
    with store.session() as s:  # what a version-3 database looks like to this check
        s.execute(update(Meta).where(Meta.key == "schema_version").values(value="3"))
        s.execute(text("DROP TABLE status_lists"))
    store.close()
    with pytest.raises(StoreError) as e:
        Store.open(db_url)
    assert e.value.reason == "schema_version"
    message = str(e.value)
    assert f"schema version 3 (made by an older anchor); this anchor needs version {SCHEMA_VERSION}" in message
    assert "back it up, then run `anchor db upgrade --db " in message
    plain = Store.open(db_url, create=False)
    try:
        with plain.connect() as conn:
            assert "status_lists" not in inspect(conn).get_table_names(), "nothing is created in a refused database"
        assert plain.schema_state() == (["status_lists"], 3)
    finally:
        plain.close()


def test_a_newer_database_is_refused_too(db_url: str) -> None:
    store = Store.open(db_url)
    with store.session() as s:
        s.execute(update(Meta).where(Meta.key == "schema_version").values(value=str(SCHEMA_VERSION + 1)))
    store.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1} \\(made by a newer anchor\\)"):
        Store.open(db_url)


def test_status_indexes_are_reserved_per_issuer_and_kept_by_credentials(store: Store) -> None:
    issuer_id, achievement_id = issuer_and_achievement(store)
    other_id, other_achievement = issuer_and_achievement(store, "0x" + "22" * 20)
    assert store.reserve_status_indexes(issuer_id, 3) == 0
    assert store.reserve_status_indexes(issuer_id, 2) == 3
    assert store.reserve_status_indexes(other_id, 1) == 0  # each issuer counts on its own
    with pytest.raises(InputError):
        store.reserve_status_indexes(issuer_id, 0)
    with pytest.raises(NotFound):
        store.reserve_status_indexes(9999, 1)

    batch = rows(["a@x.org", "b@x.org", "c@x.org"], [4, 0, 2])
    store.insert_credentials(issuer_id, achievement_id, [batch], created_at=0)
    assert [store.credential(r.credential_id).status_index for r in batch] == [4, 0, 2]
    # Without an index, a credential gets the issuer's next free one (after every reserved range).
    (late,) = rows(["d@x.org"])
    store.insert_credentials(issuer_id, achievement_id, [[late]], created_at=0)
    assert store.credential(late.credential_id).status_index == 5
    assert store.reserve_status_indexes(issuer_id, 1) == 6
    # An index already taken by one of the issuer's credentials fails the whole insert.
    clash = rows(["e@x.org", "f@x.org"], [7, 2])
    with pytest.raises(StoreError):
        store.insert_credentials(issuer_id, achievement_id, [clash], created_at=0)
    assert store.credential(clash[0].credential_id) is None
    # ... but another issuer may use the same number.
    (theirs,) = rows(["a@x.org"], [2])
    store.insert_credentials(other_id, other_achievement, [[theirs]], created_at=0)

    found = store.credential_by_status_index(issuer_id, 2)
    assert found is not None and found.credential_id == batch[2].credential_id
    assert store.credential_by_status_index(other_id, 2).credential_id == theirs.credential_id
    assert store.credential_by_status_index(issuer_id, 3) is None  # reserved, never used: a hole, bit stays 0


def test_a_reservation_waits_for_one_in_progress_and_never_overlaps_it(store: Store) -> None:
    issuer_id, _ = issuer_and_achievement(store)
    got: list[int] = []
    with store.session() as s:  # an issuing run that reserved inside its unit of work, not committed yet
        assert reserve_in(s, issuer_id, 1000) == 0
        thread = threading.Thread(target=lambda: got.append(store.reserve_status_indexes(issuer_id, 10)))
        thread.start()
        time.sleep(1.0)
        assert thread.is_alive() and not got, "the second reservation waits for the first to commit"
    thread.join(30)
    assert got == [1000]


# An issuing run as the integrator wires it: reserve the indexes, build the credentials naming
# them, insert. Two of these at once, with different recipients.
ISSUER_RUN = """
import random, sys, time
from tests.test_store_status_lists import ACHIEVEMENT, rows
from anchor.store import Store
store = Store.open(sys.argv[1])
issuer = store.issuer("0x" + "11" * 20)
achievement = store.achievement_for(issuer.id, ACHIEVEMENT)
rng, who = random.Random(int(sys.argv[2])), sys.argv[2]
time.sleep(max(0.0, float(sys.argv[4]) - time.time()))  # both start together, whatever their start-up took
print("began", time.time(), file=sys.stderr)
for run in range(int(sys.argv[3])):
    n = rng.randint(1, 12)
    first = store.reserve_status_indexes(issuer.id, n)
    print(first, n, who, flush=True)
    if run % 3:  # now and then a run that reserved and then issued nothing (all recipients held it)
        batch = rows([f"{who}-{run}-{i}@x.org" for i in range(n)], list(range(first, first + n)))
        store.insert_credentials(issuer.id, achievement.id, [batch], created_at=0)
print("ended", time.time(), file=sys.stderr)
"""


def test_two_issuing_processes_at_once_get_disjoint_indexes(store: Store, db_url: str) -> None:
    issuer_id, _ = issuer_and_achievement(store)
    start = str(time.time() + 4)
    procs = [subprocess.Popen([sys.executable, "-c", ISSUER_RUN, db_url, str(seed), "60", start], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1]) for seed in (1, 2)]
    outputs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    ranges = sorted(tuple(map(int, line.split())) for out, _ in outputs for line in out.splitlines())
    assert len(ranges) == 120
    times = [dict((line.split()[0], float(line.split()[1])) for line in err.splitlines() if line.startswith(("began", "ended")))
             for _, err in outputs]
    assert max(t["began"] for t in times) < min(t["ended"] for t in times), "the two runs worked at the same time"
    position = 0
    for first, count, _ in ranges:  # back to back from 0: no overlap, no gap
        assert first == position
        position += count
    assert store.reserve_status_indexes(issuer_id, 1) == position
    with store.connect() as conn:
        used = [int(i) for i in conn.execute(text("SELECT status_index FROM credentials ORDER BY status_index")).scalars()]
    assert len(used) == len(set(used)) > 100 and used[-1] < position


def test_status_indexes_of_a_batch(store: Store) -> None:
    issuer_id, achievement_id = issuer_and_achievement(store)
    first = store.reserve_status_indexes(issuer_id, 6)
    emails = [f"p{i}@x.org" for i in range(6)]
    store.insert_credentials(issuer_id, achievement_id, [rows(emails, [first + 5 - i for i in range(6)])], created_at=0)
    assert store.status_list_numbers(issuer_id) == [0] and store.status_list_numbers(issuer_id, anchored_only=True) == []
    batch = store.create_batch(issuer_id, 4)
    assert batch is not None
    assert list(store.status_indexes_of(issuer_id, batch.root)) == [(0, 5), (1, 4), (2, 3), (3, 2)]
    assert list(store.status_indexes_of(issuer_id, batch.root, [3, 1, 99])) == [(1, 4), (3, 2)]  # 99: not a stored leaf
    assert list(store.status_indexes_of(issuer_id, batch.root, [])) == []
    assert list(store.status_indexes_of(issuer_id, b"\x01" * 32)) == []  # a root this database does not know
    assert list(store.status_indexes_of(issuer_id + 1, batch.root)) == []  # nor another issuer's
    assert list(store.status_indexes_of(issuer_id, batch.root, page=3)) == [(0, 5), (1, 4), (2, 3), (3, 2)]
    store.confirm_batch(batch.id, chain_id=1, registry="0x" + "22" * 20, tx_hash=b"\x01" * 32, block_number=1, block_time=1)
    assert store.status_list_numbers(issuer_id, anchored_only=True) == [0]
    # A credential far away lands in another list.
    (far,) = rows(["far@x.org"], [3 * LIST_SIZE + 1])
    store.insert_credentials(issuer_id, achievement_id, [[far]], created_at=0)
    assert store.status_list_numbers(issuer_id) == [0, 3]


def test_issuer_identity(store: Store) -> None:
    issuer_id, _ = issuer_and_achievement(store)
    plain = store.issuer("0x" + "11" * 20)
    assert plain is not None and (plain.did, plain.signing_key, plain.public_url) == (None, None, None)
    key = bytes(range(32))
    got = store.set_issuer_identity(issuer_id, did="did:web:uni.example", signing_key=key, public_url="https://uni.example")
    assert (got.did, got.signing_key, got.public_url) == ("did:web:uni.example", key, "https://uni.example")
    got = store.set_issuer_identity(issuer_id, public_url="https://badges.uni.example")  # the others are kept
    assert (got.did, got.signing_key, got.public_url) == ("did:web:uni.example", key, "https://badges.uni.example")
    assert store.issuer("0x" + "11" * 20) == got
    assert store.set_issuer_identity(issuer_id, did=None).did is None
    with pytest.raises(InputError):
        store.set_issuer_identity(issuer_id, signing_key=b"short")
    with pytest.raises(NotFound):
        store.set_issuer_identity(9999, did="did:web:x")
    # Re-registering the profile keeps the identity.
    again = store.upsert_issuer("0x" + "11" * 20, PROFILE.id, PROFILE.to_json())
    assert again.signing_key == key


def test_status_lists_are_upserted_and_an_older_view_never_overwrites_a_newer_one(store: Store) -> None:
    issuer_id, _ = issuer_and_achievement(store)
    address = "0x" + "11" * 20
    assert store.status_list(issuer_id, 0) is None and store.status_list_of(address, 0) is None
    assert store.save_status_list(issuer_id, 0, json.dumps({"v": 1}), generated_at=100, chain_block=10)
    assert store.save_status_list(issuer_id, 1, json.dumps({"v": "one"}), generated_at=100, chain_block=10)
    assert store.save_status_list(issuer_id, 0, json.dumps({"v": 2}), generated_at=200, chain_block=12)
    assert not store.save_status_list(issuer_id, 0, json.dumps({"v": 0}), generated_at=300, chain_block=11)  # stale
    assert store.save_status_list(issuer_id, 0, json.dumps({"v": 3}), generated_at=400, chain_block=12)  # same block: replaced
    row = store.status_list(issuer_id, 0)
    assert row is not None and (json.loads(row.document), row.generated_at, row.chain_block) == ({"v": 3}, 400, 12)
    assert store.status_list_of(address, 1).document == json.dumps({"v": "one"})
    assert store.status_list_of("0x" + "22" * 20, 0) is None
    assert [s.list_number for s in store.status_lists(issuer_id)] == [0, 1]
    with store.session() as s:  # the counter lives on the issuer row
        assert s.get(IssuerRow, issuer_id).next_status_index == 0
