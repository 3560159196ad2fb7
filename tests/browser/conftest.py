"""Fixtures of the browser tests: one headless Chromium per worker, and a live anchor service over
a real Anvil world holding a credential in each state a page must show.

The world (built once per worker, ~seconds): badges 0..3 issued, anchored and exported by
``tests.world.make_world``; badge 1 revoked on chain; badge 2's stored document altered in the
database behind the issuer's back (tampered); one credential whose validity ended a month ago
(expired) and one valid until June 2031 (its LinkedIn link carries an expiry). The issuer's
public URL is the live service's own, so a page's links and QR code lead back to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import select, update

from anchor.api import create_app
from anchor.api.service import ServiceConfig
from anchor.app.anchoring import Anchorer
from anchor.app.badge_forms import FormRenderer
from anchor.app.exporting import export_credentials
from anchor.app.issuing import issue_credentials
from anchor.app.revoking import request_revocation, submit_revocations
from anchor.app.signing import signer_for
from anchor.app.signing_keys import dev_signing_key_for
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.core.roster import parse_roster
from anchor.store.schema import CredentialRow, DocumentRow
from tests.browser.support import AXE, CHROMIUM, DESKTOP, FLAGS, PHONE, require_tools
from tests.world import World, achievement, live_server, make_world

ACTION_TIMEOUT = 10_000  # ms: a control that is not there fails fast, not after Playwright's 30 s
OFFSITE = re.compile(r"^(?!https?://127\.0\.0\.1[:/]).+")
REVOCATION_REASON = 1  # the registry's code for "issued in error"
EXPIRES_LATER = datetime(2031, 6, 30, 12, tzinfo=UTC)


@dataclass
class Site:
    url: str  # the live service's base URL, also the issuer's public URL
    world: World
    valid: dict[str, Any]  # exported badges, as their holders have them
    revoked: dict[str, Any]
    tampered: dict[str, Any]  # as exported; the database's copy was altered afterwards
    spare: dict[str, Any]
    expired: dict[str, Any]
    expiring: dict[str, Any]  # valid until EXPIRES_LATER
    baked_png: bytes  # the valid badge baked into a PNG, as `anchor export --format png` writes it
    out: Path

    def page_url(self, badge: dict[str, Any]) -> str:
        return f"{self.url}/credentials/{uuid_of(badge)}"


def uuid_of(badge: dict[str, Any]) -> str:
    return str(badge["id"]).removeprefix("urn:uuid:")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    require_tools()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """``open_page("desktop" | "phone", url=None) -> Page``: a page in a fresh context (1280 px
    desktop, or a 390 px touch phone that honours the viewport meta tag) with axe-core injected
    before any of the page's own scripts. A script error or a Content-Security-Policy refusal on
    the page fails the test."""
    contexts = []
    problems: list[str] = []

    def opener(kind: str = "desktop", url: str | None = None) -> Page:
        phone = kind == "phone"
        context = browser.new_context(viewport=PHONE if phone else DESKTOP, is_mobile=phone, has_touch=phone,
                                      device_scale_factor=1, locale="en-GB", color_scheme="light")
        context.set_default_timeout(ACTION_TIMEOUT)
        context.add_init_script(path=str(AXE))
        # Hermetic: nothing leaves this machine (an issuer's image on https:// fails at once, as
        # on a closed network, and the page must cope).
        context.route(OFFSITE, lambda route: route.abort("internetdisconnected"))
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
        page.on("console", lambda m: problems.append(f"console: {m.text}")
                if m.type == "error" and "Content Security Policy" in m.text else None)
        if url is not None:
            page.goto(url)
        return page

    yield opener
    for context in contexts:
        context.close()
    assert not problems, "the page reported: " + "; ".join(problems)


def _issue_one(world: World, name: str, email: str, *, valid_from: datetime | None, valid_until: datetime) -> dict[str, Any]:
    """Issue, anchor and export one more credential of the world's issuer; its exported badge."""
    row = world.store.issuer(world.issuer.address)
    assert row is not None
    key = dev_signing_key_for(world.issuer.address)
    sign = signer_for(row.did, key, row.signing_key)
    issue_credentials(world.store, row, achievement(), parse_roster(f"name,email\n{name},{email}\n"),
                      valid_from=valid_from, valid_until=valid_until, sign=sign)
    Anchorer(world.store, world.registry, world.issuer, row).run()
    out = world.out.parent / f"export-{email.split('@')[0]}"
    export_credentials(world.store, row.id, world.issuer.address, out, sign=sign)
    for path in out.glob("*.json"):
        badge = json.loads(path.read_text())
        if badge.get("validUntil", "").startswith(valid_until.strftime("%Y-%m-%dT%H:%M")):
            return badge  # type: ignore[no-any-return]
    raise AssertionError(f"the credential of {email} was not exported")


def _tamper(world: World, badge: dict[str, Any]) -> None:
    """Alter the credential's stored document behind the issuer's back: the holder's name."""
    name = badge["credentialSubject"]["identifier"][1]["identityHash"]
    with world.store.session() as s:
        pk = s.scalar(select(CredentialRow.id).where(CredentialRow.credential_id == badge["id"]))
        document = s.scalar(select(DocumentRow.document).where(DocumentRow.credential_pk == pk))
        assert pk is not None and document is not None and name.encode() in document
        s.execute(update(DocumentRow).where(DocumentRow.credential_pk == pk)
                  .values(document=document.replace(name.encode(), b"Mallory Forger")))


@pytest.fixture(scope="session")
def site(anvil: DevChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    world = make_world(Chain(anvil.rpc_url), tmp_path_factory.mktemp("browser"), n=4)
    now = datetime.now(UTC).replace(microsecond=0)
    expired = _issue_one(world, "Ex Pired", "expired@example.org", valid_from=now - timedelta(days=400),
                         valid_until=now - timedelta(days=30))
    expiring = _issue_one(world, "Re Newable", "renewable@example.org", valid_from=None, valid_until=EXPIRES_LATER)
    valid, revoked, tampered, spare = (world.badge(n) for n in range(4))
    row = world.store.issuer(world.issuer.address)
    assert row is not None
    request_revocation(world.store, row.id, [revoked["id"]], REVOCATION_REASON, None)
    submit_revocations(world.store, world.registry, world.issuer, row.id)
    _tamper(world, tampered)
    exported = (world.out / f"{uuid_of(valid)}.json").read_bytes()
    baked = dict(FormRenderer(("png",))(uuid_of(valid), exported))[f"{uuid_of(valid)}.png"]
    app = create_app(ServiceConfig(rpc_url=anvil.rpc_url, registry=world.registry.address, database_url=world.db_url, head_ttl=0.2))
    with live_server(app) as base:
        world.store.set_issuer_identity(row.id, public_url=base)
        yield Site(base, world, valid, revoked, tampered, spare, expired, expiring, baked, world.out)
