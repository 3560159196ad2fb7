"""Portable badges, judged by others and by anchor, end to end on a real Anvil, SQLite and the
real HTTP service (status lists and did:web documents fetched from it over HTTP).

* openbadgeslib 4.6.3 verifies every export form (JSON: OB3LdpVerifier, JWT: OB3Verifier, PNG and
  SVG: verify_badge), the issuer's did:key resolved locally; with check_status it reads our
  served status list and reports a revoked badge revoked, once the list is republished.
* @digitalbazaar/vc verifies the eddsa-rdfc-2022 proof of the credential in every form, jsonld.js
  safe mode expands it (proof set included), vc-bitstring-status-list reads the revoked bit.
* anchor's verifier accepts every form (and says which it read): Python API, POST /api/v1/verify,
  `anchor verify`.
* A revocation checked both ways: anchor reads the chain (revoked at once), the others read the
  status list (revoked only after it is republished: that gap is why anchor trusts the chain).
* A valid signature never makes a badge valid for anchor without its anchor, and forgeries fail.
* Key rotation of a did:web issuer served by the service: old and new badges verify everywhere.

Run with ``-s`` to see the table of which judge accepted which form; set PORTABLE_REPORT=<path>
to have it written there too.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from openbadgeslib.ob3.did import resolve_verification_method
from openbadgeslib.ob3.ldp import OB3LdpVerifier, verify_data_integrity_proof
from openbadgeslib.ob3.verifier import OB3VerificationError, OB3Verifier
from openbadgeslib.verify import verify_badge
from sqlalchemy import select

from anchor.app.issuing import issue_credentials
from anchor.app.signing_keys import dev_signing_key_for
from anchor.app.status_lists import compare_status_lists, read_chain_revocations
from anchor.app.verifying import Verifier, VerifyOptions
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.chain.reader import RegistryReader
from anchor.chain.signer import dev_signer
from anchor.core.credential import without_proof
from anchor.core.dataintegrity import create_proof
from anchor.core.did import did_web_for_url
from anchor.core.ed25519 import SigningKey, did_key, public_multibase, verification_method
from anchor.core.forms import read_badge
from anchor.core.roster import parse_roster
from anchor.core.status_list import decode_list, encode_list, set_bits
from anchor.core.verdict import Report, prepare_presented
from anchor.store.schema import CredentialRow, DocumentRow
from tests.helpers import Cli
from tests.judges import di_verify, jsonld_safe_expand, status_check
from tests.portable_world import (
    Exported,
    PortableIssuer,
    PortableWorld,
    assemble,
    portable_world,
    receipt_for,
    single_leaf_tree,
)
from tests.world import achievement

pytestmark = pytest.mark.chain

FORMS = ("json", "jwt", "png", "svg")
CONTENT_TYPES = {"json": "application/json", "jwt": "application/jwt", "png": "image/png", "svg": "image/svg+xml"}
JWT_CLAIMS = ("iss", "jti", "sub", "nbf", "exp", "iat")


# ---------------------------------------------------------------------------- the report table


@dataclass
class Table:
    """Which judge said what, section by section (rows and columns in the order first seen)."""

    sections: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)
    timings: dict[str, list[float]] = field(default_factory=dict)

    def put(self, section: str, row: str, column: str, value: str) -> None:
        self.sections.setdefault(section, {}).setdefault(row, {})[column] = value
        cols = self.columns.setdefault(section, [])
        if column not in cols:
            cols.append(column)

    def timed(self, what: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.timings.setdefault(what, []).append(time.perf_counter() - start)

    def render(self) -> str:
        out: list[str] = []
        for section, rows in self.sections.items():
            cols = self.columns[section]
            first = max(len(r) for r in rows)
            widths = [max(len(c), *(len(rows[r].get(c, "-")) for r in rows)) for c in cols]
            out.append(f"## {section}")
            out.append(" | ".join(["".ljust(first), *(c.ljust(w) for c, w in zip(cols, widths, strict=True))]).rstrip())
            out.append("-+-".join(["-" * first, *("-" * w for w in widths)]))
            for r, cells in rows.items():
                out.append(" | ".join([r.ljust(first), *(cells.get(c, "-").ljust(w) for c, w in zip(cols, widths, strict=True))]).rstrip())
            out.append("")
        if self.timings:
            out.append("## timings (per call)")
            for what, runs in self.timings.items():
                out.append(f"{what}: {len(runs)} call(s), mean {1000 * sum(runs) / len(runs):.0f} ms, max {1000 * max(runs):.0f} ms")
        return "\n".join(out) + "\n"


TABLE = Table()
FORMS_SECTION = "1. A fresh did:key badge in every export form"
REVOCATION_SECTION = "2. One badge revoked, checked both ways (anchor reads the chain, the others the status list)"
FORGERY_SECTION = "3. Valid signature without a valid anchor, and forgeries"
ROTATION_SECTION = "4. did:web issuer served by the service, key rotated (old = key 1, new = key 2)"


@pytest.fixture(scope="module", autouse=True)
def report_table() -> Iterator[Table]:
    yield TABLE
    text = TABLE.render()
    print("\n" + text)
    target = os.environ.get("PORTABLE_REPORT")
    if target:
        Path(target).write_text(text)


# ---------------------------------------------------------------------------- the world


@pytest.fixture(scope="module")
def world(anvil: DevChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortableWorld]:
    with portable_world(Chain(anvil.rpc_url), anvil.rpc_url, tmp_path_factory.mktemp("portable")) as w:
        yield w


@dataclass
class KeyIssuer:
    issuer: PortableIssuer
    exported: Exported
    ids: list[str]  # [0] stays valid, [1] is revoked (revocation fixture), [2] is forged from

    @property
    def fresh(self) -> str:
        return self.ids[0]

    @property
    def revoked(self) -> str:
        return self.ids[1]


@pytest.fixture(scope="module")
def keyed(world: PortableWorld, tmp_path_factory: pytest.TempPathFactory) -> KeyIssuer:
    """A did:key issuer (the development key of dev account 1), 4 badges issued, anchored,
    exported in every form, its status lists published and served."""
    account = dev_signer(1)
    issuer = world.register(account, dev_signing_key_for(account.address), did_method="key", name="Key University")
    assert issuer.did == did_key(issuer.key.public_key)
    ids = issuer.issue_and_anchor(4, "Holder")
    exported = issuer.export(tmp_path_factory.mktemp("keyed") / "badges")
    report = issuer.publish_lists()
    assert report.lists == [0] and report.revoked == 0
    return KeyIssuer(issuer, exported, ids)


def anchor_check(world: PortableWorld, data: bytes) -> Report:
    """anchor's verifier through the Python API, offline-style: a chain reader of its own."""
    verifier = Verifier(lambda address: RegistryReader.connect(world.chain.rpc_url, address, head_ttl=0),
                        VerifyOptions(registry=world.registry.address))
    return verifier.check(prepare_presented(read_badge(data)))


def anchor_http(world: PortableWorld, data: bytes, form: str) -> dict[str, Any]:
    r = requests.post(f"{world.url}/api/v1/verify", data=data, headers={"Content-Type": CONTENT_TYPES[form]}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def failed(report: dict[str, Any]) -> tuple[str, str | None]:
    """(check name, reason) of the first failed check of a report's JSON."""
    bad = next((c for c in report["checks"] if c["status"] == "failed"), None)
    return (bad["name"], bad["reason"]) if bad else ("", None)


def verdict_cell(report: dict[str, Any]) -> str:
    _, reason = failed(report)
    return report["verdict"] + (f" ({reason})" if reason and report["verdict"] != "revoked" else "")


def b64url_json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def extracted_credential(data: bytes, form: str) -> dict[str, Any]:
    """The credential inside a form, read with openbadgeslib's own extractors (not anchor's):
    a JWT's payload without its registered claims, an image's baked text."""
    if form == "json":
        return json.loads(data)  # type: ignore[no-any-return]
    if form == "jwt":
        token = data.decode()
    elif form == "png":
        token = OB3Verifier.extract_token_from_png(data)
    else:
        token = OB3Verifier.extract_token_from_svg(data)
    if form == "jwt":
        payload = b64url_json(token.split(".")[1])
        return {k: v for k, v in payload.items() if k not in JWT_CLAIMS}
    return json.loads(token)  # type: ignore[no-any-return]


def obl(form: str, data: bytes, did: str, *, status: bool = False, download: Callable[[str], bytes] | None = None,
        verify_status_list: bool = False) -> str | None:
    """openbadgeslib on one form: None when it accepts, else its reason. JSON through
    OB3LdpVerifier, JWT through OB3Verifier, baked images through verify_badge (which picks the
    verifier for the baked text); the issuer's DID is pinned (did:key resolves locally, did:web
    through ``download``)."""
    def run() -> str | None:
        try:
            if form == "json":
                OB3LdpVerifier.for_issuer_did(did, download=download).verify(
                    data, check_status=status, download=download, verify_status_list=verify_status_list)
            elif form == "jwt":
                OB3Verifier.for_issuer_did(did, download=download).verify(
                    data.decode(), check_status=status, download=download, verify_status_list=verify_status_list)
            else:
                result = verify_badge(data, resolve_did=True, check_status=status, download=download,
                                      verify_status_list=verify_status_list)
                if not result.valid:
                    return result.reason or "invalid"
                assert result.issuer_did == did and result.proof_format == "ldp", result
                assert result.trusted is did.startswith("did:web:")  # openbadgeslib calls a did:key self-asserted
            return None
        except OB3VerificationError as e:
            return str(e)

    return TABLE.timed(f"openbadgeslib {form}", run)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- 1. every form


def test_openbadgeslib_verifies_every_form_of_a_fresh_badge(world: PortableWorld, keyed: KeyIssuer) -> None:
    did = keyed.issuer.did
    fetcher = world.fetcher
    for form in FORMS:
        data = keyed.exported.data(keyed.fresh, form)
        assert obl(form, data, did) is None, form
        TABLE.put(FORMS_SECTION, "openbadgeslib: signature (did:key resolved locally)", form, "valid")
        before = len(fetcher.fetched)
        assert obl(form, data, did, status=True, download=fetcher) is None, form
        assert fetcher.fetched[before:] == [keyed.exported.badge(keyed.fresh)["credentialStatus"]["statusListCredential"]]
        TABLE.put(FORMS_SECTION, "openbadgeslib: + status list over HTTP", form, "valid, not revoked")


def test_openbadgeslib_verifies_only_jwt_status_lists_so_ours_are_read_with_the_list_proof_checked_apart(
        world: PortableWorld, keyed: KeyIssuer) -> None:
    """openbadgeslib's default (verify_status_list=True) verifies the status list's OWN signature
    only when the list is a VC-JWT; ours is a Data Integrity (eddsa-rdfc-2022) list, which
    @digitalbazaar/vc-bitstring-status-list verifies (section 2). So its bit is read with
    verify_status_list=False, and the list's proof is checked by openbadgeslib's own Data
    Integrity primitive against the issuer's did:key (and its issuer is the badge's)."""
    data = keyed.exported.data(keyed.fresh, "json")
    refused = obl("json", data, keyed.issuer.did, status=True, download=world.fetcher, verify_status_list=True)
    assert refused is not None and "is not a signed JWT-VC" in refused
    url = keyed.exported.badge(keyed.fresh)["credentialStatus"]["statusListCredential"]
    status_list = json.loads(world.fetcher(url))
    assert status_list["issuer"] == keyed.issuer.did
    pem = resolve_verification_method(status_list["proof"]["verificationMethod"])
    verify_data_integrity_proof(status_list, pem)
    tampered = json.loads(json.dumps(status_list))
    tampered["credentialSubject"]["encodedList"] = encode_list({7})  # a bit the issuer did not set
    with pytest.raises(OB3VerificationError):
        verify_data_integrity_proof(tampered, pem)
    TABLE.put(FORMS_SECTION, "openbadgeslib: + status list, default verify_status_list=True", "json",
              "refused: lists must be VC-JWT")
    TABLE.put(FORMS_SECTION, "openbadgeslib: DI proof of our served status list", "json", "valid")


def test_the_js_judges_accept_the_credential_in_every_form(keyed: KeyIssuer) -> None:
    """@digitalbazaar/vc (eddsa-rdfc-2022) and jsonld.js safe mode on the credential carried by each
    form, extracted with openbadgeslib's readers: the same credential, proof set included."""
    badge = keyed.exported.badge(keyed.fresh)
    for form in FORMS:
        credential = extracted_credential(keyed.exported.data(keyed.fresh, form), form)
        assert credential == badge, form
        verified = TABLE.timed("@digitalbazaar/vc verify-di", lambda c=credential: di_verify(c))
        assert verified.verified, (form, verified.messages)
        assert [(p["type"], p["cryptosuite"]) for p in verified.raw["ignoredProofs"]] == [("DataIntegrityProof", "anchor-merkle-2026")]
        TABLE.put(FORMS_SECTION, "@digitalbazaar/vc: eddsa-rdfc-2022 proof", form, "verified")
        expanded = TABLE.timed("jsonld.js safe expand", lambda c=credential: jsonld_safe_expand(c))
        assert expanded.ok, (form, expanded.messages)
        TABLE.put(FORMS_SECTION, "jsonld.js: safe-mode expansion, whole badge", form, "ok")


def test_anchor_accepts_every_form_through_the_api_and_over_http(world: PortableWorld, keyed: KeyIssuer) -> None:
    for form in FORMS:
        data = keyed.exported.data(keyed.fresh, form)
        report = TABLE.timed("anchor Verifier.check", lambda d=data: anchor_check(world, d)).to_json()
        assert (report["verdict"], report["format"]) == ("valid", form), report
        signature = next(c for c in report["checks"] if c["name"] == "signature")
        assert signature["status"] == "passed" and ("VC-JWT" in signature["message"]) is (form == "jwt")
        TABLE.put(FORMS_SECTION, "anchor: Python API (chain + signature)", form, f"valid, format={report['format']}")
        served = anchor_http(world, data, form)
        assert (served["verdict"], served["format"]) == ("valid", form), served
        TABLE.put(FORMS_SECTION, "anchor: POST /api/v1/verify (Content-Type per form)", form,
                  f"valid, format={served['format']}")


def test_anchor_verify_cli_accepts_every_form(world: PortableWorld, keyed: KeyIssuer, revocation: Timeline,
                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli = Cli(tmp_path / "home", world.chain.rpc_url, capsys)
    for form in FORMS:
        path = keyed.exported.path(keyed.fresh, form)
        code, out, err = cli("verify", str(path), "--registry", world.registry.address, "--json")
        report = json.loads(out)
        assert (code, report["verdict"], report["format"]) == (0, "valid", form), err
        TABLE.put(FORMS_SECTION, "anchor: `anchor verify FILE` (exit code)", form, f"valid ({code}), format={form}")
        human = cli.ok("verify", str(path), "--registry", world.registry.address)
        assert human.startswith(f"VALID: {path.name} (read as ")
    code, out, _ = cli("verify", str(keyed.exported.path(keyed.revoked, "png")), "--registry", world.registry.address, "--json")
    assert (code, json.loads(out)["verdict"], json.loads(out)["format"]) == (10, "revoked", "png")


# ---------------------------------------------------------------------------- 2. revocation, both ways


@dataclass
class Stage:
    anchor_api: str
    anchor_http: str
    obl_signature: str | None  # None: accepted
    obl_status: str | None
    js_bit: bool
    audit: list[str]


@dataclass
class Timeline:
    credential_id: str
    stages: dict[str, Stage]


@pytest.fixture(scope="module")
def revocation(world: PortableWorld, keyed: KeyIssuer) -> Timeline:
    """Badge [1] of the did:key issuer through a real revocation: observed by every judge before,
    after the on-chain revocation (lists not republished yet) and after the lists are republished."""
    issuer, exported, cid = keyed.issuer, keyed.exported, keyed.revoked
    data = exported.data(cid, "json")
    badge = exported.badge(cid)
    url = badge["credentialStatus"]["statusListCredential"]

    def observe() -> Stage:
        time.sleep(world.head_ttl + 0.05)  # the service re-reads the head at most this often
        served = json.loads(world.fetcher(url))
        js = TABLE.timed("vc-bitstring-status-list verify-status", lambda: status_check(badge, {url: served}))
        assert js.verified, js.messages
        (entry,) = js.raw["statuses"]
        audit = compare_status_lists(world.store, issuer.row, read_chain_revocations(world.registry, issuer.address))
        return Stage(anchor_api=anchor_check(world, data).verdict.value, anchor_http=anchor_http(world, data, "json")["verdict"],
                     obl_signature=obl("json", data, issuer.did),
                     obl_status=obl("json", data, issuer.did, status=True, download=world.fetcher),
                     js_bit=bool(entry["status"]), audit=[f.code for f in audit])

    stages = {"issued, lists published": observe()}
    issuer.revoke([cid])
    stages["revoked on chain, lists not yet republished"] = observe()
    report = issuer.publish_lists()
    assert report.changed == [0] and report.revoked == 1
    stages["lists republished from the chain"] = observe()
    for name, s in stages.items():
        TABLE.put(REVOCATION_SECTION, name, "anchor API / HTTP", f"{s.anchor_api} / {s.anchor_http}")
        TABLE.put(REVOCATION_SECTION, name, "openbadgeslib signature", "valid" if s.obl_signature is None else "refused")
        TABLE.put(REVOCATION_SECTION, name, "openbadgeslib + status list", "not revoked" if s.obl_status is None else "REVOKED")
        TABLE.put(REVOCATION_SECTION, name, "vc-bitstring-status-list", "bit set" if s.js_bit else "bit clear")
        TABLE.put(REVOCATION_SECTION, name, "anchor audit", ", ".join(s.audit) or "lists agree with chain")
    return Timeline(cid, stages)


def test_a_revoked_badge_is_revoked_for_anchor_at_once_and_for_the_others_once_the_list_is_republished(revocation: Timeline) -> None:
    before, gap, after = revocation.stages.values()
    assert (before.anchor_api, before.anchor_http, before.obl_signature, before.obl_status, before.js_bit, before.audit) == (
        "valid", "valid", None, None, False, [])
    # The chain is the truth at once; the status list still says "not revoked" until republished,
    # and anchor's audit names exactly that lag.
    assert (gap.anchor_api, gap.anchor_http, gap.obl_signature, gap.obl_status, gap.js_bit) == ("revoked", "revoked", None, None, False)
    assert gap.audit == ["status_list_unrevoked"]
    assert (after.anchor_api, after.anchor_http, after.obl_signature, after.js_bit, after.audit) == ("revoked", "revoked", None, True, [])
    assert after.obl_status is not None and "Credential status 'revocation' is set" in after.obl_status


def test_the_served_list_shows_the_revoked_bit(world: PortableWorld, keyed: KeyIssuer, revocation: Timeline) -> None:
    badge = keyed.exported.badge(revocation.credential_id)
    served = json.loads(world.fetcher(badge["credentialStatus"]["statusListCredential"]))
    assert set_bits(decode_list(served["credentialSubject"]["encodedList"])) == {int(badge["credentialStatus"]["statusListIndex"])}
    # The revoked badge in every form: anchor says revoked, openbadgeslib's signature check (no
    # status) still says valid: a valid signature says nothing about revocation.
    for form in FORMS:
        data = keyed.exported.data(revocation.credential_id, form)
        assert (anchor_check(world, data).verdict.value, obl(form, data, keyed.issuer.did)) == ("revoked", None), form
        refused = obl(form, data, keyed.issuer.did, status=True, download=world.fetcher)
        assert refused is not None and "'revocation' is set" in refused, form
        TABLE.put(REVOCATION_SECTION, f"after republish, {form} form", "anchor API / HTTP", "revoked / -")
        TABLE.put(REVOCATION_SECTION, f"after republish, {form} form", "openbadgeslib signature", "valid")
        TABLE.put(REVOCATION_SECTION, f"after republish, {form} form", "openbadgeslib + status list", "REVOKED")


# ---------------------------------------------------------------------------- 3. signature without anchor; forgeries


def pending_document(world: PortableWorld, issuer: PortableIssuer) -> dict[str, Any]:
    """A credential issued (`anchor issue`) and never anchored: its stored document."""
    issue_credentials(world.store, issuer.row, achievement(), parse_roster("name,email\nNever Anchored,never@example.org\n"))
    with world.store.session() as s:
        (document,) = s.scalars(select(DocumentRow.document).join(CredentialRow, CredentialRow.id == DocumentRow.credential_pk)
                                .where(CredentialRow.issuer_id == issuer.row.id, CredentialRow.batch_id.is_(None))).all()
    return json.loads(document)  # type: ignore[no-any-return]


def record_forgery(case: str, anchor: dict[str, Any], obl_result: str | None, *, obl_note: str = "") -> None:
    TABLE.put(FORGERY_SECTION, case, "anchor", verdict_cell(anchor))
    TABLE.put(FORGERY_SECTION, case, "openbadgeslib", ("valid signature" if obl_result is None else "refused") + obl_note)


def anchor_entry(badge: dict[str, Any]) -> bytes:
    (entry,) = [p for p in badge["proof"] if p["cryptosuite"] == "anchor-merkle-2026"]
    return json.dumps(entry, separators=(",", ":")).encode()


def test_a_signed_badge_whose_anchor_is_missing_is_not_valid(world: PortableWorld, keyed: KeyIssuer) -> None:
    issuer = keyed.issuer
    document = pending_document(world, issuer)
    signature = create_proof(document, issuer.key, verification_method(issuer.did, issuer.key.public_key), document["validFrom"])

    # (a) signed by the issuer's bound key, no anchor receipt at all
    bare = assemble(document, None, signature)
    data = json.dumps(bare).encode()
    report = anchor_check(world, data).to_json()
    assert report["verdict"] == "invalid" and failed(report) == ("proof", "missing_proof")
    assert obl("json", data, issuer.did) is None
    record_forgery("issuer-signed, never anchored, no receipt", report, None)

    # (b) the same with a receipt for a root (its own one-leaf batch) that was never anchored
    head = world.chain.block_number()
    receipt = receipt_for(document, chain_id=world.registry.chain_id, registry=world.registry.address, issuer_address=issuer.address,
                          tx_hash=bytes.fromhex("ab" * 32), block_number=head, block_time=world.chain.block_time(head))
    claimed = assemble(document, receipt, signature)
    data = json.dumps(claimed).encode()
    report = anchor_check(world, data).to_json()
    assert report["verdict"] == "invalid" and failed(report) == ("anchor", "root_not_anchored")
    assert next(c for c in report["checks"] if c["name"] == "proof")["status"] == "passed"
    assert anchor_http(world, data, "json")["verdict"] == "invalid"
    assert obl("json", data, issuer.did) is None
    record_forgery("issuer-signed, receipt for a root never anchored", report, None)


def test_a_revoked_badge_with_a_valid_signature_is_revoked(world: PortableWorld, keyed: KeyIssuer, revocation: Timeline) -> None:
    data = keyed.exported.data(revocation.credential_id, "json")
    report = anchor_check(world, data).to_json()
    checks = {c["name"]: c for c in report["checks"]}
    assert report["verdict"] == "revoked" and checks["signature"]["status"] == "passed"
    assert checks["revocation"]["reason"] == "revoked"
    assert obl("json", data, keyed.issuer.did) is None
    record_forgery("issuer-signed and anchored, then revoked", report, None, obl_note=" (without status)")


def test_forgeries_fail_for_anchor_and_for_openbadgeslib(world: PortableWorld, keyed: KeyIssuer, web: WebIssuer) -> None:
    issuer, exported = keyed.issuer, keyed.exported
    original = exported.badge(keyed.ids[2])
    receipt = anchor_entry(original)
    other = SigningKey.generate()
    other_did = did_key(other.public_key)

    # Re-signed by another key (its own did:key) with the issuer id changed to it: a perfectly
    # signed credential for openbadgeslib; for anchor the content no longer matches the anchor.
    moved = without_proof(original)
    moved["issuer"] = {**moved["issuer"], "id": other_did}
    resigned = assemble(moved, receipt, create_proof(moved, other, verification_method(other_did, other.public_key), moved["validFrom"]))
    data = json.dumps(resigned).encode()
    report = anchor_check(world, data).to_json()
    assert report["verdict"] == "invalid" and failed(report) == ("proof", "root_mismatch")
    assert obl("json", data, other_did) is None  # self-consistent under the forger's own did:key ...
    pinned = obl("json", data, issuer.did)  # ... and refused once the real issuer's DID is pinned
    assert pinned is not None and "does not match the DID" in pinned
    record_forgery("re-signed by another did:key, issuer id changed", report, None, obl_note=" (under the forger's DID)")

    # The same forgery anchored by an authorized issuer (the did:web one) for real: the anchor
    # holds, but the anchoring account's profile is not the DID the credential names.
    receipt_tx = world.registry.anchor(web.issuer.account, *_single_root(moved))
    anchored = assemble(moved, receipt_for(moved, chain_id=world.registry.chain_id, registry=world.registry.address,
                                           issuer_address=web.issuer.address, tx_hash=receipt_tx.tx_hash,
                                           block_number=receipt_tx.block_number,
                                           block_time=world.chain.block_time(receipt_tx.block_number)),
                        create_proof(moved, other, verification_method(other_did, other.public_key), moved["validFrom"]))
    data = json.dumps(anchored).encode()
    report = anchor_check(world, data).to_json()
    assert report["verdict"] == "invalid" and failed(report) == ("issuer", "issuer_mismatch")
    assert obl("json", data, other_did) is None
    record_forgery("the same, anchored by another authorized issuer", report, None, obl_note=" (under the forger's DID)")

    # Re-signed by another did:key, issuer id unchanged: the signer is not the issuer.
    stolen = without_proof(original)
    forged = assemble(stolen, receipt, create_proof(stolen, other, verification_method(other_did, other.public_key), stolen["validFrom"]))
    data = json.dumps(forged).encode()
    report = anchor_check(world, data).to_json()
    assert report["verdict"] == "invalid" and failed(report) == ("signature", "signature_issuer_mismatch")
    refused = obl("json", data, issuer.did)
    assert refused is not None and "does not belong to" in refused
    record_forgery("re-signed by another did:key, issuer id kept", report, refused)

    # The did:web issuer's own DID, but a key it never bound: the signature holds, the registry
    # does not know the key, and the DID document the service publishes does not list it.
    web_badge = web.new_export.badge(web.new_ids[0])
    unbound = SigningKey.generate()
    content = without_proof(web_badge)
    forged = assemble(content, anchor_entry(web_badge),
                      create_proof(content, unbound, verification_method(web.issuer.did, unbound.public_key), content["validFrom"]))
    data = json.dumps(forged).encode()
    report = anchor_check(world, data).to_json()
    assert report["verdict"] == "invalid" and failed(report) == ("signature", "unbound_signing_key")
    assert anchor_http(world, data, "json")["verdict"] == "invalid"
    refused = obl("json", data, web.issuer.did, download=world.fetcher)
    assert refused is not None and "no verificationMethod with id" in refused
    record_forgery("did:web issuer's DID, key never bound", report, refused)

    # A VC-JWT whose payload was altered: (a) the same credential re-serialized (the anchor and
    # the embedded signature still hold, only the JWS breaks), (b) a member changed.
    token = exported.data(keyed.fresh, "jwt").decode()
    header, payload_part, signature_part = token.split(".")
    payload = b64url_json(payload_part)
    for case, changed in (("VC-JWT payload re-serialized, same credential", payload),
                          ("VC-JWT payload altered (name changed)", {**payload, "name": payload["name"] + "!"})):
        body = base64.urlsafe_b64encode(json.dumps(changed, indent=1).encode()).rstrip(b"=").decode()
        data = f"{header}.{body}.{signature_part}".encode()
        report = anchor_check(world, data).to_json()
        assert report["verdict"] == "invalid" and report["format"] == "jwt"
        failures = {c["name"]: c["reason"] for c in report["checks"] if c["status"] == "failed"}
        # The JWS no longer matches either way; a changed member also breaks the anchor (and the
        # embedded signature, reported first: both name the same failure class).
        assert failures == ({"signature": "bad_signature"} if changed is payload
                            else {"proof": "root_mismatch", "signature": "bad_signature"}), failures
        assert anchor_http(world, data, "jwt")["verdict"] == "invalid"
        refused = obl("jwt", data, issuer.did)
        assert refused is not None and "signature" in refused.lower()
        record_forgery(case, report, refused)

    # Two eddsa-rdfc-2022 proofs, both valid signatures of the issuer: nobody can tell which one
    # speaks for the credential.
    fresh = exported.badge(keyed.fresh)
    second = create_proof(fresh, issuer.key, verification_method(issuer.did, issuer.key.public_key), "2030-01-01T00:00:00Z")
    doubled = {**fresh, "proof": [*fresh["proof"][:1], second, *fresh["proof"][1:]]}
    data = json.dumps(doubled).encode()
    report = anchor_check(world, data).to_json()
    assert report["verdict"] == "invalid" and failed(report) == ("signature", "malformed_signature")
    refused = obl("json", data, issuer.did)
    assert refused is not None and "multiple supported Data Integrity proofs" in refused
    record_forgery("two eddsa-rdfc-2022 proofs", report, refused)


def _single_root(document: dict[str, Any]) -> tuple[bytes, int]:
    return single_leaf_tree(document)[0], 1


# ---------------------------------------------------------------------------- 4. did:web, key rotation


@dataclass
class WebIssuer:
    issuer: PortableIssuer
    old_key: SigningKey
    new_key: SigningKey
    old_ids: list[str]
    new_ids: list[str]
    old_export: Exported
    new_export: Exported
    keys_before_rotation: list[str]


@pytest.fixture(scope="module")
def web(world: PortableWorld, tmp_path_factory: pytest.TempPathFactory) -> WebIssuer:
    """A did:web issuer (dev account 2) named under the service's URL: 2 badges signed with its
    first key, then a new key bound in the registry, 2 more badges signed with it."""
    account = dev_signer(2)
    old_key = dev_signing_key_for(account.address)
    issuer = world.register(account, old_key, did_method="web", name="Web University")
    port = world.url.rsplit(":", 1)[1]
    assert issuer.did == f"did:web:127.0.0.1%3A{port}:issuers:{account.address}" == did_web_for_url(world.url, "issuers", account.address)
    old_ids = issuer.issue_and_anchor(2, "Early")
    directory = tmp_path_factory.mktemp("web")
    old_export = issuer.export(directory / "old")
    before = requests.get(f"{world.url}/issuers/{account.address}/did.json", timeout=10).json()
    new_key = SigningKey.generate()
    binding = issuer.rotate_key(new_key)
    assert binding.sent and (binding.index, binding.keys) == (1, 2)
    new_ids = issuer.issue_and_anchor(2, "Late")
    new_export = issuer.export(directory / "new")
    issuer.publish_lists()
    return WebIssuer(issuer, old_key, new_key, old_ids, new_ids, old_export, new_export,
                     [m["publicKeyMultibase"] for m in before["verificationMethod"]])


def test_the_did_document_served_lists_every_key_ever_bound(world: PortableWorld, web: WebIssuer) -> None:
    r = requests.get(f"{world.url}/issuers/{web.issuer.address}/did.json", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/did+json"
    document = r.json()
    old, new = public_multibase(web.old_key.public_key), public_multibase(web.new_key.public_key)
    assert web.keys_before_rotation == [old]
    assert document["id"] == web.issuer.did
    assert [(m["id"], m["publicKeyMultibase"]) for m in document["verificationMethod"]] == [
        (f"{web.issuer.did}#{old}", old), (f"{web.issuer.did}#{new}", new)]
    assert set(document["assertionMethod"]) == {f"{web.issuer.did}#{old}", f"{web.issuer.did}#{new}"}


def test_old_and_new_badges_of_a_rotated_did_web_issuer_verify_everywhere(world: PortableWorld, web: WebIssuer) -> None:
    did, address = web.issuer.did, web.issuer.address
    controller = requests.get(f"{world.url}/issuers/{address}/did.json", timeout=10).json()
    history = world.registry.signing_keys(address)
    assert [k.public_key for k in history] == [web.old_key.public_key, web.new_key.public_key]
    # What openbadgeslib asks for (did:web resolves over https, host:port percent-decoded).
    did_url = f"https://{world.url.removeprefix('http://')}/issuers/{address}/did.json"
    for label, export, cid, key in (("old (key 1)", web.old_export, web.old_ids[0], web.old_key),
                                    ("new (key 2)", web.new_export, web.new_ids[0], web.new_key)):
        badge = export.badge(cid)
        (signature,) = [p for p in badge["proof"] if p["cryptosuite"] == "eddsa-rdfc-2022"]
        assert signature["verificationMethod"] == f"{did}#{public_multibase(key.public_key)}"
        for form in FORMS:
            data = export.data(cid, form)
            report = anchor_check(world, data).to_json()
            assert (report["verdict"], report["format"]) == ("valid", form), (label, report)
            signed = next(c for c in report["checks"] if c["name"] == "signature")["message"]
            assert f"bound to {address} in block {world.registry.signing_key_block(address, key.public_key)}" in signed
            before = len(world.fetcher.requested)
            assert obl(form, data, did, download=world.fetcher) is None, (label, form)
            assert did_url in world.fetcher.requested[before:], (form, world.fetcher.requested[before:])
            assert obl(form, data, did, status=True, download=world.fetcher) is None, (label, form)
        TABLE.put(ROTATION_SECTION, label, "anchor API", "valid in json/jwt/png/svg")
        TABLE.put(ROTATION_SECTION, label, "openbadgeslib (did:web doc via service)", "valid in json/jwt/png/svg (+status)")
        verified = TABLE.timed("@digitalbazaar/vc verify-di", lambda b=badge: di_verify(b, controllers={did: controller}))
        assert verified.verified, (label, verified.messages)
        TABLE.put(ROTATION_SECTION, label, "@digitalbazaar/vc (served DID doc)", "verified")
        assert anchor_http(world, export.data(cid, "json"), "json")["verdict"] == "valid"
        TABLE.put(ROTATION_SECTION, label, "anchor HTTP", "valid")
    # The old badge's JWT names the old key as its kid and openbadgeslib picks it from the document.
    old_token = web.old_export.data(web.old_ids[0], "jwt").decode()
    header = b64url_json(old_token.split(".")[0])
    assert header["kid"] == f"{did}#{public_multibase(web.old_key.public_key)}"
