"""The README's main job on the embedded defaults: local Anvil + SQLite, explained step by step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anchor import localchain, merkle
from anchor.chain import Chain
from anchor.config import Settings
from anchor.deployment import ensure_issuer, ensure_registry
from anchor.signer import dev_signer

DEMO_PROFILE = "https://demo-university.example/issuer"

Say = Callable[..., None]


def run_demo(settings: Settings, say: Say) -> dict[str, Any]:
    say("1. local chain", bold=True)
    st, started = localchain.up(settings)
    say(f"   Anvil {'started' if started else 'already running'} at {st.rpc_url}; state persisted in {st.state_file}")
    chain = Chain(settings.rpc_url)

    say("2. registry", bold=True)
    admin, issuer = dev_signer(0), dev_signer(1)
    d = ensure_registry(settings, chain, admin)
    say(f"   CredentialRegistry {'deployed' if d.created else 'found'} at {d.registry.address} (chain id {chain.chain_id})")

    say("3. issuer", bold=True)
    info, added = ensure_issuer(d.registry, admin, issuer.address, DEMO_PROFILE)
    say(f"   {issuer.address} {'registered' if added else 'already registered'} as issuer #{info.id} with profile {info.profile_uri}")

    say("4. anchor", bold=True)
    leaves = [merkle.hash_leaf(f"demo credential {i} at block {chain.block_number()}".encode()) for i in range(8)]
    root = merkle.root_of(b"".join(leaves))
    receipt = d.registry.anchor(issuer, root, len(leaves), confirmations=settings.confirmations)
    batch = d.registry.batch_info(root)
    say(f"   root 0x{root.hex()} of {batch.leaf_count} demo leaves anchored in block {receipt.block_number}, "
        f"{receipt.gas_used:,} gas")
    proof = merkle.prove(merkle.build_levels(b"".join(leaves)), 3)
    ok = d.registry.verify(root, leaves[3], 3, proof)
    say(f"   on-chain verify of leaf 3 with its {len(proof)}-step proof: {ok}")
    return {"registry": d.registry.address, "root": root, "block": receipt.block_number}
