"""What counts as a URI in anchor: one validator for achievement ids, issuer profiles, evidence
and image links. Pure.

Accepted: absolute ``http(s)`` URLs with a host, ``urn:`` and ``did:`` identifiers; at most 2,048
characters and no white space. Anything else (relative paths, ``javascript:``, ``file:``) is not a
URI here, because every one of these ends up as a link a person may follow or a key a verifier
compares.
"""

from __future__ import annotations

from urllib.parse import urlparse

from anchor.core.errors import InputError

MAX_URI = 2048  # characters


def is_uri(value: object) -> bool:
    """Whether ``value`` is an absolute http(s) URL, a URN or a DID."""
    if not isinstance(value, str) or not value or any(c.isspace() for c in value) or len(value) > MAX_URI:
        return False
    parsed = urlparse(value)
    if parsed.scheme in ("http", "https"):
        return bool(parsed.netloc)
    return parsed.scheme in ("urn", "did") and ":" in value[4:]


def is_http_url(value: object) -> bool:
    """Whether ``value`` is an absolute http(s) URL with a host."""
    return isinstance(value, str) and is_uri(value) and value.startswith(("https://", "http://"))


def require_uri(value: str, *, what: str) -> str:
    """``value`` stripped if it is a URI (see :func:`is_uri`), else InputError naming ``what``."""
    text = value.strip()
    if not is_uri(text):
        raise InputError(f"{what} must be an absolute http(s) URL, a urn: or a did: of at most {MAX_URI} characters "
                         f"without spaces, got {value!r}", reason="bad_uri")
    return text
