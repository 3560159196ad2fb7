"""The optional C accelerator anchor.core._sha256pairs, checked against hashlib.

Every test runs on both C code paths: ``next_level`` (SHA-NI when the CPU has it) and the
private ``_next_level_portable`` (always the plain-C path), so a machine with SHA-NI covers
both. The extension is optional for users (pure Python takes over), so on a machine without a
compiler the module is skipped, saying so; in CI (CI=true) it must have been built.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import platform
import random
import threading
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

if os.environ.get("CI"):
    sha256pairs = importlib.import_module("anchor.core._sha256pairs")  # CI builds it: missing is a failure
else:
    sha256pairs = pytest.importorskip("anchor.core._sha256pairs", reason="C extension not built (no compiler?)")

NODE = 32
LevelFn = Callable[[object], bytes]

PATHS: dict[str, LevelFn] = {
    "next_level": sha256pairs.next_level,
    "portable": sha256pairs._next_level_portable,
}


@pytest.fixture(params=sorted(PATHS))
def level_fn(request: pytest.FixtureRequest) -> LevelFn:
    return PATHS[request.param]


def reference(data: bytes) -> bytes:
    """The level above ``data`` with hashlib, pair by pair."""
    n = len(data) // NODE
    up = [hashlib.sha256(data[i : i + 2 * NODE]).digest() for i in range(0, (n // 2) * 2 * NODE, 2 * NODE)]
    if n & 1:
        up.append(data[-NODE:])
    return b"".join(up)


def random_nodes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n * NODE)


def cpu_has_sha_ni() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return any(line.startswith("flags") and " sha_ni" in line for line in f)
    except OSError:
        return False


# --- correctness -------------------------------------------------------------------------------


def test_every_small_level(level_fn: LevelFn) -> None:
    # 1..300 covers odd/even node counts and both the paired and single tail of the SHA-NI loop.
    for n in range(1, 301):
        data = random_nodes(n, seed=n)
        assert level_fn(data) == reference(data), f"n={n}"


@pytest.mark.parametrize("n", [100_000, 100_001, 2**17 + 3])
def test_large_levels(level_fn: LevelFn, n: int) -> None:
    data = random_nodes(n, seed=n)
    assert level_fn(data) == reference(data)


def test_known_vector(level_fn: LevelFn) -> None:
    # sha256 of 64 zero bytes, a fixed value independent of hashlib.
    expected = bytes.fromhex("f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b")
    assert level_fn(bytes(64)) == expected


def test_full_tree_matches_reference(level_fn: LevelFn) -> None:
    data = expected = random_nodes(1000, seed=7)
    while len(data) > NODE:
        data = level_fn(data)
        expected = reference(expected)
        assert data == expected
    assert len(data) == NODE


# --- odd promotion and output shape ------------------------------------------------------------


def test_single_node_is_returned_unchanged(level_fn: LevelFn) -> None:
    node = random_nodes(1, seed=1)
    out = level_fn(node)
    assert out == node
    assert type(out) is bytes


@pytest.mark.parametrize("n", [3, 5, 7, 257])
def test_odd_last_node_promoted(level_fn: LevelFn, n: int) -> None:
    data = random_nodes(n, seed=n)
    out = level_fn(data)
    assert len(out) == (n + 1) // 2 * NODE
    assert out[-NODE:] == data[-NODE:]
    assert out[:-NODE] == level_fn(data[:-NODE])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 1001])
def test_output_length(level_fn: LevelFn, n: int) -> None:
    assert len(level_fn(random_nodes(n, seed=n))) == (n + 1) // 2 * NODE


# --- buffer types -------------------------------------------------------------------------------


def test_bytearray_and_memoryview_inputs(level_fn: LevelFn) -> None:
    data = random_nodes(11, seed=11)
    expected = reference(data)
    buf = bytearray(data)
    assert level_fn(buf) == expected
    assert level_fn(memoryview(data)) == expected
    assert level_fn(memoryview(buf)) == expected
    # A contiguous slice of a larger buffer, starting at an odd (unaligned) address offset.
    padded = b"\x01" + data + b"\x02"
    assert level_fn(memoryview(padded)[1:-1]) == expected
    # Multi-dimensional and non-byte formats: only the bytes matter.
    assert level_fn(memoryview(data).cast("B", (11, NODE))) == expected
    assert level_fn(memoryview(data).cast("I")) == expected
    assert buf == data  # input left untouched


def test_non_contiguous_buffer_rejected(level_fn: LevelFn) -> None:
    strided = memoryview(bytes(128))[::2]  # 64 bytes, but not contiguous
    with pytest.raises(BufferError):
        level_fn(strided)


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 31, 33, 63, 65])
def test_bad_lengths(level_fn: LevelFn, size: int) -> None:
    with pytest.raises(ValueError, match=rf"32-byte nodes, got {size} bytes"):
        level_fn(bytes(size))
    with pytest.raises(ValueError):
        level_fn(bytearray(size))


@pytest.mark.parametrize("value", [None, 64, 3.0, "a" * 64, [0] * 64, object()])
def test_non_buffers_rejected(level_fn: LevelFn, value: object) -> None:
    with pytest.raises(TypeError):
        level_fn(value)


def test_argument_count() -> None:
    with pytest.raises(TypeError):
        sha256pairs.next_level()
    with pytest.raises(TypeError):
        sha256pairs.next_level(bytes(64), bytes(64))


# --- implementation selection -------------------------------------------------------------------


def test_implementation_attribute() -> None:
    assert sha256pairs.IMPLEMENTATION in {"sha-ni", "portable"}
    if platform.machine().lower() in {"x86_64", "amd64"} and cpu_has_sha_ni():
        assert sha256pairs.IMPLEMENTATION == "sha-ni"
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        assert sha256pairs.IMPLEMENTATION == "portable"


def test_paths_agree() -> None:
    data = random_nodes(4097, seed=4097)
    assert sha256pairs.next_level(data) == sha256pairs._next_level_portable(data)


# --- threads ------------------------------------------------------------------------------------


def test_concurrent_halves(level_fn: LevelFn) -> None:
    # Large enough that the GIL is released, so both threads really hash at once.
    n = 200_000
    data = random_nodes(n, seed=3)
    expected = reference(data)
    view = memoryview(data)
    results: dict[int, bytes] = {}

    def work(i: int) -> None:
        half = view[i * n // 2 * NODE : (i + 1) * n // 2 * NODE]
        for _ in range(3):
            results[i] = level_fn(half)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] + results[1] == expected


# --- property -----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=70).flatmap(lambda k: st.binary(min_size=NODE * k, max_size=NODE * k)))
def test_property_matches_hashlib(data: bytes) -> None:
    expected = reference(data)
    assert sha256pairs.next_level(data) == expected
    assert sha256pairs._next_level_portable(data) == expected
