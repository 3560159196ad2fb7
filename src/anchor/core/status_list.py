"""W3C Bitstring Status List v1.0: revocation that any verifier can read, without a chain. Pure.

The chain's revocation bitmap is the truth (``anchor.core.history``); a status list is its public
copy in the format wallets and verifiers already know. Each credential of an issuer gets a
*status index* at issuance, unique per issuer; index ``i`` is bit ``i % LIST_SIZE`` of list
number ``i // LIST_SIZE``. A list's ``encodedList`` is the bitstring, GZIP-compressed, then
multibase base64url (prefix ``u``, no padding). Bit 0 is the most significant bit of the first
byte ("the first index ... is located at the left-most bit", spec §3.1).

Lists are :data:`LIST_SIZE` entries, the spec's minimum (16 KiB uncompressed): every list
looks alike from outside, so fetching one tells the host little about which credential a
verifier checks (herd privacy, spec §6.1). GZIP runs with a fixed header time, so the same bits
always encode to the same text: re-publishing an unchanged list changes nothing byte for byte.

Decoding is bounded: a list comes from a URL named in a credential or from a database someone
may have altered, and a few kilobytes of GZIP can inflate to gigabytes. :func:`decode_list`
stops at ``max_bytes`` and refuses what is left (reason ``status_list_too_large``).
"""

from __future__ import annotations

import base64
import gzip
import re
import zlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from anchor.core.errors import InputError
from anchor.core.timefmt import format_ts

LIST_SIZE = 131_072  # entries per list: the spec's minimum bitstring length, 16 KiB
MIN_LIST_BYTES = 16 * 1024  # a decoded list shorter than this is refused (spec: STATUS_LIST_LENGTH_ERROR)
MAX_LIST_BYTES = 2 * 1024 * 1024  # default cap on a decoded list: 16,777,216 entries, far above any we publish
VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
PURPOSE = "revocation"  # the only purpose anchor publishes: the chain has no suspension

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def list_location(status_index: int) -> tuple[int, int]:
    """``(list number, index in that list)`` of an issuer-wide status index."""
    if isinstance(status_index, bool) or not isinstance(status_index, int) or status_index < 0:
        raise InputError(f"a status index is a non-negative integer, got {status_index!r}", reason="invalid_status_index")
    return divmod(status_index, LIST_SIZE)


def list_url(public_url: str, issuer_address: str, list_number: int) -> str:
    """Where list ``list_number`` of the issuer is served: ``<public URL>/status/<address>/<n>``
    (the route of ``anchor.api.status_lists``)."""
    if list_number < 0:
        raise InputError(f"a list number is non-negative, got {list_number}", reason="invalid_status_index")
    return f"{public_url.rstrip('/')}/status/{issuer_address}/{list_number}"


def encode_list(bits: Iterable[int] | bytes, size: int = LIST_SIZE) -> str:
    """The ``encodedList`` of a bitstring of ``size`` entries: ``bits`` is either the set
    indices or the raw bitstring (``size // 8`` bytes, MSB first)."""
    if isinstance(size, bool) or size <= 0 or size % 8:
        raise InputError(f"a status list size is a positive multiple of 8, got {size!r}", reason="invalid_status_list_size")
    if isinstance(bits, bytes | bytearray):
        if len(bits) * 8 != size:
            raise InputError(f"a bitstring of {size} entries is {size // 8} bytes, got {len(bits)}", reason="invalid_status_list_size")
        raw = bytes(bits)
    else:
        buf = bytearray(size // 8)
        for index in bits:
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
                raise InputError(f"status list index {index!r} is outside [0, {size})", reason="invalid_status_index")
            buf[index >> 3] |= 0x80 >> (index & 7)
        raw = bytes(buf)
    compressed = gzip.compress(raw, compresslevel=9, mtime=0)  # mtime 0: the same bits, the same text
    return "u" + base64.urlsafe_b64encode(compressed).decode("ascii").rstrip("=")


def decode_list(encoded: str, *, max_bytes: int = MAX_LIST_BYTES, min_bytes: int = MIN_LIST_BYTES) -> bytes:
    """The bitstring of an ``encodedList``, at most ``max_bytes`` long once inflated.

    Strict: the multibase prefix ``u``, base64url without padding, exactly one complete GZIP
    member and nothing after it, at least ``min_bytes`` of bitstring. Anything else is an
    :class:`InputError` (reasons ``status_list_malformed``, ``status_list_too_large``,
    ``status_list_too_short``); inflation stops at the cap, whatever the input claims.
    """
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise InputError("an encodedList is a multibase base64url string (prefix 'u')", reason="status_list_malformed")
    body = encoded[1:]
    # The compressed form of an incompressible bitstring is barely larger than the bitstring.
    if len(body) > (max_bytes + max_bytes // 100 + 1024) * 4 // 3:
        raise InputError(f"the encodedList is {len(body):,} characters: larger than any list of at most {max_bytes:,} bytes",
                         reason="status_list_too_large")
    if not body or not _BASE64URL.fullmatch(body) or len(body) % 4 == 1:
        raise InputError("the encodedList is not base64url without padding", reason="status_list_malformed")
    compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    inflater = zlib.decompressobj(wbits=31)  # GZIP framing only
    try:
        out = inflater.decompress(compressed, max_bytes)
    except zlib.error as e:
        raise InputError(f"the encodedList is not GZIP data: {e}", reason="status_list_malformed") from None
    if not inflater.eof and (inflater.unconsumed_tail or len(out) >= max_bytes):  # stopped at the cap, more to come
        raise InputError(f"the status list inflates beyond {max_bytes:,} bytes", reason="status_list_too_large")
    if not inflater.eof:
        raise InputError("the encodedList's GZIP data is truncated", reason="status_list_malformed")
    if inflater.unused_data:
        raise InputError("the encodedList has data after its GZIP member", reason="status_list_malformed")
    if len(out) < min_bytes:
        raise InputError(f"the status list is {len(out):,} bytes; the minimum is {min_bytes:,} ({min_bytes * 8:,} entries)",
                         reason="status_list_too_short")
    return out


def set_bits(bitstring: bytes) -> set[int]:
    """The indices whose bit is set (MSB-first order, as :func:`encode_list` writes them)."""
    out: set[int] = set()
    for position, byte in enumerate(bitstring):
        if byte:
            base = position << 3
            out.update(base + bit for bit in range(8) if byte & (0x80 >> bit))
    return out


def status_entry(list_url: str, index: int) -> dict[str, Any]:
    """The ``credentialStatus`` of a credential at ``index`` of the list at ``list_url``
    (``statusListIndex`` is a decimal string, as the spec requires)."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < LIST_SIZE:
        raise InputError(f"an index in a status list is in [0, {LIST_SIZE}), got {index!r}", reason="invalid_status_index")
    return {
        "id": f"{list_url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": PURPOSE,
        "statusListIndex": str(index),
        "statusListCredential": list_url,
    }


def status_list_credential(list_url: str, issuer: str | dict[str, Any], encoded: str, valid_from: datetime, *,
                           valid_until: datetime | None = None, ttl_ms: int | None = None) -> dict[str, Any]:
    """The unsigned ``BitstringStatusListCredential`` served at ``list_url``.

    ``issuer`` is the issuer's DID (or a profile object, reduced to its ``id`` and ``name``: the
    VC 2.0 context alone defines no other issuer term, and a Data Integrity proof refuses
    undefined terms). ``ttl_ms`` is the spec's refresh hint, on the subject where its term is
    defined.
    """
    if isinstance(issuer, dict):
        issuer_value: str | dict[str, Any] = {"id": issuer["id"], **({"name": issuer["name"]} if "name" in issuer else {})}
    else:
        issuer_value = issuer
    subject: dict[str, Any] = {"id": f"{list_url}#list", "type": "BitstringStatusList", "statusPurpose": PURPOSE,
                               "encodedList": encoded}
    if ttl_ms is not None:
        subject["ttl"] = ttl_ms
    doc: dict[str, Any] = {
        "@context": [VC2_CONTEXT],
        "id": list_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_value,
        "validFrom": format_ts(valid_from),
    }
    if valid_until is not None:
        doc["validUntil"] = format_ts(valid_until)
    doc["credentialSubject"] = subject
    return doc


def encoded_list_of(document: dict[str, Any]) -> str:
    """The ``encodedList`` of a status list credential (InputError if it has none)."""
    subject = document.get("credentialSubject") if isinstance(document, dict) else None
    encoded = subject.get("encodedList") if isinstance(subject, dict) else None
    if not isinstance(encoded, str):
        raise InputError("not a status list credential: no credentialSubject.encodedList", reason="status_list_malformed")
    return encoded
