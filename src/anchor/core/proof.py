"""The proof a delivered credential carries: where it is anchored and its Merkle path.

Open Badges 3.0 makes ``proof`` a list; anchor's entry is the one of type
``AnchorMerkleProof2026`` (a credential may carry other proofs next to it, e.g. a signature):

    "proof": [{
      "type": "AnchorMerkleProof2026",
      "proofPurpose": "assertionMethod",
      "created": "2026-11-27T10:00:00Z",       # block time of the anchoring
      "chainId": 31337,                         # EIP-155 chain id
      "registry": "0x5FbD...0aa3",              # CredentialRegistry address
      "issuerAddress": "0x7099...79C8",         # account that anchored the root
      "merkleRoot": "0x…",                      # 32 bytes, hex
      "leafIndex": 5,                           # position of this credential in the batch
      "leafCount": 10,                          # size of the batch
      "path": [{"right": "…"}, {"left": "…"}],  # siblings leaf → root, merkletools/Chainpoint format
      "transactionHash": "0x…",
      "blockNumber": 12
    }]

Only ``chainId``, ``registry``, ``issuerAddress``, ``merkleRoot``, ``leafIndex`` and ``path`` are
trusted inputs to verification, and only as far as the chain confirms them: a batch is the pair
(issuer account, root) in the registry: the leaf is recomputed from the
credential, the leaf count, issuer and time are read from the registry, and each path step's side
must be the one ``(leafIndex, leafCount)`` implies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from anchor.core.addresses import checksum as to_checksum_address
from anchor.core.addresses import is_address
from anchor.core.errors import InputError, VerificationError
from anchor.core.merkle import path_positions
from anchor.core.timefmt import format_ts, from_unix

PROOF_TYPE = "AnchorMerkleProof2026"
MAX_PATH = 64


def _bad(message: str) -> VerificationError:
    return VerificationError(f"malformed proof: {message}", reason="malformed_proof")


@dataclass(frozen=True)
class AnchorProof:
    chain_id: int
    registry: str
    root: bytes
    index: int
    leaf_count: int
    path: tuple[bytes, ...]
    sides: tuple[str, ...]  # "left"/"right" per step, as written in the document
    issuer_address: str  # the account whose batch (issuer, root) holds the credential
    tx_hash: bytes | None = None
    block_number: int | None = None
    created: str | None = None

    def to_json(self) -> dict[str, Any]:
        return render_proof(
            chain_id=self.chain_id, registry=self.registry, issuer_address=self.issuer_address,
            root=self.root, index=self.index, leaf_count=self.leaf_count,
            path=self.path, sides=self.sides, tx_hash=self.tx_hash or b"", block_number=self.block_number or 0,
            created=self.created or "",
        )

    @classmethod
    def from_json(cls, data: object) -> AnchorProof:
        """Parse and shape-check a proof object; :class:`VerificationError` ``malformed_proof``."""
        if not isinstance(data, Mapping):
            raise _bad("'proof' must be an object")
        if data.get("type") != PROOF_TYPE:
            raise _bad(f"type must be {PROOF_TYPE!r}, got {data.get('type')!r}")
        chain_id = _int(data, "chainId", minimum=1)
        registry = data.get("registry")
        if not isinstance(registry, str) or not is_address(registry):
            raise _bad("'registry' must be a 0x-prefixed 20-byte address")
        root = _hex32(data.get("merkleRoot"), "merkleRoot")
        index = _int(data, "leafIndex", minimum=0)
        leaf_count = _int(data, "leafCount", minimum=1)
        raw_path = data.get("path")
        if not isinstance(raw_path, list):
            raise _bad("'path' must be a list")
        if len(raw_path) > MAX_PATH:
            raise _bad(f"'path' has {len(raw_path)} steps, more than {MAX_PATH}")
        path, sides = [], []
        for n, step in enumerate(raw_path):
            if not isinstance(step, Mapping) or len(step) != 1:
                raise _bad(f"path step {n} must be an object with exactly one key, 'left' or 'right'")
            ((side, value),) = step.items()
            if side not in ("left", "right"):
                raise _bad(f"path step {n} has key {side!r}, expected 'left' or 'right'")
            path.append(_hex32(value, f"path step {n}"))
            sides.append(side)
        issuer = data.get("issuerAddress")
        if not isinstance(issuer, str) or not is_address(issuer):
            raise _bad("'issuerAddress' must be the address of the issuer account that anchored the batch")
        tx = data.get("transactionHash")
        block = data.get("blockNumber")
        if block is not None and (isinstance(block, bool) or not isinstance(block, int) or block < 0):
            raise _bad("'blockNumber' must be a non-negative integer")
        return cls(
            chain_id=chain_id,
            registry=to_checksum_address(registry),
            root=root,
            index=index,
            leaf_count=leaf_count,
            path=tuple(path),
            sides=tuple(sides),
            issuer_address=to_checksum_address(issuer),
            tx_hash=_hex32(tx, "transactionHash") if tx is not None else None,
            block_number=block,
            created=data.get("created") if isinstance(data.get("created"), str) else None,
        )


def find_anchor_proof(credential: Mapping[str, Any]) -> AnchorProof:
    """The credential's anchor proof; :class:`VerificationError` (``missing_proof`` or
    ``malformed_proof``) if there is none or more than one."""
    proofs = credential.get("proof")
    if proofs is None:
        raise VerificationError("the credential has no proof", reason="missing_proof")
    if isinstance(proofs, Mapping):
        proofs = [proofs]
    if not isinstance(proofs, list):
        raise _bad("'proof' must be a list of proof objects")
    ours = [p for p in proofs if isinstance(p, Mapping) and p.get("type") == PROOF_TYPE]
    if not ours:
        raise VerificationError(f"the credential has no {PROOF_TYPE} proof", reason="missing_proof")
    if len(ours) > 1:
        raise _bad(f"more than one {PROOF_TYPE} proof")
    return AnchorProof.from_json(ours[0])


def _int(data: Mapping[str, Any], key: str, *, minimum: int) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or value >= 2**64:
        raise _bad(f"'{key}' must be an integer ≥ {minimum}, got {value!r}")
    return value


def _hex32(value: object, what: str) -> bytes:
    if type(value) is str:
        text = value[2:] if value[:2] == "0x" else value
        if len(text) == 64:
            try:
                raw = bytes.fromhex(text)
            except ValueError:
                raw = b""
            if len(raw) == 32:  # (fromhex skips spaces: a spaced string decodes short)
                return raw
    raise _bad(f"{what} must be 32 bytes of hex")


def parse_root(text: str) -> bytes:
    """A batch root given by a person or a URL (``0x`` optional), or :class:`InputError`."""
    value = text.strip().removeprefix("0x")
    try:
        raw = bytes.fromhex(value) if len(value) == 64 else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InputError(f"a batch root is 32 bytes of hex, got {text!r}")
    return raw


def sides_for(index: int, leaf_count: int) -> tuple[str, ...]:
    return tuple("right" if pos & 1 else "left" for _, pos in path_positions(index, leaf_count))


def proof_head_json(*, chain_id: int, registry: str, issuer_address: str, root: bytes, leaf_count: int, tx_hash: bytes,
                    block_number: int, block_time: int) -> bytes:
    """The batch-wide part of a proof (everything but ``leafIndex`` and ``path``) as compact JSON
    text without its closing brace: every proof of a batch starts with these bytes."""
    head = {
        "type": PROOF_TYPE,
        "proofPurpose": "assertionMethod",
        "created": format_ts(from_unix(block_time)),
        "chainId": chain_id,
        "registry": registry,
        "issuerAddress": issuer_address,
        "merkleRoot": "0x" + root.hex(),
        "leafCount": leaf_count,
        "transactionHash": "0x" + tx_hash.hex(),
        "blockNumber": block_number,
    }
    return json.dumps(head, separators=(",", ":"))[:-1].encode()


def render_proof(
    *,
    chain_id: int,
    registry: str,
    issuer_address: str,
    root: bytes,
    index: int,
    leaf_count: int,
    path: Sequence[bytes],
    sides: Sequence[str],
    tx_hash: bytes,
    block_number: int,
    created: str,
) -> dict[str, Any]:
    return {
        "type": PROOF_TYPE,
        "proofPurpose": "assertionMethod",
        "created": created,
        "chainId": chain_id,
        "registry": registry,
        "issuerAddress": issuer_address,
        "merkleRoot": "0x" + root.hex(),
        "leafIndex": index,
        "leafCount": leaf_count,
        "path": [{side: node.hex()} for side, node in zip(sides, path, strict=True)],
        "transactionHash": "0x" + tx_hash.hex(),
        "blockNumber": block_number,
    }
