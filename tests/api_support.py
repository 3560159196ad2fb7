"""Shared by the API tests: the service under real gunicorn (started the way `anchor serve
--detach` starts it), dead dependencies with credentials in their addresses, and a leak check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from werkzeug.test import TestResponse

from anchor.chain.anvil import free_port
from anchor.cli import serving
from anchor.config import Settings


@contextmanager
def gunicorn(*, rpc_url: str, registry: str, db_url: str, home: Path, workers: int = 1, threads: int = 4) -> Iterator[str]:
    """gunicorn (with anchor's gunicorn configuration) on a free loopback port; yields the base
    URL once ``/healthz`` answers, and stops it afterwards."""
    settings = Settings(home=home, rpc_url=rpc_url, registry=registry, database_url=db_url)
    url = serving.start_detached(settings, registry, bind=f"127.0.0.1:{free_port()}", workers=workers, threads=threads)
    try:
        yield url
    finally:
        serving.stop(settings)


def gunicorn_log(home: Path) -> str:
    return serving.log_file(Settings(home=home)).read_text(errors="replace")


CID = "urn:uuid:00000000-0000-4000-8000-000000000000"
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PG_PASSWORD = "s3cret-Pa55"
DEAD_POSTGRES = f"postgresql://anchor:{PG_PASSWORD}@127.0.0.1:1/issuer?connect_timeout=1"
DEAD_RPC = "http://rpcuser:rpc-pa55@127.0.0.1:1/v3/APIKEY0123456789"
# Nothing of these may reach a client: DSN parts, hosts, ports, keys, SQL, driver and stack text.
SECRETS = ("127.0.0.1", ":1", PG_PASSWORD, "anchor:", "postgres", "psycopg", "sqlite", "rpc-pa55", "APIKEY", "rpcuser",
           "SELECT", "FROM ", "no such table", "credentials WHERE", "Traceback", "File \"", "Error:")


def leaks(r: TestResponse) -> list[str]:
    """Which of :data:`SECRETS` the response shows, in its body or headers."""
    text = r.get_data(as_text=True) + "".join(f"{k}: {v}\n" for k, v in r.headers.items())
    return [s for s in SECRETS if s in text]
