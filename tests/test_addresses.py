"""anchor.core.addresses against eth_utils: Keccak-256, EIP-55 checksums, address validation.

One deliberate difference: eth_utils 6's ``is_address`` takes 40 hex digits without ``0x`` and a
mixed-case address with a wrong checksum (a typo EIP-55 exists to catch); anchor refuses both.
So the judge for ``is_address`` is eth_utils' hex-address test plus its checksum test.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import is_address as eth_is_address
from eth_utils import is_checksum_address as eth_is_checksum_address
from eth_utils import keccak as eth_keccak
from eth_utils import to_checksum_address as eth_checksum
from hypothesis import example, given, settings
from hypothesis import strategies as st

from anchor.core.addresses import ZERO_ADDRESS, checksum, from_word, is_address, keccak256

SETTINGS = settings(max_examples=200, deadline=None)

raw_addresses = st.binary(min_size=20, max_size=20)


def expected_is_address(value: object) -> bool:
    """eth_utils' verdict, made as strict as anchor: a 0x/0X prefix, and a valid checksum on mixed case."""
    if not isinstance(value, str) or value[:2] not in ("0x", "0X") or not eth_is_address(value):
        return False
    body = value[2:]
    return body in (body.lower(), body.upper()) or eth_is_checksum_address("0x" + body)


@SETTINGS
@given(data=st.binary(max_size=600))
@example(data=b"")
def test_keccak256_matches_eth_utils(data: bytes) -> None:
    assert keccak256(data) == eth_keccak(data)
    assert len(keccak256(data)) == 32


def test_keccak256_is_not_sha3() -> None:
    # Keccak-256 of the empty string, as in the Yellow Paper (FIPS SHA3-256 gives a7ffc6f8...).
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


@st.composite
def cased(draw: st.DrawFn) -> str:
    """A random address written in lower, upper, random mixed or checksummed case, with 0x or 0X."""
    body = draw(raw_addresses).hex()
    style = draw(st.sampled_from(["lower", "upper", "mixed", "checksum"]))
    if style == "upper":
        body = body.upper()
    elif style == "mixed":
        flips = draw(st.lists(st.booleans(), min_size=40, max_size=40))
        body = "".join(c.upper() if f else c for c, f in zip(body, flips, strict=True))
    elif style == "checksum":
        body = eth_checksum("0x" + body)[2:]
    return draw(st.sampled_from(["0x", "0X"])) + body


@SETTINGS
@given(address=cased())
def test_checksum_matches_eth_utils_in_any_case(address: str) -> None:
    assert checksum(address) == eth_checksum(address)
    assert is_address(checksum(address))
    assert checksum(checksum(address)) == checksum(address)


@SETTINGS
@given(word=st.binary(min_size=32, max_size=32))
def test_from_word_takes_the_low_20_bytes(word: bytes) -> None:
    assert from_word(word) == eth_checksum("0x" + word[-20:].hex())


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    """Strings close to an address: wrong length, one wrong-cased letter, no or odd prefix,
    a non-hex or non-ASCII digit, whitespace around it."""
    good = eth_checksum("0x" + draw(raw_addresses).hex())
    body = good[2:]
    kind = draw(st.sampled_from(["short", "long", "bad_case", "no_prefix", "0X", "non_hex", "unicode_digit", "space",
                                 "lower", "upper", "checksum", "other_prefix", "newline"]))
    if kind == "short":
        return "0x" + body[: draw(st.integers(0, 39))]
    if kind == "long":
        return "0x" + body + draw(st.text("0123456789abcdef", min_size=1, max_size=4))
    if kind == "bad_case":
        letters = [i for i, c in enumerate(body) if c.isalpha()]
        if not letters:
            return good
        i = draw(st.sampled_from(letters))
        return "0x" + body[:i] + body[i].swapcase() + body[i + 1 :]
    if kind == "no_prefix":
        return draw(st.sampled_from([body, body.lower()]))
    if kind == "0X":
        return "0X" + draw(st.sampled_from([body, body.lower(), body.upper()]))
    if kind == "non_hex":
        i = draw(st.integers(0, 39))
        return "0x" + body[:i] + draw(st.sampled_from("gGxz-_ .")) + body[i + 1 :]
    if kind == "unicode_digit":
        i = draw(st.integers(0, 39))
        return "0x" + body[:i] + draw(st.sampled_from("٣०１")) + body[i + 1 :]
    if kind == "space":
        return draw(st.sampled_from([" " + good, good + " ", "0x " + body[1:]]))
    if kind == "newline":
        return good.lower() + "\n"
    if kind == "lower":
        return good.lower()
    if kind == "upper":
        return "0x" + body.upper()
    if kind == "other_prefix":
        return draw(st.sampled_from(["00", "x0", "0b", "0o"])) + body
    return good


@SETTINGS
@given(value=st.one_of(near_misses(), cased(), st.text(max_size=45), st.text("0123456789abcdefABCDEFxX", min_size=38, max_size=44)))
def test_is_address_agrees_with_eth_utils(value: str) -> None:
    assert is_address(value) is expected_is_address(value)


@SETTINGS
@given(value=near_misses())
def test_checksum_accepts_exactly_what_has_the_address_shape(value: str) -> None:
    if eth_is_address(value) and value[:2] in ("0x", "0X"):
        assert checksum(value) == eth_checksum(value)  # (a wrong-cased letter is re-cased, not refused)
    else:
        with pytest.raises(ValueError):
            checksum(value)


def test_mixed_case_with_a_wrong_checksum_is_not_an_address() -> None:
    good = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    assert is_address(good) and is_address(good.lower()) and is_address("0x" + good[2:].upper())
    typo = good.replace("C", "c", 1)
    assert not is_address(typo)
    assert eth_is_address(typo)  # (eth_utils 6 takes it)
    assert not is_address(good[2:]) and eth_is_address(good[2:])


@pytest.mark.parametrize("value", [None, 0, 1.5, b"\x00" * 20, bytearray(20), ["0x" + "00" * 20], {"a": 1}, ("x",), object(),
                                   "", "0x", "0x" + "0" * 39, "0x" + "0" * 41, "0x" + "g" * 40])
def test_checksum_raises_value_error_and_is_address_is_false_on_non_addresses(value: Any) -> None:
    with pytest.raises(ValueError):
        checksum(value)
    assert is_address(value) is False


def test_zero_address() -> None:
    assert checksum(ZERO_ADDRESS) == ZERO_ADDRESS == eth_checksum(ZERO_ADDRESS)
    assert from_word(b"\0" * 32) == ZERO_ADDRESS
