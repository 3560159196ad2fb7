"""A learner record: a CLR 2.0 ``ClrCredential`` that carries every badge a holder earned from one
issuer, each exactly as delivered (its own proof set included), so each can still be verified on
its own, component by component.

Why a CLR and not a zip of badge files: the record is itself a Verifiable Credential, signed by
the issuer, listing the achievements and the *associations* between them (a stacked achievement
``isParentOf`` each of its components), in the 1EdTech vocabulary wallets and registrars read.

The embedded credentials keep their own ``@context`` (they must verify outside the record); the
record's ``@context`` lists the same contexts in the same order (VC 2.0, CLR 2.0.1, OB 3.0.3),
which is the one nested ``@context`` anchor's safe mode accepts (:mod:`anchor.core.jsonld`).

Pure: ids, salt and time come from the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from anchor.core.credential import CREDENTIAL_CONTEXT, OB_CONTEXT, VC_CONTEXT, identity_hash, normalize_email
from anchor.core.errors import InputError

CLR_CONTEXT = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"
CLR_DOCUMENT_CONTEXT = [VC_CONTEXT, CLR_CONTEXT, OB_CONTEXT]
CLR_TYPE = ["VerifiableCredential", "ClrCredential"]
# No ``credentialSchema`` entry: its type ``1EdTechJsonSchemaValidator2019`` is a term no pinned
# context (VC 2.0, CLR 2.0.1, OB 3.0.3) defines, so it would be a relative IRI in what is signed.
# CLR 2.0 AssociationType: the ones a pathway produces
IS_PARENT_OF = "isParentOf"
ASSOCIATION_TYPES = frozenset({
    "exactMatchOf", "isChildOf", "isParentOf", "isPartOf", "isPeerOf", "isRelatedTo", "precedes", "replacedBy",
})

Association = tuple[str, str, str]  # (source achievement id, target achievement id, associationType)


def _achievement_of(credential: Mapping[str, Any]) -> dict[str, Any]:
    subject = credential.get("credentialSubject")
    achievement = subject.get("achievement") if isinstance(subject, Mapping) else None
    if not isinstance(achievement, Mapping) or not isinstance(achievement.get("id"), str):
        raise InputError(f"credential {str(credential.get('id'))[:100]!r} names no achievement with an id",
                         reason="clr_invalid_credential")
    return dict(achievement)


def stack_associations(credentials: Sequence[Mapping[str, Any]]) -> list[Association]:
    """``isParentOf`` from each stacked credential's achievement to the achievement of each of its
    components found in ``credentials``: a component is an ``evidence`` entry with a
    ``digestMultibase`` (the pin :mod:`anchor.core.stack` writes), matched by credential id.
    Components not in the record are left out (the record only relates what it carries)."""
    by_id = {c.get("id"): c for c in credentials}
    out: list[Association] = []
    for credential in credentials:
        evidence = credential.get("evidence")
        for entry in evidence if isinstance(evidence, list) else []:
            if not isinstance(entry, Mapping) or "digestMultibase" not in entry:
                continue
            component = by_id.get(entry.get("id"))
            if component is None or component is credential:
                continue
            edge = (_achievement_of(credential)["id"], _achievement_of(component)["id"], IS_PARENT_OF)
            if edge not in out:
                out.append(edge)
    return out


def clr_credential(*, credential_id: str, holder_name: str | None, holder_email: str, salt: str,
                   issuer: Mapping[str, Any], credentials: Sequence[Mapping[str, Any]],
                   associations: Iterable[Association] = (), valid_from: str, name: str | None = None) -> dict[str, Any]:
    """The unsigned ``ClrCredential`` (CLR 2.0) of one holder: ``credentials`` are the complete
    badges (proof sets included), kept byte-for-byte as given in ``verifiableCredential``; their
    achievements, de-duplicated by id, in ``achievement``; ``associations`` between achievement
    ids in ``association``. The holder is named the way the badges name them: a salted hash of
    the email (an IdentityObject) and the name."""
    if not credentials:
        raise InputError("a learner record needs at least one credential", reason="clr_empty")
    achievements: dict[str, dict[str, Any]] = {}
    for credential in credentials:
        if not isinstance(credential, Mapping) or credential.get("@context") != CREDENTIAL_CONTEXT:
            what = credential.get("id") if isinstance(credential, Mapping) else type(credential).__name__
            raise InputError(f"credential {str(what)[:100]!r} is not an anchor Open Badges 3.0 credential (its @context "
                             "differs)", reason="clr_invalid_credential")
        achievement = _achievement_of(credential)
        achievements.setdefault(achievement["id"], achievement)
    edges = []
    for source, target, kind in associations:
        if kind not in ASSOCIATION_TYPES:
            raise InputError(f"{kind!r} is not a CLR 2.0 associationType", reason="clr_association_type")
        if source not in achievements or target not in achievements:
            raise InputError(f"association {source} -> {target} names an achievement the record does not carry",
                             reason="clr_association_unknown")
        edges.append({"type": "Association", "associationType": kind, "sourceId": source, "targetId": target})
    identifiers: list[dict[str, Any]] = [{
        "type": "IdentityObject",
        "identityHash": identity_hash(normalize_email(holder_email), salt),
        "identityType": "emailAddress",
        "hashed": True,
        "salt": salt,
    }]
    if holder_name:
        identifiers.append({"type": "IdentityObject", "identityHash": holder_name, "identityType": "name", "hashed": False})
    subject: dict[str, Any] = {
        "type": ["ClrSubject"],
        "identifier": identifiers,
        "achievement": list(achievements.values()),
        "verifiableCredential": [dict(c) for c in credentials],
    }
    if edges:
        subject["association"] = edges
    issuer_name = issuer.get("name")
    return {
        "@context": list(CLR_DOCUMENT_CONTEXT),
        "id": credential_id,
        "type": list(CLR_TYPE),
        "name": name or (f"Learner record from {issuer_name}" if isinstance(issuer_name, str) else "Learner record"),
        "issuer": dict(issuer),
        "validFrom": valid_from,
        "credentialSubject": subject,
    }
