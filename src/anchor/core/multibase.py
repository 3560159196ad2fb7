"""Multibase text encodings of bytes: base58btc (``z``) and base64url without padding (``u``).

Data Integrity proofs carry signatures and keys as multibase strings
(https://www.w3.org/TR/controller-document/#multibase-0): the first character names the
encoding. Only the two encodings the W3C cryptosuites use are supported, and decoding is
strict (one spelling per byte string) so a proof value cannot be re-spelled.
"""

from __future__ import annotations

import base64
import binascii
import re

from anchor.core.errors import InputError

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(BASE58_ALPHABET)}
_B58_CHUNK = 58**10  # ten digits at a time: fits a machine word, so the big-int divisions are few
_B58_DIGITS = [BASE58_ALPHABET[i] for i in range(58)]
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*\Z")


def b58encode(data: bytes) -> str:
    """Bitcoin base58 of ``data`` (leading zero bytes become leading ``1``)."""
    n = int.from_bytes(data, "big")
    chunks: list[str] = []
    digits = _B58_DIGITS
    while n:
        n, chunk = divmod(n, _B58_CHUNK)
        part = []
        for _ in range(10):
            chunk, d = divmod(chunk, 58)
            part.append(digits[d])
        chunks.append("".join(reversed(part)))
    text = "".join(reversed(chunks)).lstrip("1")
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + text


def b58decode(text: str) -> bytes:
    """Inverse of :func:`b58encode`; InputError ``bad_multibase`` on a character outside the alphabet."""
    n = 0
    index = _B58_INDEX
    try:
        for c in text:
            n = n * 58 + index[c]
    except KeyError:
        raise InputError("base58btc text holds a character outside the alphabet", reason="bad_multibase") from None
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + body


def encode_base58btc(data: bytes) -> str:
    """``z`` + base58btc."""
    return "z" + b58encode(data)


def encode_base64url(data: bytes) -> str:
    """``u`` + base64url without padding (RFC 4648 section 5)."""
    return "u" + base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not _BASE64URL.match(text) or len(text) % 4 == 1:
        raise InputError("base64url text is malformed (no padding, alphabet A-Z a-z 0-9 - _)", reason="bad_multibase")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InputError("base64url text is malformed", reason="bad_multibase") from None
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != text:  # non-zero padding bits
        raise InputError("base64url text is not in canonical form", reason="bad_multibase")
    return data


def decode(text: str) -> bytes:
    """The bytes of a ``z`` (base58btc) or ``u`` (base64url) multibase string.

    InputError ``bad_multibase`` for any other prefix, an empty string or malformed text.
    """
    if not isinstance(text, str) or not text:
        raise InputError("a multibase value must be a non-empty string", reason="bad_multibase")
    prefix, body = text[0], text[1:]
    if prefix == "z":
        return b58decode(body)
    if prefix == "u":
        return _b64url_decode(body)
    raise InputError(f"unsupported multibase prefix {prefix!r} (expected 'z' or 'u')", reason="bad_multibase")
