"""The registry's ABI: one table of functions, events and errors, and the codec they need.

A small, strict Solidity ABI codec (the types the registry uses: ``uintN``, ``intN``, ``address``,
``bool``, ``bytesN``, ``bytes``, ``string``, arrays and tuples) keeps ``eth_abi`` (~0.7 s to import)
off the verifier's path; tests hold it byte-identical to ``eth_abi`` on random values. Decoding is
defensive: any malformed answer (short data, offsets out of range) raises :class:`ChainError`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from anchor.core.addresses import checksum, from_word, keccak256
from anchor.core.errors import ChainError, ContractRevert

_WORD = 32


@dataclass(frozen=True)
class AbiType:
    """A parsed ABI type: a base (``uint256``, ``address``...), a tuple, or an array of either."""

    base: str  # "tuple" for tuples
    bits: int = 0  # uintN/intN width, bytesN length
    components: tuple[AbiType, ...] = ()
    array: AbiType | None = None  # element type when this is an array
    length: int | None = None  # fixed array length; None for T[]

    @property
    def dynamic(self) -> bool:
        if self.array is not None:
            return self.length is None or self.array.dynamic
        if self.base == "tuple":
            return any(c.dynamic for c in self.components)
        return self.base in ("bytes", "string")

    @property
    def head_size(self) -> int:
        if self.dynamic:
            return _WORD
        if self.array is not None:
            assert self.length is not None
            return self.length * self.array.head_size
        if self.base == "tuple":
            return sum(c.head_size for c in self.components)
        return _WORD


_BASE = re.compile(r"(uint|int)(\d*)|address|bool|string|bytes(\d*)")


@cache
def parse_type(text: str) -> AbiType:
    """Parse a canonical ABI type string such as ``(uint256,uint256)[]``."""
    m = re.fullmatch(r"(.*)\[(\d*)\]", text)
    if m and _balanced(m.group(1)):
        return AbiType("array", array=parse_type(m.group(1)), length=int(m.group(2)) if m.group(2) else None)
    if text.startswith("(") and text.endswith(")"):
        return AbiType("tuple", components=tuple(parse_type(p) for p in _split(text[1:-1])))
    b = _BASE.fullmatch(text)
    if not b:
        raise ValueError(f"unsupported ABI type {text!r}")
    if b.group(1):
        bits = int(b.group(2) or 256)
        return AbiType(b.group(1), bits=bits)
    if text.startswith("bytes") and b.group(3):
        return AbiType("bytesN", bits=int(b.group(3)))
    return AbiType(text)


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _split(inner: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    if inner:
        parts.append(inner[start:])
    return parts


# ---------------------------------------------------------------------- encoding


def encode(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """ABI-encode ``values`` as the tuple ``types`` (function arguments, event data)."""
    return _encode_tuple([parse_type(t) for t in types], list(values))


def _encode_tuple(types: Sequence[AbiType], values: Sequence[Any]) -> bytes:
    if len(types) != len(values):
        raise ValueError(f"expected {len(types)} values, got {len(values)}")
    heads, tails = [], []
    offset = sum(t.head_size for t in types)
    for t, v in zip(types, values, strict=True):
        if t.dynamic:
            body = _encode_one(t, v)
            heads.append(offset.to_bytes(_WORD, "big"))
            tails.append(body)
            offset += len(body)
        else:
            heads.append(_encode_one(t, v))
    return b"".join(heads) + b"".join(tails)


def _encode_one(t: AbiType, v: Any) -> bytes:
    if t.array is not None:
        items = list(v)
        if t.length is not None and len(items) != t.length:
            raise ValueError(f"expected {t.length} items, got {len(items)}")
        body = _encode_tuple([t.array] * len(items), items)
        return body if t.length is not None else len(items).to_bytes(_WORD, "big") + body
    if t.base == "tuple":
        return _encode_tuple(t.components, list(v))
    if t.base == "uint":
        n = int(v)
        if not 0 <= n < 1 << t.bits:
            raise ValueError(f"{n} does not fit uint{t.bits}")
        return n.to_bytes(_WORD, "big")
    if t.base == "int":
        n = int(v)
        if not -(1 << (t.bits - 1)) <= n < 1 << (t.bits - 1):
            raise ValueError(f"{n} does not fit int{t.bits}")
        return n.to_bytes(_WORD, "big", signed=True)
    if t.base == "bool":
        return (1 if v else 0).to_bytes(_WORD, "big")
    if t.base == "address":
        return bytes.fromhex(checksum(str(v))[2:]).rjust(_WORD, b"\0")
    if t.base == "bytesN":
        raw = bytes(v)
        if len(raw) != t.bits:
            raise ValueError(f"expected {t.bits} bytes, got {len(raw)}")
        return raw.ljust(_WORD, b"\0")
    raw = str(v).encode() if t.base == "string" else bytes(v)
    padded = raw + b"\0" * (-len(raw) % _WORD)
    return len(raw).to_bytes(_WORD, "big") + padded


# ---------------------------------------------------------------------- decoding


def decode(types: Sequence[str], data: bytes) -> tuple[Any, ...]:
    """ABI-decode ``data`` as the tuple ``types``; addresses come back checksummed.

    Strict: every word must hold a value of its type (no dirty high bits, sign extension or
    padding), and no word may be read twice (see :class:`_Decoder`), so the work and memory are
    bounded by ``len(data)``. Anything else raises :class:`ChainError` ``bad_abi_data``.
    """
    try:
        return tuple(_Decoder(data).fields([parse_type(t) for t in types], 0))
    except (IndexError, ValueError, UnicodeDecodeError) as e:
        raise ChainError(f"malformed ABI data for ({','.join(types)}): {e}", reason="bad_abi_data") from None


class _Decoder:
    """One payload being decoded. Well-formed data has each of its words read exactly once (heads,
    offsets, lengths, payloads). Offsets that point many items at one payload would read it over
    and over: a few kB decoding into gigabytes, or k**3 values from 3k words. So reading more
    words than the data holds is refused."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.words_left = len(data) // _WORD

    def _spend(self, words: int) -> None:
        self.words_left -= words
        if self.words_left < 0:
            raise ValueError(f"offsets overlap: more words read than the {len(self.data)} bytes hold")

    def word(self, at: int) -> bytes:
        if at < 0 or at + _WORD > len(self.data):
            raise ValueError(f"data too short: need bytes {at}..{at + _WORD}, have {len(self.data)}")
        self._spend(1)
        return self.data[at : at + _WORD]

    def uint(self, at: int) -> int:
        return int.from_bytes(self.word(at), "big")

    def fields(self, types: Sequence[AbiType], start: int) -> list[Any]:
        out, at = [], start
        heads = sum(t.head_size for t in types)
        for t in types:
            if t.dynamic:
                offset = self.uint(at)
                if not heads <= offset < len(self.data) - start:  # canonical data never points into the heads
                    raise ValueError(f"offset {offset} outside {heads}..{len(self.data) - start} (after the heads, within the data)")
                out.append(self.one(t, start + offset))
            else:
                out.append(self.one(t, at))
            at += t.head_size
        return out

    def one(self, t: AbiType, at: int) -> Any:
        data = self.data
        if t.array is not None:
            if t.length is None:
                n = self.uint(at)
                if n > len(data):  # each item takes at least one word (T[0] items: none, and cost nothing)
                    raise ValueError(f"array length {n} beyond the data")
                return tuple(self.fields([t.array] * n, at + _WORD))
            return tuple(self.fields([t.array] * t.length, at))
        if t.base == "tuple":
            return tuple(self.fields(t.components, at))
        word = self.word(at)
        if t.base == "uint":
            n = int.from_bytes(word, "big")
            if n >> t.bits:
                raise ValueError(f"value does not fit uint{t.bits}")
            return n
        if t.base == "int":
            n = int.from_bytes(word, "big", signed=True)
            if not -(1 << (t.bits - 1)) <= n < 1 << (t.bits - 1):
                raise ValueError(f"value does not fit int{t.bits} (not sign-extended)")
            return n
        if t.base == "bool":
            n = int.from_bytes(word, "big")
            if n > 1:
                raise ValueError("bool word is neither 0 nor 1")
            return n == 1
        if t.base == "address":
            if any(word[:12]):
                raise ValueError("address word has high bytes set")
            return from_word(word)
        if t.base == "bytesN":
            if any(word[t.bits :]):
                raise ValueError(f"bytes{t.bits} word has non-zero padding")
            return word[: t.bits]
        n = int.from_bytes(word, "big")
        padded = -(-n // _WORD) * _WORD
        if at + _WORD + padded > len(data):
            raise ValueError(f"{t.base} of {n} bytes (padded to {padded}) beyond the data")
        self._spend(padded // _WORD)
        if any(data[at + _WORD + n : at + _WORD + padded]):
            raise ValueError(f"{t.base} has non-zero padding")
        raw = data[at + _WORD : at + _WORD + n]
        return raw.decode("utf-8") if t.base == "string" else raw


# ---------------------------------------------------------------------- the registry's table


def _canonical(item: dict[str, Any]) -> str:
    t = str(item["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in item["components"]) + ")" + t[5:]
    return t


@dataclass(frozen=True)
class Function:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    selector: bytes

    def data(self, *args: Any) -> bytes:
        return self.selector + encode(self.inputs, args)

    def result(self, raw: bytes) -> tuple[Any, ...]:
        return decode(self.outputs, raw)


@dataclass(frozen=True)
class Event:
    name: str
    topic: bytes
    indexed: tuple[tuple[str, str], ...]
    plain: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Error:
    name: str
    types: tuple[str, ...]
    selector: bytes


class AbiTable:
    """Functions by name, events by topic, errors by selector, from a compiled ABI."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self.functions: dict[str, Function] = {}
        self.events: dict[bytes, Event] = {}
        self.errors: dict[bytes, Error] = {}
        for item in abi:
            kind, name = item.get("type"), item.get("name", "")
            types = tuple(_canonical(i) for i in item.get("inputs", []))
            signature = f"{name}({','.join(types)})".encode()
            if kind == "function":
                outputs = tuple(_canonical(o) for o in item.get("outputs", []))
                self.functions[name] = Function(name, types, outputs, keccak256(signature)[:4])
            elif kind == "event":
                ins = item["inputs"]
                self.events[keccak256(signature)] = Event(
                    name, keccak256(signature),
                    tuple((i["name"], _canonical(i)) for i in ins if i["indexed"]),
                    tuple((i["name"], _canonical(i)) for i in ins if not i["indexed"]))
            elif kind == "error":
                self.errors[keccak256(signature)[:4]] = Error(name, types, keccak256(signature)[:4])

    def fn(self, name: str) -> Function:
        return self.functions[name]

    def topic(self, event_name: str) -> bytes:
        for topic, ev in self.events.items():
            if ev.name == event_name:
                return topic
        raise KeyError(event_name)

    def decode_raw_call(self, name: str, data: bytes) -> tuple[Any, ...]:
        """The arguments of a call to function ``name`` from its transaction input ``data``."""
        fn = self.fn(name)
        if data[:4] != fn.selector:
            raise ChainError(f"not a call to {name}: selector 0x{data[:4].hex()}", reason="bad_abi_data")
        return decode(fn.inputs, data[4:])

    def decode_event(self, topics: Sequence[bytes], data: bytes) -> tuple[str, dict[str, Any]] | None:
        """(event name, arguments) of one log; None for a topic that is not one of the registry's."""
        ev = self.events.get(topics[0]) if topics else None
        if ev is None or len(topics) != len(ev.indexed) + 1:
            return None
        args: dict[str, Any] = {}
        for (name, typ), topic in zip(ev.indexed, topics[1:], strict=True):
            args[name] = decode([typ], topic)[0]
        args.update(zip((n for n, _ in ev.plain), decode([t for _, t in ev.plain], data), strict=True))
        return ev.name, args

    def decode_revert(self, data: bytes) -> ContractRevert:
        """A :class:`ContractRevert` for revert ``data``: the registry's custom error, a panic, or generic."""
        err = self.errors.get(data[:4])
        if err is None:
            if data[:4] == bytes.fromhex("4e487b71"):  # Panic(uint256)
                return ContractRevert(f"the registry panicked (0x{data[4:].hex()})", reason="panic", error_name="Panic")
            return ContractRevert(f"the registry reverted (data 0x{data.hex()})", reason="reverted", error_name="")
        try:
            args = decode(err.types, data[4:])
        except ChainError:
            args = ()
        shown = ", ".join("0x" + a.hex() if isinstance(a, bytes) else str(a) for a in args)
        return ContractRevert(f"{err.name}({shown})", reason=snake(err.name), error_name=err.name, args=args)


def snake(name: str) -> str:
    """``RegistryRootAlreadyAnchored`` -> ``root_already_anchored``."""
    name = name.removeprefix("Registry")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
