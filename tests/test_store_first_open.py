"""Opening a database: the first commands on an empty one, started together (replicas and `anchor db upgrade`
coming up at once): one creates the tables, the others wait for it and use them; none fails."""

from __future__ import annotations

import threading

import pytest

from anchor.store import SCHEMA_VERSION, Store


@pytest.mark.parametrize("round_", range(3))
def test_processes_opening_a_new_database_together_all_succeed(db_url: str, round_: int) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def first_command() -> None:
        try:
            start.wait()
            Store.open(db_url).close()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=first_command) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = Store.open(db_url)
    assert store.schema_state() == ([], SCHEMA_VERSION)
    store.close()


@pytest.mark.parametrize("url", ["bogus://x", "mysql://user:secret@db.example/anchor", "var/anchor.db"])
def test_a_database_url_anchor_cannot_open_is_bad_input_without_its_password(url: str) -> None:
    from anchor.core.errors import InputError

    with pytest.raises(InputError) as refused:
        Store.open(url)
    assert refused.value.reason == "bad_database_url" and "secret" not in refused.value.message
    assert "sqlite:///" in refused.value.message
