"""The shared vectors: up to date with the generator, and the Python verifier agrees with them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from anchor.core import merkle
from anchor.core.errors import VerificationError

VECTORS = Path(__file__).parent / "vectors" / "merkle_vectors.json"


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS.with_name("make_merkle_vectors.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_vectors() -> list[dict[str, object]]:
    return json.loads(VECTORS.read_text())["vectors"]  # type: ignore[no-any-return]


def python_verdict(v: dict[str, object]) -> bool:
    if v["case"] == "unknown_root":
        return False  # nothing to check against: the chain has no leaf count for it
    try:
        merkle.verify_inclusion(
            bytes.fromhex(str(v["leaf"])[2:]),
            int(v["index"]),  # type: ignore[call-overload]
            int(v["leafCount"]),  # type: ignore[call-overload]
            [bytes.fromhex(p[2:]) for p in v["proof"]],  # type: ignore[union-attr]
            bytes.fromhex(str(v["root"])[2:]),
        )
        return True
    except VerificationError:
        return False


def test_vector_file_is_up_to_date() -> None:
    assert VECTORS.read_text() == _generator().render(), "run: python tests/vectors/make_merkle_vectors.py"


def test_python_verifier_agrees_with_every_vector() -> None:
    vectors = load_vectors()
    assert len(vectors) > 500
    assert {v["case"] for v in vectors} >= {"valid", "wrong_index", "truncated", "extra_step", "swapped_steps", "internal_node_as_leaf"}
    for i, v in enumerate(vectors):
        assert python_verdict(v) is v["valid"], f"vector {i} ({v['case']})"
