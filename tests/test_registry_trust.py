"""Trust-on-first-sight is never called valid: a badge anchored in an attacker's own registry,
where the attacker registered the real issuer's profile URI, passes every check against that
registry, so only pinning the registries you trust tells it apart (issue 8, hostile documents)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.chain.signer import dev_signer
from anchor.chain.writer import Registry
from anchor.cli.main import main
from anchor.core import merkle
from anchor.core.credential import CredentialFactory, IssuerProfile
from anchor.core.proof import render_proof
from tests.world import PROFILE, World, achievement, make_world

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def world(anvil: DevChain, tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(Chain(anvil.rpc_url), tmp_path_factory.mktemp("trust"), n=2)


def _forged_in_own_registry(world: World) -> dict[str, object]:
    """Mallory deploys a registry of her own, registers herself with the real issuer's profile URI,
    and anchors a badge naming the real issuer."""
    mallory = dev_signer(5)
    own, _ = Registry.deploy(world.chain, mallory)
    own.add_issuer(mallory, mallory.address, PROFILE)
    issued = CredentialFactory(IssuerProfile(id=PROFILE, name="Uni"), achievement()).build(
        name="Mallory", email="m@example.org", valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    levels = merkle.build_levels(issued.leaf)
    receipt = own.anchor(mallory, levels[-1], 1)
    badge = issued.document
    badge["proof"] = [render_proof(chain_id=world.chain.chain_id, registry=own.address, issuer_address=mallory.address,
                                   root=levels[-1], index=0, leaf_count=1, path=[], sides=(), tx_hash=receipt.tx_hash,
                                   block_number=receipt.block_number, created="2026-01-01T00:00:00Z")]
    return badge


def _verify(tmp_path: Path, world: World, badge: object, capsys: pytest.CaptureFixture[str], *extra: str,
            config: str | None = None) -> tuple[int, str]:
    home = tmp_path / "verifier-home"  # a verifier's machine: no deployment record of its own
    path = tmp_path / "badge.json"
    path.write_text(json.dumps(badge))
    args = ["--home", str(home), "--rpc", world.chain.rpc_url]
    if config is not None:
        (tmp_path / "anchor.toml").write_text(config)
        args = ["--config", str(tmp_path / "anchor.toml"), *args]
    capsys.readouterr()
    code = main([*args, "verify", str(path), *extra])
    out, err = capsys.readouterr()
    return code, out + err


def test_a_badge_from_an_unpinned_registry_is_never_valid(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forged = _forged_in_own_registry(world)
    code, out = _verify(tmp_path, world, forged, capsys)
    assert code == 14 and out.startswith("UNTRUSTED_REGISTRY"), out
    # The genuine badge, unpinned, is not valid either: the verifier has not said which registry it trusts.
    code, out = _verify(tmp_path, world, world.badge(0), capsys)
    assert code == 14, out


def test_pinning_the_registry_tells_the_forgery_apart(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forged = _forged_in_own_registry(world)
    code, out = _verify(tmp_path, world, forged, capsys, "--registry", world.registry.address)
    assert code == 1 and "registry_mismatch" in out, out
    code, out = _verify(tmp_path, world, world.badge(0), capsys, "--registry", world.registry.address)
    assert code == 0 and out.startswith("VALID"), out


def test_trusted_registries_from_the_settings_file(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = f'trusted_registries = ["{world.registry.address}"]\n'
    code, out = _verify(tmp_path, world, world.badge(0), capsys, config=config)
    assert code == 0, out
    code, out = _verify(tmp_path, world, _forged_in_own_registry(world), capsys, config=config)
    assert code == 1 and "registry_mismatch" in out, out
