"""The Bitstring Status List encoding (anchor.core.status_list): the spec's bit order, round trips,
bounded decoding, and openbadgeslib reading what we write."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openbadgeslib.ob3 import status as ob_status
from openbadgeslib.ob3 import status_list as ob_status_list
from openbadgeslib.ob3.verifier import OB3VerificationError

from anchor.core.errors import InputError
from anchor.core.status_list import (
    LIST_SIZE,
    decode_list,
    encode_list,
    encoded_list_of,
    list_location,
    list_url,
    set_bits,
    status_entry,
    status_list_credential,
)

indexes = st.sets(st.integers(0, LIST_SIZE - 1), max_size=300)


def _b64(data: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(data).decode().rstrip("=")


@settings(max_examples=150, deadline=None)
@given(indexes)
def test_round_trip_and_the_specs_bit_order(bits: set[int]) -> None:
    encoded = encode_list(bits)
    assert encoded.startswith("u") and "=" not in encoded and "+" not in encoded and "/" not in encoded
    raw = decode_list(encoded)
    assert len(raw) == LIST_SIZE // 8 == 16384
    assert set_bits(raw) == bits
    # The spec: index 0 is the left-most bit of the bitstring read as one big-endian number.
    rendered = format(int.from_bytes(raw, "big"), f"0{LIST_SIZE}b")
    found, at = set(), rendered.find("1")
    while at != -1:
        found.add(at)
        at = rendered.find("1", at + 1)
    assert found == bits
    # The raw bitstring encodes to the same text (deterministic GZIP: no timestamp in the header).
    assert encode_list(raw) == encoded


def test_bit_zero_is_the_most_significant_bit_of_byte_zero() -> None:
    raw = decode_list(encode_list({0, 9, LIST_SIZE - 1}))
    assert raw[0] == 0b1000_0000 and raw[1] == 0b0100_0000 and raw[-1] == 0b0000_0001
    assert sum(1 for b in raw if b) == 3


@settings(max_examples=60, deadline=None)
@given(indexes)
def test_openbadgeslib_decodes_our_lists_and_we_decode_theirs(bits: set[int]) -> None:
    ours = encode_list(bits)
    assert ob_status.set_indices(ob_status.decode_encoded_list(ours)) == bits
    for i in list(bits)[:10]:
        assert ob_status._bit_set(ob_status.decode_encoded_list(ours), i)
    theirs = ob_status_list.encode_bitstring(bits)
    assert set_bits(decode_list(theirs)) == bits


def test_a_decompression_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(bytes(512 * 1024 * 1024), compresslevel=9)  # 512 MiB of zeros in ~500 KiB
    assert len(bomb) < 1024 * 1024
    with pytest.raises(InputError) as e:
        decode_list(_b64(bomb))
    assert e.value.reason == "status_list_too_large"
    with pytest.raises(InputError) as e:  # our own lists, read back by the audit, are held to their size
        decode_list(_b64(gzip.compress(bytes(LIST_SIZE // 8 + 1))), max_bytes=LIST_SIZE // 8)
    assert e.value.reason == "status_list_too_large"
    with pytest.raises(InputError) as e:  # an encoded text larger than any list of the cap is not even decoded
        decode_list("u" + "A" * 4_000_000)
    assert e.value.reason == "status_list_too_large"


@pytest.mark.parametrize(("encoded", "reason"), [
    ("", "status_list_malformed"),
    ("z" + "A" * 40, "status_list_malformed"),  # base58 multibase, not base64url
    # (gzip with mtime=0: parameters are the same in every pytest-xdist worker, which each collect them)
    ("u", "status_list_malformed"),
    ("uAAA=", "status_list_malformed"),  # padding
    ("uab+/", "status_list_malformed"),  # the standard alphabet
    ("u" + base64.urlsafe_b64encode(b"not gzip at all").decode().rstrip("="), "status_list_malformed"),
    (_b64(gzip.compress(bytes(LIST_SIZE // 8), mtime=0)[:-6]), "status_list_malformed"),  # truncated
    (_b64(gzip.compress(bytes(LIST_SIZE // 8), mtime=0) + b"junk"), "status_list_malformed"),  # data after the member
    (_b64(gzip.compress(bytes(LIST_SIZE // 8), mtime=0) * 2), "status_list_malformed"),  # a second member
    (_b64(gzip.compress(bytes(1024), mtime=0)), "status_list_too_short"),  # under the spec's 16 KiB minimum
])
def test_malformed_lists_are_refused(encoded: str, reason: str) -> None:
    with pytest.raises(InputError) as e:
        decode_list(encoded)
    assert e.value.reason == reason


def test_encoding_refuses_indexes_outside_the_list() -> None:
    for bad in (-1, LIST_SIZE):
        with pytest.raises(InputError):
            encode_list({bad})
    with pytest.raises(InputError):
        encode_list(bytes(100))
    with pytest.raises(InputError):
        encode_list(set(), size=12)
    assert set_bits(decode_list(encode_list({5}, size=LIST_SIZE * 2), min_bytes=0)) == {5}


def test_list_location_and_urls() -> None:
    assert list_location(0) == (0, 0)
    assert list_location(LIST_SIZE - 1) == (0, LIST_SIZE - 1)
    assert list_location(LIST_SIZE) == (1, 0)
    assert list_location(5 * LIST_SIZE + 7) == (5, 7)
    for bad in (-1, True, 1.5):
        with pytest.raises(InputError):
            list_location(bad)
    address = "0x" + "Ab" * 20
    assert list_url("https://uni.example/", address, 3) == f"https://uni.example/status/{address}/3"


def test_entry_and_credential_shapes() -> None:
    url = "https://uni.example/status/0x" + "11" * 20 + "/0"
    assert status_entry(url, 42) == {"id": f"{url}#42", "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
                                     "statusListIndex": "42", "statusListCredential": url}
    assert status_entry(url, 42) == ob_status_list.status_entry(url, "revocation", 42)  # what openbadgeslib builds
    with pytest.raises(InputError):
        status_entry(url, LIST_SIZE)  # an index in a list, not an issuer-wide status index
    encoded = encode_list({42})
    doc = status_list_credential(url, "did:key:z6Mk", encoded, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                                 valid_until=datetime(2026, 2, 1, tzinfo=UTC), ttl_ms=60_000)
    assert doc == {
        "@context": ["https://www.w3.org/ns/credentials/v2"], "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"], "issuer": "did:key:z6Mk",
        "validFrom": "2026-01-02T03:04:05Z", "validUntil": "2026-02-01T00:00:00Z",
        "credentialSubject": {"id": f"{url}#list", "type": "BitstringStatusList", "statusPurpose": "revocation",
                              "encodedList": encoded, "ttl": 60_000},
    }
    theirs = ob_status_list.build_status_list_credential("did:key:z6Mk", url, "revocation", {42},
                                                         issued=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert set(theirs) <= set(doc) and theirs["credentialSubject"].keys() <= doc["credentialSubject"].keys()
    assert encoded_list_of(doc) == encoded
    profile = status_list_credential(url, {"id": "https://uni.example/issuer", "type": ["Profile"], "name": "Uni", "url": "x"},
                                     encoded, datetime(2026, 1, 1, tzinfo=UTC))
    assert profile["issuer"] == {"id": "https://uni.example/issuer", "name": "Uni"}  # only terms VC 2.0 defines
    with pytest.raises(InputError):
        encoded_list_of({"credentialSubject": {}})


def test_openbadgeslib_status_check_finds_the_revoked_index() -> None:
    """openbadgeslib's own status check (fetch, parse, window, bit) over one of our lists."""
    url = "https://uni.example/status/0x" + "11" * 20 + "/0"
    doc = status_list_credential(url, "did:key:z6Mk", encode_list({7}), datetime(2026, 1, 1, tzinfo=UTC))
    download = {url: json.dumps(doc).encode()}.__getitem__
    ob_status._check_entry(status_entry(url, 8), download)  # not revoked: passes
    with pytest.raises(OB3VerificationError, match="revocation' is set at index 7"):
        ob_status._check_entry(status_entry(url, 7), download)
