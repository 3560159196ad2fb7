"""``anchor export``: one ``<uuid>.json`` per holder: the credential with its proof.

Only batches whose anchoring is confirmed are exported (no proof before the anchor is final).
Streams batch by batch: one tree and one page of documents in memory at a time. Each file is
written to a temporary name and renamed, so a crash never leaves a half-written badge; export
is idempotent and can simply be run again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from anchor import merkle
from anchor.errors import StoreError
from anchor.proofs import PROOF_TYPE
from anchor.store import Store
from anchor.store.schema import BatchRow
from anchor.timefmt import format_ts, from_unix


@dataclass
class ExportReport:
    directory: Path
    files: int = 0
    batches: int = 0
    unconfirmed_batches: int = 0
    pending_credentials: int = 0


def file_name(credential_id: str) -> str:
    """``urn:uuid:1234…`` → ``1234….json``."""
    return credential_id.rsplit(":", 1)[-1] + ".json"


def proof_prefix(batch: BatchRow, issuer_address: str) -> bytes:
    """The batch-wide part of every proof in it, as JSON text (everything but index and path)."""
    assert batch.chain_id is not None and batch.tx_hash is not None and batch.block_time is not None
    head = {
        "type": PROOF_TYPE,
        "proofPurpose": "assertionMethod",
        "created": format_ts(from_unix(batch.block_time)),
        "chainId": batch.chain_id,
        "registry": batch.registry_address,
        "issuerAddress": issuer_address,
        "merkleRoot": "0x" + batch.root.hex(),
        "leafCount": batch.leaf_count,
        "transactionHash": "0x" + batch.tx_hash.hex(),
        "blockNumber": batch.block_number,
    }
    return json.dumps(head, separators=(",", ":"))[:-1].encode()


def render_path(index: int, leaf_count: int, proof: tuple[bytes, ...]) -> str:
    steps = [
        f'{{"{"right" if pos & 1 else "left"}":"{node.hex()}"}}'
        for (_, pos), node in zip(merkle.path_positions(index, leaf_count), proof)
    ]
    return "[" + ",".join(steps) + "]"


def credential_with_proof(document: bytes, prefix: bytes, index: int, path_json: str) -> bytes:
    """The delivered badge: the stored document with ``"proof": [ … ]`` appended as its last member
    (OB 3.0 makes ``proof`` a list of proofs)."""
    proof = prefix + f',"leafIndex":{index},"path":{path_json}}}'.encode()
    return document[:-1] + b',"proof":[' + proof + b"]}"


def export_credentials(
    store: Store, issuer_id: int, issuer_address: str, directory: Path, *, progress: Callable[[int], None] | None = None
) -> ExportReport:
    directory.mkdir(parents=True, exist_ok=True)
    report = ExportReport(directory)
    for batch in store.batches(issuer_id):
        if batch.status != "confirmed":
            report.unconfirmed_batches += 1
            continue
        report.batches += 1
        levels = store.levels(batch.id)
        prefix = proof_prefix(batch, issuer_address)
        done = 0
        proofs = merkle.iter_proofs(levels)
        for expected, ((index, credential_id, document), proof) in enumerate(zip(store.iter_documents(batch.id), proofs)):
            if index != expected:
                raise StoreError(f"batch {batch.id} has no credential at leaf {expected}; the database was altered")
            body = credential_with_proof(document, prefix, index, render_path(index, batch.leaf_count, proof))
            target = directory / file_name(credential_id)
            tmp = target.with_suffix(".json.tmp")
            with open(tmp, "wb") as fh:
                fh.write(body)
            os.replace(tmp, target)
            done += 1
            if progress and done % 1000 == 0:
                progress(1000)
        if progress and done % 1000:
            progress(done % 1000)
        report.files += done
    report.pending_credentials = store.counts(issuer_id).pending
    return report
