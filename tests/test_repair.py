"""``app.repair``: which anchored batches the chain's history lacks, and a dry run that touches
neither the chain nor the database (the full re-anchoring after a chain reset is exercised
through the CLI in tests/test_auditing.py)."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import pytest

from anchor.app.auditing import read_history
from anchor.app.repair import MissingBatch, MissingRevocation, repair
from anchor.chain.node import Chain
from anchor.chain.reader import RegistryReader
from anchor.core.history import RegistryState
from tests.world import World, make_world

pytestmark = pytest.mark.chain


@pytest.fixture
def world(chain: Chain, tmp_path: Path) -> World:
    return make_world(chain, tmp_path, n=6, max_batch=4)  # two batches: 4 + 2


def no_writer() -> NoReturn:
    raise AssertionError("the registry writer was asked for")


def history(w: World) -> RegistryState:
    return read_history(RegistryReader.connect(w.chain.rpc_url, w.registry.address, head_ttl=0))


def test_every_batch_on_chain_is_clean_and_needs_no_writer(world: World) -> None:
    row = world.store.issuer(world.issuer.address)
    assert row is not None
    report = repair(world.store, no_writer, world.issuer, row, lambda: history(world), confirmations=1, timeout=30)
    assert report.clean and report.missing == () and report.outcomes == ()


def test_dry_run_lists_the_batch_the_chain_lost_and_changes_nothing(world: World) -> None:
    row = world.store.issuer(world.issuer.address)
    assert row is not None
    state = history(world)
    assert len(state.batches) == 2
    lost_key = next(k for k, h in state.batches.items() if h.leaf_count == 2)
    del state.batches[lost_key]  # as a reorg deeper than the confirmation depth would
    heard: list[tuple[tuple[MissingBatch, ...], tuple[MissingRevocation, ...]]] = []

    report = repair(world.store, no_writer, world.issuer, row, lambda: state, confirmations=1, timeout=30,
                    dry_run=True, on_missing=lambda batches, revocations: heard.append((batches, revocations)))

    (lost,) = [b for b in world.store.batches(row.id) if b.leaf_count == 2]
    assert report.missing == (MissingBatch(lost.id, lost.root, 2),) and report.outcomes == () and report.dry_run
    assert heard == [(report.missing, ())] and not report.clean
    assert [b.status for b in world.store.batches(row.id)] == ["confirmed", "confirmed"]
