"""Open Badges 3.0 ``AchievementCredential`` documents: build, hash, check. Pure, no I/O.

A credential names its issuer by Profile (whose ``id`` is the profile URI registered on chain
for the anchoring account), its recipient by salted ``IdentityObject`` hashes (OB 3.0 §
IdentityHash: ``sha256$hex(sha256(email + salt))``), and its achievement by the embedded
``Achievement``. The leaf that goes into the Merkle tree is
``sha256(0x00 || RFC 8785 bytes of the credential without "proof")``.

Privacy: the salt is 128 random bits per credential, and the ``urn:uuid`` id carries 74 random
bits too, so the sibling hashes a proof reveals cannot be linked to anyone by guessing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any, Literal

from anchor.core import merkle
from anchor.core.canonical import canonical_bytes
from anchor.core.errors import InputError, VerificationError
from anchor.core.safe_input import load_json
from anchor.core.timefmt import format_ts

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CREDENTIAL_CONTEXT = [VC_CONTEXT, OB_CONTEXT]
CREDENTIAL_TYPE = ["VerifiableCredential", "AchievementCredential"]
PROOF_KEY = "proof"
SCHEMA_FILE = "ob_v3p0_achievementcredential_schema.json"


@dataclass(frozen=True)
class IssuerProfile:
    """The issuer as credentials show it (OB 3.0 ``Profile``)."""

    id: str  # the profile URI registered on chain
    name: str
    url: str | None = None
    email: str | None = None
    description: str | None = None
    image: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": ["Profile"], "name": self.name}
        if self.url:
            out["url"] = self.url
        if self.email:
            out["email"] = self.email
        if self.description:
            out["description"] = self.description
        if self.image:
            out["image"] = {"id": self.image, "type": "Image"}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IssuerProfile:
        image = data.get("image")
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            url=data.get("url"),
            email=data.get("email"),
            description=data.get("description"),
            image=image.get("id") if isinstance(image, dict) else image,
        )


def normalize_email(email: str) -> str:
    return email.strip().lower()


def identity_hash(identifier: str, salt: str) -> str:
    """OB 3.0 IdentityHash: ``sha256$`` + hex sha256 of the identifier with the salt appended."""
    return "sha256$" + hashlib.sha256((identifier + salt).encode("utf-8")).hexdigest()


def new_salt() -> str:
    return secrets.token_hex(16)


def new_credential_id() -> str:
    """``urn:uuid:`` + a new time-ordered UUID (version 7, RFC 9562)."""
    return _urn_uuid(os.urandom(16))


def _urn_uuid(random16: bytes) -> str:
    """A version 7 UUID: 48 bits of Unix milliseconds, then 74 random bits.

    Time-ordered ids keep the database's unique index append-mostly (random v4 ids cost a
    random B-tree insert each: about a second per 100,000 credentials). The 74 random bits
    keep ids unguessable, and the time they reveal is already in ``validFrom``/``awardedDate``.
    """
    b = bytearray(random16)
    b[0:6] = (time.time_ns() // 1_000_000).to_bytes(6, "big")
    b[6] = (b[6] & 0x0F) | 0x70  # version 7
    b[8] = (b[8] & 0x3F) | 0x80  # variant 10xx
    h = b.hex()
    return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class Issued:
    """One freshly built credential: its id, canonical bytes (no proof yet) and Merkle leaf; and,
    for signing it without parsing it again, its template and the values of its
    :data:`CREDENTIAL_SLOTS` (None where the template has no such member)."""

    credential_id: str
    canonical: bytes
    leaf: bytes
    template: tuple[bool, bool, bool, bool] = (False, False, False, False)
    slot_values: tuple[str | None, ...] = ()

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.canonical)  # type: ignore[no-any-return]


_MARK = "\ue000"  # a private-use character brackets the template's field markers
# One spelling of a credential id: ``urn:uuid:`` and a lower-case UUID (what new_credential_id makes).
_CANONICAL_ID = re.compile(r"urn:uuid:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\Z")
# What a person may type for one: with or without ``urn:uuid:``, any case, surrounding spaces.
_TYPED_ID = re.compile(r"\s*(?:urn:uuid:)?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\s*\Z")


def credential_urn(typed: str) -> str:
    """The canonical ``urn:uuid:`` id for what a person typed (bare UUID or urn, any case);
    InputError ``bad_credential_id`` otherwise."""
    m = _TYPED_ID.match(typed)
    if m is None:
        raise InputError(f"{typed!r} is not a credential id (expected urn:uuid:<uuid> or <uuid>)", reason="bad_credential_id")
    return "urn:uuid:" + m.group(1).lower()


def uuid_of(credential_id: str) -> str | None:
    """The UUID of a canonical credential id, or None when ``credential_id`` is not one."""
    m = _CANONICAL_ID.match(credential_id)
    return m.group(1) if m else None


_FIELD = re.compile(r'"\ue000(\w+)\ue000"')
_quote = json.encoder.encode_basestring  # C; exactly json.dumps' (and RFC 8785's) string escaping


class CredentialFactory:
    """Builds credentials of one achievement from one issuer, fast.

    Keys, not values, decide the order of RFC 8785 output, so the canonical text of a document
    with marker strings in place of the per-recipient values is a template: split at the
    markers once, a credential is the join of its fragments with the JSON-quoted values. One
    template per combination of optional fields. :func:`canonical_bytes` of the parsed result is
    the same text (the tests hold it to that).
    """

    def __init__(self, issuer: IssuerProfile, achievement: Mapping[str, Any], *,
                 components: tuple[tuple[str, str], ...] = ()) -> None:
        """``components``: for a stacked credential (:mod:`anchor.core.stack`), the (name,
        description) of each component's ``evidence`` entry, in order (at most
        :data:`MAX_COMPONENTS`); every credential built then names that many components."""
        self.issuer = issuer.to_json()
        self.achievement = dict(achievement)
        if len(components) > MAX_COMPONENTS:
            raise InputError(f"a stacked credential names at most {MAX_COMPONENTS} components, not {len(components)}",
                             reason="too_many_components")
        self.components = tuple((str(n), str(d)) for n, d in components)
        if _MARK in json.dumps([self.issuer, self.achievement, self.components], ensure_ascii=False):
            raise InputError("issuer profile or achievement contains the reserved character U+E000")
        self._templates: dict[tuple[bool, bool, bool, bool], tuple[str, tuple[str, ...]]] = {}
        self._fields: dict[tuple[bool, bool, bool, bool], frozenset[str]] = {}
        self._bound: dict[tuple[bool, bool, bool, bool], Any] = {}
        self._ts: dict[datetime, str] = {}

    def skeleton(self, *, valid_until: bool, evidence: bool, narrative: bool, status: bool = False) -> dict[str, Any]:
        """The document with ``\ue000field\ue000`` markers for every per-recipient value."""

        def m(name: str) -> str:
            return f"{_MARK}{name}{_MARK}"

        subject: dict[str, Any] = {
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityHash": m("emailHash"),
                    "identityType": "emailAddress",
                    "hashed": True,
                    "salt": m("salt"),
                },
                {"type": "IdentityObject", "identityHash": m("name"), "identityType": "name", "hashed": False},
            ],
            "achievement": self.achievement,
        }
        if narrative:
            subject["narrative"] = m("narrative")
        doc: dict[str, Any] = {
            "@context": list(CREDENTIAL_CONTEXT),
            "id": m("id"),
            "type": CREDENTIAL_TYPE,
            "name": self.achievement["name"],
            "issuer": self.issuer,
            "validFrom": m("validFrom"),
            "awardedDate": m("awardedDate"),
            "credentialSubject": subject,
        }
        if valid_until:
            doc["validUntil"] = m("validUntil")
        if evidence and self.components:  # a stack's components (anchor.core.stack), in slot order
            doc["evidence"] = [
                {"id": m(_COMPONENT_ID[i]), "type": ["Evidence"], "name": name, "description": description,
                 "digestMultibase": m(_COMPONENT_DIGEST[i])}
                for i, (name, description) in enumerate(self.components)
            ]
        elif evidence:
            doc["evidence"] = [{"id": m("evidence"), "type": ["Evidence"]}]
        if status:
            doc["credentialStatus"] = {
                "id": m("statusId"),
                "type": "BitstringStatusListEntry",
                "statusPurpose": "revocation",
                "statusListIndex": m("statusListIndex"),
                "statusListCredential": m("statusList"),
            }
        return doc

    def _template(self, key: tuple[bool, bool, bool, bool]) -> tuple[str, tuple[str, ...]]:
        """A %-format string of the canonical text, and the field each %s stands for."""
        if key not in self._templates:
            text = canonical_bytes(self.skeleton(valid_until=key[0], evidence=key[1], narrative=key[2], status=key[3])).decode()
            parts = _FIELD.split(text)
            self._templates[key] = ("%s".join(p.replace("%", "%%") for p in parts[0::2]), tuple(parts[1::2]))
        return self._templates[key]

    def _fmt(self, moment: datetime) -> str:
        text = self._ts.get(moment)
        if text is None:
            text = self._ts[moment] = format_ts(moment)
        return text

    def build(
        self,
        *,
        name: str,
        email: str,
        valid_from: datetime,
        valid_until: datetime | None = None,
        awarded: datetime | None = None,
        evidence_url: str | None = None,
        narrative: str | None = None,
        credential_id: str | None = None,
        salt: str | None = None,
        status: tuple[str, int] | None = None,
        components: tuple[tuple[str, str], ...] = (),
    ) -> Issued:
        """One credential. ``status``: (status list URL, index in the list) of its
        ``BitstringStatusListEntry``; None leaves ``credentialStatus`` out. ``components``: the
        (credential id, digestMultibase) of each component, one per the factory's components
        (a stacking factory takes no ``evidence_url``)."""
        if len(components) != len(self.components):
            raise InputError(f"this factory builds credentials of {len(self.components)} component(s), "
                             f"not {len(components)}", reason="component_count")
        if components and evidence_url:
            raise InputError("a stacked credential's evidence is its components; it takes no evidence URL")
        if credential_id is None or salt is None:
            rnd = os.urandom(32)
            credential_id = credential_id or _urn_uuid(rnd[:16])
            salt = salt or rnd[16:].hex()
        values = {
            "id": credential_id,
            "validFrom": self._fmt(valid_from),
            "awardedDate": self._fmt(awarded or valid_from),
            "emailHash": identity_hash(normalize_email(email), salt),
            "salt": salt,
            "name": name,
            "validUntil": self._fmt(valid_until) if valid_until is not None else "",
            "evidence": evidence_url or "",
            "narrative": narrative or "",
            "statusId": f"{status[0]}#{status[1]}" if status else "",
            "statusListIndex": str(status[1]) if status else "",
            "statusList": status[0] if status else "",
        }
        for i, (cid, digest) in enumerate(components):
            values[_COMPONENT_ID[i]] = cid
            values[_COMPONENT_DIGEST[i]] = digest
        key = (valid_until is not None, bool(evidence_url) or bool(components), bool(narrative), status is not None)
        fmt, fields = self._template(key)
        canonical = (fmt % tuple([_quote(values[f]) for f in fields])).encode("utf-8")
        leaf = _LEAF_HASHER.copy()
        leaf.update(canonical)
        present = self._present(key)
        slot_values = tuple(values.get(f) if f in present else None for f in _SLOT_FIELDS)
        return Issued(credential_id, canonical, leaf.digest(), key, slot_values)

    def _present(self, key: tuple[bool, bool, bool, bool]) -> frozenset[str]:
        present = self._fields.get(key)
        if present is None:
            present = self._fields[key] = frozenset(self._template(key)[1])
        return present

    def bound_template(self, key: tuple[bool, bool, bool, bool]) -> Any:
        """The :class:`~anchor.core.jsonld.BoundTemplate` of the documents of template ``key``
        (compiled once per factory), or None when that template cannot take the fast path."""
        if key not in self._bound:
            from anchor.core.errors import InputError as _Unusable

            skeleton = self.skeleton(valid_until=key[0], evidence=key[1], narrative=key[2], status=key[3])
            try:
                self._bound[key] = credential_canonicalizer().bind(skeleton)
            except _Unusable:
                self._bound[key] = None
        return self._bound[key]


_LEAF_HASHER = hashlib.sha256(merkle.LEAF_PREFIX)

# The per-recipient values of a credential (CredentialFactory.skeleton's markers), for the
# template path of canonicalization: credentials that differ only here share one JSON-LD
# conversion (anchor.core.jsonld.Canonicalizer; any other difference takes the general path).
CREDENTIAL_SLOTS: tuple[tuple[tuple[str | int, ...], Literal["iri", "literal"]], ...] = (
    (("id",), "iri"),
    (("validFrom",), "literal"),
    (("awardedDate",), "literal"),
    (("validUntil",), "literal"),
    (("credentialSubject", "identifier", 0, "identityHash"), "literal"),
    (("credentialSubject", "identifier", 0, "salt"), "literal"),
    (("credentialSubject", "identifier", 1, "identityHash"), "literal"),
    (("credentialSubject", "narrative"), "literal"),
    (("evidence", 0, "id"), "iri"),
    (("credentialStatus", "id"), "iri"),
    (("credentialStatus", "statusListIndex"), "literal"),
    (("credentialStatus", "statusListCredential"), "iri"),
    # A renewal's link to the credential it supersedes (anchor.app.reissue): without these slots
    # every renewed credential was a template of its own (pyld run and cached once per credential).
    (("relatedResource", 0, "id"), "iri"),
    (("relatedResource", 0, "digestMultibase"), "literal"),
    # A stacked credential's components (anchor.core.stack): evidence[i].id (evidence[0].id is
    # the slot above) and evidence[i].digestMultibase. Appended last: earlier slots keep their
    # positions, so templates cached before these were added stay valid.
    *((("evidence", i, "id"), "iri") for i in range(1, 8)),
    *((("evidence", i, "digestMultibase"), "literal") for i in range(8)),
)

MAX_COMPONENTS = 8
# The factory's field names of the component slots (evidence[0].id is the field "evidence").
_COMPONENT_ID = ("evidence", *(f"component{i}" for i in range(1, MAX_COMPONENTS)))
_COMPONENT_DIGEST = tuple(f"digest{i}" for i in range(MAX_COMPONENTS))


# The factory's field behind each slot, in CREDENTIAL_SLOTS order.
_SLOT_FIELDS = ("id", "validFrom", "awardedDate", "validUntil", "emailHash", "salt", "name", "narrative", "evidence",
                "statusId", "statusListIndex", "statusList", "relatedId", "relatedDigest",  # these two: never built here
                *_COMPONENT_ID[1:], *_COMPONENT_DIGEST)


@cache
def credential_canonicalizer() -> Any:
    """The process's :class:`~anchor.core.jsonld.Canonicalizer` for credentials (templates cached)."""
    from anchor.core.jsonld import Canonicalizer

    return Canonicalizer(CREDENTIAL_SLOTS)


def without_proof(credential: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in credential.items() if k != PROOF_KEY}


def leaf_of(credential: Mapping[str, Any]) -> bytes:
    """The Merkle leaf of a credential (its ``proof``, if any, is left out)."""
    return merkle.hash_leaf(canonical_bytes(without_proof(credential)))


def recipient_matches(credential: Mapping[str, Any], email: str) -> bool:
    """Whether any hashed email identity of the credential is ``email``."""
    subject = credential.get("credentialSubject")
    identities = subject.get("identifier", []) if isinstance(subject, dict) else []
    wanted = normalize_email(email)
    for ident in identities if isinstance(identities, list) else []:
        if not isinstance(ident, dict) or ident.get("identityType") != "emailAddress":
            continue
        value = ident.get("identityHash")
        if not isinstance(value, str):
            continue
        if ident.get("hashed") is False:
            if normalize_email(value) == wanted:
                return True
            continue
        algo, _, digest = value.partition("$")
        salt = ident.get("salt") or ""
        if algo.lower() == "sha256" and hashlib.sha256((wanted + str(salt)).encode()).hexdigest() == digest.lower():
            return True
        if algo.lower() == "md5" and hashlib.md5((wanted + str(salt)).encode(), usedforsecurity=False).hexdigest() == digest.lower():
            return True
    return False


@cache
def _schema_validator() -> Any:
    from jsonschema import Draft201909Validator, FormatChecker

    schema = json.loads(resources.files("anchor.schemas").joinpath(SCHEMA_FILE).read_text())
    return Draft201909Validator(schema, format_checker=FormatChecker())


def schema_errors(credential: Any) -> list[str]:
    """Every violation of the official OB 3.0 AchievementCredential JSON Schema, as sentences."""
    errors = sorted(_schema_validator().iter_errors(credential), key=lambda e: list(e.absolute_path))
    out = []
    for e in errors[:20]:
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        out.append(f"{where}: {e.message[:300]}")
    return out


@cache
def _fast_validator() -> Any:
    from anchor.schemas.validator import compiled_validator  # compiled once per schema, then cached

    return compiled_validator()


def schema_errors_fast(credential: Any) -> list[str]:
    """Like :func:`schema_errors`, ~15x faster on valid credentials (the common case).

    A compiled validator (fastjsonschema) decides; jsonschema then explains a failure. The
    compiled one also enforces ``format: date-time``, which jsonschema alone skips.
    """
    import fastjsonschema

    try:
        _fast_validator()(credential)
        return []
    except fastjsonschema.JsonSchemaException as e:
        return schema_errors(credential) or [str(e)]


def check_schema(credential: Any) -> None:
    """Raise :class:`VerificationError` (``schema_invalid``) unless the credential is valid OB 3.0."""
    errors = schema_errors(credential)
    if errors:
        raise VerificationError("not a valid Open Badges 3.0 credential: " + "; ".join(errors[:3]), reason="schema_invalid")


def parse_credential_json(text: str | bytes, *, what: str = "the credential") -> dict[str, Any]:
    """Parse a credential file's text into an object, or :class:`InputError` with a reason:
    ``too_large``, ``too_deep``, ``duplicate_key``, ``not_utf8``, ``invalid_json`` (see
    :mod:`anchor.core.safe_input`: limits are checked before parsing)."""
    data = load_json(text, what=what)
    if not isinstance(data, dict):
        raise InputError(f"a credential must be a JSON object, got {type(data).__name__}")
    return data
