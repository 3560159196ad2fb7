"""Registries deployed by earlier anchor releases, which issuers keep when they upgrade (contracts
are immutable): recognised by the SHA-256 of their runtime code, and read through today's
interface (:class:`~anchor.chain.views.RegistryViews`).

* The **first contract** (releases b87d432 to before 30e78f8) keyed a batch by its Merkle root
  alone: ``batchInfo(root)``, ``revocationWord(root, word)``, ``isRevoked(root, index)``,
  ``isBatchRevoked(root)``, ``verify(root, leaf, index, proof)``, and two errors of its own. Its
  other functions (``anchor``, ``revoke``, ``revokeBatch``, issuers, admin) and all its events have
  today's signatures. Today's views ask about the batch ``(issuer, root)``: the adapter drops the
  issuer from the call and keeps the answer only when the batch's recorded issuer **is** that
  issuer; a root anchored by anyone else reads as never anchored by it (see
  :func:`owned_by`), so nothing about another issuer's batch ever reaches a verdict.
* The **keyless contract** (releases 30e78f8 to 2e19140): today's contract before signing keys.

Neither has signing keys: no key was ever bound in them, and binding one is refused with
:data:`PREDATES_SIGNING_KEYS`. Nothing here is compiled at run time; the fragments below are the
first contract's ABI as release b87d432 shipped it (``anchor/artifacts/CredentialRegistry.json``).
"""

from __future__ import annotations

from typing import Any

from anchor.chain.abi import AbiTable
from anchor.core.errors import ChainError
from anchor.core.registry import ZERO_ADDRESS, BatchInfo

# SHA-256 of the runtime code of the first contract (the artifact every release from b87d432 to
# 30e78f8's parent shipped; there was one).
FIRST_RUNTIME_SHA256 = frozenset({"4d0af19c99803cdef47fceccc7ccd9cb73103da3b116365123eb5e6ea18b7fae"})

# SHA-256 of the runtime code of the registry releases 30e78f8 to 2e19140 deployed (batches keyed by
# issuer and root, before signing keys): its views and events are today's minus the signing-key ones.
KEYLESS_RUNTIME_SHA256 = "bbfd833916d9ea1f34c503c2c0405704fefc535cc1bb4bf6dd77c89f240bc068"

SIGNING_KEYS_SINCE = "179e120"  # the first release whose registry binds signing keys
PREDATES_SIGNING_KEYS = (f"this registry predates signing keys (deployed by anchor before commit {SIGNING_KEYS_SINCE}); "
                         "deploy a new registry for signed badges")

_BATCH_INFO = {"components": [{"name": "issuer", "type": "address"}, {"name": "leafCount", "type": "uint64"},
                              {"name": "anchoredAt", "type": "uint48"}, {"name": "anchoredBlock", "type": "uint64"},
                              {"name": "revokedAt", "type": "uint48"}], "name": "", "type": "tuple"}


def _view(name: str, inputs: list[tuple[str, str]], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "function", "name": name, "stateMutability": "view",
            "inputs": [{"name": n, "type": t} for n, t in inputs], "outputs": outputs}


def _bool() -> list[dict[str, Any]]:
    return [{"name": "", "type": "bool"}]


FIRST_ABI: list[dict[str, Any]] = [
    _view("batchInfo", [("root", "bytes32")], [_BATCH_INFO]),
    _view("isBatchRevoked", [("root", "bytes32")], _bool()),
    _view("isRevoked", [("root", "bytes32"), ("index", "uint256")], _bool()),
    _view("revocationWord", [("root", "bytes32"), ("word", "uint256")], [{"name": "", "type": "uint256"}]),
    _view("verify", [("root", "bytes32"), ("leaf", "bytes32"), ("index", "uint256"), ("proof", "bytes32[]")], _bool()),
    {"type": "error", "name": "RegistryUnknownRoot", "inputs": [{"name": "root", "type": "bytes32"}]},
    {"type": "error", "name": "RegistryNotBatchIssuer", "inputs": [{"name": "root", "type": "bytes32"},
                                                                    {"name": "account", "type": "address"}]},
]
FIRST = AbiTable(FIRST_ABI)

# Today's functions whose first argument (the issuer) the first contract does not take.
ROOT_KEYED = frozenset(FIRST.functions)

# Today's functions that neither old registry has.
SIGNING_KEY_FUNCTIONS = frozenset({"bindSigningKey", "signingKeyCount", "signingKeyAt", "signingKeyBlock"})


def owned_by(issuer: str, root: bytes, batch: BatchInfo) -> BatchInfo:
    """``batch`` (the registry's record of ``root``) as the batch ``(issuer, root)``: itself when
    ``issuer`` anchored it, otherwise "never anchored" (the first contract keys batches by root
    alone, so its record may be another issuer's)."""
    if batch.issuer == issuer:
        return batch
    return BatchInfo(ZERO_ADDRESS, bytes(root), 0, 0, 0, 0)


def predates_signing_keys() -> ChainError:
    return ChainError(PREDATES_SIGNING_KEYS, reason="registry_predates_signing_keys")
