"""anchor.core.safe_input: hostile JSON and YAML are refused before they can crash or exhaust us.

Each refusal is checked by its exact ``reason`` code. The deep-nesting attacks run in a child
process that first raises the recursion limit the way py_ecc (imported via web3) does, because
that is the condition under which the C JSON parser overflows the C stack instead of raising.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
import time
import tracemalloc
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from anchor.core.errors import InputError
from anchor.core.safe_input import (
    MAX_DEPTH,
    MAX_JSON_BYTES,
    MAX_YAML_BYTES,
    check_json_depth,
    load_json,
)
from anchor.core.safe_yaml import load_yaml

# ---------------------------------------------------------------------------- helpers


def reason_of(fn: Any, *args: Any, **kwargs: Any) -> InputError:
    with pytest.raises(InputError) as info:
        fn(*args, **kwargs)
    assert "\n" not in info.value.message and "\r" not in info.value.message, info.value.message
    return info.value


def true_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value: scalar 0, [] 1, {"a": [1]} 2."""
    if isinstance(value, list):
        return 1 + max((true_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((true_depth(v) for v in value.values()), default=0)
    return 0


def _no_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_with_py_ecc_recursion_limit(body: str, payload: str) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a fresh interpreter after sys.setrecursionlimit(100_000), ``payload`` on stdin."""
    script = "import sys\nsys.setrecursionlimit(100_000)\npayload = sys.stdin.read()\n" + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        input=payload,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_no_core_dumps,
    )


# ---------------------------------------------------------------------------- deep nesting (attack 1)

DEEP = {
    "arrays": "[" * 100_000,
    "objects": '{"a":' * 100_000,
    "mixed": '[{"a":' * 50_000,
    "closed": "[" * 100_000 + "]" * 100_000,
}

GUARDED = """
from anchor.core.errors import InputError
from anchor.core.safe_input import load_json
try:
    load_json(payload, max_bytes=2 * len(payload.encode()), what="badge.json")
except InputError as exc:
    print(exc.reason, exc.message)
else:
    print("accepted")
"""


@pytest.mark.parametrize("name", sorted(DEEP))
def test_deep_nesting_refused_under_raised_recursion_limit(name: str) -> None:
    proc = run_with_py_ecc_recursion_limit(GUARDED, DEEP[name])
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.startswith("too_deep badge.json nests arrays/objects too deeply"), proc.stdout
    assert f"expected at most {MAX_DEPTH}" in proc.stdout


def test_plain_json_loads_really_crashes_under_raised_recursion_limit() -> None:
    """Documents the attack: without the pre-scan the process dies of a signal (SIGSEGV)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY:
        pytest.skip("unlimited C stack: the overflow needs a bounded stack to show")
    proc = run_with_py_ecc_recursion_limit("import json\njson.loads(payload)\nprint('parsed')\n", DEEP["arrays"])
    assert proc.returncode < 0, (proc.returncode, proc.stdout, proc.stderr[-500:])


def test_depth_limit_is_exact_at_the_boundary() -> None:
    at_limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    check_json_depth(at_limit)
    assert true_depth(load_json(at_limit)) == MAX_DEPTH
    over = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    err = reason_of(check_json_depth, over)
    assert err.reason == "too_deep" and str(MAX_DEPTH) in err.message
    assert reason_of(load_json, over).reason == "too_deep"
    mixed = '{"a":' * 20 + "[" * 13 + "1" + "]" * 13 + "}" * 20  # 33 levels
    assert reason_of(load_json, mixed).reason == "too_deep"


def test_depth_of_wide_documents_and_custom_limits() -> None:
    wide = json.dumps([[{"a": [i]}] for i in range(20_000)])  # depth 4, many brackets
    check_json_depth(wide, 4)
    assert reason_of(check_json_depth, wide, 3).reason == "too_deep"
    check_json_depth("0", 0)
    assert reason_of(check_json_depth, "[]", 0).reason == "too_deep"
    check_json_depth("[" * 150 + "]" * 150, 150)  # limits beyond the regex fast path still work
    assert reason_of(check_json_depth, "[" * 151 + "]" * 151, 150).reason == "too_deep"
    # the too-deep part may come after a large shallow part
    late = "[" + "[]," * 30_000 + "[" * MAX_DEPTH + "]" * (MAX_DEPTH + 1)
    assert reason_of(check_json_depth, late).reason == "too_deep"


def test_stray_closing_brackets_are_left_to_the_parser() -> None:
    check_json_depth("]" * 100)
    check_json_depth("[]]" + "[" * 10)
    assert reason_of(load_json, "]" * 100).reason == "invalid_json"
    # running depth before the stray "]" is what counts
    assert reason_of(check_json_depth, "[" * 40 + "]" * 41).reason == "too_deep"


# ---------------------------------------------------------------------------- strings are not structure


def test_brackets_inside_strings_do_not_count() -> None:
    doc = json.dumps({"narrative": "[" * 10_000, "other": "{" * 10_000 + "]" * 5})
    check_json_depth(doc, 1)
    assert load_json(doc) == json.loads(doc)


def test_escaped_quotes_and_backslashes_are_handled() -> None:
    doc = r'{"a": "a\\\"[[[", "b": "\\", "c": "\"[[[[", "d": ["x\\\\"]}'
    check_json_depth(doc, 2)
    assert load_json(doc) == {"a": 'a\\"[[[', "b": "\\", "c": '"[[[[', "d": ["x\\\\"]}
    # a string ending in an escaped backslash closes there: the brackets after it are structure
    assert reason_of(check_json_depth, '["\\\\"' + "," + "[" * 5 + "]" * 5 + "]", 5).reason == "too_deep"
    # an unterminated string hides the rest; the parser reports it
    check_json_depth('["' + "[" * 100, 1)
    assert reason_of(load_json, '["' + "[" * 100).reason == "invalid_json"


def test_bytes_and_str_agree() -> None:
    doc = json.dumps({"name": "Zoë [ünïcode] 🎓", "a": [[1]]}, ensure_ascii=False)
    assert load_json(doc) == load_json(doc.encode()) == json.loads(doc)
    check_json_depth(doc.encode(), 3)
    assert reason_of(check_json_depth, doc.encode(), 2).reason == "too_deep"


# ---------------------------------------------------------------------------- duplicate keys (attack 2)


def test_duplicate_key_at_top_level() -> None:
    err = reason_of(
        load_json, '{"identityHash": "Mallory Forger", "identityHash": "Barbara Liskov"}', what="badge.json"
    )
    assert err.reason == "duplicate_key"
    assert err.message.startswith("badge.json ")
    assert '"identityHash"' in err.message and "$.identityHash" in err.message


def test_duplicate_key_nested_in_array_of_objects() -> None:
    doc = '{"credentialSubject": {"result": [{"id": 1}, {"id": 2, "value": 1, "id": 3}]}}'
    err = reason_of(load_json, doc.encode())
    assert err.reason == "duplicate_key"
    assert '"id"' in err.message and "$.credentialSubject.result[1].id" in err.message
    err = reason_of(load_json, '[{"@context": 1, "@context": 1}]')
    assert err.reason == "duplicate_key" and '$[0]["@context"]' in err.message


@pytest.mark.parametrize("doc", ['[{"a": 1, "a": 2}, NaN]', '[{"a": 1, "a": 2}] x', '[{"a": 1, "a": 2}, 1e999]'])
def test_duplicate_key_before_other_errors_is_still_a_duplicate(doc: str) -> None:
    err = reason_of(load_json, doc)
    assert err.reason == "duplicate_key" and '"a"' in err.message


def test_same_key_in_different_objects_is_fine() -> None:
    assert load_json('[{"id": 1}, {"id": 2, "x": {"id": 3}}]') == [{"id": 1}, {"id": 2, "x": {"id": 3}}]


# ---------------------------------------------------------------------------- other JSON refusals


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
def test_non_finite_numbers_are_refused(literal: str) -> None:
    err = reason_of(load_json, f'{{"score": {literal}}}', what="badge.json")
    assert err.reason == "invalid_json"
    assert err.message.startswith("badge.json is not valid JSON") and literal in err.message


def test_oversize_is_refused_before_anything_else() -> None:
    big = "[" + ",".join(["1"] * (MAX_JSON_BYTES // 2 + 1)) + "]"
    assert reason_of(load_json, big).reason == "too_large"
    assert reason_of(load_json, big.encode()).reason == "too_large"
    err = reason_of(load_json, '{"a": "é"}', max_bytes=10)  # 10 characters, 11 bytes
    assert err.reason == "too_large" and "10 bytes" in err.message
    assert reason_of(load_json, "[" * 300_000).reason == "too_large"  # size is checked first
    assert load_json("[1]", max_bytes=3) == [1]


@pytest.mark.parametrize("raw", [b'{"a": "\xff"}', b'{"a": "\xc0\xaf"}', b'["\xed\xa0\x80"]', b"\xfe\xff[]"])
def test_invalid_utf8_is_refused(raw: bytes) -> None:
    err = reason_of(load_json, raw, what="badge.json")
    assert err.reason == "not_utf8" and err.message.startswith("badge.json is not UTF-8")


def test_lone_surrogate_in_str_is_refused() -> None:
    assert reason_of(load_json, '["\ud800"]').reason == "not_utf8"


def test_invalid_json_names_the_document_line_and_column() -> None:
    err = reason_of(load_json, '{"a": 1,\n}', what="badge.json")
    assert err.reason == "invalid_json"
    assert err.message.startswith("badge.json is not valid JSON: ")
    assert "(line 2, column 1)" in err.message
    assert reason_of(load_json, "").reason == "invalid_json"
    assert reason_of(load_json, "[" + "9" * 5000 + "]").reason == "invalid_json"  # int digit limit


def test_messages_are_single_line_even_for_odd_names() -> None:
    err = reason_of(load_json, "{", what="bad\nname.json")
    assert err.reason == "invalid_json" and err.message.startswith("bad name.json")


# ---------------------------------------------------------------------------- property: agreement with json


_text = st.text(alphabet=st.sampled_from('[]{}"\\:,aé🎓 \n') | st.characters(exclude_categories=["Cs"]), max_size=12)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(value=_values, ensure_ascii=st.booleans())
def test_load_json_agrees_with_json_loads(value: Any, ensure_ascii: bool) -> None:
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    if true_depth(value) <= MAX_DEPTH:
        assert load_json(text) == json.loads(text)
    else:
        assert reason_of(load_json, text).reason == "too_deep"


_wrappers = st.lists(st.sampled_from(["list", "dict"]), max_size=MAX_DEPTH + 3)


def _wrap(value: Any, wrappers: list[str]) -> Any:
    for kind in wrappers:
        value = [value] if kind == "list" else {"k": value}
    return value


@settings(max_examples=300, deadline=None)
@given(value=_values, wrappers=_wrappers, delta=st.integers(-2, 2))
def test_check_json_depth_matches_true_depth_around_any_limit(value: Any, wrappers: list[str], delta: int) -> None:
    wrapped = _wrap(value, wrappers)
    depth = true_depth(wrapped)
    limit = max(0, depth + delta)
    text = json.dumps(wrapped, ensure_ascii=False)
    if depth <= limit:
        check_json_depth(text, limit)
    else:
        assert reason_of(check_json_depth, text, limit).reason == "too_deep"


@settings(max_examples=200, deadline=None)
@given(value=_values, target=st.integers(MAX_DEPTH - 2, MAX_DEPTH + 2), kinds=st.sampled_from(["list", "dict"]))
def test_default_limit_passes_iff_depth_at_most_max_depth(value: Any, target: int, kinds: str) -> None:
    wrapped = _wrap(value, [kinds] * max(0, target - true_depth(value)))
    depth = true_depth(wrapped)
    text = json.dumps(wrapped)
    if depth <= MAX_DEPTH:
        check_json_depth(text)
        assert load_json(text) == wrapped
    else:
        assert reason_of(check_json_depth, text).reason == "too_deep"
        assert reason_of(load_json, text).reason == "too_deep"


# ---------------------------------------------------------------------------- YAML (attack 3)

BILLION_LAUGHS = textwrap.dedent(
    """\
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
    """
)


def test_billion_laughs_is_refused_fast_and_small() -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        err = reason_of(load_yaml, BILLION_LAUGHS, what="achievement.yaml")
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.reason == "yaml_alias"
    assert err.message.startswith("achievement.yaml ") and "&a" in err.message
    assert elapsed < 0.05, elapsed
    assert peak < 2 * 1024 * 1024, peak


@pytest.mark.parametrize(
    "doc",
    [
        "base: &b {level: 1}\nother: *b\n",  # harmless, still refused
        "name: &n Data Science\n",  # an anchor alone
        "list: [*undefined]\n",  # an alias alone
    ],
)
def test_any_anchor_or_alias_is_refused(doc: str) -> None:
    assert reason_of(load_yaml, doc).reason == "yaml_alias"


@pytest.mark.parametrize(
    "doc",
    [
        "x: !!python/object:os.system {}\n",
        "x: !!python/object/apply:os.system ['true']\n",
        "x: !!python/name:os.system\n",
        "x: !custom 1\n",
        "x: !!binary aGk=\n",
        "x: !!set {a, b}\n",
        "%TAG !p! tag:yaml.org,2002:python/\n---\nx: !p!object:os.system {}\n",
        "<<: {a: 1}\nb: 2\n",  # merge keys are a YAML 1.1 extension
    ],
)
def test_non_core_tags_are_refused(doc: str) -> None:
    assert reason_of(load_yaml, doc).reason == "yaml_tag"


def test_core_tags_are_allowed() -> None:
    doc = "a: !!str 5\nb: !!int '7'\nc: !!seq [1]\nd: !!map {x: 1}\ne: !!null ''\nf: ! 9\n"
    assert load_yaml(doc) == yaml.safe_load(doc)
    assert load_yaml(doc)["a"] == "5"


@pytest.mark.parametrize("doc", ["a: 1\nb: 2\na: 3\n", "a: 1\n'a': 2\n", "x:\n  - {k: 1, k: 2}\n", "1: a\n0x1: b\n"])
def test_yaml_duplicate_keys_are_refused(doc: str) -> None:
    err = reason_of(load_yaml, doc, what="a.yaml")
    assert err.reason == "duplicate_key" and err.message.startswith("a.yaml has a duplicate key")


def test_yaml_duplicate_key_message_names_the_key() -> None:
    err = reason_of(load_yaml, "name: A\ndescription: B\nname: C\n")
    assert '"name"' in err.message and "line 3" in err.message


@pytest.mark.parametrize(
    "doc",
    [
        "[" * 60_000,  # flow: stopped by the scanner at level 33
        "{a: " * 16_000,
        "- " * 30_000 + "x",  # block sequences nested on one line
        "".join(" " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 1)) + " " * (MAX_DEPTH + 1) + "v\n",
    ],
)
def test_deep_yaml_is_refused(doc: str) -> None:
    started = time.perf_counter()
    assert reason_of(load_yaml, doc).reason == "too_deep"
    assert time.perf_counter() - started < 1.0


def test_yaml_depth_limit_is_exact() -> None:
    assert load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH) == _wrap([], ["list"] * (MAX_DEPTH - 1))
    assert reason_of(load_yaml, "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).reason == "too_deep"
    nested_blocks = "".join(" " * i + f"k{i}:\n" for i in range(MAX_DEPTH)) + " " * MAX_DEPTH + "v\n"
    assert true_depth(load_yaml(nested_blocks)) == MAX_DEPTH
    assert reason_of(load_yaml, "a: [[1]]", max_depth=2).reason == "too_deep"


ACHIEVEMENT_YAML = textwrap.dedent(
    """\
    # An achievement as an issuer writes it
    id: https://university.example/achievements/data-science
    type: [Achievement]
    name: "Data Science: Foundations [Level 1]"
    description: >
      Awarded for completing the {core} modules;
      assessed by project.
    achievementType: Certificate
    creditsAvailable: 7.5
    criteria:
      narrative: |
        1. Pass all quizzes
        2. Submit the capstone
    alignment:
      - targetName: ESCO data science
        targetUrl: http://data.europa.eu/esco/skill/abc
        targetType: ext:ESCOAlignment
      - targetName: "Statistics"
        targetUrl: https://example.org/stats
    tag: [data, 'python', "statistics"]
    validFrom: 2024-05-01
    public: true
    level: ~
    version: 1.0
    """
)


def test_normal_achievement_yaml_matches_safe_load() -> None:
    assert load_yaml(ACHIEVEMENT_YAML, what="achievement.yaml") == yaml.safe_load(ACHIEVEMENT_YAML)


def test_invalid_yaml_is_one_line_with_position() -> None:
    err = reason_of(load_yaml, "name: [unclosed\nnext: 1\n", what="achievement.yaml")
    assert err.reason == "invalid_yaml"
    assert err.message.startswith("achievement.yaml is not valid YAML: ") and "line " in err.message
    assert reason_of(load_yaml, "a: \x00\n").reason == "invalid_yaml"
    assert reason_of(load_yaml, "--- 1\n--- 2\n").reason == "invalid_yaml"
    assert reason_of(load_yaml, "a: b: c\n").reason == "invalid_yaml"


def test_yaml_size_and_encoding_limits() -> None:
    assert reason_of(load_yaml, "a: " + "x" * MAX_YAML_BYTES).reason == "too_large"
    assert reason_of(load_yaml, "a: é", max_bytes=4).reason == "too_large"  # 4 characters, 5 bytes
    assert reason_of(load_yaml, "a: \ud800").reason == "not_utf8"
    assert load_yaml("") is None
