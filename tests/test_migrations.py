"""Schema migrations (``anchor db upgrade``), on SQLite and PostgreSQL.

The legacy databases were written by old releases with their own CLI
(``tests/fixtures/legacy/make.sh``); each comes with the Anvil chain it anchored on. Upgraded
with today's code, every credential must still export and verify (the revoked one as revoked).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, inspect, select, text

from anchor.chain.anvil import DevChain
from anchor.cli.main import main
from anchor.core.errors import StoreError
from anchor.store import SCHEMA_VERSION, Store
from anchor.store.engine import normalize_url
from anchor.store.migrations import HEAD, runner
from anchor.store.schema import Base
from tests.conftest import POSTGRES_URL, _postgres_reachable

LEGACY = Path(__file__).parent / "fixtures" / "legacy"
CREDENTIALS_PER_FIXTURE = 24  # the sample roster (12) for two achievements


# ---------------------------------------------------------------------------- databases

@pytest.fixture(params=["sqlite", "postgres"])
def new_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes fresh empty databases of one kind: SQLite files, or new PostgreSQL schemas."""
    schemas: list[str] = []
    if request.param == "postgres":
        problem = _postgres_reachable()
        if problem:
            if os.environ.get("CI"):
                pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required in CI: {problem}")
            pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} ({problem})")

    def make() -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / f'db-{uuid.uuid4().hex[:8]}.db'}"
        import psycopg

        schema = f"anchor_mig_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        schemas.append(schema)
        sep = "&" if "?" in POSTGRES_URL else "?"
        return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"

    yield make
    if schemas:
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def shape(url: str) -> dict[str, Any]:
    """Every table's columns, keys, indexes and unique constraints, as the database reports them."""
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            i = inspect(conn)
            return {t: {
                "columns": sorted((c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in i.get_columns(t)),
                "pk": i.get_pk_constraint(t)["constrained_columns"],
                "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                              for f in i.get_foreign_keys(t)),
                "indexes": sorted((x["name"], tuple(x["column_names"]), bool(x["unique"])) for x in i.get_indexes(t)),
                "unique": sorted((x["name"] or "", tuple(x["column_names"])) for x in i.get_unique_constraints(t)),
            } for t in sorted(i.get_table_names())}
    finally:
        engine.dispose()


def drift(url: str) -> list[Any]:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))
    finally:
        engine.dispose()


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the version table, sorted (to compare contents)."""
    engine = create_engine(normalize_url(url))
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {name: sorted(tuple(r) for r in conn.execute(select(table)))
                    for name, table in meta.tables.items() if name != "alembic_version"}
    finally:
        engine.dispose()


def meta_version(url: str) -> str | None:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT value FROM anchor_meta WHERE key = 'schema_version'")).scalar()
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------- legacy databases

def load_legacy(name: str, url: str, tmp_path: Path) -> None:
    """The fixture's SQLite dump into ``url``. PostgreSQL: the old revision's tables are created
    by the migrations, the version table dropped (a pre-migrations database has none), and the
    rows copied over table by table."""
    dump = (LEGACY / f"{name}.sql").read_text(encoding="utf-8")
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.executescript(dump)
        return
    source = tmp_path / f"{name}-source.db"
    with sqlite3.connect(source) as conn:
        conn.executescript(dump)
    version = json.loads((LEGACY / f"{name}.json").read_text())["schema_version"]
    runner.upgrade(url, target=f"{int(version):04d}")
    src, dst = create_engine(f"sqlite:///{source}"), create_engine(normalize_url(url))
    try:
        old, new = MetaData(), MetaData()
        old.reflect(src)
        new.reflect(dst)
        with src.connect() as read, dst.begin() as write:
            write.execute(text("DROP TABLE alembic_version"))
            write.execute(text("DELETE FROM anchor_meta"))
            for table in new.sorted_tables:
                if table.name == "alembic_version":
                    continue
                assert set(old.tables[table.name].c.keys()) == set(table.c.keys()), table.name
                data = [dict(r._mapping) for r in read.execute(select(old.tables[table.name]))]
                if data:
                    write.execute(table.insert(), data)
                if "id" in table.c and data:
                    write.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                       f"(SELECT MAX(id) FROM {table.name}))"))
    finally:
        src.dispose()
        dst.dispose()


def anchor(*args: str) -> int:
    return main(list(args))


@pytest.mark.parametrize("name", ["schema2", "schema3", "schema4"])
def test_a_database_written_by_an_old_release_upgrades_and_exports_every_credential(
    name: str, new_url: Callable[[], str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("ANCHOR_DATABASE_URL", "ANCHOR_REGISTRY", "ANCHOR_RPC_URL", "ANCHOR_CONFIG", "ANCHOR_HOME"):
        monkeypatch.delenv(var, raising=False)
    facts = json.loads((LEGACY / f"{name}.json").read_text())
    url = new_url()
    load_legacy(name, url, tmp_path)
    before = rows(url)
    home = tmp_path / "home"
    state = tmp_path / "anvil-state.json"
    shutil.copy(LEGACY / f"{name}-anvil.json", state)
    with DevChain.start(state_file=state) as node:
        common = ["--home", str(home), "--rpc", node.rpc_url, "--registry", facts["registry"], "--db", url]
        capsys.readouterr()
        assert anchor(*common, "status") == 7
        refusal = capsys.readouterr().err.strip()
        assert refusal.count("\n") == 0 and "run `anchor db upgrade --db " in refusal, refusal
        assert rows(url) == before, "a refused database is left untouched"

        assert anchor("db", "upgrade", "--db", url) == 0
        said = capsys.readouterr().out
        assert f"-> schema {SCHEMA_VERSION} (revision {HEAD})" in said, said
        assert ("backup: " in said) == url.startswith("sqlite")
        assert meta_version(url) == str(SCHEMA_VERSION) and runner.current(url) == HEAD
        assert drift(url) == []

        out = tmp_path / "badges"
        assert anchor(*common, "export", str(out)) == 0, capsys.readouterr().err
        files = sorted(out.glob("*.json"))
        assert sorted(f"urn:uuid:{f.stem}" for f in files) == facts["credentials"]
        assert len(files) == CREDENTIALS_PER_FIXTURE

        verdicts: dict[str, int] = {}
        for f in files:
            verdicts[f"urn:uuid:{f.stem}"] = anchor(*common, "verify", str(f))
        report = capsys.readouterr().out
        # Schema 2's registry is the first contract (batches keyed by root alone, another ABI):
        # today's verifier reads it too (anchor.chain.legacy).
        expected = {cid: 10 if cid == facts["revoked"] else 0 for cid in facts["credentials"]}
        assert verdicts == expected, report

        # The issuer keeps its registry: today's code revokes in it too.
        another = next(cid for cid in facts["credentials"] if cid != facts["revoked"])
        assert anchor(*common, "revoke", another, "--reason", "issued_in_error") == 0, capsys.readouterr().err
        assert anchor(*common, "verify", str(out / f"{another.removeprefix('urn:uuid:')}.json")) == 10


def test_recipient_keys_of_schema_2_become_per_achievement_keys(new_url: Callable[[], str], tmp_path: Path) -> None:
    """Schema 2 keyed a recipient by email alone: one email holding two of an issuer's achievements
    had one key, which schema 3's award key (per achievement) would refuse."""
    url = new_url()
    load_legacy("schema2", url, tmp_path)
    engine = create_engine(normalize_url(url))
    with engine.connect() as conn:
        old = conn.execute(text("SELECT c.id, c.recipient_ref, a.achievement_uri FROM credentials c "
                                "JOIN achievements a ON a.id = c.achievement_id")).all()
    assert len({ref for _, ref, _ in old}) == CREDENTIALS_PER_FIXTURE // 2, "the fixture has one key per email"
    runner.upgrade(url, backup=False)
    with engine.connect() as conn:
        new = conn.execute(text("SELECT id, recipient_ref, generation, status_index, issuer_id FROM credentials")).all()
        issuer_next = conn.execute(text("SELECT next_status_index FROM issuers")).scalar()
    engine.dispose()
    assert len({ref for _, ref, *_ in new}) == CREDENTIALS_PER_FIXTURE and {g for _, _, g, *_ in new} == {0}

    def expected(uri: str, ref: str) -> str:  # the migration's formula, written out again
        raw = uri.encode()
        return hashlib.sha256(len(raw).to_bytes(4, "big") + raw + b"legacy-v2:" + ref.encode()).hexdigest()

    assert {r.id: r.recipient_ref for r in new} == {i: expected(uri, ref) for i, ref, uri in old}
    assert sorted(s for *_, s, _ in new) == list(range(CREDENTIALS_PER_FIXTURE)) and issuer_next == CREDENTIALS_PER_FIXTURE


def test_two_schema_2_credentials_of_one_award_become_two_generations(new_url: Callable[[], str], tmp_path: Path) -> None:
    """Two schema-2 runs of one roster at once could both insert: the copies become generations
    0 and 1 of the award instead of stopping the upgrade on the new unique key."""
    url = new_url()
    load_legacy("schema2", url, tmp_path)
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        first = conn.execute(text("SELECT * FROM credentials ORDER BY id LIMIT 1")).mappings().one()
        copy = {**first, "id": 1000, "credential_id": "urn:uuid:00000000-0000-7000-8000-000000000001",
                "batch_id": None, "leaf_index": None}
        conn.execute(text(f"INSERT INTO credentials ({', '.join(copy)}) VALUES ({', '.join(':' + k for k in copy)})"), copy)
    runner.upgrade(url, backup=False)
    with engine.connect() as conn:
        pair = conn.execute(text("SELECT id, recipient_ref, generation FROM credentials WHERE id IN (:a, 1000) ORDER BY id"),
                            {"a": first["id"]}).all()
    engine.dispose()
    assert [(r.id, r.generation) for r in pair] == [(first["id"], 0), (1000, 1)] and pair[0].recipient_ref == pair[1].recipient_ref


# ---------------------------------------------------------------------------- schema

def test_a_new_database_is_the_same_created_at_head_or_by_every_migration(new_url: Callable[[], str]) -> None:
    created, migrated = new_url(), new_url()
    Store.open(created).close()
    done = runner.upgrade(migrated)
    assert (done.before, done.after) == (None, HEAD)
    assert shape(created) == shape(migrated)
    assert "alembic_version" in shape(created)
    assert runner.current(created) == runner.current(migrated) == HEAD
    assert meta_version(created) == meta_version(migrated) == str(SCHEMA_VERSION)
    Store.open(migrated).close()  # accepted by today's code


def test_autogenerate_finds_no_drift_between_models_and_migrations(new_url: Callable[[], str]) -> None:
    url = new_url()
    runner.upgrade(url)
    assert drift(url) == []


def test_the_head_revision_is_the_schema_version_and_history_is_linear() -> None:
    history = runner.history()
    assert [r.revision for r in history] == [f"{v:04d}" for v in range(2, SCHEMA_VERSION + 1)]
    assert [r.down for r in history] == [None] + [r.revision for r in history[:-1]]
    assert runner.head() == HEAD == history[-1].revision


# ---------------------------------------------------------------------------- safety

def test_a_failed_upgrade_changes_nothing_and_a_second_upgrade_is_a_no_op(
    new_url: Callable[[], str], tmp_path: Path
) -> None:
    url = new_url()
    load_legacy("schema3", url, tmp_path)
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:  # a table in the way of revision 0004, which alters two tables before creating it
        conn.execute(text("CREATE TABLE status_lists (x INTEGER)"))
    before_rows, before_shape = rows(url), shape(url)
    with pytest.raises(StoreError) as failed:
        runner.upgrade(url)
    assert failed.value.reason == "migration_failed" and "nothing was changed" in str(failed.value)
    assert rows(url) == before_rows and shape(url) == before_shape, "the failed upgrade left the database as it was"
    assert meta_version(url) == "3" and runner.current(url) == "0003"

    with engine.begin() as conn:
        conn.execute(text("DROP TABLE status_lists"))
    engine.dispose()
    first = runner.upgrade(url)
    assert (first.before, first.after, first.stamped) == ("0003", HEAD, True)
    if url.startswith("sqlite"):  # the copy taken first is the old database, whole
        assert first.backup is not None and first.backup.exists()
        assert meta_version(f"sqlite:///{first.backup}") == "3"
        assert rows(f"sqlite:///{first.backup}") == {k: v for k, v in before_rows.items() if k != "status_lists"}
    else:
        assert first.backup is None
    after_rows, after_shape = rows(url), shape(url)
    again = runner.upgrade(url)
    assert (again.before, again.after, again.backup) == (HEAD, HEAD, None)
    assert rows(url) == after_rows and shape(url) == after_shape


def test_an_early_schema_4_is_stamped_0004_and_an_extended_one_0005(new_url: Callable[[], str], tmp_path: Path) -> None:
    early = new_url()
    load_legacy("schema4", early, tmp_path)
    assert runner.current(early) == "0004"
    extended = new_url()
    Store.open(extended).close()
    engine = create_engine(normalize_url(extended))
    with engine.begin() as conn:  # what today's release wrote before migrations: version 4, no version table
        conn.execute(text("UPDATE anchor_meta SET value = '4' WHERE key = 'schema_version'"))
        conn.execute(text("DROP TABLE alembic_version"))
    engine.dispose()
    assert runner.current(extended) == "0005"
    before = shape(extended)
    done = runner.upgrade(extended)
    assert (done.before, done.after, done.stamped) == ("0005", HEAD, True)
    assert meta_version(extended) == str(SCHEMA_VERSION)
    assert {k: v for k, v in shape(extended).items() if k != "alembic_version"} == before
    Store.open(extended).close()


def test_an_old_database_is_refused_with_the_command_to_run(new_url: Callable[[], str], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    url = new_url()
    load_legacy("schema4", url, tmp_path)
    with pytest.raises(StoreError) as refused:
        Store.open(url)
    assert refused.value.reason == "schema_version"
    message = str(refused.value)
    assert message.startswith("the database has schema version 4 (made by an older anchor); "
                              f"this anchor needs version {SCHEMA_VERSION}: back it up, then run `anchor db upgrade --db ")
    assert "\n" not in message
    assert anchor("--db", url, "--home", str(tmp_path / "home"), "--registry", "0x" + "11" * 20, "serve") == 7
    err = capsys.readouterr().err
    assert err.startswith("error: the database has schema version 4") and "anchor db upgrade --db" in err
    assert anchor("db", "current", "--db", url) == 0
    assert "0004" in capsys.readouterr().out and meta_version(url) == "4"


def test_a_version_older_than_the_baseline_is_refused_by_the_upgrade(new_url: Callable[[], str]) -> None:
    url = new_url()
    Store.open(url).close()
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE anchor_meta SET value = '1' WHERE key = 'schema_version'"))
        conn.execute(text("DROP TABLE alembic_version"))
    engine.dispose()
    with pytest.raises(StoreError, match="upgrades versions 2 to") as refused:
        runner.upgrade(url)
    assert refused.value.reason == "schema_version"


# ---------------------------------------------------------------------------- old registries

def test_a_registry_from_before_signing_keys_is_genuine_and_has_no_key_bound(tmp_path: Path) -> None:
    """Issuers keep their registry when they upgrade anchor: the one releases 30e78f8 to 2e19140
    deployed has no signing-key views (calling them reverts), and counts as never having bound one."""
    from anchor.chain.node import Chain
    from anchor.chain.reader import RegistryReader
    from anchor.core.errors import ChainError as AnyChainError

    facts = json.loads((LEGACY / "schema3.json").read_text())
    state = tmp_path / "anvil-state.json"
    shutil.copy(LEGACY / "schema3-anvil.json", state)
    with DevChain.start(state_file=state) as node:
        reader = RegistryReader(Chain(node.rpc_url), facts["registry"])
        issuer = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
        with pytest.raises(AnyChainError):  # what the old registry does when asked today's way
            reader.view("signingKeyBlock", issuer, b"\x01" * 32)
        assert reader.code_matches() and reader.keyless and not reader.root_keyed
        reader.check_deployed()
        assert reader.signing_key_count(issuer) == 0 and reader.signing_keys(issuer) == []
        assert reader.signing_key_block(issuer, b"\x01" * 32) == 0
        assert reader.signing_key_bound(issuer, b"\x01" * 32) is None
        root = bytes.fromhex("874b1e82dfe6dc68ec070b7284f54692258deb327fc138f6a6f15da53e228ba2")
        _, batch, info, _, bound = reader.read_with_key(issuer, root, 0, b"\x01" * 32)
        assert batch.anchored and info is not None and bound is None
