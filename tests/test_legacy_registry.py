"""Registries of earlier releases, read by today's code (anchor.chain.legacy).

The first contract (releases before 30e78f8) keys a batch by its root alone. The fixture is the
chain the schema-2 release (8e66cca) anchored on with its own CLI (tests/fixtures/legacy), and
its database upgraded to the head and exported by today's code. An issuer who upgrades keeps that
registry, so its badges must verify, revoke and audit; and since any authorised issuer of that
registry can anchor any root, a root must count for a credential only when the credential's own
issuer anchored it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from anchor.api import create_app
from anchor.api.service import ServiceConfig
from anchor.app.verifying import Report, Verdict, Verifier, VerifyOptions
from anchor.chain import legacy
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.chain.reader import RegistryReader
from anchor.chain.signer import Signer, dev_signer
from anchor.chain.writer import Registry
from anchor.cli.main import main
from anchor.core.credential import leaf_of
from anchor.core.errors import ChainError, ContractRevert
from anchor.core.registry import ZERO_ADDRESS
from anchor.store.migrations import runner
from tests.receipts import receipt, receipt_of

pytestmark = pytest.mark.chain

LEGACY = Path(__file__).parent / "fixtures" / "legacy"


@dataclass
class OldWorld:
    node: DevChain
    chain: Chain
    registry: str
    db_url: str
    home: Path
    revoked: str
    badges: dict[str, dict[str, Any]]  # credential id -> exported badge
    alice: Signer  # the legacy issuer
    mallory: Signer  # another issuer the admin authorises in the same registry

    def badge(self, cid: str) -> dict[str, Any]:
        return json.loads(json.dumps(self.badges[cid]))

    def cli(self, *args: str) -> int:
        return main(["--home", str(self.home), "--rpc", self.node.rpc_url, "--registry", self.registry, "--db", self.db_url, *args])

    def reader(self, *, head_ttl: float = 0.0) -> RegistryReader:
        return RegistryReader(Chain(self.node.rpc_url), self.registry, head_ttl=head_ttl)

    def verify(self, badge: dict[str, Any], *, head_ttl: float = 0.0) -> Report:
        reader = self.reader(head_ttl=head_ttl)
        return Verifier(lambda _: reader, VerifyOptions(registry=self.registry)).verify(badge)


def _old_chain(name: str, tmp: Path) -> DevChain:
    state = tmp / f"{name}-anvil.json"
    shutil.copy(LEGACY / f"{name}-anvil.json", state)
    return DevChain.start(state_file=state)


@pytest.fixture(scope="module")
def old(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OldWorld]:
    """The schema-2 release's chain and database, upgraded and exported by today's code; one
    module-wide chain (tests that write to it leave the badges above as they were)."""
    tmp = tmp_path_factory.mktemp("legacy")
    facts = json.loads((LEGACY / "schema2.json").read_text())
    with _old_chain("schema2", tmp) as node:
        url = f"sqlite:///{tmp / 'anchor.db'}"
        with sqlite3.connect(tmp / "anchor.db") as conn:
            conn.executescript((LEGACY / "schema2.sql").read_text(encoding="utf-8"))
        runner.upgrade(url, backup=False)
        world = OldWorld(node, Chain(node.rpc_url), facts["registry"], url, tmp / "home", facts["revoked"], {},
                         dev_signer(1), dev_signer(2))
        assert world.cli("export", str(tmp / "badges")) == 0
        world.badges = {f"urn:uuid:{p.stem}": json.loads(p.read_text()) for p in (tmp / "badges").glob("*.json")}
        assert sorted(world.badges) == facts["credentials"]
        assert {receipt_of(b)["issuerAddress"] for b in world.badges.values()} == {world.alice.address}
        yield world


# ---------------------------------------------------------------------------- recognising it

def test_the_first_contract_is_recognised_by_its_runtime_code(old: OldWorld, chain: Chain) -> None:
    reader = old.reader()
    assert reader.code_matches() and reader.root_keyed and reader.keyless
    reader.check_deployed()
    assert len(legacy.FIRST_RUNTIME_SHA256) == 1
    # Today's registry is not read the old way.
    today, _ = Registry.deploy(chain, dev_signer(0))
    fresh = RegistryReader(chain, today.address)
    assert fresh.code_matches() and not fresh.root_keyed and not fresh.keyless


def test_a_reader_that_never_checked_the_code_recognises_it_when_refused(old: OldWorld) -> None:
    """The status endpoint reads before anything checked the code: the old registry refuses
    today's call, the reader reads the code once and asks again, its way."""
    badge = old.badge(old.revoked)
    r = receipt_of(badge)
    root = bytes.fromhex(r["merkleRoot"][2:])
    for head_ttl in (0.0, 60.0):
        reader = old.reader(head_ttl=head_ttl)
        head, batch, info, bits = reader.read(old.alice.address, root, r["leafIndex"])
        assert reader.root_keyed and batch.anchored and batch.issuer == old.alice.address and info is not None
        assert batch.leaf_count == r["leafCount"] and head >= batch.anchored_block
        assert (bits >> (r["leafIndex"] & 0xFF)) & 1 == 1  # the revoked one
    fresh = old.reader()
    assert fresh.batch_info(old.alice.address, root).anchored and fresh.is_revoked(old.alice.address, root, r["leafIndex"])
    assert fresh.signing_key_count(old.alice.address) == 0 and fresh.signing_keys(old.alice.address) == []


# ---------------------------------------------------------------------------- verifying

def test_every_badge_verifies_offline_and_through_the_service(old: OldWorld) -> None:
    for cid, badge in old.badges.items():
        report = old.verify(badge)
        want = Verdict.REVOKED if cid == old.revoked else Verdict.VALID
        assert report.verdict is want, report.summary
    revoked = old.verify(old.badge(old.revoked))
    assert revoked.failed is not None and revoked.failed.reason == "revoked" and "issued_in_error" in revoked.failed.message

    app = create_app(ServiceConfig(rpc_url=old.node.rpc_url, registry=old.registry, database_url=old.db_url, head_ttl=60))
    client = app.test_client()
    some = next(cid for cid in old.badges if cid != old.revoked)
    # The status endpoint first (nothing has checked the registry's code yet).
    assert client.get(f"/api/v1/credentials/{some}/status").json["status"] == "active"
    assert client.get(f"/api/v1/credentials/{old.revoked}/status").json["status"] == "revoked"
    assert client.post("/api/v1/verify", json=old.badge(some)).json["verdict"] == "valid"
    assert client.post("/api/v1/verify", json=old.badge(old.revoked)).json["verdict"] == "revoked"
    proof = client.get(f"/api/v1/credentials/{some}/proof")
    assert proof.status_code == 200, proof.json
    root = receipt_of(old.badges[some])["merkleRoot"]
    batch = client.get(f"/api/v1/batches/{root}").json
    assert batch["issuer"] == old.alice.address and batch["leafCount"] == receipt_of(old.badges[some])["leafCount"]


def test_a_tampered_root_or_issuer_is_invalid(old: OldWorld) -> None:
    some = next(cid for cid in old.badges if cid != old.revoked)
    badge = old.badge(some)
    with receipt(badge) as r:
        r["merkleRoot"] = "0x" + "ab" * 32
    assert old.verify(badge).verdict is Verdict.INVALID

    badge = old.badge(some)  # the genuine root, claimed for another account of the registry
    with receipt(badge) as r:
        r["issuerAddress"] = old.mallory.address
    report = old.verify(badge)
    assert report.verdict is Verdict.INVALID, report.summary


def test_a_root_another_issuer_anchored_in_the_old_registry_does_not_count_for_the_credentials_issuer(old: OldWorld) -> None:
    """The attack the old registry allows: Mallory, another authorised issuer of the same registry,
    forges a badge naming Alice's issuer profile and Alice's account, and anchors its leaf
    herself (the first contract keys batches by root, so anyone's root is found by root). The
    verdict must still require the batch's recorded issuer to be the credential's: invalid."""
    registry = Registry(old.chain, old.registry)
    registry.check_deployed()
    if not registry.issuer_info(old.mallory.address).active:
        registry.add_issuer(dev_signer(0), old.mallory.address, "https://mallory.example/issuer")
    genuine = old.badge(next(cid for cid in old.badges if cid != old.revoked))
    forged = json.loads(json.dumps(genuine))
    forged["credentialSubject"]["achievement"]["name"] = "Doctor of Everything"
    leaf = leaf_of(forged)
    registry.anchor(old.mallory, leaf, 1)  # a one-leaf tree: its root is the leaf
    with receipt(forged) as r:
        r.update(merkleRoot="0x" + leaf.hex(), leafIndex=0, leafCount=1, path=[])
    assert receipt_of(forged)["issuerAddress"] == old.alice.address

    for head_ttl in (0.0, 60.0):
        report = old.verify(forged, head_ttl=head_ttl)
        assert report.verdict is Verdict.INVALID, report.summary
        assert report.failed is not None and report.failed.reason == "root_not_anchored", report.summary

    reader = old.reader()
    assert reader.code_matches()
    assert not reader.batch_info(old.alice.address, leaf).anchored
    assert reader.batch_info(old.mallory.address, leaf).issuer == old.mallory.address
    assert reader.batch_info(old.alice.address, leaf).issuer == ZERO_ADDRESS
    assert not reader.verify(old.alice.address, leaf, leaf, 0, []) and reader.verify(old.mallory.address, leaf, leaf, 0, [])
    registry.revoke_batch(old.mallory, leaf, 1)
    assert reader.is_batch_revoked(old.mallory.address, leaf) and not reader.is_batch_revoked(old.alice.address, leaf)
    assert not reader.is_revoked(old.alice.address, leaf, 0) and reader.revocation_word(old.alice.address, leaf, 0) == 0
    # Mallory's receipt naming herself fails on the issuer instead: her account is not Alice's profile.
    with receipt(forged) as r:
        r["issuerAddress"] = old.mallory.address
    assert old.verify(forged).verdict is Verdict.INVALID

    # Nor can Mallory revoke Alice's batch: the old contract's own error, decoded by name.
    root = bytes.fromhex(receipt_of(genuine)["merkleRoot"][2:])
    with pytest.raises(ContractRevert) as refused:
        registry.revoke_batch(old.mallory, root, 1)
    assert refused.value.error_name == "RegistryNotBatchIssuer" and refused.value.reason == "not_batch_issuer"
    assert old.verify(genuine).verdict is Verdict.VALID


# ---------------------------------------------------------------------------- revoking and auditing

def test_revoking_into_the_old_registry_and_auditing_its_history(old: OldWorld, capsys: pytest.CaptureFixture[str]) -> None:
    target = sorted(cid for cid in old.badges if cid != old.revoked)[-1]
    assert old.cli("revoke", target, "--reason", "superseded") == 0, capsys.readouterr().err
    report = old.verify(old.badge(target))
    assert report.verdict is Verdict.REVOKED and report.failed is not None and "superseded" in report.failed.message
    capsys.readouterr()
    assert old.cli("audit", "history", "--json") == 0, capsys.readouterr().err
    history = json.loads(capsys.readouterr().out)
    assert not history.get("findings"), history.get("findings")
    text = json.dumps(history)
    assert old.alice.address in text and receipt_of(old.badges[target])["merkleRoot"][2:] in text.lower()


# ---------------------------------------------------------------------------- signing keys

@pytest.mark.parametrize("name", ["schema2", "schema3"])
def test_signing_key_commands_on_a_registry_without_signing_keys_say_so_in_one_line(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("ANCHOR_DATABASE_URL", "ANCHOR_REGISTRY", "ANCHOR_RPC_URL", "ANCHOR_CONFIG", "ANCHOR_HOME", "ANCHOR_SIGNING_KEY"):
        monkeypatch.delenv(var, raising=False)
    facts = json.loads((LEGACY / f"{name}.json").read_text())
    with sqlite3.connect(tmp_path / "anchor.db") as conn:  # the release's own issuer database, upgraded
        conn.executescript((LEGACY / f"{name}.sql").read_text(encoding="utf-8"))
    runner.upgrade(f"sqlite:///{tmp_path / 'anchor.db'}", backup=False)
    with _old_chain(name, tmp_path) as node:
        common = ["--home", str(tmp_path / "home"), "--rpc", node.rpc_url, "--registry", facts["registry"],
                  "--db", f"sqlite:///{tmp_path / 'anchor.db'}"]
        for command in (["issuer", "key", "list"], ["issuer", "key", "bind"]):
            capsys.readouterr()
            code = main([*common, *command])
            err = capsys.readouterr().err.strip()
            assert code == 5 and err.count("\n") == 0, (command, code, err)
            assert legacy.PREDATES_SIGNING_KEYS in err and "data 0x" not in err, err
        capsys.readouterr()
        main([*common, "doctor"])  # says so too, with the way out (not `anchor issuer key bind`)
        line = next(x for x in capsys.readouterr().out.splitlines() if " signing key " in f" {x} ")
        assert line.startswith("FAIL") and legacy.PREDATES_SIGNING_KEYS in line and "deploy --force" in line, line
        registry = Registry(Chain(node.rpc_url), facts["registry"])  # never checked: it finds out itself
        with pytest.raises(ChainError) as refused:
            registry.bind_signing_key(dev_signer(1), b"\x01" * 32)
        assert refused.value.reason == "registry_predates_signing_keys"
        assert registry.signing_key_block(dev_signer(1).address, b"\x01" * 32) == 0


# ---------------------------------------------------------------------------- the code check

def test_a_failed_code_check_is_not_remembered_a_passed_one_is(chain: Chain) -> None:
    """A service started before its registry was deployed must see it once it is."""
    address = "0x" + "5e" * 20
    reader = RegistryReader(chain, address, head_ttl=60)
    assert not reader.code_matches()
    assert not reader.code_matches()  # still nothing there
    runtime = Registry(chain, address).artifact.deployed_bytecode
    chain.dev_rpc("anvil_setCode", address, runtime)
    assert reader.code_matches() and not reader.root_keyed
    chain.dev_rpc("anvil_setCode", address, "0x")
    calls = reader.rpc_calls
    assert reader.code_matches() and reader.rpc_calls == calls  # a match is kept: no read
