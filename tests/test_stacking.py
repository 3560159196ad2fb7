"""Stacked credentials (issue 12): the format, its template path, and the verdict given the components."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchor.app.signing import BadgeSigner
from anchor.core.achievement import build_achievement, parse_achievement_text
from anchor.core.credential import CREDENTIAL_SLOTS, CredentialFactory, IssuerProfile, schema_errors
from anchor.core.dataintegrity import verify_proof
from anchor.core.ed25519 import SigningKey, did_key
from anchor.core.errors import InputError
from anchor.core.jsonld import to_nquads
from anchor.core.stack import (
    ComponentRef,
    component_digest,
    component_evidence,
    components_of,
    judge_stack,
    match_components,
    presented_credentials,
)
from anchor.core.verdict import Check, Report, Verdict
from tests.helpers import EXAMPLES
from tests.judges import jsonld_safe_expand

KEY = SigningKey.from_seed(bytes(range(32)))
DID = did_key(KEY.public_key)
AT = datetime(2026, 11, 28, tzinfo=UTC)


def achievement(suffix: str = "") -> dict[str, Any]:
    a = build_achievement(parse_achievement_text((EXAMPLES / "achievement.yaml").read_text()))
    if suffix:
        a = {**a, "id": a["id"] + "-" + suffix, "name": f"{a['name']} {suffix}"}
    return a


def components(n: int, email: str = "ada@example.org") -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        factory = CredentialFactory(IssuerProfile(id=DID, name="Uni"), achievement(f"c{i}"))
        out.append(json.loads(factory.build(name="Ada", email=email, valid_from=AT).canonical))
    return out


def stack_factory(parts: list[dict[str, Any]]) -> tuple[CredentialFactory, list[dict[str, Any]]]:
    evidence = [component_evidence(c, "Data Analyst", "Uni") for c in parts]
    factory = CredentialFactory(IssuerProfile(id=DID, name="Uni"), achievement("stack"),
                                components=tuple((e["name"], e["description"]) for e in evidence))
    return factory, evidence


def report(verdict: Verdict = Verdict.VALID) -> Report:
    check = Check("revocation", "failed" if verdict is not Verdict.VALID else "passed", None if verdict is Verdict.VALID else "x",
                  verdict.value)
    return Report(verdict, [check], AT)


def test_a_stacked_credential_is_valid_ob3_jsonld_safe_signed_and_names_its_components() -> None:
    parts = components(3)
    factory, evidence = stack_factory(parts)
    issued = factory.build(name="Ada", email="ada@example.org", valid_from=AT, status=("https://uni.example/status/0x1/0", 7),
                           components=tuple((e["id"], e["digestMultibase"]) for e in evidence))
    doc = issued.document
    assert doc["evidence"] == evidence
    assert evidence[0]["digestMultibase"] == component_digest(parts[0]) and evidence[0]["digestMultibase"].startswith("uEi")
    assert evidence[0]["description"] == "Component of Data Analyst, issued by Uni"
    assert schema_errors(doc) == []
    assert "https://w3id.org/security#digestMultibase" in to_nquads(doc)
    safe = jsonld_safe_expand(doc)
    assert safe.passed, safe.errors
    signer = BadgeSigner(KEY, DID)
    proof = json.loads(signer.sign_issued(factory, issued))
    assert verify_proof({**doc, "proof": proof}, proof, KEY.public_key)
    assert [c.id for c in components_of(doc)] == [c["id"] for c in parts]


def test_the_factory_refuses_a_wrong_number_of_components_and_evidence_urls() -> None:
    parts = components(2)
    factory, evidence = stack_factory(parts)
    with pytest.raises(InputError, match="2 component"):
        factory.build(name="Ada", email="a@x.org", valid_from=AT, components=((evidence[0]["id"], "uX"),))
    with pytest.raises(InputError, match="evidence URL"):
        factory.build(name="Ada", email="a@x.org", valid_from=AT, evidence_url="https://x.example/e",
                      components=tuple((e["id"], e["digestMultibase"]) for e in evidence))
    with pytest.raises(InputError, match="at most 8"):
        CredentialFactory(IssuerProfile(id=DID, name="Uni"), achievement(), components=(("n", "d"),) * 9)


def test_the_component_slots_come_after_the_existing_ones() -> None:
    """Earlier slots keep their positions (cached templates stay valid)."""
    assert CREDENTIAL_SLOTS[13] == (("relatedResource", 0, "digestMultibase"), "literal")
    assert CREDENTIAL_SLOTS[14] == (("evidence", 1, "id"), "iri")
    assert CREDENTIAL_SLOTS[-1] == (("evidence", 7, "digestMultibase"), "literal")


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 8), until=st.booleans(), status=st.booleans(), index=st.integers(0, 131_071),
       name=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(lambda s: s.strip()))
def test_stacked_signing_from_the_template_is_the_general_path(n: int, until: bool, status: bool, index: int, name: str) -> None:
    from anchor.core.credential import credential_canonicalizer

    factory = CredentialFactory(IssuerProfile(id=DID, name="Uni"), achievement("stack"),
                                components=tuple((f"Part {i} {name}", f"Component of X, issued by {name}") for i in range(n)))
    parts = tuple((f"urn:uuid:00000000-0000-7000-8000-{i:012d}", f"uEi{name.encode().hex()[:20]}{i}") for i in range(n))
    issued = factory.build(name=name, email="ada@example.org", valid_from=AT,
                           valid_until=datetime(2030, 1, 1, tzinfo=UTC) if until else None,
                           status=("https://uni.example/status/0x1/0", index) if status else None, components=parts)
    signer = BadgeSigner(KEY, DID)
    assert signer.sign_issued(factory, issued) == signer(issued.canonical)
    bound = factory.bound_template(issued.template)
    assert bound is not None
    general = to_nquads(issued.document)
    assert bound.canonical_nquads(list(issued.slot_values), lambda: issued.document) == general
    assert credential_canonicalizer().canonical_nquads(issued.document) == general


def test_judge_stack_reasons() -> None:
    parts = components(3)
    factory, evidence = stack_factory(parts)
    stack = factory.build(name="Ada", email="ada@example.org", valid_from=AT,
                          components=tuple((e["id"], e["digestMultibase"]) for e in evidence)).document
    refs = components_of(stack)
    ok = judge_stack(report(), [(r, c, report()) for r, c in zip(refs, parts, strict=True)])
    assert ok.verdict is Verdict.VALID and [c.status for c in ok.components] == ["ok"] * 3
    missing = judge_stack(report(), [(refs[0], parts[0], report()), (refs[1], None, None), (refs[2], parts[2], report())])
    assert (missing.verdict, missing.reason) == (Verdict.INVALID, "component_missing") and refs[1].id in missing.summary
    altered = {**parts[1], "name": "Forged"}
    bad = judge_stack(report(), [(refs[0], parts[0], report()), (refs[1], altered, report()), (refs[2], parts[2], report())])
    assert (bad.verdict, bad.reason) == (Verdict.INVALID, "component_altered")
    other = components(1, email="eve@example.org")[0]  # another holder's credential under the same id
    stolen = judge_stack(report(), [(refs[0], {**other, "id": refs[0].id}, report())])
    assert stolen.reason == "component_altered"
    revoked = judge_stack(report(), [(refs[0], parts[0], report(Verdict.EXPIRED)), (refs[1], parts[1], report(Verdict.REVOKED))])
    assert (revoked.verdict, revoked.reason) == (Verdict.REVOKED, "component_revoked") and refs[1].name in revoked.summary
    expired = judge_stack(report(), [(refs[0], parts[0], report(Verdict.EXPIRED))])
    assert (expired.verdict, expired.reason) == (Verdict.EXPIRED, "component_expired")
    invalid = judge_stack(report(), [(refs[0], parts[0], report(Verdict.INVALID))])
    assert (invalid.verdict, invalid.reason) == (Verdict.INVALID, "component_invalid")
    alone = judge_stack(report(), [], stack=stack)
    assert alone.verdict is Verdict.VALID and alone.notes[0].startswith("stack alone verified; depends on 3 component(s)")
    stack_revoked = judge_stack(report(Verdict.REVOKED), [(r, c, report()) for r, c in zip(refs, parts, strict=True)])
    assert stack_revoked.verdict is Verdict.REVOKED and stack_revoked.reason is None
    assert json.loads(json.dumps(revoked.to_json()))["components"][1]["status"] == "component_revoked"


def test_matching_presented_components_bundles_and_presentations() -> None:
    parts = components(2)
    factory, evidence = stack_factory(parts)
    stack = factory.build(name="Ada", email="ada@example.org", valid_from=AT,
                          components=tuple((e["id"], e["digestMultibase"]) for e in evidence)).document
    stray = components(1)[0]
    pairs, unused = match_components(stack, [parts[1], stray])
    assert [(r.id, c is not None) for r, c in pairs] == [(parts[0]["id"], False), (parts[1]["id"], True)]
    assert unused == [stray["id"]]
    assert presented_credentials(parts) == parts
    assert presented_credentials({"type": ["VerifiablePresentation"], "verifiableCredential": parts}) == parts
    assert presented_credentials(parts[0]) is None
    assert ComponentRef(parts[0]["id"], evidence[0]["digestMultibase"], evidence[0]["name"]) == components_of(stack)[0]
