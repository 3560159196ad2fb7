"""Shared fixtures: a real Anvil node per test session, a freshly deployed registry per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from anchor.chain import Chain, Registry
from anchor.devchain import DevChain
from anchor.signer import Signer, dev_signer

ISSUER_PROFILE = "https://university.example/issuer"


@pytest.fixture(scope="session")
def anvil() -> Iterator[DevChain]:
    """A real Anvil process on a free port, stopped at the end of the session."""
    node = DevChain.start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def chain(anvil: DevChain) -> Chain:
    return Chain(anvil.rpc_url)


@pytest.fixture
def admin() -> Signer:
    return dev_signer(0)


@pytest.fixture
def issuer() -> Signer:
    return dev_signer(1)


@pytest.fixture
def stranger() -> Signer:
    return dev_signer(2)


@pytest.fixture
def registry(chain: Chain, admin: Signer, issuer: Signer) -> Registry:
    """A new registry (admin = dev account 0) with dev account 1 as an issuer."""
    reg, _ = Registry.deploy(chain, admin)
    reg.add_issuer(admin, issuer.address, ISSUER_PROFILE)
    return reg
