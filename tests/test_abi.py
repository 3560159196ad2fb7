"""anchor.chain.abi against eth_abi as an independent judge.

Random types over the supported grammar (uintN, intN, address, bool, bytesN, bytes, string,
``T[]``, ``T[k]`` and tuples, nested up to three levels) with random values must encode byte
for byte as eth_abi does and decode to what eth_abi decodes. Malformed data only ever raises
:class:`ChainError` ``bad_abi_data``, fast and in bounded memory, including offsets that alias
one payload many times over (a few kB that would otherwise decode to gigabytes). The registry's
table (selectors, topics, custom errors) is checked against eth_utils and eth_abi.
"""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

import eth_abi
import pytest
from eth_utils import event_signature_to_log_topic, function_signature_to_4byte_selector
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from anchor.chain import abi
from anchor.chain.abi import AbiTable, snake
from anchor.chain.artifact import load_artifact
from anchor.core.errors import ChainError, ContractRevert

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def word(n: int) -> bytes:
    return n.to_bytes(32, "big", signed=n < 0)


# ---------------------------------------------------------------------------- the type grammar


@dataclass(frozen=True)
class T:
    """A generated ABI type: its canonical text and a strategy for its values."""

    text: str
    values: st.SearchStrategy[Any]
    kind: str  # "address", "array", "tuple" or "scalar": how to normalise decoded values
    children: tuple[T, ...] = ()


def _addresses() -> st.SearchStrategy[str]:
    raw = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
    return st.one_of(raw, raw.map(lambda a: "0x" + a[2:].upper()), raw.map(lambda a: eth_abi_checksum(a)))


def eth_abi_checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    return str(to_checksum_address(address))


def _scalars() -> st.SearchStrategy[T]:
    sizes = st.sampled_from(range(8, 257, 8))
    uints = sizes.map(lambda n: T(f"uint{n}", st.integers(0, 2**n - 1), "scalar"))
    ints = sizes.map(lambda n: T(f"int{n}", st.integers(-(2 ** (n - 1)), 2 ** (n - 1) - 1), "scalar"))
    fixed = st.integers(1, 32).map(lambda n: T(f"bytes{n}", st.binary(min_size=n, max_size=n), "scalar"))
    others = st.sampled_from([
        T("address", _addresses(), "address"),
        T("bool", st.booleans(), "scalar"),
        T("bytes", st.binary(max_size=80), "scalar"),
        T("string", st.text(max_size=40), "scalar"),
    ])
    return st.one_of(uints, ints, fixed, others)


def _dynamic_array(t: T) -> T:
    return T(f"{t.text}[]", st.lists(t.values, max_size=3).map(tuple), "array", (t,))


def _fixed_array(t: T, k: int) -> T:
    return T(f"{t.text}[{k}]", st.lists(t.values, min_size=k, max_size=k).map(tuple), "array", (t,))


def _tuple(ts: list[T]) -> T:
    return T("(" + ",".join(t.text for t in ts) + ")", st.tuples(*(t.values for t in ts)), "tuple", tuple(ts))


def abi_types(depth: int = 3) -> st.SearchStrategy[T]:
    """A type nesting arrays and tuples at most ``depth`` levels above its scalars."""
    if depth == 0:
        return _scalars()
    inner = abi_types(depth - 1)
    return st.one_of(
        _scalars(),
        inner.map(_dynamic_array),
        st.tuples(inner, st.integers(1, 3)).map(lambda p: _fixed_array(*p)),
        st.lists(inner, min_size=1, max_size=3).map(_tuple),
    )


TYPE_LISTS = st.lists(abi_types(), min_size=1, max_size=4)


def normalise(t: T, value: Any) -> Any:
    """A comparable form: addresses in lower case, arrays and tuples as tuples."""
    if t.kind == "address":
        return value.lower()
    if t.kind == "array":
        return tuple(normalise(t.children[0], v) for v in value)
    if t.kind == "tuple":
        return tuple(normalise(c, v) for c, v in zip(t.children, value, strict=True))
    return value


def normalise_all(ts: list[T], values: Any) -> tuple[Any, ...]:
    return tuple(normalise(t, v) for t, v in zip(ts, values, strict=True))


# ---------------------------------------------------------------------------- agreement with eth_abi


@FAST
@given(data=st.data(), ts=TYPE_LISTS)
def test_encode_and_decode_agree_with_eth_abi(data: st.DataObject, ts: list[T]) -> None:
    types = [t.text for t in ts]
    values = data.draw(st.tuples(*(t.values for t in ts)))
    ours = abi.encode(types, values)
    assert ours == eth_abi.encode(types, values)
    decoded = abi.decode(types, ours)
    assert normalise_all(ts, decoded) == normalise_all(ts, eth_abi.decode(types, ours))
    assert normalise_all(ts, decoded) == normalise_all(ts, values)


@FAST
@given(data=st.data(), ts=TYPE_LISTS)
def test_decoded_addresses_are_checksummed(data: st.DataObject, ts: list[T]) -> None:
    types = [t.text for t in ts]
    values = data.draw(st.tuples(*(t.values for t in ts)))

    def addresses(t: T, v: Any) -> list[str]:
        if t.kind == "address":
            return [v]
        if t.kind == "array":
            return [a for item in v for a in addresses(t.children[0], item)]
        if t.kind == "tuple":
            return [a for c, item in zip(t.children, v, strict=True) for a in addresses(c, item)]
        return []

    decoded = abi.decode(types, abi.encode(types, values))
    assert all(a == eth_abi_checksum(a) for t, v in zip(ts, decoded, strict=True) for a in addresses(t, v))


def test_encode_refuses_values_that_do_not_fit() -> None:
    for types, values in [
        (["uint8"], [256]),
        (["uint256"], [-1]),
        (["int8"], [128]),
        (["int8"], [-129]),
        (["bytes4"], [b"abc"]),
        (["uint256[2]"], [[1]]),
        (["address"], ["0x1234"]),
        (["uint256", "bool"], [1]),
    ]:
        with pytest.raises(ValueError):
            abi.encode(types, values)


# ---------------------------------------------------------------------------- malformed data


def bad_abi(types: list[str], data: bytes) -> ChainError:
    with pytest.raises(ChainError) as info:
        abi.decode(types, data)
    assert info.value.reason == "bad_abi_data"
    return info.value


def test_truncated_data() -> None:
    bad_abi(["uint256"], b"")
    bad_abi(["uint256"], b"\0" * 31)
    bad_abi(["uint256", "address"], word(1) + b"\0" * 20)
    full = abi.encode(["bytes", "string"], [b"x" * 40, "hello"])
    for cut in range(1, len(full)):
        bad_abi(["bytes", "string"], full[:-cut])


def test_offsets_pointing_past_the_end() -> None:
    bad_abi(["bytes"], word(64))
    bad_abi(["bytes"], word(2**255))
    bad_abi(["string"], word(32) + word(10**6) + b"a" * 32)  # length past the end
    bad_abi(["uint256[]"], word(-32 % 2**256))  # an offset that wraps around
    bad_abi(["(uint256,bytes)"], word(32) + word(5) + word(2**200))


def test_huge_array_lengths() -> None:
    started = time.perf_counter()
    bad_abi(["uint256[]"], word(32) + word(10**9))
    bad_abi(["uint256[]"], word(32) + word(2**256 - 1))
    bad_abi(["bytes32[][]"], word(32) + word(2**64))
    bad_abi(["uint8[0][]"], word(32) + word(2**40))
    assert time.perf_counter() - started < 0.5


def test_words_that_do_not_hold_their_type() -> None:
    bad_abi(["address"], b"\x01" + b"\0" * 31)  # a high byte set
    bad_abi(["address"], word(1 << 160))
    bad_abi(["bool"], word(2))
    bad_abi(["bool"], word(2**255))
    bad_abi(["uint8"], word(256))
    bad_abi(["uint64"], word(1 << 64))
    bad_abi(["int8"], word(255))  # not sign-extended: 255 is not an int8
    bad_abi(["int8"], word(-129))
    bad_abi(["bytes4"], b"abcd" + b"x" * 28)  # dirty padding after the 4 bytes
    bad_abi(["bytes"], word(32) + word(1) + b"a")  # padding missing
    bad_abi(["bytes"], word(32) + word(1) + b"a" + b"\1" * 31)  # dirty padding
    bad_abi(["string"], word(32) + word(2) + b"\xff\xfe" + b"\0" * 30)  # not UTF-8
    assert abi.decode(["int8"], word(-128)) == (-128,)
    assert abi.decode(["bytes"], word(32) + word(1) + b"a" + b"\0" * 31) == (b"a",)


def _aliased_bytes_array(items: int, size: int) -> bytes:
    """``bytes[]`` of ``items`` offsets that all point at one ``size``-byte payload."""
    head = word(32) + word(items)
    return head + word(32 * items) * items + word(size) + b"a" * size


def _aliased_arrays(k: int) -> bytes:
    """``uint256[][][]`` whose k offsets at each level all point at one child: k**3 values
    from 3k + 4 words."""
    def array_of_one(child: bytes) -> bytes:
        return word(k) + word(32 * k) * k + child
    return word(32) + array_of_one(array_of_one(word(k) + b"".join(word(i) for i in range(k))))


def test_aliased_offsets_cannot_amplify_memory_or_time() -> None:
    """Offsets that all point at one payload would decode a few hundred kB into gigabytes (or
    k**3 values from 3k words); every word of well-formed data is read once, so reading more
    words than the data holds is refused."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        bad_abi(["bytes[]"], _aliased_bytes_array(2000, 200_000))
        bad_abi(["uint256[][][]"], _aliased_arrays(300))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 2
    assert peak < 20_000_000
    # Two items sharing a payload is the same trick at its smallest.
    bad_abi(["bytes[]"], _aliased_bytes_array(2, 1))
    # ... while honest nested data of the same shape still decodes.
    honest = abi.encode(["uint256[][][]"], [[[[1, 2], [3]], [[4]]]])
    assert abi.decode(["uint256[][][]"], honest) == ((((1, 2), (3,)), ((4,),)),)


def _only_chain_errors(types: list[str], data: bytes) -> tuple[Any, ...] | None:
    started = time.perf_counter()
    try:
        return abi.decode(types, data)
    except ChainError as e:
        assert e.reason == "bad_abi_data"
        return None
    finally:
        assert time.perf_counter() - started < 0.5


FIXED_TYPES = ["uint8", "int16", "address", "bool", "bytes3", "bytes", "string", "(uint256,bytes)[]",
               "uint256[][2]", "(address,string[])", "bytes32[]"]


@FAST
@given(data=st.binary(max_size=2048))
def test_random_bytes_raise_nothing_but_chain_error(data: bytes) -> None:
    _only_chain_errors(FIXED_TYPES, data)
    for t in FIXED_TYPES:
        _only_chain_errors([t], data)


@st.composite
def words_data(draw: st.DrawFn) -> bytes:
    """Data built from words a decoder treats specially (small offsets and lengths, 0, 1, max)."""
    choices = st.one_of(st.integers(0, 12).map(lambda n: n * 32), st.integers(0, 4), st.just(2**256 - 1),
                        st.integers(0, 2**256 - 1))
    return b"".join(word(n) for n in draw(st.lists(choices, max_size=40)))


@FAST
@given(data=words_data())
def test_plausible_words_raise_nothing_but_chain_error_and_agree_when_accepted(data: bytes) -> None:
    for types in (FIXED_TYPES, ["(uint256,bytes)[]"], ["uint256[][]"], ["string", "bytes"], ["bool", "address[]"]):
        ours = _only_chain_errors(types, data)
        if ours is not None:
            assert ours == eth_abi.decode(types, data)  # never accept what eth_abi refuses, never differ


@FAST
@given(data=st.data(), ts=TYPE_LISTS)
def test_mutated_encodings_are_refused_or_read_as_eth_abi_reads_them(data: st.DataObject, ts: list[T]) -> None:
    types = [t.text for t in ts]
    encoded = bytearray(abi.encode(types, data.draw(st.tuples(*(t.values for t in ts)))))
    assume(encoded)
    mutation = data.draw(st.sampled_from(["flip", "truncate", "word"]))
    at = data.draw(st.integers(0, len(encoded) - 1))
    if mutation == "flip":
        encoded[at] ^= data.draw(st.integers(1, 255))
    elif mutation == "truncate":
        del encoded[at:]
    else:
        start = at - at % 32
        encoded[start : start + 32] = word(data.draw(st.sampled_from([2**256 - 1, 2**255, 2**64, len(encoded) + 32])))
    ours = _only_chain_errors(types, bytes(encoded))
    if ours is not None:
        assert normalise_all(ts, ours) == normalise_all(ts, eth_abi.decode(types, bytes(encoded)))


# ---------------------------------------------------------------------------- the registry's table


@pytest.fixture(scope="module")
def table() -> AbiTable:
    return AbiTable(load_artifact().abi)


def _signature(item: dict[str, Any]) -> str:
    def canonical(i: dict[str, Any]) -> str:
        t = str(i["type"])
        return "(" + ",".join(canonical(c) for c in i["components"]) + ")" + t[5:] if t.startswith("tuple") else t
    return f"{item['name']}({','.join(canonical(i) for i in item.get('inputs', []))})"


def _items(kind: str) -> list[dict[str, Any]]:
    return [i for i in load_artifact().abi if i.get("type") == kind]


def test_every_function_selector_matches_eth_utils(table: AbiTable) -> None:
    functions = _items("function")
    assert functions and len(table.functions) == len(functions)
    for item in functions:
        assert table.fn(item["name"]).selector == function_signature_to_4byte_selector(_signature(item))


def test_every_event_topic_matches_eth_utils(table: AbiTable) -> None:
    events = _items("event")
    assert events and len(table.events) == len(events)
    for item in events:
        assert table.topic(item["name"]) == event_signature_to_log_topic(_signature(item))


def _sample(type_text: str) -> Any:
    samples: dict[str, Any] = {"address": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "bytes32": b"\x5a" * 32,
                               "string": "https://uni.example/issuer", "bool": True}
    if type_text in samples:
        return samples[type_text]
    assert type_text.startswith(("uint", "int")), type_text
    return 7


def test_decode_revert_names_every_custom_error_and_its_args(table: AbiTable) -> None:
    errors = _items("error")
    assert len(errors) >= 10
    for item in errors:
        types = [i["type"] for i in item["inputs"]]
        args = tuple(_sample(t) for t in types)
        selector = function_signature_to_4byte_selector(_signature(item))
        revert = table.decode_revert(selector + eth_abi.encode(types, args))
        assert isinstance(revert, ContractRevert)
        assert revert.error_name == item["name"]
        assert revert.reason == snake(item["name"]) and revert.reason.islower() and not revert.reason.startswith("registry")
        assert revert.error_args == args


def test_snake_case_reasons() -> None:
    assert snake("RegistryRootAlreadyAnchored") == "root_already_anchored"
    assert snake("RegistryUnauthorizedIssuer") == "unauthorized_issuer"
    assert snake("RegistryZeroRoot") == "zero_root"


def test_a_known_error_reason_for_anchoring_twice(table: AbiTable) -> None:
    item = next(i for i in _items("error") if i["name"] == "RegistryRootAlreadyAnchored")
    types = [i["type"] for i in item["inputs"]]
    revert = table.decode_revert(function_signature_to_4byte_selector(_signature(item)) + eth_abi.encode(types, [b"\1" * 32, "0x" + "ab" * 20]))
    assert revert.reason == "root_already_anchored"
    assert revert.error_args[0] == b"\1" * 32


def test_panic_and_unknown_reverts(table: AbiTable) -> None:
    panic = table.decode_revert(function_signature_to_4byte_selector("Panic(uint256)") + eth_abi.encode(["uint256"], [0x11]))
    assert panic.reason == "panic" and panic.error_name == "Panic"
    assert "11" in panic.message
    for data in (b"", b"\xde\xad\xbe\xef", function_signature_to_4byte_selector("Error(string)") + eth_abi.encode(["string"], ["no"])):
        revert = table.decode_revert(data)
        assert revert.reason == "reverted" and revert.error_name == ""


def test_a_custom_error_with_garbled_args_keeps_its_reason(table: AbiTable) -> None:
    item = next(i for i in _items("error") if i["name"] == "RegistryIssuerProfileMismatch")
    revert = table.decode_revert(function_signature_to_4byte_selector(_signature(item)) + b"\xff" * 40)
    assert revert.reason == "issuer_profile_mismatch" and revert.error_args == ()


def test_decode_event_round_trip(table: AbiTable) -> None:
    topic = table.topic("CredentialsRevoked")
    issuer = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    topics = [topic, b"\2" * 32, eth_abi.encode(["address"], [issuer])]
    data = eth_abi.encode(["uint8", "(uint256,uint256)[]"], [4, [(0, 5), (1, 1 << 255)]])
    assert table.decode_event(topics, data) == ("CredentialsRevoked", {
        "root": b"\2" * 32, "issuer": issuer, "reason": 4, "words": ((0, 5), (1, 1 << 255))})
    # Not one of the registry's events, or the wrong number of topics: None.
    assert table.decode_event([b"\0" * 32], b"") is None
    assert table.decode_event([], b"") is None
    assert table.decode_event(topics[:2], data) is None
    # A registry topic with garbage data is malformed, not silently empty.
    with pytest.raises(ChainError) as info:
        table.decode_event(topics, data[:40])
    assert info.value.reason == "bad_abi_data"

