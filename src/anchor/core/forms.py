"""Which form a presented badge comes in, and the credential inside it.

A badge reaches a verifier as bytes in one of four forms: the credential JSON (with its Data
Integrity proof and anchor receipt), a compact VC-JWT, or a PNG or SVG image with either of
those baked in. :func:`read_badge` tells them apart from the bytes alone (no file name, no
media type: both lie) and returns the credential with, for the JWT forms, the decoded token
whose signature the verifier still has to check (:func:`anchor.core.jwt.verify`).

Detection, in order: the PNG signature; after an optional UTF-8 BOM and white space, ``<`` is an
SVG (XML), ``{`` (or ``[``, to say why it is refused) is JSON, three base64url parts joined by dots are a JWT. Inside an image the
baked text is JSON if it starts with ``{`` or ``[``, else it must be a JWT. Every failure is an
:class:`~anchor.core.errors.InputError`: ``unknown_format``, ``not_a_credential`` (JSON that is
not an object), ``baked_payload`` (an image carrying neither JSON nor a JWT), ``too_large``, or
the precise reason of the reader that refused (``png_crc``, ``svg_dtd``, ``jwt_alg``, ...).

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from anchor.core import baking
from anchor.core import jwt as vcjwt
from anchor.core.errors import InputError
from anchor.core.safe_input import MAX_JSON_BYTES, load_json

__all__ = ["MAX_BADGE_BYTES", "BadgeFormat", "Presented", "read_badge"]

BadgeFormat = Literal["json", "jwt", "png", "svg"]

#: Largest badge accepted in any form (the PNG limit, the largest of the four).
MAX_BADGE_BYTES = max(baking.MAX_PNG_BYTES, baking.MAX_SVG_BYTES)

_WHITESPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Presented:
    """A badge as presented: its form, its credential and, for JWT forms, the decoded token."""

    format: BadgeFormat
    credential: dict[str, Any]
    jwt: vcjwt.DecodedJwt | None  # set when the credential came as a VC-JWT (alone or baked)
    payload: str  # the credential text as carried: the JSON or the compact token


def _refuse(message: str, reason: str) -> NoReturn:
    raise InputError(message, reason=reason)


def _from_json(text: str | bytes, what: str) -> dict[str, Any]:
    credential = load_json(text, max_bytes=max(MAX_JSON_BYTES, baking.MAX_PAYLOAD_BYTES), what=what)
    if not isinstance(credential, dict):
        _refuse(f"{what} is JSON but not a credential: expected an object, found {type(credential).__name__}",
                "not_a_credential")
    return credential


def _from_baked(text: str, image: BadgeFormat, what: str) -> tuple[dict[str, Any], vcjwt.DecodedJwt | None]:
    """The credential in the text baked into an image: JSON, or a VC-JWT."""
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        return _from_json(stripped, f"the credential baked into {what}"), None
    if vcjwt.looks_like_jwt(stripped):
        decoded = vcjwt.decode(stripped)
        return decoded.credential, decoded
    _refuse(f"{what} is a {image.upper()} whose baked credential is neither JSON nor a compact JWT", "baked_payload")


def read_badge(data: bytes, *, what: str = "badge") -> Presented:
    """Detect the form of ``data`` and extract the credential (see the module docstring)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        _refuse(f"{what} must be bytes", "unknown_format")
    data = bytes(data)
    if len(data) > MAX_BADGE_BYTES:
        _refuse(f"{what} is too large: {len(data)} bytes, at most {MAX_BADGE_BYTES}", "too_large")
    if data.startswith(baking.PNG_SIGNATURE):
        text = baking.unbake_png(data)
        credential, decoded = _from_baked(text, "png", what)
        return Presented("png", credential, decoded, text)
    body = data[len(_BOM) :] if data.startswith(_BOM) else data
    body = body.strip(_WHITESPACE)
    if body.startswith(b"<"):
        text = baking.unbake_svg(data)
        credential, decoded = _from_baked(text, "svg", what)
        return Presented("svg", credential, decoded, text)
    if body.startswith((b"{", b"[")):
        credential = _from_json(body, what)
        return Presented("json", credential, None, body.decode("utf-8"))
    token = body.decode("ascii", "replace")
    if vcjwt.looks_like_jwt(token):
        decoded = vcjwt.decode(token)
        return Presented("jwt", decoded.credential, decoded, token)
    if not body:
        _refuse(f"{what} is empty", "unknown_format")
    _refuse(f"{what} is not a badge: expected credential JSON, a compact VC-JWT, or a baked PNG or SVG image",
            "unknown_format")
