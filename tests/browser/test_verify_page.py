"""The verification page ``/`` in a real browser: a badge pasted or opened as a file (JSON, baked
PNG) gets the human verdict in a live region, by mouse or by keyboard alone; no serious or critical
axe-core violation and no sideways scrolling at 390 px, before and after a verdict.

Screenshots of every state land in test-artifacts/verify-<state>-{desktop,phone}.png.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.browser.conftest import Site
from tests.browser.support import axe, focus_visible, no_horizontal_overflow, screenshot, tab_to

pytestmark = pytest.mark.chain

BADGE_BOX = "main textarea"
FILE_INPUT = "main input[type=file]"
SUBMIT = "main form button:not([type=button]):not([type=reset]), main form input[type=submit]"
VERDICT_TIMEOUT = 15_000  # ms; a verification is one chain read behind a warm cache


def api_headline(site: Site, body: bytes | str, content_type: str = "application/json") -> str:
    """What the service's own report says of this badge: the sentence the page must show."""
    r = requests.post(f"{site.url}/api/v1/verify", data=body, headers={"Content-Type": content_type}, timeout=10)
    assert r.status_code == 200, r.text
    return str(r.json()["headline"])


def tampered(badge: dict[str, Any]) -> dict[str, Any]:
    """The badge with its holder's name changed after issuance."""
    copy = json.loads(json.dumps(badge))
    copy["credentialSubject"]["identifier"][1]["identityHash"] = "Mallory Forger"
    return copy


def read_as(form: str) -> re.Pattern[str]:
    """"Read as" and the form's name, on one line or the next (a label and its value)."""
    return re.compile(rf"read as\b:?\s*[^\n]*\b{form}\b", re.I)


def verdict(page: Page) -> Any:
    return page.get_by_role("status")


def assert_accessible(page: Page, state: str) -> None:
    violations = axe(page)
    assert not violations, f"axe-core, verify page ({state}): " + json.dumps(violations, indent=1)


def paste_and_submit(page: Page, text: str) -> None:
    page.locator(BADGE_BOX).fill(text)
    page.locator(SUBMIT).first.click()


def check_state(open_page: Callable[..., Page], site: Site, state: str, act: Callable[[Page], None], expected: str,
                read_as: re.Pattern[str] | None = None) -> None:
    """Do ``act`` on the page at 1280 and at 390 px; each time the live region must say
    ``expected`` (the API's headline), the page must pass axe and, on the phone, not scroll sideways."""
    for kind in ("desktop", "phone"):
        page = open_page(kind, site.url + "/")
        act(page)
        expect(verdict(page)).to_contain_text(expected, timeout=VERDICT_TIMEOUT)
        if read_as is not None:
            text = page.locator("main").inner_text()  # as rendered: a label and its value apart
            assert read_as.search(text), f"no {read_as.pattern!r} on the page: {text!r}"
        if kind == "phone":
            no_horizontal_overflow(page)
        assert_accessible(page, f"{state}, {kind}")
        screenshot(page, f"verify-{state}-{kind}")


def test_the_empty_page_has_landmarks_labels_and_a_live_region(open_page: Callable[..., Page], site: Site) -> None:
    for kind in ("desktop", "phone"):
        page = open_page(kind, site.url + "/")
        expect(page.get_by_role("main")).to_have_count(1)
        expect(page.get_by_role("heading", level=1)).to_have_count(1)
        for control in (BADGE_BOX, FILE_INPUT):
            labels = page.locator(control).evaluate("el => Array.from(el.labels || []).filter(l => l.offsetParent !== null)"
                                                    ".map(l => l.innerText.trim()).filter(Boolean)")
            assert labels, f"{control} has no visible <label>"
        expect(page.locator(SUBMIT).first).to_be_visible()
        status = verdict(page)
        expect(status).to_have_count(1)  # present before any verdict, so screen readers hear it change
        assert status.get_attribute("aria-live") in (None, "polite")  # role=status is polite by itself
        if kind == "phone":
            no_horizontal_overflow(page)
        assert_accessible(page, f"empty, {kind}")
        screenshot(page, f"verify-empty-{kind}")


def test_a_pasted_valid_badge_is_verified(open_page: Callable[..., Page], site: Site) -> None:
    text = json.dumps(site.valid, indent=2)
    expected = api_headline(site, text)
    assert expected.startswith("Verified")
    check_state(open_page, site, "valid", lambda page: paste_and_submit(page, text), expected)


def test_a_pasted_tampered_badge_is_not_valid(open_page: Callable[..., Page], site: Site) -> None:
    text = json.dumps(tampered(site.valid))
    expected = api_headline(site, text)
    assert expected.startswith("Not valid")
    check_state(open_page, site, "tampered", lambda page: paste_and_submit(page, text), expected)


def test_a_revoked_badge_says_revoked(open_page: Callable[..., Page], site: Site) -> None:
    text = json.dumps(site.revoked)
    expected = api_headline(site, text)
    assert expected.startswith("Revoked")
    check_state(open_page, site, "revoked", lambda page: paste_and_submit(page, text), expected)


def test_a_baked_png_opened_as_a_file(open_page: Callable[..., Page], site: Site) -> None:
    expected = api_headline(site, site.baked_png, "image/png")
    assert expected.startswith("Verified")

    def open_file(page: Page) -> None:
        page.locator(FILE_INPUT).set_input_files(files=[{"name": "badge.png", "mimeType": "image/png", "buffer": site.baked_png}])
        page.locator(SUBMIT).first.click()

    check_state(open_page, site, "png-file", open_file, expected, read_as("png"))


def test_a_json_file_opened_as_a_file(open_page: Callable[..., Page], site: Site) -> None:
    raw = json.dumps(site.spare).encode()
    expected = api_headline(site, raw)
    assert expected.startswith("Verified")

    def open_file(page: Page) -> None:
        page.locator(FILE_INPUT).set_input_files(files=[{"name": "badge.json", "mimeType": "application/json", "buffer": raw}])
        page.locator(SUBMIT).first.click()

    check_state(open_page, site, "json-file", open_file, expected, read_as("json"))


def test_keyboard_only(open_page: Callable[..., Page], site: Site) -> None:
    """Tab reaches the badge box, the file input and the button, each showing its focus; Enter on
    the button submits."""
    text = json.dumps(site.valid)
    expected = api_headline(site, text)
    page = open_page("desktop", site.url + "/")
    tab_to(page, BADGE_BOX)
    assert focus_visible(page), "the badge box shows no focus indicator"
    page.keyboard.insert_text(text)
    tab_to(page, FILE_INPUT)
    assert focus_visible(page), "the file input shows no focus indicator"
    tab_to(page, SUBMIT)
    assert focus_visible(page), "the verify button shows no focus indicator"
    page.keyboard.press("Enter")
    expect(verdict(page)).to_contain_text(expected, timeout=VERDICT_TIMEOUT)
    screenshot(page, "verify-keyboard-desktop")


def test_a_credential_page_link_pasted(open_page: Callable[..., Page], site: Site) -> None:
    """The link a holder shares works on the verify page too: the badge is fetched from its page."""
    expected = api_headline(site, json.dumps(site.valid))
    check_state(open_page, site, "link", lambda page: paste_and_submit(page, site.page_url(site.valid)), expected)
