"""Issue 11's "done when", end to end in a real browser: a holder goes from their email to their
page to LinkedIn, and an employer goes from that link to a verdict they understand.

1. The issuer notifies the holder (``anchor.app.delivery.notify_holders``, what ``anchor notify``
   runs) through a real SMTP server (aiosmtpd on a free port); the message the server received
   carries the badge (JSON, and the same badge baked into a PNG) and the link to its page.
2. The holder opens the email (its HTML part, in the browser, on a phone) and follows the link:
   the page says first, in words, that the badge is verified and by whom; its "Add to LinkedIn
   profile" link carries LinkedIn's add-certification parameters (this page as certUrl) and opens
   in a new tab (the tab's trip to linkedin.com is refused: nothing leaves this machine).
3. The employer takes the certUrl from that link to the verify page ``/``, pastes it and hears the
   same verdict in the live region; then opens the PNG attached to the email: verified again,
   read as a baked PNG.
4. The issuer revokes the credential: the same page says "Revoked on ..." first and offers
   LinkedIn no more; the employer's link now reads as revoked.

The holder's credential is issued and anchored in its own batch of the shared ``site`` world, so
the other browser tests' credentials are untouched. Screenshots: test-artifacts/journey-*.png.
"""

from __future__ import annotations

import email
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import FilePayload, Locator, Page, expect

from anchor.app.anchoring import Anchorer
from anchor.app.delivery import SmtpMailer, SmtpSettings, notify_holders
from anchor.app.issuing import issue_credentials
from anchor.app.manifest import issuer_name
from anchor.app.revoking import request_revocation, submit_revocations
from anchor.app.signing import signer_for
from anchor.app.signing_keys import dev_signing_key_for
from anchor.chain.anvil import free_port
from anchor.core.forms import read_badge
from anchor.core.roster import parse_roster
from tests.browser.conftest import REVOCATION_REASON, Site
from tests.browser.support import screenshot
from tests.world import achievement

pytestmark = pytest.mark.chain

HOLDER, HOLDER_EMAIL = "Joan Holder", "joan.holder@example.org"
ACHIEVEMENT = "Data Analytics with SQL and Python"
VERDICT_TIMEOUT = 15_000  # ms, as in test_verify_page


class Inbox:
    """An SMTP server's handler that keeps every message it accepts, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK queued"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, SmtpSettings]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, SmtpSettings(host="127.0.0.1", port=port, sender="Uni Badges <badges@uni.example>",
                                  starttls=False, timeout=10, attempts=1, backoff=0.01)
    finally:
        controller.stop()


def in_words(moment: datetime) -> str:
    day = moment.astimezone(UTC)
    return f"{day.day} {day:%B} {day.year}"


def first_line(region: Locator) -> str:
    """A region's first line of text as rendered (a banner's decorative mark aside)."""
    return next((line.strip() for line in region.inner_text().splitlines() if re.search(r"\w", line)), "")


def first_line_of_main(page: Page) -> str:
    return first_line(page.locator("main"))


def read_as(page: Page) -> Any:
    """The value shown beside "Read as" in the verify page's facts."""
    return page.locator("main dl#result-facts dt:text-is('Read as') + dd")


def test_from_the_email_to_the_page_to_linkedin_to_an_employers_verdict(
        open_page: Callable[..., Page], site: Site, smtp: tuple[Inbox, SmtpSettings]) -> None:
    inbox, settings = smtp
    world = site.world
    issuer = world.store.issuer(world.issuer.address)  # read now: its public URL is the live service's
    assert issuer is not None and issuer.public_url == site.url
    sign = signer_for(issuer.did, dev_signing_key_for(world.issuer.address), issuer.signing_key)
    issue_credentials(world.store, issuer, achievement(), parse_roster(f"name,email\n{HOLDER},{HOLDER_EMAIL}\n"), sign=sign)
    [batch] = Anchorer(world.store, world.registry, world.issuer, issuer).run().outcomes
    assert batch.leaf_count == 1

    # 1. The issuer notifies the holders of that batch; the holder's message arrives.
    report = notify_holders(world.store, issuer, issuer_name(issuer), mailer=SmtpMailer(settings), settings=settings,
                            at=int(time.time()), batch_root=batch.root, sign=sign)
    assert (report.sent, report.failed, report.stopped) == (1, [], None)
    [message] = inbox.messages
    assert str(message["To"]) == f"{HOLDER} <{HOLDER_EMAIL}>"
    assert str(message["Subject"]) == f"Your badge: {ACHIEVEMENT} from Uni"
    files = {str(part.get_filename()): (part.get_content_type(), part.get_content()) for part in message.iter_attachments()}
    [json_name] = [name for name in files if name.endswith(".json")]
    uuid = json_name.removesuffix(".json")
    assert set(files) == {f"{uuid}.json", f"{uuid}.png"}
    assert files[json_name][0] == "application/json" and files[f"{uuid}.png"][0] == "image/png"
    badge_bytes, png = files[json_name][1], files[f"{uuid}.png"][1]
    baked = read_badge(png)
    credential = read_badge(badge_bytes).credential
    assert baked.format == "png" and baked.credential == credential
    assert credential["id"] == f"urn:uuid:{uuid}"
    assert credential["credentialSubject"]["identifier"][1]["identityHash"] == HOLDER
    page_url = f"{site.url}/credentials/{uuid}"
    text_part, html_part = message.get_body(preferencelist=("plain",)), message.get_body(preferencelist=("html",))
    assert text_part is not None and html_part is not None
    assert page_url in text_part.get_content()
    issued = in_words(datetime.fromisoformat(credential.get("awardedDate") or credential["validFrom"]))
    headline = f"Verified: issued by Uni on {issued}, recorded on chain 31337, not revoked"

    # 2. The holder reads the email on a phone and follows the link to their page.
    holder = open_page("phone")
    holder.set_content(html_part.get_content())
    email_linkedin = holder.get_by_role("link", name="Add it to your LinkedIn profile").get_attribute("href")
    screenshot(holder, "journey-1-email-phone")
    with holder.expect_navigation():
        holder.get_by_role("link", name="Your badge page").click()
    assert holder.url == page_url
    expect(holder.locator("#verdict-headline")).to_contain_text(headline)
    assert first_line_of_main(holder).startswith(headline), first_line_of_main(holder)
    expect(holder.get_by_role("heading", level=1)).to_have_text(ACHIEVEMENT)
    expect(holder.locator("main")).to_contain_text(HOLDER)
    linkedin = holder.get_by_role("link", name="Add to LinkedIn profile")
    expect(linkedin).to_be_visible()
    href = linkedin.get_attribute("href")
    assert href is not None and href == email_linkedin  # the email and the page offer the same link
    parts = urlsplit(href)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.linkedin.com", "/profile/add"), href
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)
    assert all(len(v) == 1 for v in query.values()), query
    when = datetime.fromisoformat(credential["validFrom"]).astimezone(UTC)
    assert {k: v[0] for k, v in query.items()} == {
        "startTask": "CERTIFICATION_NAME", "name": ACHIEVEMENT, "organizationName": "Uni",
        "issueYear": str(when.year), "issueMonth": str(when.month), "certUrl": page_url, "certId": uuid,
    }
    assert linkedin.get_attribute("target") == "_blank"
    assert "noopener" in (linkedin.get_attribute("rel") or "").split()
    screenshot(holder, "journey-2-page-phone")
    # Clicking opens a new tab bound for that very link (the test's network refuses the trip to
    # linkedin.com) and leaves this page where it is.
    with holder.context.expect_page() as tab, \
            holder.context.expect_event("requestfailed", lambda r: r.url.startswith("https://www.linkedin.com/")) as trip:
        linkedin.click()
    assert trip.value.url == href and trip.value.frame.page == tab.value
    assert tab.value != holder and holder.url == page_url
    tab.value.close()

    # 3. The employer gets the link (the certUrl LinkedIn shows) and checks it on the verify page.
    cert_url = query["certUrl"][0]
    employer = open_page("desktop", site.url + "/")
    employer.get_by_role("textbox", name=re.compile(r"^The badge")).fill(cert_url)
    employer.get_by_role("button", name="Verify").click()
    expect(employer.get_by_role("status")).to_contain_text(headline, timeout=VERDICT_TIMEOUT)
    expect(read_as(employer)).to_have_text("credential JSON")
    expect(employer.locator("#credential-facts")).to_contain_text(HOLDER)
    screenshot(employer, "journey-3-employer-link-desktop")
    # ... and opens the baked PNG the holder forwarded from the email.
    employer.locator("main input[type=file]").set_input_files(files=FilePayload(name=f"{uuid}.png", mimeType="image/png", buffer=png))
    expect(employer.locator("#file-status")).to_contain_text("Ready to verify")
    employer.get_by_role("button", name="Verify").click()
    expect(read_as(employer)).to_have_text(re.compile(r"^baked PNG\b"), timeout=VERDICT_TIMEOUT)
    expect(employer.get_by_role("status")).to_contain_text(headline)
    assert first_line(employer.get_by_role("status")) == headline
    screenshot(employer, "journey-4-employer-png-desktop")

    # 4. The issuer revokes it: the same page says so first, and LinkedIn is offered no more.
    request_revocation(world.store, issuer.id, [credential["id"]], REVOCATION_REASON, None)
    submit_revocations(world.store, world.registry, world.issuer, issuer.id)
    revoked = re.compile(r"Revoked on \d{1,2} [A-Z][a-z]+ \d{4} \(reason: issued in error\)")
    deadline = time.monotonic() + 5  # the service caches the chain's head for head_ttl (0.2 s)
    while True:
        holder.reload()
        if revoked.match(first_line_of_main(holder)) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert revoked.match(first_line_of_main(holder)), first_line_of_main(holder)
    expect(holder.get_by_role("link", name=re.compile("LinkedIn", re.I))).to_have_count(0)
    screenshot(holder, "journey-5-revoked-page-phone")
    employer.goto(site.url + "/")
    employer.get_by_role("textbox", name=re.compile(r"^The badge")).fill(cert_url)
    employer.get_by_role("button", name="Verify").click()
    expect(employer.get_by_role("status")).to_contain_text(revoked, timeout=VERDICT_TIMEOUT)
    assert revoked.match(first_line(employer.get_by_role("status"))), first_line(employer.get_by_role("status"))
    screenshot(employer, "journey-6-employer-revoked-desktop")
