"""``anchor stack``'s check of the issuer's own components: read from its database in bulk and
verified against the chain, as many at a time as a run has.

Each component is judged by the verifier (:meth:`~anchor.app.verifying.Verifier.check`: the
chain's facts about its batch, its revocation word and its signing key, then the same pure
decision as ``anchor verify``) on what :func:`~anchor.core.stored.prepare_stored` makes of its
stored document and signature entry: its leaf must be the one at its index in its batch's tree
(rebuilt once per run from the stored leaves; the chain then says whether that root, with that
leaf count, was anchored by the issuer, and whether the batch or the credential was revoked),
and its schema, ``eddsa-rdfc-2022`` signature and validity window are checked as in the
delivered badge. Nothing is taken from the database's word about anchoring or revocation.

Per component, the chain-independent part (:func:`~anchor.core.stored.prepare_stored`) is most
of the cost: the signature (JSON-LD canonical hash, Ed25519 verification) about two thirds, the
schema a quarter. The chain's facts come from the verifier's reader, which caches them per batch
and revocation word (``anchor stack`` builds it with the service's 0.5 s head cache).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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
from anchor.core.verdict import Prepared, Report, Verdict
from anchor.store import Issuer, Store

Checked = tuple[HeldComponent, dict[str, Any] | None, str]  # (what the holder holds, the credential, its digest)
Item = tuple[str, bytes, bytes | None, int, int]  # (credential id, document, signature entry, batch id, leaf index)
Prepares = list[tuple[tuple[str, dict[str, Any] | None, Prepared], str]]  # ((id, credential, prepared), digest) per item


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
        done, items = self._read(wanted)
        return self._finish(done, _prepare_all(self._trees, items), wanted)

    def _read(self, wanted: Mapping[str, str]) -> tuple[dict[str, Checked], list[Item]]:
        """The chunk's stored badges: those judged without the chain (not anchored, or in a batch
        whose stored tree is unusable) and the items to prepare."""
        done: dict[str, Checked] = {}
        items: list[Item] = []
        for cid, document, signature, batch_id, index in self.store.stored_badges(list(wanted)):
            tree = self.tree(batch_id) if batch_id is not None and index is not None else None
            if isinstance(tree, AnchoredTree):
                assert batch_id is not None and index is not None
                items.append((cid, document, signature, batch_id, index))
                continue
            credential = _object(document)
            # Not anchored (yet): it does not count, and the holder is told why.
            done[cid] = (self._fallback(cid, wanted[cid], credential, "unanchored"), credential, digest_of_canonical(document))
        return done, items

    def _finish(self, done: dict[str, Checked], prepared: Prepares, wanted: Mapping[str, str]) -> dict[str, Checked]:
        """The chain's word on each prepared component (through the verifier), then what the holder holds."""
        for (cid, credential, one), digest in prepared:
            report = self.verifier.check(one)
            if credential is None:
                done[cid] = (self._fallback(cid, wanted[cid], None, report.verdict.value), None, digest)
            else:
                done[cid] = (held(credential, report, fallback=self.now), credential, digest)
        return done

    def _fallback(self, cid: str, uri: str, credential: Mapping[str, Any] | None, status: str) -> HeldComponent:
        if credential is not None:
            return replace(held(credential, None, fallback=self.now), status=status)
        return HeldComponent(achievement_id=uri, issuer=self.own_did, credential_id=cid, valid_from=self.now, status=status)


def _prepare_all(trees: Mapping[int, AnchoredTree | None], items: Sequence[Item]) -> Prepares:
    out: Prepares = []
    for cid, document, signature, batch_id, index in items:
        tree = trees[batch_id]
        assert isinstance(tree, AnchoredTree)
        credential, prepared = prepare_stored(document, signature, tree, index)
        out.append(((cid, credential, prepared), digest_of_canonical(document)))
    return out


def _object(document: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(document)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
