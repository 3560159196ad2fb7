"""The Python registry client against a real Anvil: deploy, roles, anchor, revoke, views, events."""

from __future__ import annotations

import os

import pytest

from anchor.chain.node import Chain
from anchor.chain.signer import Signer
from anchor.chain.writer import Registry
from anchor.core.errors import ChainError, ChainUnavailable, ContractRevert, InputError
from anchor.core.registry import ZERO_ADDRESS
from tests.conftest import ISSUER_PROFILE

pytestmark = pytest.mark.chain


def new_root() -> bytes:
    return os.urandom(32)


def test_deploy_sets_admin_and_runs_the_shipped_bytecode(chain: Chain, admin: Signer) -> None:
    reg, receipt = Registry.deploy(chain, admin)
    assert receipt.status == 1
    assert reg.admin() == admin.address
    reg.check_deployed()  # the runtime code on chain is the shipped artifact's


def test_check_deployed_rejects_an_address_without_the_registry(chain: Chain, admin: Signer) -> None:
    reg = Registry(chain, admin.address)  # an externally owned account: no code
    with pytest.raises(ChainError) as e:
        reg.check_deployed()
    assert e.value.reason == "no_registry"


def test_bad_address_is_an_input_error(chain: Chain) -> None:
    with pytest.raises(InputError):
        Registry(chain, "0x1234")


def test_add_and_remove_issuer(registry: Registry, admin: Signer, issuer: Signer, stranger: Signer) -> None:
    info = registry.issuer_info(issuer.address)
    assert (info.id, info.active, info.profile_uri) == (1, True, ISSUER_PROFILE)
    assert info.added_at > 0 and info.removed_at == 0
    assert registry.issuer_count() == 1
    assert registry.issuer_account(1) == issuer.address

    registry.remove_issuer(admin, issuer.address)
    info = registry.issuer_info(issuer.address)
    assert not info.active and info.removed_at >= info.added_at

    with pytest.raises(ContractRevert) as e:
        registry.add_issuer(stranger, stranger.address, "https://x.example")
    assert e.value.reason == "unauthorized_admin"
    assert str(e.value.error_args[0]).lower() == stranger.address.lower()


def test_anchor_and_batch_info(registry: Registry, chain: Chain, issuer: Signer) -> None:
    root = new_root()
    receipt = registry.anchor(issuer, root, 1234)
    info = registry.batch_info(issuer.address, root)
    assert info.anchored
    assert (info.issuer, info.leaf_count, info.anchored_block) == (issuer.address, 1234, receipt.block_number)
    assert info.anchored_at == chain.block_time(receipt.block_number)
    assert info.revoked_at == 0


def test_anchor_reverts_are_decoded(registry: Registry, issuer: Signer, stranger: Signer) -> None:
    root = new_root()
    registry.anchor(issuer, root, 5)
    cases = [
        (issuer, root, 5, "root_already_anchored"),
        (issuer, bytes(32), 5, "zero_root"),
        (issuer, new_root(), 0, "zero_leaf_count"),
        (stranger, new_root(), 5, "unauthorized_issuer"),
    ]
    for signer, r, count, reason in cases:
        with pytest.raises(ContractRevert) as e:
            registry.anchor(signer, r, count)
        assert e.value.reason == reason, e.value


def test_unknown_root_reads_as_not_anchored(registry: Registry, issuer: Signer) -> None:
    info = registry.batch_info(issuer.address, new_root())
    assert not info.anchored and info.issuer == ZERO_ADDRESS and info.leaf_count == 0


def test_revoke_indices_and_batch(registry: Registry, issuer: Signer, stranger: Signer) -> None:
    root = new_root()
    registry.anchor(issuer, root, 700)
    registry.revoke(issuer, root, [(0, 0b1010), (2, 1 << 187)], reason=3)  # indices 1, 3, 699
    assert [registry.is_revoked(issuer.address, root, i) for i in (0, 1, 2, 3, 699)] == [False, True, False, True, True]
    assert registry.revocation_word(issuer.address, root, 0) == 0b1010

    with pytest.raises(ContractRevert) as e:
        registry.revoke(issuer, root, [(0, 0b10)], reason=3)
    assert e.value.reason == "already_revoked"
    with pytest.raises(ContractRevert) as e:
        registry.revoke(issuer, root, [(2, 1 << 188)], reason=3)
    assert e.value.reason == "index_out_of_range"
    with pytest.raises(ContractRevert) as e:
        registry.revoke(stranger, root, [(0, 1)], reason=3)
    assert e.value.reason == "unknown_batch"

    assert not registry.is_batch_revoked(issuer.address, root)
    registry.revoke_batch(issuer, root, reason=2)
    assert registry.is_batch_revoked(issuer.address, root) and registry.is_revoked(issuer.address, root, 0)
    assert registry.batch_info(issuer.address, root).revoked_at > 0
    with pytest.raises(ContractRevert) as e:
        registry.revoke_batch(issuer, root, reason=2)
    assert e.value.reason == "batch_already_revoked"


def test_events_tell_the_whole_story(chain: Chain, admin: Signer, issuer: Signer) -> None:
    reg, deploy = Registry.deploy(chain, admin)
    reg.add_issuer(admin, issuer.address, ISSUER_PROFILE)
    root = new_root()
    anchored = reg.anchor(issuer, root, 10)
    reg.revoke(issuer, root, [(0, 0b11)], reason=4)
    reg.revoke_batch(issuer, root, reason=1)
    reg.remove_issuer(admin, issuer.address)

    events = list(reg.events(from_block=deploy.block_number, page=2))  # tiny pages: paging works
    assert [e.name for e in events] == [
        "AdminTransferred",
        "IssuerAdded",
        "BatchAnchored",
        "CredentialsRevoked",
        "BatchRevoked",
        "IssuerRemoved",
    ]
    added, batch, revoked, whole, removed = events[1:]
    assert added.args == {"issuer": issuer.address, "id": 1, "profileURI": ISSUER_PROFILE}
    assert batch.args == {"root": root, "issuer": issuer.address, "leafCount": 10}
    assert batch.block_number == anchored.block_number and batch.tx_hash == anchored.tx_hash
    assert revoked.args["words"] == ((0, 0b11),) and revoked.args["reason"] == 4
    assert whole.args == {"root": root, "issuer": issuer.address, "reason": 1}
    assert removed.args == {"issuer": issuer.address, "id": 1}

    only_root = list(reg.events(from_block=deploy.block_number, topics=[None, "0x" + root.hex()]))
    assert [e.name for e in only_root] == ["BatchAnchored", "CredentialsRevoked", "BatchRevoked"]


def test_unreachable_chain_is_chain_unavailable() -> None:
    from anchor.chain.anvil import free_port

    dead = Chain(f"http://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(ChainUnavailable):
        dead.block_number()
    assert not dead.is_reachable()


def test_signer_never_shows_its_key(issuer: Signer) -> None:
    from anchor.chain.signer import ANVIL_DEV_KEYS

    key = ANVIL_DEV_KEYS[1].removeprefix("0x")
    assert key not in repr(issuer) and key not in str(issuer)
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(issuer)


def test_malformed_key_error_does_not_echo_it() -> None:
    from anchor.core.errors import ConfigError

    secret = "0x" + "ab" * 31 + "zz"
    with pytest.raises(ConfigError) as e:
        Signer.from_key(secret)
    assert secret not in str(e.value) and "ab" * 31 not in str(e.value)
    assert e.value.__cause__ is None and e.value.__suppress_context__
