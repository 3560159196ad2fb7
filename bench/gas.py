"""Gas used by each registry operation, measured on a real Anvil (hardfork prague).

    python bench/gas.py

Prints one table with the figures, the per-credential cost, and the reference figures and
targets from the issue (EAS attest / multiRevoke, a minimal one-slot anchor).
"""

from __future__ import annotations

import os
import sys

from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.chain.signer import dev_signer
from anchor.chain.writer import Registry

REF_MINIMAL_ANCHOR = 46_493
REF_EAS_ATTEST = 165_922  # per credential, multiAttest x100
REF_EAS_REVOKE = 25_906  # per credential, multiRevoke x100


def main() -> int:
    admin, issuer = dev_signer(0), dev_signer(1)
    with DevChain.start() as node:
        chain = Chain(node.rpc_url)
        reg, deploy = Registry.deploy(chain, admin)
        add = reg.add_issuer(admin, issuer.address, "https://university.example/issuer")
        rows: list[tuple[str, int, int, str]] = [
            ("deploy registry", deploy.gas_used, 1, ""),
            ("add issuer", add.gas_used, 1, ""),
        ]
        for size in (1, 1_000, 1_000_000):
            root = os.urandom(32)
            gas = reg.anchor(issuer, root, size).gas_used
            rows.append((f"anchor (batch of {size:,})", gas, size, f"target ≤ 55,000 per batch; minimal anchor {REF_MINIMAL_ANCHOR:,}"))
        root = os.urandom(32)
        reg.anchor(issuer, root, 100_000)
        rows.append(("revoke 1 index", reg.revoke(issuer, root, [(0, 1)], 1).gas_used, 1, ""))
        full = reg.revoke(issuer, root, [(1, (1 << 256) - 1)], 1).gas_used
        rows.append(("revoke 256 indices, one word", full, 256, "target ≤ 400 per credential"))
        scattered = reg.revoke(issuer, root, [(10 + w, 1 << (w % 256)) for w in range(100)], 1).gas_used
        rows.append(("revoke 100 indices, 100 words", scattered, 100, f"target ≤ 26,000 per credential; EAS multiRevoke {REF_EAS_REVOKE:,}"))
        rows.append(("revoke whole batch (100,000)", reg.revoke_batch(issuer, root, 2).gas_used, 100_000, ""))
        info = chain.dev_rpc("anvil_nodeInfo")
        hardfork = info.get("hardFork", "?")

    print(f"anchor registry gas (Anvil, hardfork {hardfork}); EAS attest reference {REF_EAS_ATTEST:,} gas per credential")
    print(f"{'operation':<34}{'gasUsed':>12}{'per credential':>16}  reference / target")
    for name, gas, n, note in rows:
        per = f"{gas / n:,.2f}" if n > 1 else f"{gas:,}"
        print(f"{name:<34}{gas:>12,}{per:>16}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
