"""``anchor stack``: holders whose component badges meet a pathway get the stacked badge; and
verifying a stacked badge with its components.

Earning. The issuer's database says who holds which component (its holders' emails are
issuer-private columns); the chain has the last word: every component is verified by the same
:class:`~anchor.app.verifying.Verifier` as ``anchor verify``, on its stored document and
signature and its place in its batch's tree (:mod:`anchor.app.stack_components`, in bulk), so a
component revoked, expired, altered or unanchored on chain never counts, whatever the database
thinks. Components from other issuers are the holder's own badges (``--evidence``), verified on
chain the same way and matched to a holder by the salted email hash.
:meth:`~anchor.core.pathway.Pathway.evaluate` then decides.

Issuing goes through :func:`~anchor.app.issuing.issue_credentials` (signed, with
``credentialStatus``, insert-or-skip on the award's unique key): a rerun issues nothing twice.
The stacked credentials are then pending like any other, for ``anchor anchor``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from anchor.app.exporting import credential_with_proof
from anchor.app.issuing import Sign, issue_credentials, recipient_refs
from anchor.app.stack_components import Checked, OwnComponents, held, issuer_dids
from anchor.app.verifying import Verifier
from anchor.core import merkle
from anchor.core.credential import CredentialFactory, IssuerProfile, normalize_email, recipient_matches
from anchor.core.forms import Presented
from anchor.core.pathway import HeldComponent, Pathway, Selection
from anchor.core.proof import ReceiptRenderer
from anchor.core.roster import Roster, RosterRow
from anchor.core.stack import (
    StackReport,
    component_description,
    component_digest,
    judge_stack,
    match_components,
)
from anchor.core.timefmt import utcnow
from anchor.core.verdict import Report, Verdict, prepare_presented
from anchor.store import Issuer, Store

# ---------------------------------------------------------------------------- verifying


def verify_stack(verifier: Verifier, stack: Presented, components: Sequence[Presented]) -> StackReport:
    """The verdict on a stacked badge given the badges presented as its components (none: the
    stack alone, and what it depends on). Each component the stack names is matched by id, its
    digest checked, then verified in full against the chain."""
    stack_report = verifier.check(prepare_presented(stack))
    by_id = {id(p.credential): p for p in components}
    pairs, unused = match_components(stack.credential, [p.credential for p in components])
    judged: list[tuple[Any, Mapping[str, Any] | None, Report | None]] = []
    for ref, credential in pairs:
        report = None
        if credential is not None and component_digest(credential) == ref.digest:
            report = verifier.check(prepare_presented(by_id[id(credential)]))
        judged.append((ref, credential, report))
    out = judge_stack(stack_report, judged if components else [], stack=stack.credential)
    if unused:
        out.notes.append(f"{len(unused)} presented credential(s) are not components of this stack: {', '.join(unused)}")
    return out


# ---------------------------------------------------------------------------- components from the database


class _Badges:
    """Assembles the issuer's own anchored badges from the database, as delivered (as the export
    does): for the bench and tests that need one badge as its holder has it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._levels: dict[int, list[bytes]] = {}

    def badge(self, credential_id: str) -> tuple[bytes, bytes] | None:
        """(the badge as delivered, its stored document) or None when not anchored."""
        loc = self.store.locate(credential_id)
        stored = self.store.document_of(credential_id)
        if loc is None or stored is None or loc.batch_status != "confirmed" or loc.batch_id is None or loc.leaf_index is None:
            return None
        assert loc.root is not None and loc.tx_hash is not None and loc.block_time is not None and loc.chain_id is not None
        assert loc.registry is not None and loc.leaf_count is not None and loc.block_number is not None
        levels = self._levels.get(loc.batch_id)
        if levels is None:
            levels = self._levels[loc.batch_id] = self.store.levels(loc.batch_id)
        receipts = ReceiptRenderer(chain_id=loc.chain_id, registry=loc.registry, issuer_address=loc.issuer_address,
                                   root=loc.root, leaf_count=loc.leaf_count, tx_hash=loc.tx_hash,
                                   block_number=loc.block_number, block_time=loc.block_time)
        path = merkle.path_json(levels, loc.leaf_index, loc.leaf_count)
        document, signature = stored
        return credential_with_proof(document, receipts.render(loc.leaf_index, path), signature), document


@dataclass
class StackRun:
    """What ``anchor stack`` did."""

    pathway_id: str
    achievement_id: str
    created: int = 0
    already: int = 0  # holders who hold the stacked achievement already
    short: list[tuple[str, str]] = field(default_factory=list)  # (holder email, why they do not qualify)
    evidence_used: int = 0
    evidence_refused: list[tuple[str, str]] = field(default_factory=list)  # (what was presented, why refused)


HOLDERS_PER_READ = 1_000  # holders whose components are read from the database (and verified) at a time


def stack_pathway(store: Store, issuer: Issuer, pathway: Pathway, verifier: Verifier, *, sign: Sign | None = None,
                  evidence: Sequence[tuple[str, Presented]] = (), now: datetime | None = None) -> StackRun:
    """Issue ``pathway``'s stacked credential to every holder of ``issuer``'s database who
    qualifies (see the module doc). ``evidence``: (name, badge) of badges from other issuers
    presented by holders; each is verified on chain and used for the holder it was issued to.

    Holders who hold the stack already are skipped before anything is verified; the others'
    components are read and verified :data:`HOLDERS_PER_READ` holders at a time (documents and
    signatures in a few queries, each batch's tree once per run, the chain's facts through the
    verifier's reader), then the stacks are issued."""
    now = now or utcnow()
    profile = json.loads(issuer.profile_json)
    own_did = str(profile["id"])
    run = StackRun(pathway.id, pathway.achievement_id)
    own_uris = [c.achievement_id for c in pathway.components if c.issuer in (None, own_did)]
    rows = store.stack_candidates(issuer.id, own_uris)
    holders: dict[str, tuple[str, dict[str, str]]] = {}
    for cid, email, name, uri in rows:
        holders.setdefault(email, (name or email, {}))[1][cid] = uri

    # Other issuers' badges: verified on chain, then matched to a holder by the salted email hash.
    presented_for: dict[str, list[tuple[dict[str, Any], Report]]] = {}
    if evidence:
        emails = {email: name for _cid, email, name, _uri in store.stack_candidates(issuer.id, None)}
        for what, badge in evidence:
            report = verifier.check(prepare_presented(badge))
            owner = next((e for e in emails if recipient_matches(badge.credential, e)), None)
            if owner is None:
                run.evidence_refused.append((what, "issued to none of this issuer's holders"))
                continue
            if report.verdict is not Verdict.VALID:  # listed, never used (nor parsed further: it may be anything)
                run.evidence_refused.append((what, report.summary))
                continue
            holders.setdefault(owner, (emails[owner] or owner, {}))
            presented_for.setdefault(owner, []).append((badge.credential, report))

    stacked = store.recipients_of(pathway.achievement_id, issuer.id)
    ref_of = recipient_refs(pathway.achievement_id)
    todo = []
    for email in sorted(holders):
        if ref_of(email) in stacked:
            run.already += 1
        else:
            todo.append(email)
    own = OwnComponents(store, issuer, own_did, verifier, now)
    groups: dict[tuple[tuple[str, str], ...], list[tuple[str, str, tuple[tuple[str, str], ...]]]] = {}
    for first in range(0, len(todo), HOLDERS_PER_READ):
        chunk = todo[first : first + HOLDERS_PER_READ]
        checked = own.check({cid: uri for email in chunk for cid, uri in holders[email][1].items()})
        for email in chunk:
            _select(pathway, run, groups, email, holders[email], checked, presented_for.get(email, []), own_did, now)

    for group, members in groups.items():
        factory = CredentialFactory(IssuerProfile.from_json(profile), pathway.achievement, components=group)
        rows_ = [RosterRow(line=n + 2, name=name, email=normalize_email(email)) for n, (email, name, _) in enumerate(members)]
        components = {n + 2: parts for n, (_, _, parts) in enumerate(members)}
        issued = issue_credentials(store, issuer, pathway.achievement, Roster(rows_, []), sign=sign, valid_from=now,
                                   factory=factory, components=components)
        run.created += issued.created
        run.already += len(issued.already_issued)
    return run


def _select(pathway: Pathway, run: StackRun, groups: dict[tuple[tuple[str, str], ...], list[tuple[str, str, tuple[tuple[str, str], ...]]]],
            email: str, holder: tuple[str, dict[str, str]], checked: Mapping[str, Checked],
            presented: Sequence[tuple[dict[str, Any], Report]], own_did: str, now: datetime) -> None:
    """Evaluate one holder's components; a holder who qualifies joins the group of holders whose
    stacks name the same component labels."""
    name, cids = holder
    holds: list[HeldComponent] = []
    # Each held component → (its credential, digest). Keyed by the HeldComponent, not the id: a
    # forged copy presented with a genuine one shares its id, and must not stand in for it.
    documents: dict[HeldComponent, tuple[dict[str, Any], str]] = {}
    for cid in cids:
        found = checked.get(cid)
        if found is None:  # gone from the database since it was listed
            continue
        one, credential, digest = found
        holds.append(one)
        if credential is not None:
            documents[one] = (credential, digest)
    for credential, report in presented:
        one = held(credential, report)
        holds.append(one)
        documents.setdefault(one, (credential, component_digest(credential)))
    result = pathway.evaluate(holds, issuer=own_did, now=now)
    if not isinstance(result, Selection):
        run.short.append((email, result.describe()))
        return
    labels, parts = [], []
    for _component, chosen in result.used:
        credential, digest = documents[chosen]
        subject = credential.get("credentialSubject") or {}
        label = str((subject.get("achievement") or {}).get("name") or credential.get("name") or chosen.credential_id)
        labels.append((label, component_description(str(pathway.achievement["name"]), issuer_dids(credential)[1])))
        parts.append((chosen.credential_id, digest))
        if chosen.issuer != own_did:
            run.evidence_used += 1
    groups.setdefault(tuple(labels), []).append((email, name, tuple(parts)))
