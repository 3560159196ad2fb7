"""Review of issue 13 as a new user: one-line errors and the right exit code for bad database URLs in
``anchor db``, read-only commands that create nothing, chain settings given as flags checked like the
file's, and a registry lookup that does not claim the node answered what the settings said."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from anchor.app.deployment import resolve_registry
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.chain.writer import Registry
from anchor.config import load_settings
from anchor.core.errors import ConfigError
from anchor.store import RegistryDeployment, Store, record_deployment
from tests.helpers import Cli


@pytest.mark.parametrize("url", ["bogus://x", "mysql://u@127.0.0.1/x"])
@pytest.mark.parametrize("command", ["current", "upgrade"])
def test_db_commands_refuse_a_url_of_an_unknown_driver_in_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                           url: str, command: str) -> None:
    cli = Cli(tmp_path / "home", "http://127.0.0.1:9", capsys, db_url=url)
    code, out, err = cli("db", command)
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "unexpected" not in err
    assert "database URL" in err


def test_db_current_on_a_missing_sqlite_file_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "typo" / "anchor.db"
    cli = Cli(tmp_path / "home", "http://127.0.0.1:9", capsys, db_url=f"sqlite:///{target}")
    out = cli.ok("db", "current")
    assert "new (no tables)" in out
    assert not target.exists() and not target.parent.exists()


def test_confirmations_flag_under_a_safe_profile_is_refused_like_the_file_setting(tmp_path: Path) -> None:
    config = tmp_path / "anchor.toml"
    config.write_text('chain = "base"\n')
    with pytest.raises(ConfigError, match="confirmations counts blocks only"):
        load_settings(config, env={"ANCHOR_CONFIRMATIONS": "3"})
    with pytest.raises(ConfigError, match="confirmations counts blocks only"):
        load_settings(config, env={}).with_overrides(confirmations=3)
    with pytest.raises(ConfigError, match="RPC URL"):
        load_settings(config, env={}).with_overrides(rpc_url="foo")
    assert load_settings(config, env={}).with_overrides(confirmations=None).confirmations == 1


def test_registry_lookup_with_no_node_answering_does_not_say_the_node_answered_the_settings_chain(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no anchor.toml here
    db = Store.open(f"sqlite:///{tmp_path / 'anchor.db'}")
    try:
        record_deployment(db, RegistryDeployment(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3", 1))
        settings = load_settings(None, env={"ANCHOR_CHAIN": "base", "ANCHOR_HOME": str(tmp_path), "ANCHOR_CONFIG": ""})
        with pytest.raises(ConfigError) as raised:
            resolve_registry(settings, db=db, chain=Chain("http://127.0.0.1:9", timeout=0.5))
    finally:
        db.close()
    message = str(raised.value)
    assert "answers chain id 8453" not in message
    assert "8453" in message and "31337" in message and raised.value.reason == "chain_mismatch"


def test_a_replica_opens_no_gunicorn_control_socket_another_replica_would_unlink(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gunicorn >= 25 opens a control socket at one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl or
    ~/.gunicorn/gunicorn.ctl): every replica on a host took over the previous one's, and a replica
    stopping unlinked it under the others. anchor does not use it: no replica opens one."""
    from tests.api_support import DEAD_RPC, REGISTRY, gunicorn, gunicorn_log

    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    homes = [tmp_path / "a", tmp_path / "b"]
    with gunicorn(rpc_url=DEAD_RPC, registry=REGISTRY, db_url=f"sqlite:///{homes[0] / 'anchor.db'}", home=homes[0]), \
            gunicorn(rpc_url=DEAD_RPC, registry=REGISTRY, db_url=f"sqlite:///{homes[1] / 'anchor.db'}", home=homes[1]):
        assert not (tmp_path / "user" / ".gunicorn").exists()
    for home in homes:
        assert "Control socket" not in gunicorn_log(home)


@pytest.mark.parametrize(("toml", "env"), [('chain = "sepolia"\nfinality = "safe"\n', {}),
                                           ('chain = "sepolia"\n', {"ANCHOR_FINALITY": "finalized"})])
def test_a_profiles_confirmations_give_way_to_an_explicit_finality(tmp_path: Path, toml: str, env: dict[str, str]) -> None:
    config = tmp_path / "anchor.toml"
    config.write_text(toml)
    settings = load_settings(config, env=env)
    assert settings.finality in ("safe", "finalized") and settings.confirmations == 1 and settings.chain_id == 11155111
    config.write_text(toml + "confirmations = 3\n")  # written by the user: still refused
    with pytest.raises(ConfigError, match="confirmations counts blocks only"):
        load_settings(config, env=env)


def test_a_profiles_tip_cap_is_held_to_an_explicit_lower_fee_cap(tmp_path: Path) -> None:
    config = tmp_path / "anchor.toml"
    config.write_text('chain = "base"\nmax_fee_gwei = 0.05\n')
    settings = load_settings(config, env={})
    assert (settings.max_fee_gwei, settings.max_priority_fee_gwei) == (0.05, 0.05)
    config.write_text('chain = "base"\nmax_fee_gwei = 0.05\nmax_priority_fee_gwei = 0.1\n')  # both written: refused
    with pytest.raises(ConfigError, match="cannot exceed"):
        load_settings(config, env={})
    config.write_text('chain = "base"\nmax_fee_gwei = 2\n')
    assert load_settings(config, env={}).max_priority_fee_gwei == 0.1  # the profile's, under the cap


def test_doctor_leaves_no_database_connection_open(anvil: DevChain, tmp_path: Path) -> None:
    """The registry check opens the issuer database to read its deployment record; it is closed
    again (a PostgreSQL connection is not held until the process ends)."""
    import time
    import uuid

    import psycopg

    from anchor.app.doctor import Doctor
    from anchor.config import Settings
    from tests.conftest import POSTGRES_URL, _postgres_reachable

    if (problem := _postgres_reachable()) is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required in CI: {problem}")
        pytest.skip(problem)
    name = f"r13doctor{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{name}"')
        try:
            url = f"{POSTGRES_URL}?options=-csearch_path%3D{name}&application_name={name}"
            db = Store.open(url)
            record_deployment(db, RegistryDeployment(31337, "0x000000000000000000000000000000000000dEaD", 1))
            db.close()

            def no_key() -> Any:
                raise ConfigError("no key here")

            doctor = Doctor(Settings(home=tmp_path, rpc_url=anvil.rpc_url, database_url=url),
                            issuer_signer=no_key, signing_key=no_key, anchors=1)
            opened: list[Store | None] = []  # held here, so the garbage collector cannot close what the doctor left open
            existing_db = doctor._existing_db
            object.__setattr__(doctor, "_existing_db", lambda: opened.append(existing_db()) or opened[-1])
            lines = [f.line() for f in doctor.run()]
            assert opened and opened[0] is not None
            assert any("0x000000000000000000000000000000000000dEaD" in line for line in lines), lines
            deadline = time.monotonic() + 3.0  # a closed connection's backend may take a moment to leave the view
            while (open_now := admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                                             (name,)).fetchone()) != (0,) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert open_now == (0,)
        finally:
            admin.execute(f'DROP SCHEMA "{name}" CASCADE')


def test_db_current_on_sqlite_does_not_wait_for_a_writer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`anchor db current` only reads: a writer holding SQLite's write lock (an anchoring run) does
    not make it wait (it took the write lock at BEGIN, waiting up to 30 s, then 'database is locked')."""
    import sqlite3
    import threading
    import time

    from anchor.store.migrations import runner

    cli = Cli(tmp_path / "home", "http://127.0.0.1:9", capsys)
    cli.ok("db", "upgrade")
    url = f"sqlite:///{tmp_path / 'home' / 'anchor.db'}"
    writer = sqlite3.connect(tmp_path / "home" / "anchor.db", isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    release = threading.Timer(4.0, lambda: writer.execute("COMMIT"))
    release.start()
    try:
        started = time.monotonic()
        assert runner.current(url) == runner.head()
        assert time.monotonic() - started < 2.0
    finally:
        release.join()
        writer.close()


def test_audit_history_fails_over_to_the_fallback_rpc_urls(registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """`anchor audit history` reads through the settings' chain (rpc_urls fallbacks, chain id), as
    every other command does; it used rpc_url alone."""
    monkeypatch.setenv("ANCHOR_RPC_URLS", registry.chain.rpc_url)
    cli = Cli(tmp_path / "home", "http://127.0.0.1:9", capsys)  # the first URL: nothing listens there
    code, out, err = cli("--registry", registry.address, "audit", "history", "--json")
    assert code == 0, err
    assert json.loads(out)["registry"].lower() == registry.address.lower()


def test_a_workers_registry_lookup_asks_the_fallback_rpc_urls_too(anvil: DevChain, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`gunicorn 'anchor.api:create_app()'` with only settings: the chain id that picks the
    database's record comes from any of the RPC URLs, not the first alone."""
    from anchor.app.deployment import registry_from_settings

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'anchor.db'}"
    db = Store.open(url)
    record_deployment(db, RegistryDeployment(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3", 1))
    record_deployment(db, RegistryDeployment(8453, "0x000000000000000000000000000000000000dEaD", 1))
    db.close()
    settings = load_settings(None, env={"ANCHOR_HOME": str(tmp_path), "ANCHOR_DATABASE_URL": url,
                                        "ANCHOR_RPC_URL": "http://127.0.0.1:9", "ANCHOR_RPC_URLS": anvil.rpc_url})
    choice = registry_from_settings(settings)
    assert (choice.address, choice.chain_id, choice.source) == ("0x5FbDB2315678afecb367f032d93F642f64180aa3", 31337, "database")


@pytest.mark.parametrize("table", ['finality = "safe"\nconfirmations = 2\n', "max_fee_gwei = 0.05\nmax_priority_fee_gwei = 0.1\n"])
def test_a_chains_table_that_contradicts_itself_is_still_refused(tmp_path: Path, table: str) -> None:
    config = tmp_path / "anchor.toml"
    config.write_text(f'chain = "mine"\n[chains.mine]\nchain_id = 31337\n{table}')
    with pytest.raises(ConfigError, match="confirmations counts blocks only|cannot exceed"):
        load_settings(config, env={})


def test_a_database_a_newer_anchor_upgraded_is_named_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`anchor db upgrade` on a database at a later revision than this anchor's head: one line,
    nothing changed (it was exit 70, Alembic's "Can't locate revision"); `anchor db current` does
    not advise an upgrade that cannot help."""
    import sqlite3

    cli = Cli(tmp_path / "home", "http://127.0.0.1:9", capsys)
    cli.ok("db", "upgrade")
    path = tmp_path / "home" / "anchor.db"
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
        conn.execute("UPDATE anchor_meta SET value = '99' WHERE key = 'schema_version'")
    code, out, err = cli("db", "upgrade")
    assert code == 7 and err.count("\n") == 1 and "newer anchor" in err and "unexpected" not in err, err
    current = cli.ok("db", "current")
    assert "0099" in current and "newer anchor" in current and "run `anchor db upgrade`" not in current
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0099",)]
