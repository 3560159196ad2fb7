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


# ---------------------------------------------------------------------------- end to end, real Anvil

import copy  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from anchor.app.anchoring import Anchorer  # noqa: E402
from anchor.app.exporting import export_credentials  # noqa: E402
from anchor.app.issuing import issue_credentials  # noqa: E402
from anchor.app.registration import register_issuer  # noqa: E402
from anchor.app.revoking import request_revocation, submit_revocations  # noqa: E402
from anchor.app.signing import signer_for  # noqa: E402
from anchor.app.signing_keys import dev_signing_key_for  # noqa: E402
from anchor.app.stacking import stack_pathway, verify_stack  # noqa: E402
from anchor.app.verifying import Verifier, VerifyOptions  # noqa: E402
from anchor.chain.anvil import DevChain  # noqa: E402
from anchor.chain.node import Chain  # noqa: E402
from anchor.chain.reader import RegistryReader  # noqa: E402
from anchor.chain.signer import Signer, dev_signer  # noqa: E402
from anchor.chain.writer import Registry  # noqa: E402
from anchor.core import merkle  # noqa: E402
from anchor.core.forms import Presented  # noqa: E402
from anchor.core.pathway import parse_pathway  # noqa: E402
from anchor.core.roster import parse_roster  # noqa: E402
from anchor.store import Issuer, Store  # noqa: E402

RAW = parse_achievement_text((EXAMPLES / "achievement.yaml").read_text())
UNI = "https://uni.example/achievements/"
OTHER = "https://other.example/achievements/"
VERDICTS: list[tuple[str, str, str | None]] = []  # (scenario, verdict, reason): printed for the notes


def raw_achievement(uri: str, name: str, credits: int = 2) -> dict[str, Any]:
    return {**copy.deepcopy(RAW), "id": uri, "name": name, "creditsAvailable": credits}


def pathway_text(stacked: str, parts: list[tuple[str, str | None]]) -> str:
    lines = [f"id: {stacked}/pathway", "achievement:", f"  id: {stacked}", "  name: Data Analyst",
             "  description: Holds the components.", "  criteria:", "    narrative: Earned every component.",
             "requires:", "  all:"]
    for uri, issuer in parts:
        lines.append(f"    - achievement: {uri}")
        if issuer:
            lines.append(f"      issuer: {issuer}")
    return "\n".join(lines) + "\n"


class Org:
    def __init__(self, chain: Chain, registry: Registry, admin: Signer, account: Signer, name: str, tmp: Path) -> None:
        self.chain, self.registry, self.account, self.tmp = chain, registry, account, tmp
        self.store = Store.open(f"sqlite:///{tmp / (name + '.db')}")
        self.key = dev_signing_key_for(account.address)
        register_issuer(self.store, registry, account, admin, name=name, signing_key=self.key, url=f"https://{name.lower()}.example")
        self.exports = 0

    @property
    def row(self) -> Issuer:
        row = self.store.issuer(self.account.address)
        assert row is not None
        return row

    @property
    def did(self) -> str:
        return str(json.loads(self.row.profile_json)["id"])

    def sign(self) -> BadgeSigner:
        return signer_for(self.row.did, self.key, self.row.signing_key)

    def issue(self, raw: dict[str, Any], emails: list[str], *, valid_from: datetime | None = None,
              valid_until: datetime | None = None) -> None:
        roster = "name,email\n" + "".join(f"{e.split('@')[0].title()},{e}\n" for e in emails)
        issue_credentials(self.store, self.row, build_achievement(raw), parse_roster(roster), sign=self.sign(),
                          valid_from=valid_from, valid_until=valid_until)

    def anchor(self) -> None:
        Anchorer(self.store, self.registry, self.account, self.row).run()

    def badges(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(holder email, achievement id) → the exported badge."""
        self.exports += 1
        out = self.tmp / f"export-{self.account.address[-4:]}-{self.exports}"
        export_credentials(self.store, self.row.id, self.account.address, out, sign=self.sign())
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for p in out.glob("*.json"):
            badge = json.loads(p.read_text())
            for email in ("ada", "bob", "cat", "dan", "eve", "fay", "gus"):
                from anchor.core.credential import recipient_matches

                if recipient_matches(badge, f"{email}@example.org"):
                    found[(email, badge["credentialSubject"]["achievement"]["id"])] = badge
        return found

    def revoke(self, credential_id: str) -> None:
        request_revocation(self.store, self.row.id, [credential_id], 1, "test")
        submit_revocations(self.store, self.registry, self.account, self.row.id)


def presented(credential: dict[str, Any]) -> Presented:
    return Presented("json", credential, None, json.dumps(credential))


def record(scenario: str, verdict: str, reason: str | None) -> None:
    VERDICTS.append((scenario, verdict, reason))
    print(f"SCENARIO | {scenario} | {verdict} | {reason or '-'}")


def test_stacking_end_to_end_on_anvil(anvil: DevChain, chain: Chain, tmp_path: Path) -> None:
    admin = dev_signer(0)
    registry, _ = Registry.deploy(chain, admin)
    uni = Org(chain, registry, admin, dev_signer(1), "Uni", tmp_path)
    other = Org(chain, registry, admin, dev_signer(2), "Other", tmp_path)
    verifier = Verifier(lambda a: RegistryReader.connect(anvil.rpc_url, a, head_ttl=0), VerifyOptions(registry=registry.address))
    sql, py, viz = raw_achievement(UNI + "sql", "SQL"), raw_achievement(UNI + "python", "Python"), raw_achievement(OTHER + "viz", "Viz")
    uni.issue(sql, ["ada@example.org", "bob@example.org", "cat@example.org", "dan@example.org", "eve@example.org"])
    uni.issue(py, ["ada@example.org", "cat@example.org", "dan@example.org"])
    uni.issue(sql, ["fay@example.org", "gus@example.org"])
    uni.issue(py, ["fay@example.org"], valid_from=datetime(2020, 1, 1, tzinfo=UTC), valid_until=datetime(2021, 1, 1, tzinfo=UTC))
    uni.issue(py, ["gus@example.org"], valid_until=datetime(2030, 1, 1, tzinfo=UTC))
    uni.anchor()
    other.issue(viz, ["eve@example.org", "bob@example.org"])
    other.anchor()
    before = uni.badges()
    uni.revoke(before[("cat", UNI + "python")]["id"])  # revoked before stacking

    pathway = parse_pathway(pathway_text(UNI + "analyst", [(UNI + "sql", None), (UNI + "python", None)]))
    started = time.perf_counter()
    run = stack_pathway(uni.store, uni.row, pathway, verifier, sign=uni.sign())
    print(f"TIMING | anchor stack, 7 holders x 2 components, all verified on chain | {time.perf_counter() - started:.3f} s")
    assert run.created == 3, run  # ada, dan, gus
    short = dict(run.short)
    assert set(short) == {"bob@example.org", "cat@example.org", "eve@example.org", "fay@example.org"}
    assert "is revoked" in short["cat@example.org"] and "python" in short["bob@example.org"]
    assert "is expired" in short["fay@example.org"]
    record("holders who qualify (ada, dan, gus) get the stack", "issued 3", None)
    record("holder lacking one component (bob)", "not issued", short["bob@example.org"].split(": ", 1)[1])
    record("component revoked before stacking (cat)", "not issued", short["cat@example.org"].split(": ", 1)[1])
    record("component expired before stacking (fay)", "not issued", short["fay@example.org"].split(": ", 1)[1])
    again = stack_pathway(uni.store, uni.row, pathway, verifier, sign=uni.sign())
    assert (again.created, again.already) == (0, 3)
    record("rerun of anchor stack", "issued 0", "3 already hold it")

    uni.anchor()
    badges = uni.badges()
    stack_ada = badges[("ada", UNI + "analyst")]
    assert schema_errors(stack_ada) == []
    from openbadgeslib.ob3.ldp import OB3LdpVerifier

    checked = OB3LdpVerifier().verify(copy.deepcopy(stack_ada))  # an independent OB 3.0 verifier (raises when it refuses)
    assert checked.issuer.id == uni.did
    record("stacked badge, openbadgeslib (its eddsa-rdfc-2022 signature, did:key)", "valid", None)
    parts_ada = [badges[("ada", UNI + "sql")], badges[("ada", UNI + "python")]]
    assert [c.id for c in components_of(stack_ada)] == [p["id"] for p in parts_ada]

    started = time.perf_counter()
    ok = verify_stack(verifier, presented(stack_ada), [presented(p) for p in parts_ada])
    print(f"TIMING | verify one stack with its 2 components (3 full verifications) | {time.perf_counter() - started:.3f} s")
    assert ok.verdict is Verdict.VALID and [c.status for c in ok.components] == ["ok", "ok"]
    record("stack + its components", ok.verdict.value, ok.reason)
    alone = verify_stack(verifier, presented(stack_ada), [])
    assert alone.verdict is Verdict.VALID and "stack alone verified; depends on 2" in alone.notes[0]
    record("stack alone (no components)", alone.verdict.value, "note: stack alone verified; depends on 2 component(s)")

    tampered = copy.deepcopy(parts_ada[1])
    tampered["credentialSubject"]["achievement"]["name"] = "Python (advanced)"
    bad = verify_stack(verifier, presented(stack_ada), [presented(parts_ada[0]), presented(tampered)])
    assert (bad.verdict, bad.reason) == (Verdict.INVALID, "component_altered")
    record("tampered component", bad.verdict.value, bad.reason)

    dans_python = badges[("dan", UNI + "python")]
    swapped = verify_stack(verifier, presented(stack_ada), [presented(parts_ada[0]), presented({**dans_python, "id": parts_ada[1]["id"]})])
    assert (swapped.verdict, swapped.reason) == (Verdict.INVALID, "component_altered")
    record("another holder's component under the right id", swapped.verdict.value, swapped.reason)
    foreign = verify_stack(verifier, presented(stack_ada), [presented(parts_ada[0]), presented(dans_python)])
    assert (foreign.verdict, foreign.reason) == (Verdict.INVALID, "component_missing") and dans_python["id"] in foreign.notes[0]
    record("another holder's component as is", foreign.verdict.value, foreign.reason)
    missing = verify_stack(verifier, presented(stack_ada), [presented(parts_ada[0])])
    assert (missing.verdict, missing.reason) == (Verdict.INVALID, "component_missing")
    record("a component missing", missing.verdict.value, missing.reason)

    later = Verifier(verifier.reader_for, VerifyOptions(registry=registry.address, at=datetime(2031, 1, 1, tzinfo=UTC)))
    parts_gus = [badges[("gus", UNI + "sql")], badges[("gus", UNI + "python")]]
    expired = verify_stack(later, presented(badges[("gus", UNI + "analyst")]), [presented(p) for p in parts_gus])
    assert (expired.verdict, expired.reason) == (Verdict.EXPIRED, "component_expired")
    record("component expired after stacking (verified at 2031)", expired.verdict.value, expired.reason)

    stack_dan = badges[("dan", UNI + "analyst")]
    parts_dan = [badges[("dan", UNI + "sql")], dans_python]
    uni.revoke(dans_python["id"])  # revoked after stacking
    revoked = verify_stack(verifier, presented(stack_dan), [presented(p) for p in parts_dan])
    assert (revoked.verdict, revoked.reason) == (Verdict.REVOKED, "component_revoked")
    assert "Python" in revoked.summary and dans_python["id"] in revoked.summary
    assert revoked.stack.verdict is Verdict.VALID  # the stack itself is not revoked: its component is
    record("component revoked after stacking", revoked.verdict.value, f"{revoked.reason} ({revoked.summary})")

    # Across issuers: SQL from Uni, Viz from Other presented by the holder (--evidence).
    cross = parse_pathway(pathway_text(UNI + "analyst-x", [(UNI + "sql", None), (OTHER + "viz", other.did)]))
    other_badges = other.badges()
    evidence = [("eve-viz.json", presented(other_badges[("eve", OTHER + "viz")])),
                ("bob-viz.json", presented(other_badges[("bob", OTHER + "viz")]))]
    forged = copy.deepcopy(other_badges[("eve", OTHER + "viz")])
    forged["credentialSubject"]["achievement"]["creditsAvailable"] = 20
    evidence.append(("forged.json", presented(forged)))
    none = stack_pathway(uni.store, uni.row, cross, verifier, sign=uni.sign())
    assert none.created == 0 and "eve@example.org" in dict(none.short)
    forged_viz = copy.deepcopy(other_badges[("ada", OTHER + "viz")]) if ("ada", OTHER + "viz") in other_badges else None
    assert forged_viz is None  # ada holds no Viz
    xrun = stack_pathway(uni.store, uni.row, cross, verifier, sign=uni.sign(), evidence=evidence)
    assert xrun.created == 2 and xrun.evidence_used == 2, xrun  # eve and bob (both hold SQL from Uni)
    assert "ada@example.org" in dict(xrun.short)
    refused = dict(xrun.evidence_refused)
    assert list(refused) == ["forged.json"] and refused["forged.json"].startswith("invalid")
    record("forged evidence badge (--evidence)", "not used", refused["forged.json"][:60])
    record("cross-issuer component via --evidence (eve, bob)", "issued 2", None)
    uni.anchor()
    badges = uni.badges()
    stack_eve = badges[("eve", UNI + "analyst-x")]
    assert [e["description"] for e in stack_eve["evidence"]] == ["Component of Data Analyst, issued by Uni",
                                                                 "Component of Data Analyst, issued by Other"]
    xok = verify_stack(verifier, presented(stack_eve), [presented(badges[("eve", UNI + "sql")]),
                                                        presented(other_badges[("eve", OTHER + "viz")])])
    assert xok.verdict is Verdict.VALID, xok.to_json()
    record("cross-issuer stack + components", xok.verdict.value, xok.reason)
    other.revoke(other_badges[("bob", OTHER + "viz")]["id"])
    xrev = verify_stack(verifier, presented(badges[("bob", UNI + "analyst-x")]),
                        [presented(badges[("bob", UNI + "sql")]), presented(other_badges[("bob", OTHER + "viz")])])
    assert (xrev.verdict, xrev.reason) == (Verdict.REVOKED, "component_revoked")
    record("cross-issuer component revoked by its issuer after stacking", xrev.verdict.value, xrev.reason)


def _tamper(store: Store, credential_id: str, column: str, edit: Any) -> None:
    """Rewrite a stored column of one credential's document row, behind anchor's back."""
    from sqlalchemy import text

    where = "credential_pk = (SELECT id FROM credentials WHERE credential_id = :c)"
    with store.engine.begin() as conn:
        value = bytes(conn.execute(text(f"SELECT {column} FROM credential_documents WHERE {where}"), {"c": credential_id}).scalar_one())
        edited = edit(value)
        assert edited != value
        conn.execute(text(f"UPDATE credential_documents SET {column} = :v WHERE {where}"), {"v": edited, "c": credential_id})


def test_stacking_checks_every_stored_component_against_the_chain(anvil: DevChain, chain: Chain, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk path of ``anchor stack`` (stored documents, each batch's tree once, the chain's
    facts per batch) refuses what the full verifier of the delivered badge refuses, component by
    component: revoked one by one or with its whole batch, altered in the database (document or
    signature), expired, not anchored, in a batch whose stored tree was altered."""
    from anchor.app.revoking import request_batch_revocation
    from anchor.app.stack_components import OwnComponents
    from anchor.app.stacking import _Badges

    admin = dev_signer(0)
    registry, _ = Registry.deploy(chain, admin)
    uni = Org(chain, registry, admin, dev_signer(1), "Uni", tmp_path)
    verifier = Verifier(lambda a: RegistryReader.connect(anvil.rpc_url, a, head_ttl=0.5), VerifyOptions(registry=registry.address))
    everyone = [f"{h}@example.org" for h in ("ada", "bob", "cat", "dan", "eve", "fay", "gus", "hal", "ivy", "jo")]
    sql, py = raw_achievement(UNI + "sql", "SQL"), raw_achievement(UNI + "python", "Python")
    uni.issue(sql, everyone)
    uni.issue(py, ["ada@example.org", "bob@example.org", "dan@example.org", "eve@example.org"])
    uni.issue(py, ["gus@example.org"], valid_until=datetime(2030, 1, 1, tzinfo=UTC))
    uni.issue(py, ["fay@example.org"], valid_from=datetime(2020, 1, 1, tzinfo=UTC), valid_until=datetime(2021, 1, 1, tzinfo=UTC))
    uni.anchor()
    uni.issue(py, ["cat@example.org"])  # a batch of its own, revoked as a whole below
    uni.anchor()
    uni.issue(py, ["ivy@example.org", "jo@example.org"])  # a batch whose stored tree is altered below
    uni.anchor()
    uni.issue(py, ["hal@example.org"])  # never anchored
    ids = {(email.split("@")[0], uri.rsplit("/", 1)[1]): cid for cid, email, _n, uri in uni.store.stack_candidates(uni.row.id, None)}

    uni.revoke(ids[("bob", "python")])
    cat = uni.store.locate(ids[("cat", "python")])
    assert cat is not None and cat.root is not None
    assert request_batch_revocation(uni.store, uni.row.id, cat.root, 1, "test")
    submit_revocations(uni.store, registry, uni.account, uni.row.id)
    _tamper(uni.store, ids[("dan", "python")], "document", lambda d: d.replace(b'"creditsAvailable":2', b'"creditsAvailable":9'))
    _tamper(uni.store, ids[("eve", "python")], "signature", lambda s: s[:-3] + (b"1" if s[-3:-2] != b"1" else b"2") + s[-2:])
    ivy = uni.store.locate(ids[("ivy", "python")])
    assert ivy is not None and ivy.batch_id is not None
    from sqlalchemy import text

    with uni.store.engine.begin() as conn:  # jo's leaf replaced: ivy's path (jo's leaf) no longer leads to the root
        leaves = bytes(conn.execute(text("SELECT nodes FROM tree_chunks WHERE batch_id = :b AND level = 0"), {"b": ivy.batch_id}).scalar_one())
        assert len(leaves) == 64
        mine = 0 if ivy.leaf_index == 0 else 32
        other = merkle.hash_leaf(b"{}")
        altered = leaves[:32] + other if mine == 0 else other + leaves[32:]
        conn.execute(text("UPDATE tree_chunks SET nodes = :n WHERE batch_id = :b AND level = 0"), {"n": altered, "b": ivy.batch_id})

    # The bulk path and the full verification of each delivered badge agree, component by component.
    own = OwnComponents(uni.store, uni.row, uni.did, verifier, datetime.now(UTC))
    fast = own.check({cid: UNI + key for (_h, key), cid in ids.items()})
    badges = _Badges(uni.store)
    expected = {("ada", "python"): "ok", ("gus", "python"): "ok", ("bob", "python"): "revoked", ("cat", "python"): "revoked",
                ("dan", "python"): "invalid", ("eve", "python"): "invalid", ("fay", "python"): "expired",
                ("hal", "python"): "unanchored", ("ivy", "python"): "invalid", ("jo", "python"): "ok"}
    for (holder, key), cid in sorted(ids.items()):
        built = badges.badge(cid)
        full = "unanchored" if built is None else (lambda r: "ok" if r.verdict is Verdict.VALID else r.verdict.value)(
            verifier.verify(json.loads(built[0])))
        assert (fast[cid][0].status, full) == (expected.get((holder, key), "ok"),) * 2, (holder, key, fast[cid][0], full)

    pathway = parse_pathway(pathway_text(UNI + "analyst", [(UNI + "sql", None), (UNI + "python", None)]))
    monkeypatch.setattr("anchor.app.stacking.HOLDERS_PER_READ", 3)  # holders read and verified 3 at a time
    run = stack_pathway(uni.store, uni.row, pathway, verifier, sign=uni.sign())
    short = dict(run.short)
    assert run.created == 3 and set(short) == {f"{h}@example.org" for h in ("bob", "cat", "dan", "eve", "fay", "hal", "ivy")}, run
    for holder, word in (("bob", "is revoked"), ("cat", "is revoked"), ("dan", "is invalid"), ("eve", "is invalid"),
                         ("fay", "is expired"), ("hal", "is unanchored"), ("ivy", "is invalid")):
        assert word in short[f"{holder}@example.org"], (holder, short[f"{holder}@example.org"])
    record("bulk path: component revoked on its own (bob)", "not issued", short["bob@example.org"].split(": ", 1)[1])
    record("bulk path: component's whole batch revoked (cat)", "not issued", short["cat@example.org"].split(": ", 1)[1])
    record("bulk path: component document altered in the database (dan)", "not issued", short["dan@example.org"].split(": ", 1)[1])
    record("bulk path: component signature altered in the database (eve)", "not issued", short["eve@example.org"].split(": ", 1)[1])
    record("bulk path: component expired (fay)", "not issued", short["fay@example.org"].split(": ", 1)[1])
    record("bulk path: component not anchored (hal)", "not issued", short["hal@example.org"].split(": ", 1)[1])
    record("bulk path: component whose path in the stored tree was altered (ivy; jo, whose leaf it was, still qualifies)",
           "not issued", short["ivy@example.org"].split(": ", 1)[1])


def test_the_cli_stacks_and_verifies_with_components(anvil: DevChain, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers import Cli

    cli = Cli(tmp_path / "home", anvil.rpc_url, capsys)
    cli.setup_issuer()
    import yaml

    for key, name in (("sql", "SQL"), ("python", "Python")):
        (tmp_path / f"{key}.yaml").write_text(yaml.safe_dump(raw_achievement(UNI + key, name)))
    (tmp_path / "roster.csv").write_text("name,email\nAda,ada@example.org\nBob,bob@example.org\n")
    (tmp_path / "ada.csv").write_text("name,email\nAda,ada@example.org\n")
    cli.ok("issue", str(tmp_path / "roster.csv"), "--achievement", str(tmp_path / "sql.yaml"))
    cli.ok("issue", str(tmp_path / "ada.csv"), "--achievement", str(tmp_path / "python.yaml"))
    cli.ok("anchor")
    # A pathway naming an achievement this issuer never awarded is refused, before anything is verified or issued.
    (tmp_path / "typo.yaml").write_text(pathway_text(UNI + "analyst", [(UNI + "sql", None), (UNI + "pyhton", None)]))
    code, out, err = cli("stack", str(tmp_path / "typo.yaml"))
    assert code == 2 and "issued" not in out, (code, out, err)
    assert err.strip().count("\n") == 0 and "unknown achievement(s) https://uni.example/achievements/pyhton" in err, err
    record("CLI: anchor stack PATHWAY naming an achievement nobody issued", "refused (exit 2)", "pathway_unknown_achievement")
    (tmp_path / "pathway.yaml").write_text(pathway_text(UNI + "analyst", [(UNI + "sql", None), (UNI + "python", None)]))
    # Its chain reads go through the settings' RPC URLs: the first one down, the fallback answers.
    monkeypatch.setenv("ANCHOR_RPC_URLS", anvil.rpc_url)
    out = Cli(cli.home, "http://127.0.0.1:9", capsys).ok("stack", str(tmp_path / "pathway.yaml"))
    monkeypatch.delenv("ANCHOR_RPC_URLS")
    assert "issued 1 pending stacked credential(s)" in out and "bob@example.org: " in out and "1 holder(s) do not qualify" in out
    assert "issued 0 pending" in cli.ok("stack", str(tmp_path / "pathway.yaml"))
    cli.ok("anchor")
    cli.ok("export", str(tmp_path / "badges"))
    files = {json.loads(p.read_text())["credentialSubject"]["achievement"]["id"]: p for p in (tmp_path / "badges").glob("*.json")
             if recipient_matches_ada(p)}
    stack_file = files[UNI + "analyst"]
    parts = tmp_path / "parts"
    parts.mkdir()
    for key in ("sql", "python"):
        parts.joinpath(files[UNI + key].name).write_bytes(files[UNI + key].read_bytes())
    out = cli.ok("verify", str(stack_file), "--components", str(parts))
    assert out.startswith("VALID") and "stacked badge, 2 component(s)" in out and out.count("ok   ") == 2
    vp = tmp_path / "vp.json"
    vp.write_text(json.dumps({"type": ["VerifiablePresentation"],
                              "verifiableCredential": [json.loads(p.read_text()) for p in parts.iterdir()]}))
    report = json.loads(cli.ok("verify", str(stack_file), "--components", str(vp), "--json"))
    assert report["verdict"] == "valid" and [c["status"] for c in report["components"]] == ["ok", "ok"]
    tampered = json.loads(files[UNI + "python"].read_text())
    tampered["name"] = "Python!"
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps([json.loads(files[UNI + "sql"].read_text()), tampered]))
    code, out, _ = cli("verify", str(stack_file), "--components", str(bundle))
    assert code == 1 and out.startswith("INVALID") and "[component_altered]" in out
    record("CLI: anchor verify STACK --components bundle (tampered)", "invalid (exit 1)", "component_altered")
    alone = cli.ok("verify", str(stack_file))
    assert alone.startswith("VALID")


def recipient_matches_ada(path: Path) -> bool:
    from anchor.core.credential import recipient_matches

    return recipient_matches(json.loads(path.read_text()), "ada@example.org")
