"""The pure parts of delivery: manifest cells, the manifest's fast LinkedIn links (held to
core.sharing), the supersedes link in a renewed credential, SMTP error classes, the email's
headers and parts, and the SMTP settings."""

from __future__ import annotations

import hashlib
import json
import smtplib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchor.app.delivery import Letter, classify, compose, to_message
from anchor.app.manifest import Links, safe_cell
from anchor.app.reissue import document_digest, link_superseded, superseded_id
from anchor.config import load_settings
from anchor.core import multibase
from anchor.core.canonical import canonical_bytes
from anchor.core.credential import CredentialFactory, IssuerProfile
from anchor.core.errors import ConfigError
from anchor.core.records import Issuer, Outgoing
from anchor.core.sharing import linkedin_url, page_url
from anchor.core.timefmt import from_unix

ISSUER = Issuer(1, "0x" + "11" * 20, "https://uni.example/issuer", '{"name": "Uni & Co"}', 0, public_url="https://uni.example/")


@given(st.text())
def test_a_manifest_cell_never_starts_a_formula(value: str) -> None:
    cell = safe_cell(value)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell == value or cell == "'" + value


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_starts_are_quoted(value: str) -> None:
    assert safe_cell(value) == "'" + value


@settings(max_examples=200, deadline=None)
@given(name=st.text(min_size=1, max_size=60), start=st.integers(0, 4_000_000_000),
       length=st.one_of(st.none(), st.integers(1, 400_000_000)), uuid_int=st.integers(0, 2**122 - 1))
def test_manifest_links_are_core_sharings_links(name: str, start: int, length: int | None, uuid_int: int) -> None:
    h = f"{uuid_int:032x}"
    cid = f"urn:uuid:{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:]}"
    until = start + length if length is not None else None
    links = Links(ISSUER)
    page = page_url("https://uni.example/", cid)
    assert links.page(cid) == page
    expected = linkedin_url(name, "Uni & Co", from_unix(start), from_unix(until) if until is not None else None, page,
                            cid.removeprefix("urn:uuid:"))
    assert links.linkedin(cid, name, start, until, page) == expected
    assert links.linkedin(cid, name, start, until, page) == expected  # from the cached template too


def test_a_renewal_links_the_credential_it_supersedes() -> None:
    factory = CredentialFactory(IssuerProfile(id="did:example:uni", name="Uni"),
                                {"id": "https://uni.example/a/1", "type": ["Achievement"], "name": "A", "description": "D",
                                 "criteria": {"narrative": "C"}})
    old = factory.build(name="Ada", email="ada@example.org", valid_from=datetime(2025, 1, 1, tzinfo=UTC))
    new = factory.build(name="Ada", email="ada@example.org", valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    linked = link_superseded(new.canonical, old.credential_id, old.canonical)
    document = json.loads(linked)
    assert canonical_bytes(document) == linked  # still RFC 8785
    assert document["relatedResource"] == [{"id": old.credential_id, "digestMultibase": document_digest(old.canonical)}]
    assert superseded_id(document) == old.credential_id and superseded_id(json.loads(new.canonical)) is None
    digest = multibase.decode(document_digest(old.canonical))
    assert digest == b"\x12\x20" + hashlib.sha256(old.canonical).digest()
    assert {k: v for k, v in document.items() if k != "relatedResource"} == json.loads(new.canonical)


def test_smtp_errors_are_classified() -> None:
    assert classify(smtplib.SMTPRecipientsRefused({"a@x": (550, b"5.1.1 no such user")})) == (False, "550 5.1.1 no such user")
    assert classify(smtplib.SMTPRecipientsRefused({"a@x": (450, b"busy")})) == (True, "450 busy")
    assert classify(smtplib.SMTPDataError(451, b"try\r\nlater")) == (True, "451 try later")
    assert classify(smtplib.SMTPDataError(554, "rejected")) == (False, "554 rejected")
    assert classify(smtplib.SMTPServerDisconnected("gone"))[0] is True
    assert classify(ConnectionRefusedError(111, "refused"))[0] is True


def _outgoing(name: str, achievement: str = "Data <Analytics>") -> Outgoing:
    return Outgoing(1, "urn:uuid:0192a1b2-c3d4-7e5f-8a9b-000000000001", name, "ada@example.org", achievement, 1, 0,
                    1_790_000_000, None, b"{}", None, None)


def test_headers_cannot_be_injected_and_html_is_escaped() -> None:
    letter = compose(_outgoing("Ada\r\nBcc: victim@example.org"), b'{"id":"x"}', b"\x89PNG", "Uni\nX-Evil: 1",
                     Links(ISSUER))
    message = to_message(letter, "Uni <badges@uni.example>", "<1@uni.example>")
    text = message.as_string()
    assert "\nBcc:" not in text and "\nX-Evil:" not in text
    assert message["Subject"] == "Your badge: Data <Analytics> from Uni X-Evil: 1"
    assert message["To"].addresses[0].display_name == "Ada Bcc: victim@example.org"
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None and "Data &lt;Analytics&gt;" in html_part.get_content()
    assert [p.get_filename() for p in message.iter_attachments()] == [
        "0192a1b2-c3d4-7e5f-8a9b-000000000001.json", "0192a1b2-c3d4-7e5f-8a9b-000000000001.png"]
    assert isinstance(letter, Letter) and letter.page_url == "https://uni.example/credentials/0192a1b2-c3d4-7e5f-8a9b-000000000001"


def test_smtp_settings() -> None:
    s = load_settings(env={"ANCHOR_SMTP_HOST": "mail.example", "ANCHOR_SMTP_STARTTLS": "no", "ANCHOR_SMTP_PORT": "2525",
                           "ANCHOR_SMTP_PASSWORD": "hunter2"})
    assert (s.smtp_host, s.smtp_port, s.smtp_starttls, s.smtp_password) == ("mail.example", 2525, False, "hunter2")
    assert "hunter2" not in repr(s)
    assert load_settings(env={}).smtp_starttls is True
    with pytest.raises(ConfigError, match="must be true or false"):
        load_settings(env={"ANCHOR_SMTP_STARTTLS": "maybe"})
    with pytest.raises(ConfigError, match="smtp_attempts must be at least 1"):
        load_settings(env={"ANCHOR_SMTP_ATTEMPTS": "0"})
