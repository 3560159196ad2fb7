"""``anchor stack``'s check of the issuer's own components: read from its database in bulk
(:meth:`~anchor.store.Store.stored_badges`), each verified against the chain.

Each component is judged by the verifier (:meth:`~anchor.app.verifying.Verifier.check`: the
chain's facts about its batch, its revocation word and its signing key, then the same pure
decision as ``anchor verify``) on what :func:`~anchor.core.stored.prepare_stored` makes of its
stored document and signature entry: its leaf must be the one at its index in its batch's tree
(the stored leaves hashed up to the batch's root once per run; the chain then says whether that
root, with that leaf count, was anchored by the issuer, and whether the batch or the credential
was revoked), and its schema, ``eddsa-rdfc-2022`` signature and validity window are checked as
in the delivered badge. The database's word is never enough: a component it has not anchored
does not count, and one it calls anchored counts only if the chain agrees.

Per component, the chain-independent part (:func:`~anchor.core.stored.prepare_stored`) is most
of the cost: the signature (JSON-LD canonical hash, Ed25519 verification) about two thirds, the
schema a quarter. The chain's facts come from the verifier's reader, which caches them per batch
and revocation word (``anchor stack`` builds it with the service's 0.5 s head cache).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from anchor.app.verifying import Verifier
from anchor.core.errors import AnchorError
from anchor.core.pathway import HeldComponent
from anchor.core.stack import digest_of_canonical
from anchor.core.status import BatchStatus
from anchor.core.stored import AnchoredTree, prepare_stored
from anchor.core.timefmt import parse_ts
from anchor.core.verdict import Report, Verdict
from anchor.store import Issuer, Store

Checked = tuple[HeldComponent, dict[str, Any] | None, str]  # (what the holder holds, the credential, its digest)


def issuer_dids(credential: Mapping[str, Any]) -> tuple[str, str]:
    """(the credential's issuer id, its name or else its id)."""
    issuer = credential.get("issuer")
    if isinstance(issuer, dict):
        return str(issuer.get("id")), str(issuer.get("name") or issuer.get("id"))
    return str(issuer), str(issuer)


def held(credential: Mapping[str, Any], report: Report | None, *, fallback: datetime | None = None) -> HeldComponent:
    """What the holder holds, as :meth:`~anchor.core.pathway.Pathway.evaluate` reads it: ``ok``
    when ``report`` is valid, else its verdict (``unverified`` without one). ``fallback``: the
    date to use when ``validFrom`` cannot be read (the report then says why the credential is
    not valid, and it is not used)."""
    subject = credential.get("credentialSubject") or {}
    achievement = subject.get("achievement") or {} if isinstance(subject, dict) else {}
    if not isinstance(achievement, dict):
        achievement = {}
    credits = achievement.get("creditsAvailable")
    status = "ok" if report is not None and report.verdict is Verdict.VALID else report.verdict.value if report else "unverified"
    try:
        valid_from = parse_ts(str(credential.get("validFrom")), what="validFrom")
    except AnchorError:
        if fallback is None or status == "ok":
            raise
        valid_from = fallback
    return HeldComponent(achievement_id=str(achievement.get("id")), issuer=issuer_dids(credential)[0],
                         credential_id=str(credential.get("id")), valid_from=valid_from,
                         credits=float(credits) if isinstance(credits, int | float) and not isinstance(credits, bool) else None,
                         status=status)


class OwnComponents:
    """The issuer's own components, verified (see the module doc)."""

    def __init__(self, store: Store, issuer: Issuer, own_did: str, verifier: Verifier, now: datetime) -> None:
        self.store, self.issuer, self.own_did, self.verifier, self.now = store, issuer, own_did, verifier, now
        self._trees: dict[int, AnchoredTree | None] = {}

    def tree(self, batch_id: int) -> AnchoredTree | None:
        """The batch's tree; None when the database has it not anchored (yet)."""
        if batch_id not in self._trees:
            batch = self.store.batch(batch_id)
            tree: AnchoredTree | None = None
            if batch is not None and batch.status == BatchStatus.CONFIRMED and batch.chain_id is not None and batch.registry_address:
                tree = AnchoredTree.build(self.store.levels(batch_id), root=batch.root, leaf_count=batch.leaf_count,
                                          chain_id=batch.chain_id, registry=batch.registry_address, issuer_address=self.issuer.address,
                                          tx_hash=batch.tx_hash, block_number=batch.block_number)
            self._trees[batch_id] = tree
        return self._trees[batch_id]

    def check(self, wanted: Mapping[str, str]) -> dict[str, Checked]:
        """``wanted``: credential id → its achievement URI (as the database says). Each one found
        → (the held component, its credential or None when the stored bytes are not one, its
        digest)."""
        out: dict[str, Checked] = {}
        for cid, document, signature, batch_id, index in self.store.stored_badges(list(wanted)):
            digest = digest_of_canonical(document)
            tree = self.tree(batch_id) if batch_id is not None else None
            if tree is None or index is None:  # not anchored (yet): it does not count, and the holder is told why
                credential = _object(document)
                out[cid] = (self._fallback(cid, wanted[cid], credential, "unanchored"), credential, digest)
                continue
            credential, prepared = prepare_stored(document, signature, tree, index)
            report = self.verifier.check(prepared)  # the chain's facts (through the reader's cache), then the decision
            if credential is None:
                out[cid] = (self._fallback(cid, wanted[cid], None, report.verdict.value), None, digest)
            else:
                out[cid] = (held(credential, report, fallback=self.now), credential, digest)
        return out

    def _fallback(self, cid: str, uri: str, credential: Mapping[str, Any] | None, status: str) -> HeldComponent:
        if credential is not None:
            return replace(held(credential, None, fallback=self.now), status=status)
        return HeldComponent(achievement_id=uri, issuer=self.own_did, credential_id=cid, valid_from=self.now, status=status)


def _object(document: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(document)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
