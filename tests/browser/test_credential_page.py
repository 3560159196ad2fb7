"""A credential's public page ``/credentials/<id>`` in a real browser, for a valid, a revoked, an
expired and a tampered credential: the verdict says so first, in words, with the technical checks
folded away; axe-core finds no serious or critical violation; nothing scrolls sideways at 390 px;
it prints as one A4 page. Sharing: the LinkedIn link carries LinkedIn's documented parameters, the
QR code read off a screenshot is the page's URL, the copy button copies it.

Screenshots land in test-artifacts/credential-<state>-{desktop,phone}.png (and the printed valid
page in credential-valid-print.pdf); with ANCHOR_DOCS_SCREENSHOTS=1 the valid page's two are also
copied, small, to docs/screenshots/credential-{desktop,phone}.png for the README.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import zxingcpp
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.conftest import EXPIRES_LATER, Site, uuid_of
from tests.browser.support import axe, no_horizontal_overflow, print_pages, publish, save_pdf, screenshot

pytestmark = pytest.mark.chain

# What each state's headline starts with (anchor.core.summary: the same words as the verify page and the CLI).
HEADLINES = {
    "valid": re.compile(r"^Verified: issued by Uni on \d{1,2} [A-Z][a-z]+ \d{4}, recorded on chain 31337, not revoked"),
    "revoked": re.compile(r"^Revoked on \d{1,2} [A-Z][a-z]+ \d{4} \(reason: issued in error\)"),
    "expired": re.compile(r"^Expired on \d{1,2} [A-Z][a-z]+ \d{4}"),
    "tampered": re.compile(r"^Not valid: this badge was altered after it was issued"),
}
ACHIEVEMENT = "Data Analytics with SQL and Python"


def badge_of(site: Site, state: str) -> dict[str, Any]:
    return {"valid": site.valid, "revoked": site.revoked, "expired": site.expired, "tampered": site.tampered}[state]


def page_data(site: Site, badge: dict[str, Any]) -> dict[str, Any]:
    """The page's data as JSON (content negotiation on the same URL)."""
    r = requests.get(site.page_url(badge), headers={"Accept": "application/json"}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json"), r.text
    return r.json()  # type: ignore[no-any-return]


def in_words(moment: datetime) -> str:
    return f"{moment.day} {moment:%B} {moment.year}"


def settle(page: Page) -> None:
    """Wait until every image has loaded or given up (an issuer's image that cannot be fetched
    falls back to the generated badge), so screenshots and print show the final page."""
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")


def main_lines(page: Page) -> list[str]:
    """The main content's lines of text as rendered, without lines of mere symbols (a banner's mark)."""
    return [line.strip() for line in page.locator("main").inner_text().splitlines() if re.search(r"\w", line)]


@pytest.mark.parametrize("state", ["valid", "revoked", "expired", "tampered"])
def test_each_state_says_so_first(open_page: Callable[..., Page], site: Site, state: str) -> None:
    badge = badge_of(site, state)
    data = page_data(site, badge)
    assert HEADLINES[state].match(data["headline"]), data["headline"]
    if state == "expired":
        assert data["headline"].startswith(f"Expired on {in_words(datetime.fromisoformat(badge['validUntil']))}")
    if state != "tampered":  # the tampered document names whoever the forger wrote
        assert data["holder"] == badge["credentialSubject"]["identifier"][1]["identityHash"]
    for kind in ("desktop", "phone"):
        page = open_page(kind, site.page_url(badge))
        settle(page)
        lines = main_lines(page)
        # First thing on the page: the verdict (after the banner's decorative mark), before what was earned.
        assert data["headline"] in lines[0], f"{state}: the page starts with {lines[:3]}"
        text = "\n".join(lines)
        assert text.index(data["headline"]) < text.index(ACHIEVEMENT)
        expect(page.get_by_role("heading", level=1)).to_have_text(ACHIEVEMENT)
        expect(page.locator("main")).to_contain_text(data["holder"])
        details = page.locator("main details").first  # the technical checks, folded under the verdict
        expect(details).to_have_count(1)
        assert details.evaluate("d => !d.open"), "the technical checks should start folded"
        expect(page.get_by_role("img", name=re.compile("QR code", re.I))).to_be_visible()
        if kind == "phone":
            no_horizontal_overflow(page)
        violations = axe(page)
        assert not violations, f"axe-core, credential page ({state}, {kind}): " + json.dumps(violations, indent=1)
        shot = screenshot(page, f"credential-{state}-{kind}")
        if state == "valid":
            publish(shot, f"credential-{kind}")  # the README's pictures (ANCHOR_DOCS_SCREENSHOTS=1)
        if kind == "desktop":
            pages = print_pages(page)
            assert pages == 1, f"the {state} credential prints on {pages} A4 pages"
            if state == "valid":
                save_pdf(page, "credential-valid-print")


def test_the_checks_unfold_and_name_what_failed(open_page: Callable[..., Page], site: Site) -> None:
    page = open_page("desktop", site.page_url(site.tampered))
    details = page.locator("main details").first
    details.locator("summary").click()
    assert details.evaluate("d => d.open")
    expect(details).to_contain_text("failed")
    expect(details).to_contain_text("proof")
    violations = axe(page)
    assert not violations, "axe-core, tampered credential with its checks open: " + json.dumps(violations, indent=1)
    screenshot(page, "credential-tampered-checks-desktop")


def linkedin_params(page: Page) -> dict[str, str]:
    link = page.get_by_role("link", name=re.compile("LinkedIn", re.I))
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    assert href is not None
    parts = urlsplit(href)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.linkedin.com", "/profile/add"), href
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)
    assert all(len(v) == 1 for v in query.values()), query
    assert link.get_attribute("rel") is not None and "noopener" in (link.get_attribute("rel") or "")
    return {k: v[0] for k, v in query.items()}


def test_the_linkedin_link_without_an_expiry(open_page: Callable[..., Page], site: Site) -> None:
    badge = site.valid
    issued = datetime.fromisoformat(badge["validFrom"]).astimezone(UTC)
    page = open_page("desktop", site.page_url(badge))
    assert linkedin_params(page) == {
        "startTask": "CERTIFICATION_NAME", "name": ACHIEVEMENT, "organizationName": "Uni",
        "issueYear": str(issued.year), "issueMonth": str(issued.month),
        "certUrl": site.page_url(badge), "certId": uuid_of(badge),
    }


def test_the_linkedin_link_with_an_expiry(open_page: Callable[..., Page], site: Site) -> None:
    badge = site.expiring
    issued = datetime.fromisoformat(badge["validFrom"]).astimezone(UTC)
    page = open_page("desktop", site.page_url(badge))
    expect(page.locator("main")).to_contain_text(in_words(EXPIRES_LATER))
    assert linkedin_params(page) == {
        "startTask": "CERTIFICATION_NAME", "name": ACHIEVEMENT, "organizationName": "Uni",
        "issueYear": str(issued.year), "issueMonth": str(issued.month),
        "expirationYear": "2031", "expirationMonth": "6",
        "certUrl": site.page_url(badge), "certId": uuid_of(badge),
    }


@pytest.mark.parametrize("kind", ["desktop", "phone"])
def test_the_qr_code_reads_as_the_page_url(open_page: Callable[..., Page], site: Site, kind: str) -> None:
    """Read off a screenshot of the code as the browser draws it, then followed: it opens this page."""
    url = site.page_url(site.valid)
    page = open_page(kind, url)
    qr = page.get_by_role("img", name=re.compile("QR code", re.I))
    shot = Image.open(io.BytesIO(qr.screenshot()))
    assert min(shot.size) >= 21 * 3, f"the QR code is drawn {shot.size} px: too small to scan"
    read = zxingcpp.read_barcodes(shot, formats=zxingcpp.BarcodeFormat.QRCode)
    assert [r.text for r in read] == [url]
    page.goto(read[0].text)
    expect(page.get_by_role("heading", level=1)).to_have_text(ACHIEVEMENT)


def test_copy_link(open_page: Callable[..., Page], site: Site) -> None:
    url = site.page_url(site.valid)
    page = open_page("desktop", url)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    page.get_by_role("button", name=re.compile("copy link", re.I)).click()
    expect(page.get_by_role("status")).to_have_text(re.compile("copied", re.I))
    assert page.evaluate("() => navigator.clipboard.readText()") == url


def test_an_unknown_credential_page(open_page: Callable[..., Page], site: Site) -> None:
    for kind in ("desktop", "phone"):
        page = open_page(kind)
        response = page.goto(f"{site.url}/credentials/00000000-0000-4000-8000-000000000000")
        assert response is not None and response.status == 404
        expect(page.get_by_role("main")).to_have_count(1)
        if kind == "phone":
            no_horizontal_overflow(page)
        violations = axe(page)
        assert not violations, f"axe-core, unknown credential ({kind}): " + json.dumps(violations, indent=1)
        screenshot(page, f"credential-unknown-{kind}")
