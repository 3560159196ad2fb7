"""Review R1 (issues 10 and 11, hostile input): regressions for the problems the review reproduced."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from anchor.core.credential import credential_canonicalizer
from anchor.core.dataintegrity import create_proof, verify_proof
from anchor.core.ed25519 import SigningKey, did_key, verification_method
from anchor.core.jsonld import Canonicalizer, to_nquads
from anchor.core.signature import check_signature
from tests.test_rdfc import ANCHOR_SLOTS, _anchor_like

# --------------------------------------------------------------------------- template path: sentinels spelled by the document


@pytest.mark.parametrize("change", [
    {"name": "\U000f00000004\U000f0001"},  # the literal sentinel of slot 4 as the credential's name
    {"evidence/0/type": ["Evidence", "urn:anchor-slot:0000"]},
    {"credentialSubject/achievement/id": "urn:anchor-slot:0008"},
])
def test_a_sentinel_spelled_outside_its_slot_takes_the_general_path(change: dict[str, Any]) -> None:
    canonicalizer = Canonicalizer(ANCHOR_SLOTS, quads_store=None)
    doc = _anchor_like(7, **change)
    assert canonicalizer.canonical_nquads(doc) == to_nquads(doc)
    assert canonicalizer.stats["fast"] == canonicalizer.stats["substituted"] == 0


def test_an_evidence_named_like_a_sentinel_is_not_folded_into_the_slot() -> None:
    doc = _anchor_like(21)
    doc["evidence"].append({"type": ["Evidence"], "id": "urn:anchor-slot:0008"})
    canonicalizer = Canonicalizer(ANCHOR_SLOTS, quads_store=None)
    assert canonicalizer.canonical_nquads(doc) == to_nquads(doc)
    assert "<urn:anchor-slot:0008>" in canonicalizer.canonical_nquads(doc)


def test_a_signature_does_not_hold_over_an_evidence_added_under_a_sentinel_id() -> None:
    """Before the fix anchor's signature check (template path) accepted this altered credential."""
    key = SigningKey.from_seed(b"\x01" * 32)
    did = did_key(key.public_key)
    doc = _anchor_like(5)
    doc["issuer"]["id"] = did
    proof = create_proof(doc, key, verification_method(did, key.public_key), "2026-01-15T09:30:00Z",
                         canonicalizer=credential_canonicalizer())
    signed = {**doc, "proof": [proof]}
    assert check_signature(signed, did).ok  # type: ignore[union-attr]
    forged = copy.deepcopy(signed)
    forged["evidence"].append({"id": "urn:anchor-slot:0008", "type": ["Evidence"]})
    claim = check_signature(forged, did)
    assert claim is not None and not claim.ok and claim.reason == "bad_signature"
    assert not verify_proof(json.loads(json.dumps(forged)), proof, key.public_key)  # the general path agrees


# --------------------------------------------------------------------------- POST /api/v1/verify: a baked badge's size


def test_a_baked_badge_is_held_to_the_json_body_limit_in_utf8_not_in_escapes() -> None:
    """Before the fix a PNG carrying a 121 kB credential (non-ASCII text) was refused as 361 kB
    (json.dumps' \\u escapes), though the same credential as a JSON body was accepted."""
    from anchor.api.verify import parse_body, parse_presented
    from anchor.core.badge_image import badge_png
    from anchor.core.baking import bake_png

    doc = _anchor_like(1)
    doc["credentialSubject"]["narrative"] = "é" * 60000
    text = json.dumps(doc, ensure_ascii=False)
    parse_body(text.encode())
    prepared = parse_presented(bake_png(badge_png("x"), text))
    assert prepared.form == "png" and prepared.credential_id == doc["id"]
