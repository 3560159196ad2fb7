"""Verifying a delivered credential: read the chain's facts, then let the pure core decide.

The use case is the same for the public service and the offline ``anchor verify``: both hand in a
way to get a :class:`~anchor.chain.reader.RegistryReader` for a registry address (the chain is the
only authority) and get a :class:`~anchor.core.verdict.Report` back. The checks and verdicts are
documented in :mod:`anchor.core.verdict`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anchor.chain.reader import RegistryReader
from anchor.core.errors import ChainError, ChainUnavailable
from anchor.core.proof import AnchorProof
from anchor.core.timefmt import utcnow
from anchor.core.verdict import (
    ChainFacts,
    ChainUnreadable,
    Prepared,
    Report,
    Verdict,
    VerifyOptions,
    decide,
    is_revoked,
    needs_chain,
    prepare,
)

__all__ = ["Prepared", "Report", "Verdict", "Verifier", "VerifyOptions", "chain_facts", "prepare"]


def chain_facts(reader: RegistryReader, proof: AnchorProof, signing_key: bytes | None = None) -> ChainFacts | ChainUnreadable:
    """Everything :func:`~anchor.core.verdict.decide` needs from the chain about ``proof``'s batch
    (and, for a signed badge, when its key was bound to the batch's issuer): usually one batched
    round trip (cached in the service), plus one log query when revoked."""
    try:
        chain_id = reader.chain_id
        if proof.chain_id != chain_id:
            return ChainFacts(chain_id, genuine=True, head=0)
        if not reader.code_matches():
            return ChainFacts(chain_id, genuine=False, head=0)
        bound: int | None = None
        if signing_key is None:
            head, batch, issuer, bits = reader.read(proof.issuer_address, proof.root, proof.index)
        else:
            head, batch, issuer, bits, bound = reader.read_with_key(proof.issuer_address, proof.root, proof.index, signing_key)
        record = reader.revocation(batch, proof.index) if batch.anchored and is_revoked(batch, bits, proof.index) else None
        first = None
        if signing_key is None and batch.anchored and reader.signing_key_count(proof.issuer_address, block=head):
            first = reader.signing_key_at(proof.issuer_address, 0, block=head).bound_block  # did it sign then?
        # Under finality safe/finalized the tag's block stands in for the head: a batch (or a key
        # binding) counts as confirmed only at or below it.
        return ChainFacts(chain_id, True, reader.chain.settled_head(head), batch, issuer, bits, record, bound, first)
    except ChainUnavailable as e:
        return ChainUnreadable(e.message)
    except ChainError as e:
        return ChainUnreadable(f"the chain read failed: {e.message}")


class Verifier:
    """Runs the checks for one credential. ``reader_for(registry_address)`` gives the chain reader."""

    def __init__(self, reader_for: Callable[[str], RegistryReader], options: VerifyOptions | None = None) -> None:
        self.reader_for = reader_for
        self.options = options or VerifyOptions()

    def verify(self, credential: Any) -> Report:
        return self.check(prepare(credential))

    def check(self, prepared: Prepared) -> Report:
        """The full report for a prepared credential: chain facts read, then decided."""
        at = self.options.at or utcnow()
        facts = None
        if needs_chain(prepared, self.options):
            assert prepared.proof is not None
            claim = prepared.signature
            key = claim.public_key if claim is not None and claim.ok else None
            facts = chain_facts(self.reader_for(prepared.proof.registry), prepared.proof, key)
        return decide(prepared, facts, self.options, at)
