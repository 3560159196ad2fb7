"""Open Badges 3.0 credentials: built fast, canonical, schema-valid, private, hashed right."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from anchor.core import merkle
from anchor.core.achievement import build_achievement, parse_achievement_text
from anchor.core.credential import (
    CredentialFactory,
    IssuerProfile,
    check_schema,
    identity_hash,
    leaf_of,
    recipient_matches,
    schema_errors,
)
from anchor.core.errors import InputError, VerificationError

ROOT = Path(__file__).resolve().parents[1]
STANDARDS = ROOT.parent / "shared" / "standards"
PROFILE = IssuerProfile(id="https://uni.example/issuer", name="Uni", url="https://uni.example", email="badges@uni.example")
T0 = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
T1 = datetime(2028, 1, 15, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def achievement() -> dict[str, object]:
    text = (ROOT / "examples" / "achievement.yaml").read_text()
    return build_achievement(parse_achievement_text(text))


@pytest.fixture(scope="module")
def factory(achievement: dict[str, object]) -> CredentialFactory:
    return CredentialFactory(PROFILE, achievement)


SHIPPED = ROOT / "src" / "anchor" / "schemas"


@pytest.mark.parametrize("name", ["ob_v3p0_achievementcredential_schema.json", "ob_v3p0_context-3.0.3.json", "credentials_v2_context.jsonld"])
def test_shipped_standards_are_the_official_files(name: str) -> None:
    shipped = SHIPPED / name
    json.loads(shipped.read_text())
    official = STANDARDS / name
    if official.exists():  # the official copies sit next to the checkout in this workplace
        assert shipped.read_bytes() == official.read_bytes()


@pytest.mark.parametrize("until", [None, T1])
@pytest.mark.parametrize("evidence", [None, "https://uni.example/e/1"])
@pytest.mark.parametrize("narrative", [None, "Capstone with \"quotes\"\nand a new line"])
def test_every_shape_is_schema_valid_and_canonical(factory: CredentialFactory, until: datetime | None,
                                                    evidence: str | None, narrative: str | None) -> None:
    issued = factory.build(name="Ada Lovelace", email="Ada@Example.org", valid_from=T0, valid_until=until,
                           evidence_url=evidence, narrative=narrative)
    doc = issued.document
    assert schema_errors(doc) == []
    assert issued.canonical == rfc8785.dumps(doc)
    assert issued.leaf == hashlib.sha256(b"\x00" + issued.canonical).digest() == leaf_of(doc)
    assert doc["@context"][:2] == ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
    assert doc["id"].startswith("urn:uuid:") and doc["id"] == issued.credential_id
    assert doc["validFrom"] == "2026-01-15T09:30:00Z"
    assert ("validUntil" in doc) == (until is not None)
    assert ("evidence" in doc) == (evidence is not None)
    assert doc["credentialSubject"]["achievement"]["achievementType"] == "MicroCredential"
    assert doc["issuer"]["id"] == PROFILE.id


def test_context_documents_define_every_term_we_use() -> None:
    terms = json.loads((SHIPPED / "ob_v3p0_context-3.0.3.json").read_text())["@context"]
    for t in ("AchievementCredential", "AchievementSubject", "IdentityObject", "Achievement", "Profile", "Evidence", "Image", "Alignment", "awardedDate"):
        assert t in terms
    vc = json.loads((SHIPPED / "credentials_v2_context.jsonld").read_text())["@context"]
    scoped = vc["VerifiableCredential"]["@context"]
    for t in ("validFrom", "validUntil", "evidence", "proof", "issuer", "credentialSubject"):
        assert t in scoped


@settings(max_examples=200, deadline=None)
@given(
    name=st.text(min_size=1, max_size=60).filter(lambda s: s.strip()),
    local=st.from_regex(r"[a-z0-9._%+-]{1,20}", fullmatch=True),
    narrative=st.none() | st.text(max_size=80),
)
def test_template_output_equals_canonicalizing_the_document(factory: CredentialFactory, name: str, local: str, narrative: str | None) -> None:
    issued = factory.build(name=name, email=f"{local}@uni.example", valid_from=T0, narrative=narrative or None)
    assert issued.canonical == rfc8785.dumps(json.loads(issued.canonical))


def test_recipient_identity_is_a_salted_hash(factory: CredentialFactory) -> None:
    a = factory.build(name="Ada", email=" ADA@example.org ", valid_from=T0)
    b = factory.build(name="Ada", email="ada@example.org", valid_from=T0)
    ida, idb = (x.document["credentialSubject"]["identifier"][0] for x in (a, b))
    assert ida["identityType"] == "emailAddress" and ida["hashed"] is True
    assert ida["identityHash"] == identity_hash("ada@example.org", ida["salt"])
    assert ida["identityHash"] == "sha256$" + hashlib.sha256(("ada@example.org" + ida["salt"]).encode()).hexdigest()
    # Same person, different salts: the hashes (and leaves) cannot be linked.
    assert ida["salt"] != idb["salt"] and len(ida["salt"]) == 32
    assert ida["identityHash"] != idb["identityHash"] and a.leaf != b.leaf
    assert "ada@example.org" not in a.canonical.decode().lower()
    assert recipient_matches(a.document, "Ada@Example.org") and not recipient_matches(a.document, "bob@example.org")


def test_official_example_identity_hash() -> None:
    # The OB 3.0 spec's IdentityHash example: 'a@example.com' salted with 'Kosher'.
    assert identity_hash("a@example.com", "Kosher") == "sha256$b5809d8a92f8858436d7e6b87c12ebc0ae1eac4baecc2c0b913aee2c922ef399"


def test_leaf_ignores_the_proof_and_changes_with_any_field(factory: CredentialFactory) -> None:
    doc = factory.build(name="Ada", email="ada@example.org", valid_from=T0).document
    leaf = leaf_of(doc)
    assert leaf_of({**doc, "proof": {"type": "anything"}}) == leaf
    assert leaf_of({**doc, "name": doc["name"] + " "}) != leaf
    assert merkle.hash_leaf(rfc8785.dumps(doc)) == leaf


def test_schema_check_reports_what_is_wrong(factory: CredentialFactory) -> None:
    doc = factory.build(name="Ada", email="ada@example.org", valid_from=T0).document
    del doc["credentialSubject"]["achievement"]["criteria"]
    doc["type"] = ["VerifiableCredential"]
    errors = schema_errors(doc)
    assert any("criteria" in e for e in errors) and any(e.startswith("type") for e in errors)
    with pytest.raises(VerificationError) as e:
        check_schema(doc)
    assert e.value.reason == "schema_invalid"


# ---------------------------------------------------------------------------- achievement files


def test_achievement_from_json_and_yaml_agree() -> None:
    data = {"id": "https://uni.example/a/1", "name": "Cloud Security", "description": "Secures cloud workloads.",
            "criteria": "Passed the lab exam.", "tags": "cloud, security"}
    from_json = build_achievement(parse_achievement_text(json.dumps(data)))
    from_yaml = build_achievement(parse_achievement_text("\n".join(f"{k}: {v}" for k, v in data.items())))
    assert from_json == from_yaml
    assert from_json["tag"] == ["cloud", "security"] and from_json["criteria"] == {"narrative": "Passed the lab exam."}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "not a uri"}, "'id' must be an absolute URI"),
        ({"name": ""}, "'name' must be a non-empty string"),
        ({"criteria": {}}, "'criteria' needs"),
        ({"achievementType": "Diplomaa"}, "not an Open Badges type"),
        ({"colour": "blue"}, "unknown field(s) colour"),
        ({"alignment": [{"targetName": "x"}]}, "alignment #1 needs"),
        ({"creditsAvailable": -1}, "non-negative"),
    ],
)
def test_bad_achievement_files_get_clear_errors(change: dict[str, object], message: str) -> None:
    base = {"id": "https://uni.example/a/1", "name": "N", "description": "D", "criteria": "C"}
    with pytest.raises(InputError) as e:
        build_achievement({**base, **change})
    assert message in str(e.value)


def test_unparseable_achievement_file() -> None:
    with pytest.raises(InputError, match="is not valid JSON"):
        parse_achievement_text("{not: json: at all")
    with pytest.raises(InputError, match="must hold a mapping"):
        parse_achievement_text("- a list")
