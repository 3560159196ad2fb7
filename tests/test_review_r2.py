"""Reviewer R2's regression tests (issue 10/11 review)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchor.app import exporting, issuing
from anchor.app.reissue import link_superseded
from anchor.app.signing import BadgeSigner
from anchor.chain.anvil import DevChain
from anchor.core.credential import CredentialFactory, IssuerProfile, credential_canonicalizer
from anchor.core.dataintegrity import create_proof, verify_proof
from anchor.core.ed25519 import SigningKey, did_key
from tests.helpers import EXAMPLES, Cli, write_roster
from tests.world import achievement

ACHIEVEMENT = str(EXAMPLES / "achievement.yaml")
KEY = SigningKey.from_seed(bytes(range(32)))
DID = did_key(KEY.public_key)


@pytest.fixture
def cli(tmp_path: Path, anvil: DevChain, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path / "home", anvil.rpc_url, capsys, db_url=f"sqlite:///{tmp_path / 'a.db'}")
    c.setup_issuer()
    return c


def manifest(directory: Path) -> list[dict[str, str]]:
    with open(directory / "manifest.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.chain
def test_forked_builders_and_forked_export_with_forms_keep_manifest_and_files_in_step(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(issuing, "PARALLEL_MIN", 10)
    monkeypatch.setattr(issuing, "INSERT_CHUNK", 7)
    monkeypatch.setattr(exporting, "SPLIT_MIN", 10)
    monkeypatch.setattr(exporting, "_LEAF_CHUNK", 8)
    cli.ok("issue", str(write_roster(tmp_path / "r.csv", 40)), "--achievement", ACHIEVEMENT)
    cli.ok("anchor")
    cli.ok("export", str(tmp_path / "b"), "--format", "png,jwt,svg")
    rows = manifest(tmp_path / "b")
    assert sorted(r["file"] for r in rows) == sorted(p.name for p in (tmp_path / "b").glob("*.png"))
    for p in (tmp_path / "b").glob("*.jwt"):
        code, o, e = cli("verify", str(p))
        assert code == 0, o + e
    cli.ok("issue", str(write_roster(tmp_path / "r2.csv", 12, prefix="q")), "--achievement", ACHIEVEMENT)
    cli.ok("anchor")
    assert "wrote 12 badge(s)" in cli.ok("export", str(tmp_path / "b"), "--new")
    rows = manifest(tmp_path / "b")
    assert len(rows) == 12
    assert "nothing new to export" in cli.ok("export", str(tmp_path / "c"), "--new")
    assert not (tmp_path / "c" / "manifest.csv").exists() or manifest(tmp_path / "c") == []



NAMES = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(lambda s: s.strip())


@settings(max_examples=30, deadline=None)
@given(name=NAMES, old_name=NAMES, status=st.booleans(), index=st.integers(0, 131_071))
def test_a_renewed_credential_takes_the_template_path_and_signs_as_the_general_path(name: str, old_name: str, status: bool,
                                                                                     index: int) -> None:
    """A renewal names the credential it supersedes (relatedResource: id and digest). Those two
    values are template slots, so renewals share one template (before: one pyld conversion and
    one template-cache file per renewed credential, ~25x the signing cost), and the template
    path's canonical N-Quads and proof equal the general (pyld) path's."""
    from anchor.core.jsonld import to_nquads

    factory = CredentialFactory(IssuerProfile(id=DID, name="Uni"), achievement())
    when = datetime(2026, 11, 28, tzinfo=UTC)
    old = factory.build(name=old_name, email="ada@example.org", valid_from=when)
    new = factory.build(name=name, email="ada@example.org", valid_from=when,
                        status=("https://uni.example/status/0x1/0", index) if status else None)
    canonical = link_superseded(new.canonical, old.credential_id, old.canonical)
    document = json.loads(canonical)
    canonicalizer = credential_canonicalizer()
    templates = canonicalizer.stats["templates"]
    assert canonicalizer.canonical_nquads(document) == to_nquads(document)
    again = factory.build(name=name + "x", email="bob@example.org", valid_from=when,
                          status=("https://uni.example/status/0x1/0", index) if status else None)
    other = json.loads(link_superseded(again.canonical, new.credential_id, new.canonical))
    assert canonicalizer.canonical_nquads(other) == to_nquads(other)
    assert canonicalizer.stats["templates"] <= templates + 1  # at most one new template for both renewals
    signer = BadgeSigner(KEY, DID)
    proof = json.loads(signer(canonical))
    assert verify_proof(document, proof, KEY.public_key)  # the general path checks the template path's proof
    assert proof == create_proof(document, KEY, signer.verification_method, document["validFrom"])
