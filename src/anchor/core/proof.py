"""The anchor receipt a delivered credential carries: where it is anchored and its Merkle path.

A badge carries a proof set (VC Data Integrity): an ``eddsa-rdfc-2022`` signature
(:mod:`anchor.core.dataintegrity`) and this receipt, both over the same document without
``proof``. The receipt is a ``DataIntegrityProof`` whose cryptosuite is ``anchor-merkle-2026``,
so every term it uses is defined by the VC 2.0 context every verifier already loads (no
extra context, which openbadgeslib would refuse; no undefined term, which jsonld.js safe mode
would refuse), and verifiers that do not know the suite skip it as the proof-set rules allow:

    {
      "type": "DataIntegrityProof",
      "cryptosuite": "anchor-merkle-2026",
      "created": "2026-11-27T10:00:00Z",          # block time of the anchoring
      "verificationMethod": "did:pkh:eip155:31337:0x7099...79C8#blockchainAccountId",
      "proofPurpose": "assertionMethod",
      "proofValue": "u<base64url of the receipt JSON>"
    }

The receipt (RFC 8785 JSON, base64url without padding behind the multibase prefix ``u``):

    {"blockNumber": 12, "chainId": 31337, "issuerAddress": "0x7099...79C8", "leafCount": 10,
     "leafIndex": 5, "merkleRoot": "0x…", "path": [{"right": "…"}, {"left": "…"}],
     "registry": "0x5FbD...0aa3", "transactionHash": "0x…"}

``path`` lists siblings leaf → root in the merkletools/Chainpoint format. The verification
method names the account that anchored the root as a ``did:pkh`` (CAIP-10) identifier; it must
agree with ``chainId`` and ``issuerAddress``.

Badges delivered before signing carry the receipt as a plain ``AnchorMerkleProof2026`` object
with the same members; they keep verifying (:func:`find_anchor_proof` reads both forms).

Only ``chainId``, ``registry``, ``issuerAddress``, ``merkleRoot``, ``leafIndex`` and ``path`` are
trusted inputs to verification, and only as far as the chain confirms them: a batch is the pair
(issuer account, root) in the registry: the leaf is recomputed from the
credential, the leaf count, issuer and time are read from the registry, and each path step's side
must be the one ``(leafIndex, leafCount)`` implies.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from anchor.core.addresses import checksum as to_checksum_address
from anchor.core.addresses import is_address
from anchor.core.errors import InputError, VerificationError
from anchor.core.merkle import path_positions
from anchor.core.safe_input import load_json
from anchor.core.timefmt import format_ts, from_unix

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "anchor-merkle-2026"
LEGACY_PROOF_TYPE = "AnchorMerkleProof2026"  # badges delivered before signing
MAX_PATH = 64
MAX_RECEIPT = 16 * 1024  # characters of proofValue: 64 path steps take about 7 kB


def _bad(message: str) -> VerificationError:
    return VerificationError(f"malformed proof: {message}", reason="malformed_proof")


def account_method(chain_id: int, address: str) -> str:
    """The ``did:pkh`` (CAIP-10) verification method naming the account that anchored a batch."""
    return f"did:pkh:eip155:{chain_id}:{address}#blockchainAccountId"


def is_anchor_proof(entry: object) -> bool:
    """Whether a proof-set entry is an anchor receipt (current or legacy form)."""
    if not isinstance(entry, Mapping):
        return False
    kind = entry.get("type")
    return kind == LEGACY_PROOF_TYPE or (kind == PROOF_TYPE and entry.get("cryptosuite") == CRYPTOSUITE)


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

    def receipt(self) -> dict[str, Any]:
        return receipt_json(
            chain_id=self.chain_id, registry=self.registry, issuer_address=self.issuer_address,
            root=self.root, index=self.index, leaf_count=self.leaf_count,
            path=self.path, sides=self.sides, tx_hash=self.tx_hash or b"", block_number=self.block_number or 0,
        )

    def to_json(self) -> dict[str, Any]:
        return wrap_receipt(self.receipt(), created=self.created or "")

    @classmethod
    def from_json(cls, data: object) -> AnchorProof:
        """Parse and shape-check a proof object, in either form; :class:`VerificationError`
        ``malformed_proof``."""
        if not isinstance(data, Mapping):
            raise _bad("'proof' must be an object")
        if data.get("type") == LEGACY_PROOF_TYPE:
            return cls._from_receipt(data, data.get("created"))
        if not is_anchor_proof(data):
            raise _bad(f"expected a {PROOF_TYPE} with cryptosuite {CRYPTOSUITE!r}, got type {data.get('type')!r}")
        receipt = decode_receipt(data.get("proofValue"))
        proof = cls._from_receipt(receipt, data.get("created"))
        method = data.get("verificationMethod")
        if not isinstance(method, str) or method.lower() != account_method(proof.chain_id, proof.issuer_address).lower():
            raise _bad(f"verificationMethod must be {account_method(proof.chain_id, proof.issuer_address)!r} "
                       f"(the anchoring account on chain {proof.chain_id}), got {method!r}")
        return proof

    @classmethod
    def _from_receipt(cls, data: Mapping[str, Any], created: object) -> AnchorProof:
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
            created=created if isinstance(created, str) else None,
        )


def decode_receipt(value: object) -> Mapping[str, Any]:
    """The receipt object inside an anchor proof's ``proofValue`` (multibase base64url)."""
    if not isinstance(value, str) or not value.startswith("u"):
        raise _bad("proofValue must be a multibase base64url string ('u…')")
    if len(value) > MAX_RECEIPT:
        raise _bad(f"proofValue is longer than {MAX_RECEIPT} characters")
    text = value[1:]
    if not text or "=" in text or not text.isascii():
        raise _bad("proofValue is not base64url without padding")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise _bad("proofValue is not base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != text:
        raise _bad("proofValue is not canonical base64url")  # one spelling per receipt
    try:
        data = load_json(raw, what="the anchor receipt")
    except InputError as e:
        raise _bad(f"the receipt in proofValue is not JSON ({e.message})") from None
    if not isinstance(data, Mapping):
        raise _bad("the receipt in proofValue must be a JSON object")
    return data


def encode_receipt(receipt_text: bytes) -> str:
    """``proofValue`` for the receipt's JSON text."""
    return "u" + base64.urlsafe_b64encode(receipt_text).rstrip(b"=").decode("ascii")


def wrap_receipt(receipt: Mapping[str, Any], *, created: str) -> dict[str, Any]:
    """The proof-set entry carrying ``receipt``."""
    text = json.dumps(receipt, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": created,
        "verificationMethod": account_method(int(receipt["chainId"]), str(receipt["issuerAddress"])),
        "proofPurpose": "assertionMethod",
        "proofValue": encode_receipt(text),
    }


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
    ours = [p for p in proofs if is_anchor_proof(p)]
    if not ours:
        raise VerificationError(f"the credential has no anchor receipt (a {PROOF_TYPE} with cryptosuite {CRYPTOSUITE!r})",
                                reason="missing_proof")
    if len(ours) > 1:
        raise _bad("more than one anchor receipt")
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


class ReceiptRenderer:
    """Renders the anchor proofs of one batch fast: everything but ``leafIndex`` and ``path`` is
    the same for every leaf, so the receipt's JSON text is two fixed fragments around them, and
    only the base64 of each receipt is computed per credential."""

    def __init__(self, *, chain_id: int, registry: str, issuer_address: str, root: bytes, leaf_count: int,
                 tx_hash: bytes, block_number: int, block_time: int) -> None:
        receipt = receipt_json(chain_id=chain_id, registry=registry, issuer_address=issuer_address, root=root, index=0,
                               leaf_count=leaf_count, path=(), sides=(), tx_hash=tx_hash, block_number=block_number)
        text = json.dumps(receipt, sort_keys=True, separators=(",", ":"))
        before, after = text.split('"leafIndex":0,', 1)
        path_at = after.index('"path":[]') + len('"path":[')
        self._head = (before + '"leafIndex":').encode()
        self._middle = after[:after.index('"path":[]')].encode()
        self._tail = after[path_at:].encode()
        entry = wrap_receipt(receipt, created=format_ts(from_unix(block_time)))
        entry_text = json.dumps(entry, separators=(",", ":"))
        cut = entry_text.index('"proofValue":"') + len('"proofValue":"')
        self._entry_head = entry_text[:cut].encode()

    def receipt_text(self, index: int, path_json: str) -> bytes:
        """The receipt's JSON (RFC 8785) for leaf ``index``; ``path_json`` is the steps' JSON, no brackets."""
        return b"".join((self._head, b"%d," % index, self._middle, b'"path":[', path_json.encode(), self._tail))

    def render(self, index: int, path_json: str) -> bytes:
        """The proof-set entry's JSON text for leaf ``index``."""
        return b"".join((self._entry_head, encode_receipt(self.receipt_text(index, path_json)).encode(), b'"}'))


def receipt_json(
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
) -> dict[str, Any]:
    return {
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
    """The proof-set entry for one credential."""
    receipt = receipt_json(chain_id=chain_id, registry=registry, issuer_address=issuer_address, root=root, index=index,
                           leaf_count=leaf_count, path=path, sides=sides, tx_hash=tx_hash, block_number=block_number)
    return wrap_receipt(receipt, created=created)
