"""Two real ``anchor`` processes at once, on SQLite and on PostgreSQL (issue 8 §4).

Each attack is made deterministic with ``ANCHOR_STOP_AT``: the first process stops itself
(SIGSTOP) at the worst instant, the second runs through that window, then the first resumes.

* Issuing one roster twice at once: both runs read "nobody holds it yet" before either inserts.
  The database's unique award key with insert-or-skip must leave exactly one credential per
  recipient (a check-then-insert issued every row twice: SQLite 3,000+3,000, PostgreSQL 40+40).
* Anchoring twice at once: the second run would adopt the first one's stored transaction and race
  it for nonces ("nonce too low", a UNIQUE violation, or a batch left unanchored while the other
  exited 0). The issuer's run lock makes the second process stop at once with one line
  (``issuer ... is busy``, exit 7) while the first finishes everything exactly once.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from anchor.chain.anvil import DevChain
from anchor.chain.signer import dev_signer
from anchor.core.status import BatchStatus
from anchor.store import Store
from tests.helpers import EXAMPLES, Cli, write_roster
from tests.test_anchoring_crash import registry_of

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def started(cli: Cli, *args: str, stop_at: str | None = None) -> subprocess.Popen[str]:
    extra = {"ANCHOR_STOP_AT": stop_at} if stop_at else {}
    return subprocess.Popen(cli.command(*args), env=cli.env(None, **extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_stopped(proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until ``proc`` has stopped itself at its stop point (state T in /proc)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process exited {proc.returncode} before its stop point: {err}{out}")
        state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        time.sleep(0.05)
    proc.kill()
    pytest.fail("process never reached its stop point")


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


@pytest.fixture
def cli(tmp_path: Path, anvil: DevChain, capsys: pytest.CaptureFixture[str], db_url: str) -> Cli:
    c = Cli(tmp_path / "home", anvil.rpc_url, capsys, db_url=db_url)
    c.setup_issuer()
    return c


def test_one_roster_issued_by_two_processes_at_once_is_issued_once(cli: Cli, tmp_path: Path, db_url: str) -> None:
    n = 300
    roster = str(write_roster(tmp_path / "roster.csv", n))
    achievement = str(EXAMPLES / "achievement.yaml")
    first = started(cli, "issue", roster, "--achievement", achievement, stop_at="issue_before_insert")
    second = started(cli, "issue", roster, "--achievement", achievement, stop_at="issue_before_insert")
    try:
        wait_stopped(first)
        wait_stopped(second)  # both have read "no holders yet" and built every badge
        first.send_signal(signal.SIGCONT)
        second.send_signal(signal.SIGCONT)
        results = [finish(first), finish(second)]
    finally:
        for p in (first, second):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [code for code, _, _ in results] == [0, 0], results
    outputs = sorted(out for _, out, _ in results)
    assert outputs[0].startswith("issued 0 pending credential(s)") and f"skipped {n} recipient(s) who already hold it" in outputs[0]
    assert outputs[1].startswith(f"issued {n} pending credential(s)")

    store = Store.open(db_url)
    try:
        issuer = store.issuer(dev_signer(1).address)
        assert issuer is not None
        assert store.counts(issuer.id).pending == n, "one credential per recipient, not one per run"
        batch = store.create_batch(issuer.id, 10 * n)
        assert batch is not None and batch.leaf_count == n
        docs = list(store.iter_documents(batch.id))
        assert len(docs) == n and len({cid for _, cid, _ in docs}) == n  # every credential has its document
    finally:
        store.close()


def test_two_anchor_processes_at_once_anchor_every_batch_exactly_once(cli: Cli, tmp_path: Path, db_url: str) -> None:
    n = 12
    cli.ok("issue", str(write_roster(tmp_path / "roster.csv", n)), "--achievement", str(EXAMPLES / "achievement.yaml"))
    # The first run stops with its first batch signed and stored but not yet broadcast.
    first = started(cli, "anchor", "--max-batch", "4", stop_at="before_send")
    try:
        wait_stopped(first)
        second = cli.subprocess("anchor", "--max-batch", "4")
        code, out, err = second.returncode, second.stdout, second.stderr
        first.send_signal(signal.SIGCONT)
        first_code, first_out, first_err = finish(first)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first_code == 0, f"the first run was disturbed: {first_err}"
    assert "anchored 12 credential(s) in 3 batch(es)" in first_out
    assert code == 7, f"the second run must stop at once, it exited {code}: {err}{out}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: issuer {dev_signer(1).address} is busy"), err

    store = Store.open(db_url)
    try:
        batches = store.batches()
        issuer = store.issuer(dev_signer(1).address)
        assert issuer is not None
        counts = store.counts(issuer.id)
    finally:
        store.close()
    assert (counts.pending, counts.batched, counts.anchored) == (0, 0, n), "nothing left unanchored"
    assert [b.status for b in batches] == [BatchStatus.CONFIRMED] * 3
    anchored = Counter(e.args["root"] for e in registry_of(cli).events() if e.name == "BatchAnchored")
    assert anchored == Counter({b.root: 1 for b in batches}), "every batch anchored exactly once, nothing else"
