"""The human face over real HTTP: credential pages (HTML and JSON), sharing, downloads, the
verify page, and the plain-language headline (real Anvil, real SQLite, the real service)."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import segno
import zxingcpp
from flask import Flask
from PIL import Image
from sqlalchemy import select, update

from anchor.api import create_app
from anchor.api.service import ServiceConfig
from anchor.app.anchoring import Anchorer
from anchor.app.issuing import issue_credentials
from anchor.app.revoking import request_revocation, submit_revocations
from anchor.app.signing import signer_for
from anchor.app.signing_keys import dev_signing_key_for
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.core.canonical import canonical_bytes
from anchor.core.forms import read_badge
from anchor.core.registry import RevocationReason
from anchor.core.roster import parse_roster
from anchor.core.sharing import linkedin_url, page_url, qr_matrix, qr_svg
from anchor.core.summary import date_in_words, headline, pending_headline
from anchor.core.verdict import Check, CheckStatus, Report, Verdict
from anchor.store.schema import CredentialRow, DocumentRow
from tests.world import World, achievement, live_server, make_world

pytestmark = pytest.mark.chain

PUBLIC = "http://127.0.0.1:8000"  # the world issuer's public URL (registration's default)
EXPIRED_UNTIL = datetime(2021, 6, 30, 12, 0, tzinfo=UTC)
EVIL = "</script><script>alert(1)</script><!--"


@pytest.fixture(scope="module")
def world(anvil: DevChain, tmp_path_factory: pytest.TempPathFactory) -> World:
    """Six anchored badges (0 valid, 1 revoked, 2 tampered, 3 hidden, 4 and 5 valid), one that
    expired in 2021 (anchored), one pending (issued, never anchored)."""
    w = make_world(Chain(anvil.rpc_url), tmp_path_factory.mktemp("pages"), n=6)
    row = w.store.issuer(w.issuer.address)
    assert row is not None
    key = dev_signing_key_for(w.issuer.address)
    sign = signer_for(row.did, key, row.signing_key)
    issue_credentials(w.store, row, achievement(), parse_roster("name,email\nOld Timer,old@example.org\n"),
                      valid_from=datetime(2020, 1, 15, tzinfo=UTC), valid_until=EXPIRED_UNTIL, sign=sign)
    Anchorer(w.store, w.registry, w.issuer, row).run()
    issue_credentials(w.store, row, achievement(), parse_roster("name,email\nLate Comer,late@example.org\n"), sign=sign)
    request_revocation(w.store, row.id, [w.badges[1]["id"]], int(RevocationReason.ISSUED_IN_ERROR), None)
    submit_revocations(w.store, w.registry, w.issuer, row.id)
    # Badge 2: its stored document altered behind the issuer's back (the holder's name replaced).
    document = json.loads(w.store.document_of(w.badges[2]["id"])[0])  # type: ignore[index]
    document["credentialSubject"]["identifier"][1]["identityHash"] = EVIL
    with w.store.session() as s:
        pk = s.scalar(select(CredentialRow.id).where(CredentialRow.credential_id == w.badges[2]["id"]))
        s.execute(update(DocumentRow).where(DocumentRow.credential_pk == pk).values(document=canonical_bytes(document)))
    assert w.store.set_hidden(w.badges[3]["id"], True)
    return w


def _only(w: World, name: str) -> str:
    with w.store.session() as s:
        return str(s.scalar(select(CredentialRow.credential_id).where(CredentialRow.holder_name == name)))


@pytest.fixture(scope="module")
def ids(world: World) -> dict[str, str]:
    return {"valid": world.badges[0]["id"], "revoked": world.badges[1]["id"], "tampered": world.badges[2]["id"],
            "hidden": world.badges[3]["id"], "expired": _only(world, "Old Timer"), "pending": _only(world, "Late Comer")}


@pytest.fixture(scope="module")
def app(world: World, anvil: DevChain) -> Flask:
    return create_app(ServiceConfig(rpc_url=anvil.rpc_url, registry=world.registry.address, database_url=world.db_url, head_ttl=0.1))


@pytest.fixture(scope="module")
def url(app: Flask) -> Iterator[str]:
    with live_server(app) as base:
        time.sleep(0.2)  # past the head cache: the revocation's block is seen
        yield base


def uuid(cid: str) -> str:
    return cid.removeprefix("urn:uuid:")


# ------------------------------------------------------------------------------ HTML reading


class Page(HTMLParser):
    """What the tests read off a page: elements by id (attributes and text), meta tags, scripts,
    every tag's attributes, the landmarks."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.by_id: dict[str, dict[str, Any]] = {}
        self.meta: dict[str, str] = {}
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._open: list[tuple[str, str | None]] = []  # (tag, id) of the open elements
        self._script: dict[str, str | None] | None = None
        self._text: dict[str, list[str]] = {}
        self.feed(html)
        for key, parts in self._text.items():
            self.by_id[key]["text"] = " ".join("".join(parts).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "meta" and (a.get("property") or a.get("name")):
            self.meta[str(a.get("property") or a.get("name"))] = str(a.get("content"))
        if tag == "script":
            self._script = a
            self.scripts.append((a, ""))
        if a.get("id"):
            self.by_id[str(a["id"])] = {"tag": tag, **a}
            self._text[str(a["id"])] = []
        if tag not in ("meta", "link", "input", "img", "br", "path", "circle"):
            self._open.append((tag, a.get("id")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        for _tag, ident in self._open:
            if ident:
                self._text[ident].append(data)

    def text(self, ident: str) -> str:
        return str(self.by_id[ident]["text"])


def get_page(url: str, cid: str, accept: str = "text/html") -> tuple[requests.Response, Page]:
    r = requests.get(f"{url}/credentials/{uuid(cid)}", headers={"Accept": accept}, timeout=10)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["Content-Type"].startswith("text/html")
    return r, Page(r.text)


def page_json(url: str, cid: str) -> dict[str, Any]:
    r = requests.get(f"{url}/credentials/{cid}", headers={"Accept": "application/json"}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json" and r.headers["Vary"] == "Accept"
    return r.json()  # type: ignore[no-any-return]


def jsonld(page: Page) -> Any:
    (text,) = [t for a, t in page.scripts if a.get("type") == "application/ld+json"]
    return json.loads(text)


# ------------------------------------------------------------------------------ the page per state


def test_valid_page_says_who_what_from_whom_and_until_when(world: World, ids: dict[str, str], url: str) -> None:
    r, page = get_page(url, ids["valid"])
    badge = world.badges[0]
    assert page.by_id["verdict"]["data-verdict"] == "valid"
    assert page.text("verdict-headline") == (
        f"\u2713 Verified: issued by Uni on {date_in_words(datetime.fromisoformat(badge['validFrom']))}, recorded on chain 31337, not revoked")
    assert page.text("holder") == "Person 0"
    assert page.text("achievement-name") == "Data Analytics with SQL and Python"
    assert page.text("achievement-description").startswith("Cleans, explores and models real data sets")
    assert "capstone project" in page.text("criteria")
    assert page.text("issuer-name") == "Uni" and page.by_id["issuer-site"]["href"] == "https://uni.example"
    assert page.text("issued") == date_in_words(datetime.fromisoformat(badge["validFrom"]))
    assert page.text("expires") == "Does not expire" and page.text("credits") == "2"
    assert "Data analytics ESCO" in page.text("skills")
    assert ("a", "http://data.europa.eu/esco/skill/15d76317-c71a-4fa2-aadc-2ecc34e627b7") in [
        (t, a.get("href")) for t, a in page.tags if t == "a"]
    # The achievement's own image, with the generated one as the fallback when it cannot be loaded.
    image = page.by_id["badge-image"]
    assert image["src"] == "https://demo-university.example/badges/data-analytics.png"
    assert image["data-fallback"] == f"/credentials/{uuid(ids['valid'])}/image.svg"
    assert requests.get(url + image["data-fallback"], timeout=5).headers["Content-Type"].startswith("image/svg+xml")
    # The technical checks, folded under the verdict.
    assert page.by_id["checks-details"]["tag"] == "details" and "verdict-advice" not in page.by_id
    assert all(f"passed {name}" in page.text("checks") for name in ("schema", "proof", "anchor", "issuer", "signature", "revocation"))
    # Content-Security-Policy: nonces, nothing inline without one, nothing from elsewhere but images.
    policy = r.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]+)'", policy)
    assert nonce and "unsafe-inline" not in policy and "default-src 'none'" in policy
    assert all(a.get("nonce") == nonce.group(1) for a, _ in page.scripts if a.get("type") != "application/ld+json")
    assert r.headers["Vary"] == "Accept" and r.headers["X-Content-Type-Options"] == "nosniff"


def test_revoked_page_says_so_first(ids: dict[str, str], url: str) -> None:
    _, page = get_page(url, ids["revoked"])
    assert page.by_id["verdict"]["data-verdict"] == "revoked"
    when = date_in_words(datetime.now(UTC))
    assert page.text("verdict-headline").startswith(f"\u2717 Revoked on {when} (reason: issued in error); issued by Uni on ")
    assert "no longer certifies" in page.text("verdict-advice")
    # First: the banner comes before the credential itself, and the title says it too.
    order = [a.get("id") for _, a in page.tags if a.get("id") in ("verdict", "credential", "achievement-name")]
    assert order == ["verdict", "credential", "achievement-name"]
    assert page_json(url, ids["revoked"])["verification"]["revocation"]["reason"] == "issued_in_error"


def test_expired_page_says_so_first(ids: dict[str, str], url: str) -> None:
    _, page = get_page(url, ids["expired"])
    assert page.by_id["verdict"]["data-verdict"] == "expired"
    assert page.text("verdict-headline") == "\u2717 Expired on 30 June 2021; issued by Uni on 15 January 2020"
    assert page.text("expires") == "30 June 2021" and page.text("issued") == "15 January 2020"
    assert page.text("holder") == "Old Timer"


def test_tampered_page_is_not_valid_and_cannot_break_out_of_its_json(ids: dict[str, str], url: str) -> None:
    r, page = get_page(url, ids["tampered"])
    assert page.by_id["verdict"]["data-verdict"] == "invalid"
    assert page.text("verdict-headline") == "\u2717 Not valid: this badge was altered after it was issued"
    assert page.text("verdict-advice").startswith("Do not rely on the details below")
    assert page.text("holder") == EVIL  # shown as text, escaped
    assert "<script>alert(1)" not in r.text and r.text.count("</script>") == len(page.scripts)
    credential = jsonld(page)
    assert credential["credentialSubject"]["identifier"][1]["identityHash"] == EVIL  # the JSON-LD is unchanged by the escaping
    checks = {c["name"]: c for c in page_json(url, ids["tampered"])["verification"]["checks"]}
    assert checks["proof"]["reason"] == "root_mismatch"


def test_unreachable_chain_says_it_cannot_check_now(world: World, ids: dict[str, str]) -> None:
    """The chain's RPC is down (the database is not): the page still shows the credential, and
    says the check could not be made rather than guessing."""
    dead = create_app(ServiceConfig(rpc_url="http://127.0.0.1:1", registry=world.registry.address, database_url=world.db_url))
    with live_server(dead) as base:
        _, page = get_page(base, ids["valid"])
    assert page.by_id["verdict"]["data-verdict"] == "unknown"
    assert page.text("verdict-headline") == "! Cannot check right now: the blockchain is unreachable; try again later"
    assert "could not be checked just now" in page.text("verdict-advice") and page.text("holder") == "Person 0"


def test_pending_page_says_it_is_not_anchored_yet(ids: dict[str, str], url: str) -> None:
    _, page = get_page(url, ids["pending"])
    assert page.by_id["verdict"]["data-verdict"] == "pending"
    assert page.text("verdict-headline") == "! " + pending_headline(jsonld(page))
    assert "not yet recorded on the blockchain" in page.text("verdict-headline")
    assert "downloads" not in page.by_id and "released once" in page.text("downloads-pending")
    body = page_json(url, ids["pending"])
    assert body["status"] == "pending" and body["anchored"] is False and body["verification"] is None
    assert body["links"]["downloads"] == {}
    r = requests.get(f"{url}/credentials/{uuid(ids['pending'])}/badge.json", timeout=5)
    assert r.status_code == 404 and r.json()["reason"] == "not_anchored"


def test_hidden_pages_and_pages_off_answer_as_unknown_ids(world: World, ids: dict[str, str], url: str) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"

    def answers(ident: str) -> list[tuple[int, str, str]]:
        out = []
        for path, accept in ((f"/credentials/{ident}", "text/html"), (f"/credentials/{ident}", "application/json"),
                             (f"/credentials/{ident}/badge.json", "*/*"), (f"/credentials/{ident}/image.png", "*/*")):
            r = requests.get(url + path, headers={"Accept": accept}, timeout=5)
            body = re.sub(r"nonce-[A-Za-z0-9_-]+|nonce=\"[A-Za-z0-9_-]+\"", "N", r.text).replace(ident, "ID")
            body = re.sub(r'"requestId": "[A-Za-z0-9._-]+"', '"requestId": "R"', body)  # per request, not per page
            out.append((r.status_code, r.headers["Content-Type"], body))
        return out

    expected = answers(unknown)
    assert [s for s, _, _ in expected] == [404] * 4 and expected[0][1].startswith("text/html")
    assert expected[1][1] == "application/problem+json"
    assert answers(uuid(ids["hidden"])) == expected
    row = world.store.issuer(world.issuer.address)
    assert row is not None
    world.store.set_public_pages(row.id, False)
    try:
        assert answers(uuid(ids["valid"])) == expected
    finally:
        world.store.set_public_pages(row.id, True)
    assert requests.get(f"{url}/credentials/{uuid(ids['valid'])}", timeout=5).status_code == 200
    assert requests.get(f"{url}/credentials/not-a-uuid", timeout=5).status_code == 404
    # A verification-only service (no issuer database) has no pages, and still its verify page.
    bare = create_app(ServiceConfig(rpc_url=world.chain.rpc_url, registry=world.registry.address, database_url=None))
    with live_server(bare) as base:
        r = requests.get(f"{base}/credentials/{uuid(ids['valid'])}", headers={"Accept": "application/json"}, timeout=5)
        assert (r.status_code, r.json()["reason"]) == (404, "not_found")
        assert requests.get(base + "/", timeout=5).status_code == 200


# ------------------------------------------------------------------------------ JSON, sharing, downloads


def test_json_by_content_negotiation(world: World, ids: dict[str, str], url: str) -> None:
    for accept in ("application/json", "application/json, text/html;q=0.5"):
        r = requests.get(f"{url}/credentials/{ids['valid']}", headers={"Accept": accept}, timeout=5)
        assert r.headers["Content-Type"] == "application/json" and r.headers["Vary"] == "Accept"
    for accept in ("text/html", "*/*", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/json;q=0.4, text/html"):
        r = requests.get(f"{url}/credentials/{ids['valid']}", headers={"Accept": accept}, timeout=5)
        assert r.headers["Content-Type"].startswith("text/html") and r.headers["Vary"] == "Accept"
    body = page_json(url, uuid(ids["valid"]).upper())
    assert body["credential"] == world.badges[0]  # the complete badge, as exported
    assert body["status"] == "valid" and body["verification"]["verdict"] == "valid"
    assert body["headline"] == body["verification"]["headline"] and body["headline"].startswith("Verified: issued by Uni on ")
    assert body["pageUrl"] == f"{PUBLIC}/credentials/{uuid(ids['valid'])}"
    assert body["holder"] == "Person 0" and body["issuer"]["name"] == "Uni"
    assert body["achievement"]["alignments"] == [{"name": "Data analytics", "framework": "ESCO", "code": None,
                                                 "url": "http://data.europa.eu/esco/skill/15d76317-c71a-4fa2-aadc-2ecc34e627b7"}]
    assert body["achievement"]["credits"] == 2 and body["expires"] is None and body["issued"] == world.badges[0]["awardedDate"]


def test_linkedin_link_parameters(world: World, ids: dict[str, str], url: str) -> None:
    for state in ("expired", "revoked", "tampered"):  # only a badge that verifies is offered for a profile
        _, page = get_page(url, ids[state])
        assert "linkedin" not in page.by_id and page_json(url, ids[state])["links"]["linkedin"] is None
    expires = datetime(2031, 6, 30, tzinfo=UTC)
    with_expiry = urlsplit(linkedin_url("A", "Uni", datetime(2026, 11, 28, tzinfo=UTC), expires, f"{PUBLIC}/credentials/x", "x"))
    assert parse_qsl(with_expiry.query)[5:7] == [("expirationYear", "2031"), ("expirationMonth", "6")]
    for state, expiry in (("valid", []),):
        _, page = get_page(url, ids[state])
        link = page.by_id["linkedin"]
        parts = urlsplit(str(link["href"]))
        assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.linkedin.com", "/profile/add")
        body = page_json(url, ids[state])
        issued = datetime.fromisoformat(body["issued"])
        assert parse_qsl(parts.query) == [
            ("startTask", "CERTIFICATION_NAME"), ("name", "Data Analytics with SQL and Python"), ("organizationName", "Uni"),
            ("issueYear", str(issued.year)), ("issueMonth", str(issued.month)), *expiry,
            ("certUrl", f"{PUBLIC}/credentials/{uuid(ids[state])}"), ("certId", uuid(ids[state]))]
        assert link["target"] == "_blank" and "noopener" in str(link["rel"]) and page.text("linkedin") == "Add to LinkedIn profile"
        assert body["links"]["linkedin"] == link["href"]


def _svg_matrix(svg: str) -> list[list[bool]]:
    """The dark modules of a segno SVG path (``M x y`` then ``h n`` runs and relative ``m dx dy``)
    as a matrix without the quiet zone."""
    size = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))  # type: ignore[union-attr]
    (path,) = re.findall(r'<path class="qr-dark"[^>]* d="([^"]+)"', svg)
    grid = [[False] * size for _ in range(size)]
    x = y = 0.0
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            for i in range(int(a)):
                grid[int(y)][int(x) + i] = True
            x += int(a)
    border = 4
    return [row[border:size - border] for row in grid[border:size - border]]


def _decode(matrix: list[list[bool]]) -> str:
    n, scale, border = len(matrix), 6, 4
    image = Image.new("L", ((n + 2 * border) * scale,) * 2, 255)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                image.paste(0, ((x + border) * scale, (y + border) * scale, (x + border + 1) * scale, (y + border + 1) * scale))
    (code,) = zxingcpp.read_barcodes(image)
    return str(code.text)


def test_qr_code_is_the_page_url(ids: dict[str, str], url: str) -> None:
    _, page = get_page(url, ids["valid"])
    target = f"{PUBLIC}/credentials/{uuid(ids['valid'])}"
    html = requests.get(f"{url}/credentials/{uuid(ids['valid'])}", timeout=5).text
    (svg,) = re.findall(r'<figure class="qr" id="qr">\s*(<svg.*?</svg>)', html, re.S)
    # segno's own PNG of the page URL decodes to it...
    png = io.BytesIO()
    segno.make(target, error="m", micro=False, boost_error=False).save(png, kind="png", scale=6)
    (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.getvalue())))
    assert code.text == target and code.format == zxingcpp.BarcodeFormat.QRCode
    # ... and the inline SVG is that very matrix, which decodes to it too.
    matrix = _svg_matrix(svg)
    assert matrix == [list(row) for row in qr_matrix(target)]
    assert _decode(matrix) == target
    assert 'role="img"' in svg and "<title>QR code of the link to this page</title>" in svg


def test_downloads_read_back_and_verify(world: World, ids: dict[str, str], url: str) -> None:
    _, page = get_page(url, ids["valid"])
    assert "VC-JWT form comes with the issuer's export" in page.text("jwt-note")
    for form, media in (("json", "application/ld+json"), ("png", "image/png"), ("svg", "image/svg+xml")):
        link = page.by_id[f"download-{form}"]
        assert link["download"] == f"{uuid(ids['valid'])}.{form}"
        r = requests.get(url + str(link["href"]), timeout=5)
        assert r.status_code == 200 and r.headers["Content-Type"].split(";")[0] == media
        assert r.headers["Content-Disposition"] == f'attachment; filename="{uuid(ids["valid"])}.{form}"'
        presented = read_badge(r.content)
        assert presented.format == form and presented.credential == world.badges[0]
        report = requests.post(f"{url}/api/v1/verify", data=r.content, headers={"Content-Type": media}, timeout=10).json()
        assert report["verdict"] == "valid" and report["format"] == form and report["headline"].startswith("Verified: ")
    assert requests.get(f"{url}/credentials/{uuid(ids['valid'])}/badge.jwt", timeout=5).status_code == 404


def test_open_graph_and_json_ld(world: World, ids: dict[str, str], url: str) -> None:
    _, page = get_page(url, ids["valid"])
    target = f"{PUBLIC}/credentials/{uuid(ids['valid'])}"
    body = page_json(url, ids["valid"])
    assert page.meta["og:title"] == "Person 0: Data Analytics with SQL and Python"
    assert page.meta["og:description"] == body["headline"] and page.meta["description"] == body["headline"]
    assert page.meta["og:url"] == target and page.meta["og:type"] == "website"
    assert page.meta["og:image"] == f"{target}/image.png"
    image = requests.get(f"{url}/credentials/{uuid(ids['valid'])}/image.png", timeout=5)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png" and image.content.startswith(b"\x89PNG")
    assert jsonld(page) == world.badges[0]


def test_page_url_and_linkedin_url_are_pure() -> None:
    cid = "urn:uuid:123E4567-E89B-12D3-A456-426614174000"
    assert page_url("https://badges.example/", cid) == "https://badges.example/credentials/123e4567-e89b-12d3-a456-426614174000"
    assert page_url("https://x.example/sub", cid[9:]) == "https://x.example/sub/credentials/123e4567-e89b-12d3-a456-426614174000"
    link = linkedin_url("Data & AI: 101", "Demo University", datetime(2026, 11, 28, tzinfo=UTC), datetime(2028, 12, 31, tzinfo=UTC),
                        "https://b.example/credentials/x", "x")
    assert link == ("https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME&name=Data%20%26%20AI%3A%20101"
                    "&organizationName=Demo%20University&issueYear=2026&issueMonth=11&expirationYear=2028&expirationMonth=12"
                    "&certUrl=https%3A%2F%2Fb.example%2Fcredentials%2Fx&certId=x")
    svg = qr_svg("https://b.example/credentials/x")
    assert svg.startswith('<svg role="img" ') and "<?xml" not in svg and 'viewBox="0 0 ' in svg and "width=" not in svg


# ------------------------------------------------------------------------------ the verify page


def test_verify_page_is_accessible_and_self_contained(url: str) -> None:
    r = requests.get(url + "/", timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    page = Page(r.text)
    tags = [t for t, _ in page.tags]
    for landmark in ("header", "main", "footer", "nav"):
        assert tags.count(landmark) == 1, landmark
    assert page.by_id["main"]["tag"] == "main"
    labels = {str(a["for"]) for t, a in page.tags if t == "label" and a.get("for")}
    controls = [a for t, a in page.tags if t in ("input", "textarea", "select")]
    assert controls and all(a.get("id") in labels for a in controls)
    assert {"badge", "file", "email"} <= labels and page.by_id["verify"]["tag"] == "button"
    live = page.by_id["verdict-live"]
    assert live["role"] == "status" and live["aria-live"] == "polite"
    assert page.by_id["file"]["accept"] and ".png" in str(page.by_id["file"]["accept"]) and ".svg" in str(page.by_id["file"]["accept"])
    # Nothing from elsewhere: every src and href is this site's (or a data: URI).
    for _, a in page.tags:
        for attr in ("src", "href"):
            value = a.get(attr)
            assert value is None or value.startswith(("/", "#", "data:")), value
    policy = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy and "connect-src 'self'" in policy
    nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]+)'", policy).group(1)  # type: ignore[union-attr]
    assert [a.get("nonce") for a, _ in page.scripts] == [nonce]
    assert f'<style nonce="{nonce}">' in r.text and "#888" not in r.text and "style=" not in r.text
    assert "overflow-wrap: anywhere" in r.text and "max-width: 40rem" in r.text


def test_verify_api_reports_a_headline(world: World, ids: dict[str, str], url: str) -> None:
    report = requests.post(f"{url}/api/v1/verify", json=world.badges[4], timeout=10).json()
    assert report["headline"] == page_json(url, world.badges[4]["id"])["headline"]
    assert report["headline"].startswith("Verified: issued by Uni on ") and report["headline"].endswith("recorded on chain 31337, not revoked")
    revoked = requests.post(f"{url}/api/v1/verify", json=world.badge(1), timeout=10).json()
    assert revoked["verdict"] == "revoked" and revoked["headline"].startswith("Revoked on ")
    forged = world.badge(5)
    forged["credentialSubject"]["achievement"]["name"] = "Brain Surgery"
    report = requests.post(f"{url}/api/v1/verify", json=forged, timeout=10).json()
    assert report["headline"] == "Not valid: this badge was altered after it was issued"


# ------------------------------------------------------------------------------ the headline, pure


def _report(verdict: Verdict, checks: list[Check] | None = None, **kw: Any) -> Report:
    return Report(verdict, checks or [], checked_at=datetime(2026, 12, 1, tzinfo=UTC), **kw)


CREDENTIAL = {"issuer": {"id": "did:web:demo.example", "name": "Demo University"}, "validFrom": "2026-11-28T10:00:00Z",
              "validUntil": "2028-12-31T23:59:59Z"}


def test_headline_in_words() -> None:
    anchor = {"chainId": 31337, "registry": "0x" + "ab" * 20}
    assert headline(_report(Verdict.VALID, anchor=anchor), CREDENTIAL) == (
        "Verified: issued by Demo University on 28 November 2026, recorded on chain 31337, not revoked; valid until 31 December 2028")
    assert headline(_report(Verdict.REVOKED, anchor=anchor, revocation={"reason": "issued_in_error", "revokedAt": "2026-12-02T08:00:00Z",
                                                                         "wholeBatch": False}), None) == (
        "Revoked on 2 December 2026 (reason: issued in error)")
    assert headline(_report(Verdict.REVOKED, revocation={"reason": "unspecified", "revokedAt": "2026-12-02T08:00:00Z",
                                                         "wholeBatch": True}), CREDENTIAL) == (
        "Revoked on 2 December 2026 (the whole batch was revoked); issued by Demo University on 28 November 2026")
    assert headline(_report(Verdict.EXPIRED), CREDENTIAL) == "Expired on 31 December 2028; issued by Demo University on 28 November 2026"
    assert headline(_report(Verdict.NOT_YET_VALID), {**CREDENTIAL, "validFrom": "2027-01-01T00:00:00Z"}) == (
        "Not valid yet: valid from 1 January 2027; issued by Demo University on 1 January 2027")
    why = {"root_mismatch": "this badge was altered after it was issued",
           "root_not_anchored": "it was never recorded on the blockchain (not anchored)",
           "issuer_not_authorized": "the account that recorded it is not an authorized issuer (unknown issuer)",
           "bad_signature": "its digital signature does not match (bad signature): it was altered after it was signed",
           "missing_proof": "this badge carries no blockchain anchor proof (not anchored)",
           "something_new": "its blockchain record does not match"}
    for reason, words in why.items():
        check = Check("anchor", CheckStatus.FAILED, reason, "technical")
        assert headline(_report(Verdict.INVALID, [Check("schema", CheckStatus.PASSED), check]), CREDENTIAL) == f"Not valid: {words}"
    waiting = Check("anchor", CheckStatus.SKIPPED, "not_final", "anchored in block 7, 1 of 3 confirmations so far")
    assert headline(_report(Verdict.PENDING, [waiting], anchor=anchor), CREDENTIAL) == (
        "Pending: recorded on chain 31337 but not final yet (anchored in block 7, 1 of 3 confirmations so far); check again in a minute")
    assert headline(_report(Verdict.UNKNOWN), CREDENTIAL) == "Cannot check right now: the blockchain is unreachable; try again later"
    assert headline(_report(Verdict.UNTRUSTED_REGISTRY, anchor=anchor)).startswith("Not confirmed: every check passed, but against a registry")
    assert pending_headline(CREDENTIAL) == ("Pending: issued by Demo University on 28 November 2026, not yet recorded on the blockchain; "
                                            "check again later")
    assert date_in_words(datetime(2026, 1, 5, 23, 30, tzinfo=UTC)) == "5 January 2026"
