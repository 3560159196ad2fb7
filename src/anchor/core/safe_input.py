"""Parse untrusted JSON and YAML without letting the input crash or exhaust the process.

Three attacks were reproduced against anchor and are refused here before they can hurt:

* **Deep nesting.** ``py_ecc`` (imported through web3) calls ``sys.setrecursionlimit(100000)``.
  With that limit the C JSON parser recurses on 100,000 nested ``[`` until it overflows the C
  stack: the worker dies of SIGSEGV instead of raising :class:`RecursionError`. So the nesting
  depth is measured *before* :func:`json.loads` runs, in a pass that does not recurse and does
  not depend on the recursion limit (:func:`check_json_depth`).
* **Duplicate keys.** ``{"identityHash": "Mallory", "identityHash": "Barbara"}`` means different
  things to different parsers; RFC 8785 (JSON canonicalization) input must not repeat keys.
* **YAML alias bombs** ("billion laughs"): a few hundred bytes that expand to gigabytes. Anchors
  and aliases are refused outright, as are tags outside the YAML core schema.

Every refusal is an :class:`~anchor.core.errors.InputError` with a single-line message that starts
with what was being read (``what``, e.g. ``"badge.json"``) and a snake_case ``reason``:
``too_large``, ``not_utf8``, ``too_deep``, ``duplicate_key``, ``invalid_json``, ``yaml_alias``,
``yaml_tag`` or ``invalid_yaml`` (YAML: :mod:`anchor.core.safe_yaml`).

Pure: no file or network I/O; the standard library only.
"""

from __future__ import annotations

import functools
import json
import math
import re
from array import array
from itertools import accumulate
from typing import Any, NoReturn

from anchor.core.errors import InputError

__all__ = [
    "MAX_DEPTH",
    "MAX_JSON_BYTES",
    "MAX_YAML_BYTES",
    "check_json_depth",
    "load_json",
]

#: Deepest nesting accepted, in levels of arrays/objects (YAML: sequences/mappings). A scalar
#: document is depth 0, ``[]`` is 1, ``{"a": [1]}`` is 2. Real Open Badges 3.0 credentials nest
#: fewer than 12 levels deep.
MAX_DEPTH = 32

#: Largest JSON document accepted by default, in bytes of UTF-8 (256 KiB, one credential).
#: Callers reading something bigger pass their own ``max_bytes``.
MAX_JSON_BYTES = 256 * 1024

#: Largest YAML document accepted by default, in bytes of UTF-8 (64 KiB). PyYAML's pure-Python
#: parser reads roughly 40-60 KiB per second, so this also bounds the time spent on one file.
MAX_YAML_BYTES = 64 * 1024


def _refuse(message: str, reason: str) -> NoReturn:
    """Raise InputError with ``message`` folded onto one line."""
    raise InputError(" ".join(message.splitlines()), reason=reason)


# ------------------------------------------------------------------------------ size and UTF-8


def _check_size(text: str | bytes, max_bytes: int, what: str) -> None:
    # A str of n characters is at least n bytes of UTF-8: refuse it before encoding anything.
    if len(text) > max_bytes:
        unit = "bytes" if isinstance(text, bytes) else "characters"
        _refuse(f"{what} is too large: found {len(text)} {unit}, expected at most {max_bytes} bytes", "too_large")


def _to_bytes_and_str(text: str | bytes, max_bytes: int, what: str) -> tuple[bytes, str]:
    """Both forms of ``text``, after the size cap and strict UTF-8 checks."""
    _check_size(text, max_bytes, what)
    if isinstance(text, str):
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            _refuse(
                f"{what} is not UTF-8: found the lone surrogate U+{ord(text[exc.start]):04X} at character "
                f"{exc.start}, which UTF-8 cannot encode",
                "not_utf8",
            )
        _check_size(data, max_bytes, what)
        return data, text
    data = bytes(text)
    try:
        return data, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _refuse(
            f"{what} is not UTF-8: found byte 0x{data[exc.start]:02x} at offset {exc.start} ({exc.reason})",
            "not_utf8",
        )


# ------------------------------------------------------------------------------ JSON depth

# After escapes are removed, a JSON text is: outside-string, "string", outside, "string", ...
# Of the outside parts only the brackets matter; ``{``/``}`` count like ``[``/``]``.
_BRACKETS_ONLY = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_AS_STEPS = bytes.maketrans(b"[]", b"\x01\xff")  # +1 / -1 as signed bytes
_CHUNK = 4096  # brackets per step of the exact scan
_REGEX_MAX_DEPTH = 100  # levels; re's compiler recurses per level, so deeper limits skip the regex


@functools.lru_cache(maxsize=8)
def _balanced(max_depth: int) -> re.Pattern[bytes]:
    """A run of balanced ``[...]`` groups at most ``max_depth`` deep, matched without backtracking.

    Built as ``(?:[ (?:[ ... ])*+ ])*+`` (brackets escaped) nested ``max_depth`` times: the regex engine
    follows the brackets with a bounded pattern, on its own heap stack rather than the C stack,
    and the possessive ``*+`` makes it linear (about 5 ms for 256 Ki brackets).
    """
    pattern = b""
    for _ in range(max_depth):
        pattern = rb"(?:\[" + pattern + rb"\])*+"
    return re.compile(pattern)


_balanced(MAX_DEPTH)  # compile now, while the stack is shallow (re's compiler recurses per level)


def _exceeds(brackets: bytes, max_depth: int) -> bool:
    """Exact: does the running depth of ``brackets`` (only ``[``/``]``) pass ``max_depth``?

    Stops at the first unmatched ``]``: a parser stops there too (invalid JSON), so what follows
    cannot nest anything. Runs in C chunk by chunk and returns as soon as the answer is known.
    """
    steps = array("b", brackets.translate(_AS_STEPS))
    depth = 0
    for start in range(0, len(steps), _CHUNK):
        sums = list(accumulate(steps[start : start + _CHUNK], initial=depth))
        if min(sums) < 0:  # steps are +-1, so the first negative sum is -1
            return max(sums[: sums.index(-1)]) > max_depth
        if max(sums) > max_depth:
            return True
        depth = sums[-1]
    return False


def check_json_depth(text: str | bytes, max_depth: int = MAX_DEPTH, *, what: str = "document") -> None:
    """Refuse JSON whose arrays/objects nest more than ``max_depth`` levels (reason ``too_deep``).

    Run this before :func:`json.loads` on anything from outside. It never recurses and does not
    depend on :func:`sys.getrecursionlimit`; its time is linear in ``len(text)`` and spent in C
    (on the reference machine: about 3 ms for a 256 KiB credential, about 5 ms for 256 KiB of
    bare brackets; refusing, or input whose brackets do not balance, up to about 15 ms).
    Brackets inside strings do not count, including those after an escaped quote or backslash.
    ``bytes`` must be UTF-8.

    Only the structure up to the first unmatched closing bracket is judged; whatever else is not
    valid JSON is left for the parser to report.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if b"\\" in data:
        # In JSON a backslash only occurs inside a string and starts a two-character escape.
        # Pairing backslashes from the left, as a parser does, leaves every remaining quote a
        # real string delimiter.
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Even-numbered pieces between quotes are outside strings (an unterminated string's tail is
    # an odd piece and is dropped, as it is inside the string).
    brackets = b"".join(data.split(b'"')[::2]).translate(_BRACKETS_ONLY, _NOT_BRACKETS)
    if brackets.count(b"[") <= max_depth:
        return
    if max_depth > _REGEX_MAX_DEPTH:
        end = 0  # unusually high limit: skip the fast path
    else:
        match = _balanced(max_depth).match(brackets)
        end = match.end() if match else 0
    if end == len(brackets) or brackets[end] == ord("]"):
        return  # all balanced within the limit, or an unmatched "]" the parser will stop at
    # A group opens at ``end`` (at depth 0) and does not close within the limit: either it goes
    # deeper than max_depth, or the text ends (or breaks) before it closes. Tell which exactly.
    if _exceeds(brackets[end:], max_depth):
        _refuse(
            f"{what} nests arrays/objects too deeply: found more than {max_depth} levels, expected at most "
            f"{max_depth} (refused before parsing)",
            "too_deep",
        )


# ------------------------------------------------------------------------------ JSON loading


class _DuplicateKeyError(Exception):
    def __init__(self, key: str, count: int) -> None:
        super().__init__(key)
        self.key = key
        self.count = count


class _NonFiniteError(Exception):
    def __init__(self, literal: str) -> None:
        super().__init__(literal)
        self.literal = literal


class _Marked(dict[str, Any]):
    """An object that repeated a key; only built on the (rare) error path to locate it."""

    duplicate: str = ""
    count: int = 0


def _first_duplicate(pairs: list[tuple[str, Any]]) -> tuple[str, int]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key, sum(1 for k, _ in pairs if k == key)
        seen.add(key)
    raise AssertionError("no duplicate")  # pragma: no cover


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKeyError(*_first_duplicate(pairs))
    return obj


def _marking_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    marked = _Marked(obj)
    marked.duplicate, marked.count = _first_duplicate(pairs)
    return marked


def _refuse_constant(literal: str) -> Any:
    raise _NonFiniteError(literal)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NonFiniteError(literal)
    return value


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _json_path(parts: list[str | int]) -> str:
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.fullmatch(part):
            out.append(f".{part}")
        else:
            out.append(f"[{json.dumps(part)}]")
    return "".join(out)


def _locate_duplicate(value: Any) -> tuple[str, str, int]:
    """(key, JSON path of the repeated key, count) of the first marked object, in document order."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:  # depth is already bounded; explicit stack anyway
        node, path = stack.pop()
        if isinstance(node, _Marked):
            return node.duplicate, _json_path([*path, node.duplicate]), node.count
        if isinstance(node, dict):
            stack.extend((v, [*path, k]) for k, v in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend((v, [*path, i]) for i, v in reversed(list(enumerate(node))))
    raise AssertionError("duplicate key reported but not found")  # pragma: no cover


def _parse_json(text: str, pairs_hook: Any) -> Any:
    return json.loads(text, object_pairs_hook=pairs_hook, parse_constant=_refuse_constant, parse_float=_finite_float)


def load_json(
    text: str | bytes,
    *,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_DEPTH,
    what: str = "document",
) -> Any:
    """Parse untrusted JSON strictly enough for RFC 8785 canonicalization.

    In order: at most ``max_bytes`` bytes (``too_large``); bytes must be UTF-8 (``not_utf8``);
    at most ``max_depth`` levels of nesting, checked without recursion before parsing
    (``too_deep``); then :func:`json.loads`, refusing repeated keys in any object
    (``duplicate_key``, naming the key and its JSON path), ``NaN``/``Infinity``/``-Infinity`` and
    numbers beyond the double range such as ``1e999`` (``invalid_json``: RFC 8785 cannot
    represent them) and anything else that is not JSON (``invalid_json``, with line and column).
    """
    data, source = _to_bytes_and_str(text, max_bytes, what)
    check_json_depth(data, max_depth, what=what)
    try:
        return _parse_json(source, _unique_pairs)
    except _DuplicateKeyError as exc:
        duplicate = exc
    except _NonFiniteError as exc:
        _refuse(
            f"{what} is not valid JSON: found the number {exc.literal}, expected a finite number "
            "(RFC 8785 cannot represent NaN or Infinity)",
            "invalid_json",
        )
    except json.JSONDecodeError as exc:
        _refuse(f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", "invalid_json")
    except ValueError as exc:  # e.g. an integer of more than 4300 digits (sys.get_int_max_str_digits)
        detail = str(exc).split("; use sys.", 1)[0]  # drop CPython's hint to raise a process-wide limit
        _refuse(f"{what} is not valid JSON: {detail}", "invalid_json")
    except RecursionError:  # pragma: no cover - unreachable after check_json_depth; defence in depth
        _refuse(f"{what} nests arrays/objects too deeply to parse", "too_deep")
    # Rare error path: parse again, marking instead of raising, to name where the key is.
    try:
        key, path, count = _locate_duplicate(_parse_json(source, _marking_pairs))
        where = f"at {path}"
    except (_NonFiniteError, ValueError):  # the text also goes wrong after the duplicate
        key, count = duplicate.key, duplicate.count
        where = "(and is not valid JSON after it)"
    _refuse(
        f"{what} has a duplicate key {json.dumps(key)} {where}: found it {count} times in one object, "
        "expected it at most once (RFC 8785 input must not repeat keys)",
        "duplicate_key",
    )
