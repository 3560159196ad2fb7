"""Reviewer R3's regression tests (public chains, failover, observability, registry record review)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from anchor.chain.node import Chain
from anchor.chain.rpc import JsonRpc, RetryPolicy
from anchor.core.errors import ChainUnavailable, ConfigError
from anchor.store.deployment import RegistryDeployment, record_deployment

Answer = Callable[[dict[str, Any]], tuple[int, dict[str, str], Any]]


class Stub:
    """A JSON-RPC server answering each request with ``answer(request) -> (status, headers, body)``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.seen: list[str] = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                stub.seen.append(req["method"] if isinstance(req, dict) else req[0]["method"])
                status, headers, body = stub.answer(req)
                raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stubs() -> Iterator[list[Stub]]:
    made: list[Stub] = []
    yield made
    for s in made:
        s.close()


def honest(chain_id: int = 8453, head: int = 7) -> Answer:
    def answer(req: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        result = {"eth_chainId": hex(chain_id), "eth_blockNumber": hex(head)}.get(req["method"])
        return 200, {}, {"jsonrpc": "2.0", "id": req["id"], "result": result}
    return answer


# ---------------------------------------------------------------------------- RPC transport

def test_a_huge_retry_after_does_not_bench_a_url_for_the_process_lifetime(stubs: list[Stub]) -> None:
    """A node (hostile or broken) answering 429 with Retry-After: 10^9 must not make the service
    refuse every later call until restart: the rest is bounded by the policy's cooldown."""
    state = {"limited": True}

    def answer(req: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        if state["limited"]:
            return 429, {"Retry-After": "1000000000"}, None
        return honest()(req)

    stub = Stub(answer)
    stubs.append(stub)
    rpc = JsonRpc(stub.url, chain_id=8453, policy=RetryPolicy(budget=0.3, cooldown=0.5))
    started = time.monotonic()
    with pytest.raises(ChainUnavailable):
        rpc.call("eth_blockNumber")
    assert time.monotonic() - started < 2  # gave up within the budget, did not sleep 10^9 s
    assert rpc.endpoints[0].not_before - time.monotonic() <= 0.5  # rest capped at the cooldown
    state["limited"] = False
    time.sleep(0.6)
    assert int(rpc.call("eth_blockNumber"), 16) == 7  # asked again once the capped rest is over


@pytest.mark.parametrize("value", ["inf", "1e999", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_retry_after_values_are_bounded(stubs: list[Stub], value: str) -> None:
    stub = Stub(lambda req: (429, {"Retry-After": value}, None))
    stubs.append(stub)
    rpc = JsonRpc(stub.url, chain_id=8453, policy=RetryPolicy(budget=0.2, cooldown=1.0))
    with pytest.raises(ChainUnavailable):
        rpc.call("eth_blockNumber")
    assert rpc.endpoints[0].not_before - time.monotonic() <= 1.0


@pytest.mark.parametrize("bad", [None, "zz", ["0x1"], {"x": 1}, True])
def test_a_node_with_a_garbled_chain_id_is_failed_over_not_a_crash(stubs: list[Stub], bad: Any) -> None:
    """A broken fallback answering eth_chainId with garbage is a failed URL (the next one is
    asked), not a ValueError/TypeError escaping the error family."""
    broken = Stub(lambda req: (200, {}, {"jsonrpc": "2.0", "id": req["id"], "result": bad}))
    good = Stub(honest())
    stubs += [broken, good]
    chain = Chain([broken.url, good.url], chain_id=8453, retry=RetryPolicy(budget=2))
    assert chain.block_number() == 7
    alone = Chain(broken.url, chain_id=8453, retry=RetryPolicy(budget=0.2))
    with pytest.raises(ChainUnavailable):
        alone.block_number()


def test_a_deeply_nested_answer_is_a_bad_answer_not_a_recursion_error(stubs: list[Stub]) -> None:
    """A hostile node's JSON nested 100,000 deep makes json.loads raise RecursionError: that is a
    failed URL like any answer that is not JSON (the next URL is asked), not an escaping crash."""
    bomb = b"[" * 100_000 + b"]" * 100_000
    hostile = Stub(lambda req: (200, {}, bomb))
    good = Stub(honest())
    stubs += [hostile, good]
    chain = Chain([hostile.url, good.url], chain_id=8453, retry=RetryPolicy(budget=2))
    assert chain.block_number() == 7
    with pytest.raises(ChainUnavailable):
        Chain(hostile.url, chain_id=8453, retry=RetryPolicy(budget=0.2)).block_number()


def test_a_node_trickling_its_answer_cannot_hold_a_call_past_its_budget() -> None:
    """Each wait of a socket read lasts at most the timeout, but a node sending one byte every
    0.2 s never lets one expire: the call's budget must bound the whole answer."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def trickle() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.recv(65536)
            body = b'{"jsonrpc":"2.0","id":1,"result":"0x2105"}' + b" " * 1000
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n")
            for byte in body:
                if stop.is_set():
                    break
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    break
                time.sleep(0.2)
            conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    try:
        rpc = JsonRpc(f"http://127.0.0.1:{server.getsockname()[1]}", timeout=0.5, chain_id=8453,
                      policy=RetryPolicy(budget=1.0))
        started = time.monotonic()
        with pytest.raises(ChainUnavailable):
            rpc.call("eth_blockNumber")
        assert time.monotonic() - started < 3  # not the 200 s the trickle would take
    finally:
        stop.set()
        server.close()


# ---------------------------------------------------------------------------- RPC URL secrets

SECRET = "k3y-0f-th3-h0st3d-rpc"


def test_registry_lookup_errors_never_show_the_rpc_urls_api_key(stubs: list[Stub], tmp_path: Path) -> None:
    """Hosted RPCs carry their API key in the URL's path or query: errors name the host only."""
    from anchor.app.deployment import resolve_registry
    from anchor.config import Settings
    from anchor.store import Store

    node = Stub(honest(chain_id=1))
    stubs.append(node)
    url = f"{node.url}/v3/{SECRET}?apikey={SECRET}"
    store = Store.open(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        wrong_chain = Settings(home=tmp_path, rpc_url=url, chain_id=8453)
        with pytest.raises(ConfigError) as e:
            resolve_registry(wrong_chain, db=store, chain=Chain(url))
        assert SECRET not in e.value.message and node.url in e.value.message
        record_deployment(store, RegistryDeployment(8453, "0x" + "11" * 20, 1))
        other = Settings(home=tmp_path, rpc_url=url)
        with pytest.raises(ConfigError) as e:
            resolve_registry(other, db=store, chain=Chain(url))
        assert SECRET not in e.value.message and node.url in e.value.message
    finally:
        store.close()


def test_deployment_json_does_not_keep_the_rpc_urls_api_key(tmp_path: Path) -> None:
    from anchor.app.deployment import _record
    from anchor.config import Settings, read_deployment

    settings = Settings(home=tmp_path, rpc_url=f"https://rpc.example.org/v3/{SECRET}?key={SECRET}")
    _record(settings, None, RegistryDeployment(8453, "0x" + "11" * 20, 1), replace=False)
    assert SECRET not in settings.deployment_file.read_text()
    assert read_deployment(settings.deployment_file)["rpcUrl"] == "https://rpc.example.org"


def test_a_bad_rpc_url_is_refused_without_echoing_its_secret() -> None:
    from anchor.config import load_settings

    with pytest.raises(ConfigError) as e:
        load_settings(env={"ANCHOR_RPC_URL": f"wss://rpc.example.org/v3/{SECRET}", "ANCHOR_CONFIG": "/nonexistent.toml"})
    assert SECRET not in e.value.message
    with pytest.raises(ConfigError) as e:
        JsonRpc(f"wss://rpc.example.org/v3/{SECRET}")
    assert SECRET not in e.value.message


# ---------------------------------------------------------------------------- migrations

def test_the_sqlite_backup_is_no_more_readable_than_the_database(tmp_path: Path) -> None:
    """The copy taken before an upgrade holds every holder's email: it keeps the database's
    permissions (0600 stays 0600), whatever the umask."""
    import os
    import sqlite3
    import stat

    from anchor.store.migrations import runner

    legacy = Path(__file__).parent / "fixtures" / "legacy" / "schema3.sql"
    db = tmp_path / "anchor.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(legacy.read_text(encoding="utf-8"))
    os.chmod(db, 0o600)
    old = os.umask(0o022)
    try:
        done = runner.upgrade(f"sqlite:///{db}")
    finally:
        os.umask(old)
    assert done.backup is not None and done.backup.exists()
    assert stat.S_IMODE(done.backup.stat().st_mode) == 0o600


# ---------------------------------------------------------------------------- observability

@pytest.mark.chain
def test_a_flood_of_metrics_scrapes_is_not_a_flood_of_rpc_calls(anvil: Any, tmp_path: Path) -> None:
    """/metrics answers anyone; its gauges' chain read goes through the RPC every verification
    shares: 50 scrapes in a row cost at most a couple of chain calls, not 50."""
    from anchor.api import create_app, monitoring
    from anchor.api.service import ServiceConfig

    app = create_app(ServiceConfig(rpc_url=anvil.rpc_url, registry="0x5FbDB2315678afecb367f032d93F642f64180aa3",
                                   database_url=None))
    svc = app.extensions["anchor"]
    client = app.test_client()
    assert client.get("/metrics").status_code == 200
    before = svc.view.chain.rpc.rpc_calls
    started = time.monotonic()
    for _ in range(50):
        r = client.get("/metrics")
        assert r.status_code == 200 and b"anchor_chain_up 1.0" in r.data
    calls = svc.view.chain.rpc.rpc_calls - before
    assert calls <= 2 * (1 + int((time.monotonic() - started) / monitoring.SCRAPE_TTL)), calls


def test_the_local_chain_commands_never_show_the_rpc_urls_api_key(tmp_path: Path) -> None:
    from anchor.app import localchain
    from anchor.config import Settings

    hosted = Settings(home=tmp_path, rpc_url=f"http://127.0.0.2:1/v3/{SECRET}")  # not local, nothing listens
    with pytest.raises(ChainUnavailable) as e:
        localchain.up(hosted)
    assert SECRET not in e.value.message and "127.0.0.2:1" in e.value.message
    assert SECRET not in localchain.status(hosted).rpc_url


def test_starting_the_service_removes_only_prometheus_files_from_the_metrics_directory(tmp_path: Path) -> None:
    """An operator's PROMETHEUS_MULTIPROC_DIR may be a directory holding other things, such as
    the issuer's SQLite database (anchor.db): only prometheus-client's own files of the last run
    are removed when the service starts."""
    import os
    import subprocess
    import sys

    for name in ("anchor.db", "notes.db", "counter_123.db", "gauge_livesum_7.db", "histogram_99.db"):
        (tmp_path / name).write_bytes(b"x")
    script = ("from types import SimpleNamespace\nfrom anchor.api import gunicorn_conf\n"
              "gunicorn_conf.on_starting(SimpleNamespace(cfg=SimpleNamespace(bind=['127.0.0.1:8000'])))\n")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["anchor.db", "notes.db"]


def test_an_unparsable_database_url_is_refused_without_its_password() -> None:
    from anchor.core.errors import InputError
    from anchor.store.migrations import runner

    with pytest.raises(InputError) as e:
        runner.current("anchor:s3cr3t-pa55@db.example.org/issuer")
    assert "s3cr3t-pa55" not in e.value.message and "db.example.org/issuer" in e.value.message


@pytest.mark.chain
def test_audit_of_a_missing_registry_does_not_show_the_rpc_urls_api_key(tmp_path: Path, anvil: Any,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from tests.helpers import Cli

    cli = Cli(tmp_path / "h", f"{anvil.rpc_url}/?apikey={SECRET}", capsys)  # (Anvil answers on / only)
    code, out, err = cli("--registry", "0x" + "11" * 20, "audit", "history")
    assert code != 0 and "no CredentialRegistry at" in err, out + err
    assert SECRET not in out + err


def test_doctor_says_fail_for_a_node_answering_garbage(stubs: list[Stub], tmp_path: Path) -> None:
    from anchor.app.doctor import Doctor
    from anchor.config import Settings

    # the transport's chain id check (one call) answered right, the doctor's batch with garbage
    broken = Stub(lambda req: (200, {}, [{"jsonrpc": "2.0", "id": r["id"], "result": "zz"} for r in req]
                               if isinstance(req, list) else honest()(req)[2]))
    stubs.append(broken)
    doctor = Doctor(Settings(home=tmp_path, rpc_url=broken.url), issuer_signer=lambda: None,  # type: ignore[arg-type,return-value]
                    signing_key=lambda: None)  # type: ignore[arg-type,return-value]
    finding, found = doctor._rpc(0, broken.url, None)
    assert not finding.ok and found is None and "not hex numbers" in finding.detail


def test_a_url_that_starts_serving_another_chain_is_dropped_at_its_next_check(stubs: list[Stub],
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A URL checked once can later answer for another chain (a load balancer's pool, a DNS
    name moved): its chain id is asked again every CHAIN_RECHECK seconds, and the URL refused."""
    from anchor.chain import rpc as rpc_module

    state = {"chain": 8453}

    def answer(req: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        return honest(chain_id=state["chain"], head=99)(req)

    moving, good = Stub(answer), Stub(honest())
    stubs += [moving, good]
    monkeypatch.setattr(rpc_module, "CHAIN_RECHECK", 0.2)
    chain = Chain([moving.url, good.url], chain_id=8453, retry=RetryPolicy(budget=2))
    assert chain.block_number() == 99
    state["chain"] = 11155111  # now Sepolia behind the same URL
    time.sleep(0.3)
    assert chain.block_number() == 7  # the fallback on the right chain answers
    assert chain.rpc.endpoints[0].refused_chain == "is on chain 11155111, not 8453"
