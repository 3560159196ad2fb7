"""Shared fixtures: a real Anvil node per test session, a freshly deployed registry per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.chain.signer import Signer, dev_signer
from anchor.chain.writer import Registry
from anchor.store import Store

ISSUER_PROFILE = "https://university.example/issuer"


@pytest.fixture(scope="session")
def anvil() -> Iterator[DevChain]:
    """A real Anvil process on a free port, stopped at the end of the session."""
    node = DevChain.start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def chain(anvil: DevChain) -> Chain:
    return Chain(anvil.rpc_url)


@pytest.fixture
def admin() -> Signer:
    return dev_signer(0)


@pytest.fixture
def issuer() -> Signer:
    return dev_signer(1)


@pytest.fixture
def stranger() -> Signer:
    return dev_signer(2)


@pytest.fixture
def registry(chain: Chain, admin: Signer, issuer: Signer) -> Registry:
    """A new registry (admin = dev account 0) with dev account 1 as an issuer."""
    reg, _ = Registry.deploy(chain, admin)
    reg.add_issuer(admin, issuer.address, ISSUER_PROFILE)
    return reg


# ---------------------------------------------------------------------------- databases

@pytest.fixture(scope="session", autouse=True)
def _anchor_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The compiled schema validator and JSON-LD template caches of a test session go to a
    temporary directory (subprocesses inherit it), never the user's ~/.cache/anchor."""
    os.environ["ANCHOR_CACHE_DIR"] = str(tmp_path_factory.mktemp("anchor-cache"))


POSTGRES_URL = os.environ.get("ANCHOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_reachable() -> str | None:
    """None if PostgreSQL answers, else why not."""
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as e:
        return str(e).strip().splitlines()[0]


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database: a SQLite file, or a new schema in the local PostgreSQL.

    PostgreSQL missing is a failure in CI (CI=true) and a skip, with the reason, elsewhere.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'anchor.db'}"
        return
    problem = _postgres_reachable()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required in CI: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} ({problem}); set ANCHOR_TEST_POSTGRES_URL")
    import psycopg

    schema = f"anchor_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()
