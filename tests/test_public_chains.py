"""Public chains on Anvil: a non-default chain id (Base's 8453), fee caps against a raised base
fee, RPC failover and rate-limit back-off through a flaky local proxy, and finality by block tag."""

from __future__ import annotations

import http.client
import http.server
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from anchor.app.anchoring import Anchorer
from anchor.app.issuing import issue_credentials
from anchor.app.registration import register_issuer
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain, FeeCapExceeded, FeeCaps
from anchor.chain.rpc import RetryPolicy
from anchor.chain.signer import Signer, dev_signer
from anchor.chain.writer import Registry
from anchor.config import load_settings
from anchor.core.ed25519 import SigningKey
from anchor.core.errors import ChainError, ChainUnavailable, ConfigError
from anchor.core.roster import parse_roster
from anchor.core.status import TxKind, TxStatus
from anchor.store import Store
from tests.helpers import Cli, write_roster
from tests.world import achievement

pytestmark = pytest.mark.chain

BASE = 8453
GWEI = 10**9
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


# ---------------------------------------------------------------------------- a flaky RPC in front of Anvil

@dataclass
class Proxy:
    """An HTTP server forwarding JSON-RPC to ``target``; the first ``failures`` requests get
    ``mode`` instead: "429" (with ``retry_after``), "500", "close" (connection dropped), or
    "rpc-limit" (HTTP 200 with a JSON-RPC rate-limit error, as hosted RPCs answer)."""

    target: str
    mode: str = "ok"
    failures: int = 0
    retry_after: str | None = None
    seen: int = 0
    forwarded: int = 0
    server: http.server.ThreadingHTTPServer = field(init=False)

    def __post_init__(self) -> None:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.seen += 1
                if proxy.seen <= proxy.failures or proxy.failures < 0:
                    if proxy.mode == "close":
                        self.close_connection = True
                        self.connection.close()
                        return
                    if proxy.mode == "rpc-limit":
                        error = b'{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"project ID request rate exceeded"}}'
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(error)))
                        self.end_headers()
                        self.wfile.write(error)
                        return
                    status = 429 if proxy.mode == "429" else 500
                    self.send_response(status)
                    if status == 429 and proxy.retry_after is not None:
                        self.send_header("Retry-After", proxy.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                proxy.forwarded += 1
                host, port = proxy.target.removeprefix("http://").split(":")
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
                conn.request("POST", "/", body, {"Content-Type": "application/json"})
                answer = conn.getresponse().read()
                conn.close()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def base_node() -> Iterator[DevChain]:
    """Anvil as chain 8453: the dev keys are refused here, as on any public chain."""
    node = DevChain.start(chain_id=BASE)
    yield node
    node.stop()


@pytest.fixture
def proxies() -> Iterator[list[Proxy]]:
    made: list[Proxy] = []
    yield made
    for p in made:
        p.close()


def proxy(made: list[Proxy], target: str, **kw: object) -> Proxy:
    p = Proxy(target, **kw)  # type: ignore[arg-type]
    made.append(p)
    return p


# ---------------------------------------------------------------------------- settings

def test_profile_fills_in_and_explicit_settings_win(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    s = load_settings(empty, env={"ANCHOR_CHAIN": "base", "ANCHOR_MAX_FEE_GWEI": "3",
                                                                       "ANCHOR_RPC_URLS": "http://a.example, https://b.example/key"})
    assert (s.chain_id, s.finality, s.max_fee_gwei, s.max_priority_fee_gwei) == (BASE, "safe", 3.0, 0.1)
    assert s.rpc_endpoints == ("http://127.0.0.1:8545", "http://a.example", "https://b.example/key")
    eth = load_settings(empty, env={"ANCHOR_CHAIN": "ethereum"})
    assert (eth.chain_id, eth.finality, eth.receipt_timeout) == (1, "finalized", 1800.0)
    toml = tmp_path / "anchor.toml"
    toml.write_text('chain = "mine"\nrpc_urls = ["http://b.example"]\n[chains.mine]\nchain_id = 77\nfinality = "latest"\n'
                    'confirmations = 4\nmax_fee_gwei = 9\n')
    mine = load_settings(toml, env={})
    assert (mine.chain_id, mine.confirmations, mine.max_fee_gwei, mine.rpc_urls) == (77, 4, 9.0, ("http://b.example",))


@pytest.mark.parametrize(("env", "toml", "message"), [
    ({"ANCHOR_CHAIN": "basee"}, "", "unknown chain 'basee'"),
    ({"ANCHOR_FINALITY": "final"}, "", "finality must be one of latest, safe, finalized"),
    ({"ANCHOR_MAX_FEE_GWEI": "0"}, "", "max_fee_gwei must be a positive number"),
    ({"ANCHOR_MAX_FEE_GWEI": "cheap"}, "", "setting 'max_fee_gwei' must be a float"),
    ({"ANCHOR_MAX_FEE_GWEI": "2", "ANCHOR_MAX_PRIORITY_FEE_GWEI": "3"}, "", "cannot exceed max_fee_gwei"),
    ({"ANCHOR_RPC_URLS": "http://ok.example,ftp://x"}, "", "an RPC URL is http(s)://"),
    ({"ANCHOR_CHAIN": "base", "ANCHOR_CONFIRMATIONS": "3"}, "", "confirmations counts blocks only with finality = 'latest'"),
    ({}, "[chains.x]\nregistry_home = 1\n", "[chains.x] cannot set registry_home"),
    ({"ANCHOR_RPC_TIMEOUT": "0"}, "", "rpc_timeout must be positive"),
])
def test_bad_chain_settings_are_one_line(tmp_path: Path, env: dict[str, str], toml: str, message: str) -> None:
    path = tmp_path / "anchor.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as e:
        load_settings(path, env=env)
    assert message in e.value.message and "\n" not in e.value.message


# ---------------------------------------------------------------------------- fee caps

@dataclass
class Funded:
    """A registry on chain 8453 with a fresh (non-dev) admin and issuer, both funded, and the
    issuer registered in a SQLite database: what `anchor` needs on a public chain."""

    node: DevChain
    chain: Chain
    registry: Registry
    admin: Signer
    issuer: Signer
    signing_key: SigningKey
    db_url: str
    env: dict[str, str]


def funded(node: DevChain, tmp_path: Path, *, caps: FeeCaps | None = None) -> Funded:
    chain = Chain(node.rpc_url)
    issuer_key, seed = "0x" + secrets.token_hex(32), secrets.token_bytes(32)
    admin, issuer = Signer.from_key("0x" + secrets.token_hex(32)), Signer.from_key(issuer_key)
    for who in (admin, issuer):
        chain.dev_rpc("anvil_setBalance", who.address, hex(100 * 10**18))
    registry, _ = Registry.deploy(chain, admin)
    signing_key = SigningKey.from_seed(seed)
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = Store.open(db_url)
    register_issuer(store, registry, issuer, admin, name="Uni", signing_key=signing_key, url="https://uni.example")
    store.close()
    env = {"ANCHOR_ISSUER_KEY": issuer_key, "ANCHOR_SIGNING_KEY": seed.hex(),
           "ANCHOR_REGISTRY": registry.address, "ANCHOR_CHAIN": "base", "ANCHOR_FINALITY": "latest"}
    return Funded(node, chain, registry, admin, issuer, signing_key, db_url, env)


def set_base_fee(chain: Chain, wei: int) -> None:
    """The latest block's base fee becomes ``wei`` (what a fee check reads)."""
    chain.dev_rpc("anvil_setNextBlockBaseFeePerGas", hex(wei))
    chain.dev_rpc("evm_mine")
    assert chain.block("latest").base_fee == wei


def test_anchoring_above_the_fee_cap_is_refused_in_one_line_and_loses_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    node = DevChain.start(chain_id=BASE)
    try:
        f = funded(node, tmp_path)
        for k, v in {**f.env, "ANCHOR_MAX_FEE_GWEI": "50"}.items():
            monkeypatch.setenv(k, v)
        cli = Cli(tmp_path / "home", node.rpc_url, capsys, db_url=f.db_url)
        cli.ok("issue", str(write_roster(tmp_path / "r.csv", 3)), "--achievement", str(EXAMPLES / "achievement.yaml"))
        set_base_fee(f.chain, 87_200_000_000)
        nonce = f.chain.nonce_of(f.issuer.address)
        code, out, err = cli("anchor")
        assert code == 5, err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        assert re.fullmatch(r"error: anchoring refused: base fee 87\.2 gwei \+ tip 0\.1 gwei exceeds max_fee_gwei 50; "
                            r"raise the cap or wait", lines[0]), lines[0]
        assert f.chain.nonce_of(f.issuer.address) == nonce  # nothing signed, nothing sent
        store = Store.open(f.db_url)
        row = store.issuer(f.issuer.address)
        assert row is not None
        counts = store.counts(row.id)
        assert counts.pending == 3 and counts.anchored == 0  # refused before a batch was built
        assert store.batches(row.id) == []
        store.close()

        monkeypatch.setenv("ANCHOR_MAX_FEE_GWEI", "200")  # the cap raised: the same credentials anchor
        out = cli.ok("anchor")
        assert "anchored 3 credential(s)" in out
        store = Store.open(f.db_url)
        assert store.counts(row.id).anchored == 3
        store.close()
    finally:
        node.stop()


def test_repricing_never_goes_above_the_cap(tmp_path: Path) -> None:
    """A transaction stuck under a base fee that jumped past the cap is not replaced by one over
    the cap: it waits at its own price, and the timeout says why it was not re-priced."""
    node = DevChain.start(chain_id=BASE)
    try:
        f = funded(node, tmp_path)
        chain = Chain(node.rpc_url, fee_caps=FeeCaps.from_gwei(10, 2))
        registry = Registry(chain, f.registry.address)
        store = Store.open(f.db_url)
        row = store.issuer(f.issuer.address)
        assert row is not None
        issue_credentials(store, row, achievement(), parse_roster("name,email\nAda,ada@example.org\n"))
        base = chain.block("latest").base_fee
        chain.dev_rpc("evm_setAutomine", False)

        def jump() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not chain.dev_rpc("txpool_content").get("pending"):
                time.sleep(0.02)
            chain.dev_rpc("anvil_setNextBlockBaseFeePerGas", hex(max(base, GWEI) * 1000))
            chain.dev_rpc("evm_setIntervalMining", 1)

        threading.Thread(target=jump, daemon=True).start()
        # re-priced only once a block at the new base fee is out (interval mining: 1 s)
        anchorer = Anchorer(store, registry, f.issuer, row, timeout=6.0, stuck_after=2.5)
        with pytest.raises(ChainError) as e:
            anchorer.run()
        assert e.value.reason == "tx_timeout", e.value.message
        assert "not re-priced: base fee" in e.value.message and "exceeds max_fee_gwei 10" in e.value.message
        assert anchorer._submitter.repriced == 0
        stored = [t for b in store.batches(row.id) for t in store.transactions(b.id, TxKind.ANCHOR)]
        assert len(stored) == 1 and stored[0].status == TxStatus.SIGNED  # kept, to land or be resumed
        store.close()
    finally:
        node.stop()


def test_fee_caps_price_and_refuse() -> None:
    caps = FeeCaps.from_gwei(50, 2)
    fees = caps.price(10 * GWEI, 3 * GWEI)  # the tip is held to its cap, the fee cap to max_fee
    assert (fees.max_priority_fee, fees.max_fee) == (2 * GWEI, 22 * GWEI)
    assert caps.price(40 * GWEI, GWEI).max_fee == 50 * GWEI
    with pytest.raises(FeeCapExceeded, match=r"base fee 49\.5 gwei \+ tip 1 gwei exceeds max_fee_gwei 50"):
        caps.price(49_500_000_000, GWEI)
    assert FeeCaps().price(10 * GWEI, GWEI).max_fee == 21 * GWEI  # no cap: twice the base fee plus the tip


# ---------------------------------------------------------------------------- failover and back-off

def test_a_rate_limiting_rpc_is_backed_off_with_its_retry_after(base_node: DevChain, proxies: list[Proxy]) -> None:
    limited = proxy(proxies, base_node.rpc_url, mode="429", failures=2, retry_after="1")
    chain = Chain(limited.url, retry=RetryPolicy(budget=10))
    started = time.monotonic()
    assert chain.block_number() >= 0
    assert time.monotonic() - started >= 1.9  # two Retry-After: 1 honoured
    assert limited.seen == 4  # 2 refused, then the chain id check and the call


def test_a_rate_limit_without_retry_after_backs_off_exponentially(base_node: DevChain, proxies: list[Proxy]) -> None:
    limited = proxy(proxies, base_node.rpc_url, mode="429", failures=3)
    chain = Chain(limited.url, retry=RetryPolicy(budget=10, backoff=0.2))
    started = time.monotonic()
    assert chain.chain_id == BASE
    assert 0.2 * (1 + 2 + 4) / 2 <= time.monotonic() - started < 5


def test_failing_urls_fail_over_in_order_and_rest(base_node: DevChain, proxies: list[Proxy]) -> None:
    down = proxy(proxies, base_node.rpc_url, mode="500", failures=-1)
    dropping = proxy(proxies, base_node.rpc_url, mode="close", failures=-1)
    limited = proxy(proxies, base_node.rpc_url, mode="429", failures=-1, retry_after="30")
    good = proxy(proxies, base_node.rpc_url)
    chain = Chain([down.url, dropping.url, limited.url, good.url], retry=RetryPolicy(budget=5, cooldown=60))
    assert chain.chain_id == BASE
    assert (down.seen, limited.seen, good.forwarded) == (1, 1, 2)  # each bad URL tried once; the good one checked, then asked
    assert dropping.seen >= 1
    assert chain.rpc.failovers == 1
    before = (down.seen, dropping.seen, limited.seen)
    for _ in range(3):
        chain.block_number()
    assert (down.seen, dropping.seen, limited.seen) == before  # failed URLs rest for their cooldown


def test_anchoring_completes_through_a_flaky_primary(tmp_path: Path, base_node: DevChain, proxies: list[Proxy]) -> None:
    """Every write path through a primary that errors and rate-limits now and then: signed
    transactions resent to the fallback land once, and the batch is anchored."""
    f = funded(base_node, tmp_path)
    flaky = proxy(proxies, base_node.rpc_url, mode="500", failures=3)
    # no rest after a failure: the primary is asked first on every call, and fails three times
    chain = Chain([flaky.url, base_node.rpc_url], retry=RetryPolicy(budget=10, cooldown=0, backoff=0), chain_id=BASE)
    registry = Registry(chain, f.registry.address)
    store = Store.open(f.db_url)
    row = store.issuer(f.issuer.address)
    assert row is not None
    issue_credentials(store, row, achievement(), parse_roster("name,email\nAda,ada@example.org\nBo,bo@example.org\n"))
    report = Anchorer(store, registry, f.issuer, row, timeout=30).run()
    assert [o.leaf_count for o in report.outcomes] == [2]
    assert store.counts(row.id).anchored == 2
    assert chain.rpc.failovers == 3 and flaky.forwarded == flaky.seen - 3 > 5  # then the primary served the rest
    store.close()


def test_a_json_rpc_rate_limit_answer_moves_to_the_next_url(base_node: DevChain, proxies: list[Proxy]) -> None:
    limited = proxy(proxies, base_node.rpc_url, mode="rpc-limit", failures=-1)
    chain = Chain([limited.url, base_node.rpc_url], retry=RetryPolicy(budget=5))
    assert chain.block_number() >= 0 and chain.rpc.failovers == 1 and limited.seen == 1


def test_a_signed_transaction_resent_after_it_landed_is_not_an_error(base_node: DevChain, tmp_path: Path) -> None:
    f = funded(base_node, tmp_path)
    chain = Chain(base_node.rpc_url)
    registry = Registry(chain, f.registry.address)
    prepared = registry.prepare(f.issuer, "anchor", secrets.token_bytes(32), 1)
    assert chain.broadcast(prepared.raw) == prepared.tx_hash
    chain.wait_for_receipt(prepared.tx_hash)
    assert chain.broadcast(prepared.raw) == prepared.tx_hash  # "nonce too low" for this very transaction


def test_all_urls_down_is_one_clear_error() -> None:
    chain = Chain(["http://127.0.0.1:1", "http://127.0.0.1:2/secret-key"], retry=RetryPolicy(budget=5))
    started = time.monotonic()
    with pytest.raises(ChainUnavailable) as e:
        chain.block_number()
    assert time.monotonic() - started < 2  # nothing listens: no point waiting
    assert e.value.message.startswith("no RPC URL answered (2 tried")
    assert "http://127.0.0.1:1: cannot reach (ConnectionRefusedError)" in e.value.message
    assert "secret-key" not in e.value.message


def test_urls_that_keep_failing_give_up_within_the_budget(base_node: DevChain, proxies: list[Proxy]) -> None:
    a = proxy(proxies, base_node.rpc_url, mode="500", failures=-1)
    b = proxy(proxies, base_node.rpc_url, mode="429", failures=-1, retry_after="0.2")
    chain = Chain([a.url, b.url], retry=RetryPolicy(budget=1.5, backoff=0.1))
    started = time.monotonic()
    with pytest.raises(ChainUnavailable) as e:
        chain.block_number()
    assert 1.0 < time.monotonic() - started < 4
    assert "answered HTTP 500" in e.value.message and "rate-limiting (HTTP 429)" in e.value.message
    assert e.value.reason == "chain_unavailable" and a.seen >= 2 and b.seen >= 2


def test_a_url_on_another_chain_is_refused(base_node: DevChain, anvil: DevChain) -> None:
    with pytest.raises(ConfigError, match=r"no RPC URL serves the configured chain: http://127\.0\.0\.1:\d+ is on chain 31337, not 8453"):
        Chain(anvil.rpc_url, chain_id=BASE).block_number()
    mixed = Chain([anvil.rpc_url, base_node.rpc_url], chain_id=BASE)
    assert mixed.chain_id == BASE
    assert mixed.block_number() == Chain(base_node.rpc_url).block_number()  # answered by the 8453 node only
    first = Chain([base_node.rpc_url, anvil.rpc_url])  # no chain_id: the first URL's chain is the one
    assert first.block_number() >= 0 and first.chain_id == BASE
    assert first.rpc.endpoints[1].chain_id is None  # not checked until needed
    first.rpc.endpoints[0].skip_until = time.monotonic() + 60
    assert first.block_number() >= 0  # not answered by the other chain:
    assert first.rpc.endpoints[1].refused_chain == "is on chain 31337, not 8453"


# ---------------------------------------------------------------------------- finality

@pytest.mark.parametrize("finality", ["safe", "finalized"])
def test_anchoring_waits_for_the_safe_or_finalized_block(tmp_path: Path, finality: str) -> None:
    node = DevChain.start(chain_id=BASE, slots_in_an_epoch=2)  # safe: head - 2; finalized: head - 4
    stop = threading.Event()
    try:
        f = funded(node, tmp_path)
        chain = Chain(node.rpc_url, finality=finality)
        store = Store.open(f.db_url)
        row = store.issuer(f.issuer.address)
        assert row is not None
        issue_credentials(store, row, achievement(), parse_roster("name,email\nAda,ada@example.org\n"))
        seen: list[int] = []

        def mine() -> None:
            while not stop.wait(0.15):
                chain.dev_rpc("evm_mine")

        threading.Thread(target=mine, daemon=True).start()
        report = Anchorer(store, Registry(chain, f.registry.address), f.issuer, row, timeout=30,
                          on_wait=lambda have, want: seen.append(have)).run()
        block = report.outcomes[0].block_number
        assert block <= chain.finalized_block()
        # It waited for the tag, not one block: the tag is 2 (safe) or 4 (finalized) blocks behind the
        # head; the depth it reports can trail by the one block the mining thread adds between the
        # node's head and its tag being read.
        assert max(seen) >= (2 if finality == "safe" else 4)
        assert store.counts(row.id).anchored == 1
        store.close()
    finally:
        stop.set()
        node.stop()


def test_is_final_by_tag(base_node: DevChain) -> None:
    chain = Chain(base_node.rpc_url, finality="finalized")
    head = chain.block_number()
    chain.dev_rpc("anvil_mine", hex(70))
    assert chain.is_final(head + 1)[0]  # 70 blocks later: within Anvil's finalized (head - 64)
    assert not chain.is_final(head + 10)[0]
    assert Chain(base_node.rpc_url).is_final(head + 70, 1) == (True, 1)


def test_dev_keys_are_refused_on_chain_8453(base_node: DevChain, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli = Cli(tmp_path / "home", base_node.rpc_url, capsys)
    code, _, err = cli("deploy")
    assert code == 3 and "no admin key" in err
    assert dev_signer(0).address  # (the dev accounts exist; they are just not used here)



def test_verification_counts_a_batch_confirmed_only_at_or_below_the_tag(tmp_path: Path) -> None:
    """Anchored (finality latest, for speed) and verified under finality finalized: not final
    until the chain's finalized block reaches the batch, by the offline verifier and the service."""
    from anchor.api import create_app
    from anchor.api.service import ServiceConfig
    from anchor.app.verifying import Verifier, VerifyOptions
    from anchor.chain.reader import RegistryReader
    from tests.world import make_world

    with DevChain.start(slots_in_an_epoch=2) as node:  # finalized: head - 4
        w = make_world(Chain(node.rpc_url), tmp_path, n=2)
        badge = w.badge(0)
        finalized = Chain(node.rpc_url, finality="finalized")
        verifier = Verifier(lambda a: RegistryReader(finalized, a), VerifyOptions(registry=w.registry.address))
        app = create_app(ServiceConfig(rpc_url=node.rpc_url, registry=w.registry.address, database_url=w.db_url,
                                       head_ttl=0.01, finality="finalized"))
        client = app.test_client()
        report = verifier.verify(badge)
        assert report.verdict.value == "pending" and any(c.reason == "not_final" for c in report.checks)
        assert client.post("/api/v1/verify", json=badge).json["verdict"] == "pending"
        latest = Verifier(lambda a: RegistryReader(Chain(node.rpc_url), a), VerifyOptions(registry=w.registry.address))
        assert latest.verify(badge).verdict.value == "valid"  # one confirmation is enough under "latest"
        node_chain = Chain(node.rpc_url)
        node_chain.dev_rpc("anvil_mine", hex(5))
        time.sleep(1.1)  # the tag's block is re-read at most every second
        finalized._settled = None
        assert verifier.verify(badge).verdict.value == "valid"
        assert client.post("/api/v1/verify", json=badge).json["verdict"] == "valid"


def test_all_urls_down_through_the_cli_is_one_line_exit_4(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANCHOR_RPC_URLS", "http://127.0.0.1:2/v2/secret")
    monkeypatch.setenv("ANCHOR_ISSUER_KEY", "0x" + secrets.token_hex(32))
    code, out, err = Cli(tmp_path / "home", "http://127.0.0.1:1", capsys)("anchor")
    assert code == 4 and out == ""
    assert err == ("error: no RPC URL answered (2 tried): http://127.0.0.1:1: cannot reach "
                   "(ConnectionRefusedError); http://127.0.0.1:2: cannot reach (ConnectionRefusedError)\n")


def test_the_cli_says_once_what_a_safe_or_finalized_wait_is_waiting_for(capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from anchor.cli.issuing import waiting_note

    note = waiting_note(SimpleNamespace(settings=load_settings(env={"ANCHOR_FINALITY": "finalized"})))  # type: ignore[arg-type]
    for have in (0, 1, 2, 5):
        note(have, 1)
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["waiting until the node reports the anchoring block finalized (minutes on a public chain; "
                     "a rerun resumes the wait)"]


def test_the_service_reads_the_chain_with_the_settings_rpc_timeout_and_retry_budget() -> None:
    """A service worker holds a request while the RPC is retried: its budget is the operator's
    (rpc_timeout, rpc_retry_seconds, rpc_backoff, rpc_cooldown), not a constant."""
    from anchor.api import config_from_settings
    from anchor.api.service import Service

    settings = load_settings(env={"ANCHOR_RPC_TIMEOUT": "1.5", "ANCHOR_RPC_RETRY_SECONDS": "3", "ANCHOR_RPC_BACKOFF": "0.25",
                                  "ANCHOR_RPC_COOLDOWN": "7", "ANCHOR_CHAIN_ID": "31337"})
    config = config_from_settings(settings, registry="0x" + "11" * 20)
    assert config.rpc_timeout == 1.5 and (config.retry.budget, config.retry.backoff, config.retry.cooldown) == (3, 0.25, 7)
    chain = Service(config).view.chain
    assert chain.rpc.policy == config.retry and chain.rpc.timeout == 1.5
