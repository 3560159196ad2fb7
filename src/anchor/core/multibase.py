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
_B58_PAIRS = [a + b for a in BASE58_ALPHABET for b in BASE58_ALPHABET]  # two digits at a time
_B58_PAIR_VALUE = {pair: i for i, pair in enumerate(_B58_PAIRS)}
_B58_CHUNK = 58**10  # ten digits: one big-int division per ten digits, then small ones
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*\Z")


def b58encode(data: bytes) -> str:
    """Bitcoin base58 of ``data`` (leading zero bytes become leading ``1``)."""
    n = int.from_bytes(data, "big")
    pairs = _B58_PAIRS
    chunks: list[str] = []
    while n:
        n, chunk = divmod(n, _B58_CHUNK)
        chunk, d0 = divmod(chunk, 3364)
        chunk, d1 = divmod(chunk, 3364)
        chunk, d2 = divmod(chunk, 3364)
        d4, d3 = divmod(chunk, 3364)
        chunks.append(pairs[d4] + pairs[d3] + pairs[d2] + pairs[d1] + pairs[d0])
    chunks.reverse()
    text = "".join(chunks).lstrip("1")
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + text


def b58decode(text: str) -> bytes:
    """Inverse of :func:`b58encode`; InputError ``bad_multibase`` on a character outside the alphabet.

    Every byte string has exactly one spelling (leading ``1`` = leading zero byte, the rest a
    number without leading zeros), so the decoding is strict without re-encoding."""
    n = 0
    head = len(text) % 10
    try:
        for c in text[:head]:
            n = n * 58 + _B58_INDEX[c]
        v = _B58_PAIR_VALUE
        for i in range(head, len(text), 10):  # ten digits: small-int arithmetic, then one big-int step
            t = text[i:i + 10]
            n = n * _B58_CHUNK + ((((v[t[0:2]] * 3364 + v[t[2:4]]) * 3364 + v[t[4:6]]) * 3364 + v[t[6:8]]) * 3364 + v[t[8:10]])
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
