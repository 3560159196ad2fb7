"""A credential's status for its holder and the public: anchored, revoked, expired, read from the chain.

The issuer database says where the credential is (its batch and index); the chain says what holds
now. Below the configured confirmation depth the answer is ``pending``, never ``active``
(invariant 10), and a batch the database holds as anchored that the chain does not have (a reset,
a deep reorg) is ``not_on_chain`` until ``anchor repair`` puts it back.
"""

from __future__ import annotations

from typing import Any

from anchor.chain.reader import RegistryReader
from anchor.core.records import CredentialLocation
from anchor.core.status import BatchStatus
from anchor.core.timefmt import format_ts, from_unix
from anchor.core.verdict import is_revoked, revocation_json


def credential_status(loc: CredentialLocation, reader: RegistryReader, *, now: int, confirmations: int = 1) -> dict[str, Any]:
    """The status document of the credential at ``loc`` (JSON-ready), judged at unix time ``now``."""
    out: dict[str, Any] = {
        "credentialId": loc.credential_id,
        "validFrom": format_ts(from_unix(loc.valid_from)),
        "validUntil": format_ts(from_unix(loc.valid_until)) if loc.valid_until else None,
        "checkedAt": format_ts(from_unix(now)),
        "anchor": None,
        "revocation": None,
        "block": None,
    }
    if loc.batch_status != BatchStatus.CONFIRMED or loc.root is None or loc.leaf_index is None:
        out["status"] = "pending"
        return out
    head, batch, _issuer, bits = reader.read(loc.issuer_address, loc.root, loc.leaf_index)
    depth = head - batch.anchored_block + 1
    out["block"] = head
    out["anchor"] = {"chainId": reader.chain_id, "registry": reader.address, "merkleRoot": "0x" + loc.root.hex(),
                     "leafIndex": loc.leaf_index, "blockNumber": batch.anchored_block,
                     "anchoredAt": format_ts(from_unix(batch.anchored_at)) if batch.anchored else None,
                     "onChain": batch.anchored, "confirmations": max(depth, 0) if batch.anchored else 0}
    if not batch.anchored:  # the database says anchored, the chain does not (reset? reorg?)
        out["status"] = "not_on_chain"
    elif reader.chain.settled_head(head) - batch.anchored_block + 1 < confirmations:  # finality: safe/finalized block
        out["status"] = "pending"
    elif is_revoked(batch, bits, loc.leaf_index):
        out["status"] = "revoked"
        out["revocation"] = revocation_json(reader.revocation(batch, loc.leaf_index))
    elif now < loc.valid_from:
        out["status"] = "not_yet_valid"
    elif loc.valid_until is not None and now > loc.valid_until:
        out["status"] = "expired"
    else:
        out["status"] = "active"
    return out
