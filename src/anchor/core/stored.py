"""A credential as the issuer's database keeps it (its RFC 8785 document, its signature entry, its
place in an anchored tree), prepared for verification without assembling the delivered badge.

``anchor stack`` checks every component its holders hold: assembling each badge (receipt and
Merkle path rendered to JSON, then parsed back) costs more than the checks. :func:`prepare_stored`
gives the same :class:`~anchor.core.verdict.Prepared` that :func:`~anchor.core.verdict.prepare`
gives for the delivered badge, with the proof check done against the batch's tree instead of a
rendered path:

* the root and leaf count are the batch's (as its receipts name them; the chain check then asks
  the registry whether that root, with that leaf count, was anchored by the issuer); the stored
  leaves are hashed up to the root once per batch (:class:`AnchoredTree`);
* each credential's leaf is hashed from its stored bytes and must be the leaf at its index (or,
  if the stored leaves do not make that root, its path from the stored levels must lead to it,
  as in its delivered badge): a document altered in the database after it was anchored fails
  ``root_mismatch``, as its delivered badge would;
* the schema check, the ``eddsa-rdfc-2022`` signature (its stored entry, as the badge carries it)
  and the validity window are the same functions :func:`~anchor.core.verdict.prepare` runs.

The proof carries no rendered path (``path`` and ``sides`` are empty): the inclusion was checked
against the tree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from anchor.core import merkle
from anchor.core.credential import schema_errors_fast
from anchor.core.errors import AnchorError
from anchor.core.proof import AnchorProof
from anchor.core.signature import SignatureClaim, check_signature
from anchor.core.verdict import Check, CheckStatus, Prepared, validity_window

__all__ = ["AnchoredTree", "prepare_stored"]


@dataclass(frozen=True)
class AnchoredTree:
    """One batch of the issuer's database: where it was anchored, its root and leaf count (as its
    receipts name them), and its stored levels.

    When the stored leaves hash up to the root (always, unless the database was altered), a
    credential is checked by comparing its leaf with the one at its index; otherwise each
    credential's path is taken from the stored levels and checked against the root, as its
    delivered badge would be.
    """

    chain_id: int
    registry: str
    issuer_address: str
    root: bytes
    leaf_count: int
    levels: tuple[bytes, ...]  # leaves first
    consistent: bool  # the stored leaves hash up to ``root`` (with ``leaf_count`` leaves)
    tx_hash: bytes | None = None
    block_number: int | None = None

    @classmethod
    def build(cls, levels: Sequence[bytes], *, root: bytes, leaf_count: int, chain_id: int, registry: str, issuer_address: str,
              tx_hash: bytes | None = None, block_number: int | None = None) -> AnchoredTree:
        leaves = bytes(levels[0]) if levels else b""
        try:
            consistent = len(leaves) == leaf_count * merkle.HASH_SIZE and merkle.root_of(leaves) == root
        except AnchorError:
            consistent = False
        return cls(chain_id, registry, issuer_address, root, leaf_count, tuple(bytes(level) for level in levels), consistent,
                   tx_hash, block_number)

    def proof(self, index: int) -> AnchorProof:
        return AnchorProof(chain_id=self.chain_id, registry=self.registry, root=self.root, index=index,
                           leaf_count=self.leaf_count, path=(), sides=(), issuer_address=self.issuer_address,
                           tx_hash=self.tx_hash, block_number=self.block_number)

    def holds(self, document: bytes, index: int) -> bool:
        """Whether ``document`` (RFC 8785 bytes) is leaf ``index`` of the tree with this root."""
        if not 0 <= index < self.leaf_count:
            return False
        leaf = merkle.hash_leaf(document)
        if self.consistent:
            start = index * merkle.HASH_SIZE
            return self.levels[0][start : start + merkle.HASH_SIZE] == leaf
        path = [merkle.node(self.levels, level, pos) if level < len(self.levels) else b""
                for level, pos in merkle.path_positions(index, self.leaf_count)]
        try:
            merkle.verify_inclusion(leaf, index, self.leaf_count, path, self.root)
        except AnchorError:
            return False
        return True


def prepare_stored(document: bytes, signature: bytes | None, tree: AnchoredTree,
                   index: int) -> tuple[dict[str, Any] | None, Prepared]:
    """(the parsed credential, or None when the stored bytes are not a JSON object; what
    :func:`~anchor.core.verdict.prepare` says of its delivered badge). ``signature``: the stored
    ``eddsa-rdfc-2022`` entry (None: issued unsigned)."""
    if tree.holds(document, index):
        proof: AnchorProof | None = tree.proof(index)
        proof_check = Check("proof", CheckStatus.PASSED, message=f"leaf {index} of {tree.leaf_count} leads to root 0x{tree.root.hex()}")
    else:
        proof = None
        where = f"leaf {index} of the batch" if 0 <= index < tree.leaf_count else f"index {index} outside the batch of {tree.leaf_count}"
        proof_check = Check("proof", CheckStatus.FAILED, "root_mismatch",
                            "the credential does not match its proof: it was altered after it was issued, or the proof "
                            f"belongs to another credential (its stored document is not {where} anchored with root 0x{tree.root.hex()})")
    try:
        parsed = json.loads(document)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        failed = Check("schema", CheckStatus.FAILED, "not_an_object", "the stored document is not a JSON object")
        return None, Prepared(None, failed, proof_check, None, None, None, "a credential must be a JSON object", None)
    credential: dict[str, Any] = parsed
    claim: SignatureClaim | None = None
    delivered: Mapping[str, Any] = credential
    named = credential.get("issuer")
    issuer_id = named.get("id") if isinstance(named, Mapping) else named
    if signature is not None:
        try:
            entry = json.loads(signature)
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            delivered = {**credential, "proof": [entry]}
            claim = check_signature(delivered, issuer_id)
        else:
            claim = SignatureClaim(None, None, False, "malformed_signature", "the stored signature entry is not a JSON object")
    errors = schema_errors_fast(delivered)
    if errors:
        schema = Check("schema", CheckStatus.FAILED, "schema_invalid", "not a valid Open Badges 3.0 credential: " + "; ".join(errors[:3]))
    else:
        schema = Check("schema", CheckStatus.PASSED, message="valid Open Badges 3.0 AchievementCredential")
    window, window_error = validity_window(credential)
    cid = credential.get("id")
    return credential, Prepared(cid if isinstance(cid, str) else None, schema, proof_check, proof, issuer_id, window, window_error,
                                credential.get("credentialSubject"), claim)
