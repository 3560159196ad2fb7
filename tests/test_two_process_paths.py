"""The two-process fast paths (forked credential builder, forked export half) give the same
results as the single-process ones: lowered thresholds make small runs take them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchor.app import exporting, issuing
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.core import merkle
from anchor.core.credential import leaf_of, schema_errors
from anchor.core.proof import find_anchor_proof
from tests.world import make_world

pytestmark = pytest.mark.chain


def test_forked_builder_and_forked_export(anvil: DevChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    monkeypatch.setattr(issuing, "PARALLEL_MIN", 10)
    monkeypatch.setattr(issuing, "INSERT_CHUNK", 7)  # several chunks through the pipe
    monkeypatch.setattr(exporting, "SPLIT_MIN", 10)
    monkeypatch.setattr(exporting, "_LEAF_CHUNK", 8)
    w = make_world(Chain(anvil.rpc_url), tmp_path, n=61, db_url=db_url)
    assert len(w.badges) == 61
    assert len({b["id"] for b in w.badges}) == 61
    indices = sorted(find_anchor_proof(b).index for b in w.badges)
    assert indices == list(range(61))
    for badge in w.badges:
        assert schema_errors(badge) == []
        proof = find_anchor_proof(badge)
        merkle.verify_inclusion(leaf_of(badge), proof.index, proof.leaf_count, proof.path, proof.root)
    assert not list(tmp_path.glob(".badges.partial-*")), "the staging directory was renamed into place"


def test_export_into_a_directory_that_has_files_replaces_them_atomically(anvil: DevChain, tmp_path: Path) -> None:
    w = make_world(Chain(anvil.rpc_url), tmp_path, n=5)
    row = w.store.issuer(w.issuer.address)
    assert row is not None
    stray = w.out / "keep-me.txt"
    stray.write_text("not a badge")
    report = exporting.export_credentials(w.store, row.id, w.issuer.address, w.out)
    assert report.files == 5 and stray.exists() and not list(w.out.glob("*.tmp"))
    again = {p.name: json.loads(p.read_text()) for p in w.out.glob("*.json")}
    assert sorted(again) == sorted(b["id"].removeprefix("urn:uuid:") + ".json" for b in w.badges)


def test_a_forked_builders_error_reaches_the_user_and_nothing_is_issued(anvil: DevChain, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A builder process that fails with anchor's own error hands that error to the parent (the
    message the one-process path gives), and nothing is inserted."""
    from anchor.app.signing import BadgeSigner
    from anchor.app.signing_keys import dev_signing_key_for
    from anchor.core.errors import StoreError
    from anchor.core.roster import parse_roster
    from tests.world import achievement

    w = make_world(Chain(anvil.rpc_url), tmp_path, n=2)
    row = w.store.issuer(w.issuer.address)
    assert row is not None
    before = w.store.counts(row.id)
    monkeypatch.setattr(issuing, "PARALLEL_MIN", 10)
    monkeypatch.setattr(issuing, "INSERT_CHUNK", 7)
    wrong = BadgeSigner(dev_signing_key_for(w.issuer.address), "did:web:someone-else.example")  # refuses this issuer's documents
    roster = parse_roster("name,email\n" + "".join(f"Q {i},q{i}@example.org\n" for i in range(30)))
    with pytest.raises(StoreError, match="not the signing DID"):
        issuing.issue_credentials(w.store, row, achievement(), roster, sign=wrong)
    assert w.store.counts(row.id) == before
