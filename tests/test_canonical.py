"""Canonical bytes are RFC 8785: both our paths agree with the rfc8785 package."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from anchor.core.canonical import canonical_bytes, fast_path_ok
from anchor.core.errors import InputError

keys = st.text(min_size=0, max_size=8)
scalars = st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=20) | st.floats(allow_nan=False, allow_infinity=False)
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=25)


@settings(max_examples=800, deadline=None)
@given(documents)
def test_matches_rfc8785_on_random_documents(doc: object) -> None:
    try:
        expected = rfc8785.dumps(doc)
    except rfc8785.CanonicalizationError:  # e.g. integers beyond 2**53 have no exact JSON number
        with pytest.raises(InputError):
            canonical_bytes(doc)
        return
    assert canonical_bytes(doc) == expected


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(alphabet=st.characters(min_codepoint=0xE000, max_codepoint=0x1F64F), max_size=3), st.integers(0, 9), max_size=5))
def test_key_order_with_astral_characters(doc: dict[str, int]) -> None:
    # UTF-16 ordering puts surrogate pairs (astral characters) before U+E000..U+FFFF.
    assert canonical_bytes(doc) == rfc8785.dumps(doc)


def test_fast_path_is_taken_only_where_it_is_exact() -> None:
    assert fast_path_ok({"a": [1, "x", None, True], "é": {"b": -5}})
    assert not fast_path_ok({"a": 1.5})
    assert not fast_path_ok({"a": 2**53})
    assert not fast_path_ok({"\U0001f600": 1})


def test_control_characters_and_escapes() -> None:
    doc = {"s": "quote\" backslash\\ tab\t nl\n bell\x07 del\x7f ls\u2028 é 😀"}
    assert canonical_bytes(doc) == rfc8785.dumps(doc)
    assert json.loads(canonical_bytes(doc)) == doc


@pytest.mark.parametrize("bad", [{"x": float("nan")}, {"x": {1, 2}}, {1: "int key"}, {"x": "\ud800"}])
def test_non_json_data_is_an_input_error(bad: object) -> None:
    with pytest.raises(InputError):
        canonical_bytes(bad)
