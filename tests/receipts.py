"""Reading and editing a badge's anchor receipt in tests (it travels base64url-encoded in the
``proofValue`` of the ``anchor-merkle-2026`` proof-set entry; see anchor.core.proof)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from anchor.core.proof import decode_receipt, encode_receipt, is_anchor_proof


def anchor_entry(badge: dict[str, Any]) -> dict[str, Any]:
    """The badge's anchor proof-set entry (the dict inside the badge, so edits stick)."""
    (entry,) = [p for p in badge["proof"] if is_anchor_proof(p)]
    return entry  # type: ignore[no-any-return]


def receipt_of(badge: dict[str, Any]) -> dict[str, Any]:
    """A copy of the badge's decoded receipt: chainId, registry, issuerAddress, merkleRoot,
    leafIndex, leafCount, path, transactionHash, blockNumber."""
    return json.loads(json.dumps(decode_receipt(anchor_entry(badge)["proofValue"])))  # type: ignore[no-any-return]


def set_receipt(entry: dict[str, Any], receipt: dict[str, Any]) -> None:
    entry["proofValue"] = encode_receipt(json.dumps(receipt, sort_keys=True, separators=(",", ":")).encode())


@contextmanager
def receipt(badge: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``with receipt(badge) as r: r["leafIndex"] = 0``: edit the receipt in place (re-encoded on exit)."""
    entry = anchor_entry(badge)
    data = receipt_of(badge)
    yield data
    set_receipt(entry, data)
