"""The ABI and bytecode shipped in the package are exactly what a fresh compile produces."""

from __future__ import annotations

from anchor.chain.artifact import compile_registry, load_artifact


def test_shipped_artifact_matches_a_fresh_compile() -> None:
    fresh = compile_registry()
    shipped = load_artifact()
    assert shipped.abi == fresh.abi, "ABI drifted: run `python -m anchor.chain.artifact`"
    assert shipped.bytecode == fresh.bytecode, "bytecode drifted: run `python -m anchor.chain.artifact`"
    assert shipped.deployed_bytecode == fresh.deployed_bytecode
    assert shipped.compiler == fresh.compiler


def test_abi_has_every_function_error_and_event_the_client_uses() -> None:
    abi = load_artifact().abi
    names = {(item["type"], item.get("name")) for item in abi}
    for fn in ("anchor", "revoke", "revokeBatch", "addIssuer", "removeIssuer", "verify", "batchInfo", "issuerInfo", "isRevoked"):
        assert ("function", fn) in names
    for ev in ("BatchAnchored", "CredentialsRevoked", "BatchRevoked", "IssuerAdded", "IssuerRemoved", "AdminTransferred"):
        assert ("event", ev) in names
