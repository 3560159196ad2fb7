"""Issuer DIDs: ``did:web`` names and the DID documents the service publishes.

An issuer is named in its credentials by a DID, registered on chain as its profile URI:

* ``did:key:z6Mk…`` for local and development issuers: the DID is its one key and resolves
  without any server; a new key is a new DID.
* ``did:web:uni.example`` (or ``did:web:anchor.uni.example:issuers:0x…`` for an issuer served
  by an anchor service): resolved by other verifiers from ``https://<host>/<path>/did.json``
  (``/.well-known/did.json`` without a path). Its document lists every key the issuer ever bound
  in the registry, so a rotated key keeps verifying what it signed.

Every verification method id is ``<DID>#<publicKeyMultibase>``: anchor's verifier reads the key
from the id and asks the registry whether it is bound, with no web fetch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from anchor.core.errors import InputError

DID_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?::[0-9]{1,5})?\Z")
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]{1,128}\Z")


def did_web(host: str, *path: str) -> str:
    """``did:web`` for ``host`` (a port is percent-encoded, as the method requires) and ``path``."""
    host = host.strip().lower()
    if not _HOST.match(host):
        raise InputError(f"{host!r} is not a host name for did:web (letters, digits, dots, hyphens, optional :port)")
    for segment in path:
        if not _SEGMENT.match(segment):
            raise InputError(f"{segment!r} is not a did:web path segment")
    return ":".join(("did:web", quote(host, safe=""), *path))


def did_web_for_url(base_url: str, *path: str) -> str:
    """The ``did:web`` a service at ``base_url`` publishes under ``path`` (scheme and any base path
    of the URL are kept as path segments)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"{base_url!r} is not an http(s) URL")
    segments = [s for s in parts.path.split("/") if s]
    return did_web(parts.netloc, *segments, *path)


def did_web_document_url(did: str) -> str:
    """Where other verifiers fetch a ``did:web`` document (https, per the method spec)."""
    if not did.startswith("did:web:"):
        raise InputError(f"{did!r} is not a did:web")
    host, *path = did[len("did:web:"):].split(":")
    host = unquote(host)
    return f"https://{host}/" + ("/".join(path) + "/did.json" if path else ".well-known/did.json")


def did_web_path(did: str) -> tuple[str, tuple[str, ...]]:
    """(host, path segments) of a ``did:web``."""
    if not did.startswith("did:web:"):
        raise InputError(f"{did!r} is not a did:web")
    host, *path = did[len("did:web:"):].split(":")
    return unquote(host), tuple(path)


def is_did(value: str) -> bool:
    return value.startswith(("did:key:", "did:web:"))


def did_document(did: str, public_keys_multibase: Sequence[str]) -> dict[str, Any]:
    """The DID document for ``did`` listing the Ed25519 keys (``Multikey``), oldest first; every
    key may sign credentials (``assertionMethod``), the newest is listed first there."""
    methods = [{"id": f"{did}#{mb}", "type": "Multikey", "controller": did, "publicKeyMultibase": mb} for mb in public_keys_multibase]
    ids = [m["id"] for m in reversed(methods)]
    return {
        "@context": [DID_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": ids,
        "authentication": ids,
    }
