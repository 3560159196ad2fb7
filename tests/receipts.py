"""Reading and editing a badge's anchor receipt in tests (it travels base64url-encoded in the
``proofValue`` of the ``anchor-merkle-2026`` proof-set entry; see anchor.core.proof)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from anchor.core.proof import LEGACY_PROOF_TYPE, account_method, decode_receipt, encode_receipt, is_anchor_proof


def anchor_entry(badge: dict[str, Any]) -> dict[str, Any]:
    """The badge's anchor proof-set entry (the dict inside the badge, so edits stick)."""
    (entry,) = [p for p in badge["proof"] if is_anchor_proof(p)]
    return entry  # type: ignore[no-any-return]


def receipt_of(badge: dict[str, Any]) -> dict[str, Any]:
    """A copy of the badge's decoded receipt: chainId, registry, issuerAddress, merkleRoot,
    leafIndex, leafCount, path, transactionHash, blockNumber."""
    return json.loads(json.dumps(decode_receipt(anchor_entry(badge)["proofValue"])))  # type: ignore[no-any-return]


def set_receipt(entry: dict[str, Any], receipt: dict[str, Any], *, follow_method: bool = True) -> None:
    """Put ``receipt`` into ``entry``'s ``proofValue``. With ``follow_method`` the entry's
    ``verificationMethod`` is rewritten to name the receipt's (possibly edited) chain and issuer
    account, as a forger rewriting the whole entry would: a tampering test then sees the verifier
    catch the edit itself, not merely the disagreement between the method and the receipt."""
    entry["proofValue"] = encode_receipt(json.dumps(receipt, sort_keys=True, separators=(",", ":")).encode())
    if follow_method:
        entry["verificationMethod"] = account_method(receipt.get("chainId"), receipt.get("issuerAddress"))  # type: ignore[arg-type]


@contextmanager
def receipt(badge: dict[str, Any], *, follow_method: bool = True) -> Iterator[dict[str, Any]]:
    """``with receipt(badge) as r: r["leafIndex"] = 0``: edit the receipt in place (re-encoded on
    exit; see :func:`set_receipt` for ``follow_method``)."""
    entry = anchor_entry(badge)
    data = receipt_of(badge)
    yield data
    set_receipt(entry, data, follow_method=follow_method)


def legacy_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """The same receipt in the form badges carried before signing: a plain
    ``AnchorMerkleProof2026`` object with the receipt's members beside type, purpose and time
    (the layout ``render_proof`` produced until the proof set)."""
    return {"type": LEGACY_PROOF_TYPE, "proofPurpose": "assertionMethod", "created": entry["created"],
            **decode_receipt(entry["proofValue"])}


def to_legacy(badge: dict[str, Any]) -> dict[str, Any]:
    """``badge`` with its anchor receipt in the legacy form, as a badge exported before signing."""
    entry = anchor_entry(badge)
    return {**badge, "proof": [legacy_entry(entry) if p is entry else p for p in badge["proof"]]}


def unsigned(badge: dict[str, Any]) -> dict[str, Any]:
    """``badge`` without its ``eddsa-rdfc-2022`` signature: only the anchor receipt, as badges were
    delivered before anchor signed them (the verifier's legacy path: signature skipped, unsigned)."""
    return {**badge, "proof": [p for p in badge["proof"] if is_anchor_proof(p)]}
