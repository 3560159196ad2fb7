"""Anchoring loses nothing: real ``kill -9`` of the issuer process at every step, then a rerun.

Each scenario ends with every credential in exactly one confirmed batch, every batch root anchored
exactly once on chain (one BatchAnchored event), and every exported badge verifying on chain.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from anchor.app.anchoring import Anchorer
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.chain.signer import dev_signer
from anchor.chain.writer import Registry
from anchor.config import read_deployment
from anchor.core.credential import leaf_of
from anchor.core.proof import find_anchor_proof
from anchor.core.status import TxKind, TxStatus
from anchor.store import Store
from anchor.store.schema import BatchRow, CredentialRow
from tests.helpers import EXAMPLES, Cli, write_roster

pytestmark = [pytest.mark.chain, pytest.mark.slow]
N = 30


def registry_of(cli: Cli) -> Registry:
    record = read_deployment(cli.home / "deployment.json")
    assert record is not None
    return Registry(Chain(cli.rpc_url), record["registry"])


def issue(cli: Cli, tmp_path: Path, n: int = N) -> None:
    cli.ok("issue", str(write_roster(tmp_path / "roster.csv", n)), "--achievement", str(EXAMPLES / "achievement.yaml"))


def assert_anchored_exactly_once(cli: Cli, tmp_path: Path, n: int, db_url: str) -> None:
    store = Store.open(db_url)
    with store.session() as s:
        total = s.scalar(select(func.count(CredentialRow.id)))
        unbatched = s.scalar(select(func.count(CredentialRow.id)).where(CredentialRow.batch_id.is_(None)))
        batches = list(s.scalars(select(BatchRow)))
        in_batches = s.scalar(select(func.count(CredentialRow.id)).join(BatchRow, CredentialRow.batch_id == BatchRow.id)
                              .where(BatchRow.status == "confirmed"))
    store.close()
    assert total == n and unbatched == 0 and in_batches == n, "every credential in exactly one confirmed batch"
    assert all(b.status == "confirmed" for b in batches)
    assert sum(b.leaf_count for b in batches) == n

    registry = registry_of(cli)
    anchored = Counter(e.args["root"] for e in registry.events() if e.name == "BatchAnchored")
    assert set(anchored) == {b.root for b in batches}, "every batch root on chain, nothing else"
    assert all(count == 1 for count in anchored.values()), "each root anchored exactly once"

    out = tmp_path / f"export-{time.monotonic_ns()}"
    cli.ok("export", str(out))
    files = list(out.glob("*.json"))
    assert len(files) == n
    for f in files:
        badge = json.loads(f.read_text())
        proof = find_anchor_proof(badge)
        assert registry.verify(proof.issuer_address, proof.root, leaf_of(badge), proof.index, list(proof.path))


@pytest.fixture
def cli(tmp_path: Path, anvil: DevChain, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path / "home", anvil.rpc_url, capsys, db_url=f"sqlite:///{tmp_path / 'anchor.db'}")
    c.setup_issuer()
    return c


@pytest.mark.parametrize("point", ["after_batch", "before_send", "after_send", "after_receipt", "after_commit"])
def test_kill_at_each_step_then_resume(cli: Cli, tmp_path: Path, point: str) -> None:
    issue(cli, tmp_path)
    crashed = cli.subprocess("anchor", "--max-batch", "10", crash_at=point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    resumed = cli.subprocess("anchor", "--max-batch", "10")
    assert resumed.returncode == 0, resumed.stderr
    assert_anchored_exactly_once(cli, tmp_path, N, cli.db_url or "")
    if point in ("after_send", "after_receipt"):  # the transaction landed before the kill
        assert "(adopted)" in resumed.stdout or "(resumed)" in resumed.stdout


def test_kill_twice_in_a_row_before_send(cli: Cli, tmp_path: Path) -> None:
    issue(cli, tmp_path)
    for _ in range(2):
        assert cli.subprocess("anchor", "--max-batch", "10", crash_at="before_send").returncode == -signal.SIGKILL
    assert cli.subprocess("anchor", "--max-batch", "10").returncode == 0
    assert_anchored_exactly_once(cli, tmp_path, N, cli.db_url or "")


def test_kill_at_random_moments_on_a_slow_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An external kill -9 at arbitrary instants while a chain mines a block every 0.3 s."""
    with DevChain.start(block_time=0.3) as slow:
        c = Cli(tmp_path / "home", slow.rpc_url, capsys, db_url=f"sqlite:///{tmp_path / 'anchor.db'}")
        c.setup_issuer()
        issue(c, tmp_path, 60)
        for delay in (0.8, 1.3, 0.5, 2.0):
            proc = subprocess.Popen(c.command("anchor", "--max-batch", "6"), env=c.env(), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        final = c.subprocess("anchor", "--max-batch", "6", timeout=300)
        assert final.returncode == 0, final.stderr
        assert_anchored_exactly_once(c, tmp_path, 60, c.db_url or "")


def test_root_already_on_chain_is_recognized(cli: Cli, tmp_path: Path) -> None:
    """A batch whose root someone (an earlier run, another machine) already anchored is adopted."""
    issue(cli, tmp_path, 7)
    store = Store.open(cli.db_url or "")
    issuer_row = store.issuer(dev_signer(1).address)
    assert issuer_row is not None
    batch = store.create_batch(issuer_row.id, 100)
    assert batch is not None
    registry = registry_of(cli)
    receipt = registry.anchor(dev_signer(1), batch.root, batch.leaf_count)  # behind the database's back
    report = Anchorer(store, registry, dev_signer(1), issuer_row).run()
    assert [o.how for o in report.outcomes] == ["adopted"]
    assert report.outcomes[0].tx_hash == receipt.tx_hash and report.outcomes[0].block_number == receipt.block_number
    assert store.batch(batch.id).status == "confirmed"  # type: ignore[union-attr]
    store.close()
    assert_anchored_exactly_once(cli, tmp_path, 7, cli.db_url or "")


def test_no_proof_before_the_configured_confirmations(cli: Cli, tmp_path: Path, anvil: DevChain) -> None:
    issue(cli, tmp_path, 10)
    cli.confirmations = 3
    # Auto-mining Anvil makes no new blocks by itself: the anchor gets 1 confirmation, not 3.
    waited = cli.subprocess("anchor", ANCHOR_RECEIPT_TIMEOUT="2")
    assert waited.returncode == 5 and "1 of 3 confirmations" in waited.stderr
    # The wait said what it waited for, and why it would not end by itself on this chain.
    assert "waiting for confirmations 1/3" in waited.stderr and "mines a block only when a transaction arrives" in waited.stderr
    assert "wrote 0 badge(s) (json)" in cli.ok("export", str(tmp_path / "early"))
    Chain(anvil.rpc_url).dev_rpc("anvil_mine", 2)
    resumed = cli.subprocess("anchor")
    assert resumed.returncode == 0 and "(adopted)" in resumed.stdout
    assert_anchored_exactly_once(cli, tmp_path, 10, cli.db_url or "")


def test_unknown_signed_transaction_is_rebroadcast_not_resigned(cli: Cli, tmp_path: Path, anvil: DevChain) -> None:
    """Killed after storing the signed tx but before sending it: the rerun sends the same bytes."""
    issue(cli, tmp_path, 5)
    assert cli.subprocess("anchor", crash_at="before_send").returncode == -signal.SIGKILL
    store = Store.open(cli.db_url or "")
    (batch,) = store.batches()
    (tx,) = store.transactions(batch.id, "anchor")
    store.close()
    assert cli.subprocess("anchor").returncode == 0
    events = [e for e in registry_of(cli).events() if e.name == "BatchAnchored"]
    assert [e.tx_hash for e in events] == [tx.tx_hash]
    store = Store.open(cli.db_url or "")
    (after,) = store.transactions(batch.id, TxKind.ANCHOR)  # nothing signed a second time
    store.close()
    assert (after.tx_hash, after.nonce, after.raw, after.status) == (tx.tx_hash, tx.nonce, tx.raw, TxStatus.MINED)
    assert Chain(cli.rpc_url).nonce_of(dev_signer(1).address, "latest") == tx.nonce + 1, "one transaction sent, not two"


def test_a_batch_that_fails_on_its_own_never_stops_the_others(anvil: DevChain, tmp_path: Path) -> None:
    """Batch 1's root is already on chain for this issuer with another leaf count (a conflicting
    record: it can never be confirmed as it is); batch 2 is anchored all the same."""
    from anchor.app.anchoring import Anchorer
    from anchor.chain.signer import dev_signer
    from tests.world import make_world

    w = make_world(Chain(anvil.rpc_url), tmp_path, n=1)
    row = w.store.issuer(w.issuer.address)
    assert row is not None
    from anchor.app.issuing import issue_credentials
    from anchor.core.roster import parse_roster
    from tests.world import achievement

    issue_credentials(w.store, row, achievement(), parse_roster("name,email\n" + "".join(f"P{i},q{i}@example.org\n" for i in range(6))))
    first, second = w.store.create_batch(row.id, 3), w.store.create_batch(row.id, 3)
    assert first is not None and second is not None
    w.registry.anchor(dev_signer(1), first.root, 99)  # behind the database's back, with the wrong count
    report = Anchorer(w.store, w.registry, w.issuer, row).run()
    assert [(f.batch_id, f.reason) for f in report.failures] == [(first.id, "root_conflict")]
    assert [o.batch_id for o in report.outcomes] == [second.id]
    assert w.registry.batch_info(w.issuer.address, second.root).leaf_count == 3
