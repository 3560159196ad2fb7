"""``anchor doctor`` on Anvil as chain 8453: every check ok on a good setup; on a broken one, the
failing check names the fix (wrong chain id, no registry code, unauthorised issuer, too little
ether, an RPC URL down), exit 1; no secret ever printed."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from anchor.chain.anvil import DevChain
from anchor.chain.signer import Signer
from tests.helpers import Cli
from tests.test_public_chains import BASE, GWEI, Funded, funded, set_base_fee

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def node() -> Iterator[DevChain]:
    chain = DevChain.start(chain_id=BASE)
    yield chain
    chain.stop()


@pytest.fixture
def setup(node: DevChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Funded:
    f = funded(node, tmp_path)
    for k, v in {**f.env, "ANCHOR_FINALITY": "safe", "ANCHOR_MAX_FEE_GWEI": "10"}.items():
        monkeypatch.setenv(k, v)
    return f


def doctor(f: Funded, tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code, out, err = Cli(tmp_path / "home", f.node.rpc_url, capsys, db_url=f.db_url)("doctor", *args)
    assert f.env["ANCHOR_ISSUER_KEY"][2:] not in out + err and f.env["ANCHOR_SIGNING_KEY"] not in out + err
    return code, out.splitlines(), err


def failing(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


def test_a_good_setup_is_all_ok(setup: Funded, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, err = doctor(setup, tmp_path, capsys, "--anchors", "5")
    assert code == 0, "\n".join(lines) + err
    assert lines[-1] == "all checks passed"
    checks = [line.split(":")[0] for line in lines[:-1]]
    assert all(c.startswith("ok") for c in checks), lines
    named = " | ".join(lines)
    for part in ("ok    settings: loaded: chain profile 'base', chain id 8453, finality safe, max fee 10 gwei, max tip 0.1 gwei",
                 f"ok    rpc_url {setup.node.rpc_url}: chain 8453", "ok    finality safe: safe block",
                 f"ok    registry {setup.registry.address}: CredentialRegistry code on chain 8453 (address from settings)",
                 f"ok    issuer key: {setup.issuer.address}", "ok    issuer authorised:", "ok    balance for 5 anchor(s):",
                 "schema version", "ok    signing key z6Mk"):
        assert part in named, part


def test_a_node_on_another_chain_is_named(setup: Funded, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANCHOR_CHAIN", "optimism")  # chain id 10, but the node is 8453
    code, lines, _ = doctor(setup, tmp_path, capsys)
    assert code == 1
    assert failing(lines)[0] == (f"FAIL  rpc_url {setup.node.rpc_url}: is on chain 8453, not 10 (chain_id); fix: point it at "
                                 "a chain 10 node, or set chain_id / chain to the chain you mean")
    assert lines[-1].endswith("check(s) failed")


def test_missing_registry_code_is_named(setup: Funded, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    nowhere = Signer.from_key("0x" + secrets.token_hex(32)).address
    monkeypatch.setenv("ANCHOR_REGISTRY", nowhere)
    code, lines, _ = doctor(setup, tmp_path, capsys)
    assert code == 1
    assert f"FAIL  registry {nowhere}: no contract at this address on chain 8453; fix: check registry" in failing(lines)[0]
    assert any(line.startswith("FAIL  signing key") and "not checked: no registry" in line for line in lines)


def test_an_unauthorised_issuer_is_named(setup: Funded, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    stranger = "0x" + secrets.token_hex(32)
    address = Signer.from_key(stranger).address
    setup.chain.dev_rpc("anvil_setBalance", address, hex(10**18))
    monkeypatch.setenv("ANCHOR_ISSUER_KEY", stranger)
    code, lines, _ = doctor(setup, tmp_path, capsys)
    assert code == 1
    bad = failing(lines)
    assert bad[0] == (f"FAIL  issuer authorised: {address} is not an issuer of registry {setup.registry.address}; fix: the "
                      f"registry admin runs `anchor issuer register` (or `anchor issuer add {address} URI`)")
    assert bad[1].startswith("FAIL  signing key") and f"not bound to {address}" in bad[1]
    assert stranger[2:] not in "\n".join(lines)


def test_too_little_ether_for_n_anchors_is_named(setup: Funded, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup.chain.dev_rpc("anvil_setBalance", setup.issuer.address, hex(10**14))  # 0.0001 ETH
    code, lines, _ = doctor(setup, tmp_path, capsys, "--anchors", "1000")
    assert code == 1
    [bad] = failing(lines)
    assert bad.startswith(f"FAIL  balance for 1000 anchor(s): {setup.issuer.address} holds 0.000100 ETH; 1000 anchor(s) may "
                          "cost up to ")
    assert "; fix: send at least " in bad and bad.endswith(f"ETH to {setup.issuer.address}")
    code, lines, _ = doctor(setup, tmp_path, capsys, "--anchors", "1")
    assert code == 0, failing(lines)


def test_a_fallback_url_that_is_down_and_fees_over_the_cap(setup: Funded, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANCHOR_RPC_URLS", "http://127.0.0.1:1/key-in-path")
    monkeypatch.setenv("ANCHOR_MAX_FEE_GWEI", "0.5")
    set_base_fee(setup.chain, 2 * GWEI)
    code, lines, _ = doctor(setup, tmp_path, capsys)
    assert code == 1
    bad = failing(lines)
    assert bad[0] == ("FAIL  rpc_urls[0] http://127.0.0.1:1: cannot reach the chain at http://127.0.0.1:1 (ConnectionRefusedError); "
                      "fix: check the URL and that the node is up (or remove it from rpc_urls)")
    assert bad[1].startswith("FAIL  fees: base fee ") and "exceeds max_fee_gwei 0.5; raise the cap or wait; fix: raise max_fee_gwei" in bad[1]
    assert "key-in-path" not in "\n".join(lines)


def test_no_rpc_answering_says_so_once(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANCHOR_ISSUER_KEY", "0x" + secrets.token_hex(32))
    code, out, err = Cli(tmp_path / "home", "http://127.0.0.1:1", capsys)("doctor")
    assert code == 1, err
    assert [line.split(":")[0] for line in failing(out.splitlines())] == [
        "FAIL  rpc_url http", "FAIL  chain checks", "FAIL  issuer key", "FAIL  database sqlite"]
    assert "not run: no RPC URL answered" in out and "`anchor issuer register` creates it" in out


def test_settings_that_do_not_load_are_one_line_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANCHOR_CHAIN", "bsae")
    code, out, err = Cli(tmp_path / "home", "http://127.0.0.1:1", capsys)("doctor")
    assert code == 3 and out == ""
    assert err.startswith("error: unknown chain 'bsae': one of anvil, base, ethereum, optimism, sepolia") and err.count("\n") == 1
