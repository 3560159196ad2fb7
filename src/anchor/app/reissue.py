"""Renewing or replacing a credential (``anchor issue --reissue``).

A recipient whose credential of an achievement is revoked (on chain, as the store's confirmed
revocations record) or has expired may be issued the achievement again: the new credential
takes the next *generation* of the award (the database's unique key is issuer, recipient and
generation), and names the one it supersedes twice:

* in the issuer's database (``credentials.supersedes``), for the issuer's own lookups;
* in the credential itself, as a W3C VC 2.0 ``relatedResource`` entry: the old credential's id
  and the ``digestMultibase`` (a multibase base64url SHA-256 multihash) of its RFC 8785 text
  without proof, exactly as it was issued. ``relatedResource`` is defined by the pinned VC 2.0
  context (https://www.w3.org/ns/credentials/v2), so JSON-LD safe mode and the eddsa-rdfc-2022
  signature cover it; the OB 3.0 schema allows it (additional properties). A verifier holding the
  old badge can check the digest against it; one without it just sees the link.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from anchor.core.canonical import canonical_bytes
from anchor.core.multibase import encode_base64url

_SHA2_256 = b"\x12\x20"  # multihash: sha2-256, 32 bytes


def document_digest(document: bytes) -> str:
    """The ``digestMultibase`` of a credential's RFC 8785 bytes: ``u`` + base64url(sha2-256 multihash)."""
    return encode_base64url(_SHA2_256 + hashlib.sha256(document).digest())


def related_resource(old_id: str, old_document: bytes) -> dict[str, Any]:
    """The ``relatedResource`` entry naming the superseded credential."""
    return {"id": old_id, "digestMultibase": document_digest(old_document)}


def link_superseded(canonical: bytes, old_id: str, old_document: bytes) -> bytes:
    """``canonical`` (a new credential's RFC 8785 bytes) with a ``relatedResource`` entry for the
    credential it supersedes, canonical again."""
    document = json.loads(canonical)
    related = document.get("relatedResource")
    entries = list(related) if isinstance(related, list) else [related] if related is not None else []
    document["relatedResource"] = [*entries, related_resource(old_id, old_document)]
    return canonical_bytes(document)


def superseded_id(credential: dict[str, Any]) -> str | None:
    """The id of the first credential a credential names in ``relatedResource`` (what it supersedes), if any."""
    related = credential.get("relatedResource")
    for entry in related if isinstance(related, list) else [related]:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"].startswith("urn:uuid:"):
            return str(entry["id"])
    return None
