"""``anchor notify`` against a real SMTP server (aiosmtpd on a free port), a real Anvil and
SQLite/PostgreSQL: dry run, delivery with the badge attached, nothing sent twice, retries of a
temporary failure, a refused address recorded and reported, interrupted sends left alone."""

from __future__ import annotations

import email
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from anchor.chain.anvil import DevChain
from anchor.core.forms import read_badge
from anchor.store import Store
from tests.helpers import EXAMPLES, Cli

pytestmark = pytest.mark.chain

ACHIEVEMENT = str(EXAMPLES / "achievement.yaml")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mailbox:
    """An SMTP server's handler: keeps what it accepts; can refuse addresses or fail DATA for a while."""

    messages: list[EmailMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # 550 at RCPT TO
    fail_data: int = 0  # answer DATA with 451 this many more times
    data_attempts: int = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_attempts += 1
        if self.fail_data > 0:
            self.fail_data -= 1
            return "451 4.3.0 try again later"
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK queued"


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    for key, value in {"HOST": "127.0.0.1", "PORT": str(port), "FROM": "Uni Badges <badges@uni.example>",
                       "STARTTLS": "false", "BACKOFF": "0.01", "ATTEMPTS": "3", "TIMEOUT": "10"}.items():
        monkeypatch.setenv(f"ANCHOR_SMTP_{key}", value)
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def cli(tmp_path: Path, anvil: DevChain, capsys: pytest.CaptureFixture[str], db_url: str) -> Cli:
    c = Cli(tmp_path / "home", anvil.rpc_url, capsys, db_url=db_url)
    c.setup_issuer()
    roster = tmp_path / "r.csv"
    roster.write_text("name,email,valid_until\n"
                      "Ada Lovelace,ada@example.org,2028-12-31\n"
                      "Eve <b>&amp; \"Co\"</b>,eve@example.org,\n"
                      "Grace Hopper,grace@example.org,\n")
    c.ok("issue", str(roster), "--achievement", ACHIEVEMENT)
    c.ok("anchor")
    return c


def parts(message: EmailMessage) -> tuple[str, str, dict[str, bytes]]:
    text = message.get_body(preferencelist=("plain",))
    page = message.get_body(preferencelist=("html",))
    assert text is not None and page is not None
    files = {str(p.get_filename()): p.get_content() for p in message.iter_attachments()}
    return text.get_content(), page.get_content(), files


def test_dry_run_sends_and_records_nothing(cli: Cli, mailbox: Mailbox, db_url: str) -> None:
    out = cli.ok("notify", "--dry-run")
    assert out.count("would send to ") == 3 and "dry run: 3 message(s) would be sent; nothing was sent or recorded" in out
    assert "would send to ada@example.org: 'Your badge: Data Analytics with SQL and Python from Uni'" in out
    assert mailbox.messages == [] and mailbox.data_attempts == 0
    store = Store.open(db_url)
    try:
        issuer = store.issuers()[0]
        assert store.delivery_counts(issuer.id) == {}
    finally:
        store.close()


def test_notify_delivers_each_badge_once(cli: Cli, mailbox: Mailbox, tmp_path: Path, db_url: str) -> None:
    out = cli.ok("notify")
    assert "sent 3 message(s); 0 failed" in out
    assert sorted(str(m["To"].addresses[0].addr_spec) for m in mailbox.messages) == \
        ["ada@example.org", "eve@example.org", "grace@example.org"]
    cli.ok("export", str(tmp_path / "badges"))
    ada = next(m for m in mailbox.messages if "ada@" in str(m["To"]))
    assert str(ada["To"]) == "Ada Lovelace <ada@example.org>"
    assert str(ada["From"]) == "Uni Badges <badges@uni.example>"
    assert str(ada["Subject"]) == "Your badge: Data Analytics with SQL and Python from Uni"
    assert ada["Message-ID"] and ada["Message-ID"].endswith("@uni.example>")
    text, page, files = parts(ada)
    [json_name] = [n for n in files if n.endswith(".json")]
    uuid = json_name.removesuffix(".json")
    assert set(files) == {f"{uuid}.json", f"{uuid}.png"}
    # The attached badge is the very badge `anchor export` writes, and the PNG carries it baked in.
    assert files[json_name] == (tmp_path / "badges" / json_name).read_bytes()
    baked = read_badge(files[f"{uuid}.png"])
    assert baked.format == "png" and baked.credential == json.loads(files[json_name])
    link = f"http://127.0.0.1:8000/credentials/{uuid}"
    assert link in text and f'href="{link}"' in page
    assert "https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME" in text
    assert "Dear Ada Lovelace," in text and "Uni has awarded you \"Data Analytics with SQL and Python\"." in text
    code, out, _ = cli("verify", str(tmp_path / "badges" / json_name))
    assert code == 0 and out.startswith("VALID")

    # Values from the database are escaped in the HTML part, and kept as they are in the text part.
    eve = next(m for m in mailbox.messages if "eve@" in str(m["To"]))
    text, page, _ = parts(eve)
    assert "Dear Eve <b>&amp; \"Co\"</b>," in text
    assert "Dear Eve &lt;b&gt;&amp;amp; &quot;Co&quot;&lt;/b&gt;," in page and "<b>&amp;" not in page

    # A rerun sends nothing twice.
    out = cli.ok("notify")
    assert "sent 0 message(s); 0 failed" in out and len(mailbox.messages) == 3
    store = Store.open(db_url)
    try:
        issuer = store.issuers()[0]
        assert store.delivery_counts(issuer.id) == {"sent": 3}
        record = store.delivery(f"urn:uuid:{uuid}")
        assert record is not None and (record.status, record.attempts, record.email) == ("sent", 1, "ada@example.org")
        assert record.message_id == ada["Message-ID"] and record.sent_at is not None
    finally:
        store.close()

    # A credential issued later is the only one the next run sends.
    roster = tmp_path / "later.csv"
    roster.write_text("name,email\nKatherine Johnson,katherine@example.org\n")
    cli.ok("issue", str(roster), "--achievement", ACHIEVEMENT)
    assert "sent 0 message(s)" in cli.ok("notify")  # not anchored yet: no proof to send
    cli.ok("anchor")
    assert "sent 1 message(s)" in cli.ok("notify", "--new")
    assert [str(m["To"].addresses[0].addr_spec) for m in mailbox.messages[3:]] == ["katherine@example.org"]


def test_a_temporary_failure_is_retried(cli: Cli, mailbox: Mailbox, db_url: str) -> None:
    mailbox.fail_data = 2  # the server answers 451 twice, then accepts
    out = cli.ok("notify", "--batch", _root(cli))
    assert "sent 3 message(s) (1 after a retry); 0 failed" in out
    assert len(mailbox.messages) == 3 and mailbox.data_attempts == 5
    store = Store.open(db_url)
    try:
        attempts = sorted(d.attempts for d in (store.delivery(c) for c in _ids(store)) if d is not None)
        assert attempts == [1, 1, 3]
    finally:
        store.close()


def test_a_refused_address_is_recorded_failed_and_reported(cli: Cli, mailbox: Mailbox, db_url: str) -> None:
    mailbox.refuse = {"eve@example.org"}
    code, out, err = cli("notify")
    assert code == 1
    assert "sent 2 message(s); 1 failed" in out
    assert "FAILED" in err and "to eve@example.org: 550 5.1.1 no such mailbox" in err
    assert "1 message(s) could not be delivered" in err
    assert sorted(str(m["To"].addresses[0].addr_spec) for m in mailbox.messages) == ["ada@example.org", "grace@example.org"]
    store = Store.open(db_url)
    try:
        issuer = store.issuers()[0]
        assert store.delivery_counts(issuer.id) == {"sent": 2, "failed": 1}
        eve = cli.ok("find", "--email", "eve@example.org").split()[0]
        record = store.delivery(eve)
        assert record is not None and record.status == "failed" and record.attempts == 1  # permanent: not retried
        assert record.last_error == "550 5.1.1 no such mailbox"
        # --new leaves failed deliveries alone; a plain rerun tries them again (and only them).
        assert "sent 0 message(s); 0 failed" in cli.ok("notify", "--new")
        mailbox.refuse = set()
        assert "sent 1 message(s); 0 failed" in cli.ok("notify")
        record = store.delivery(eve)
        assert record is not None and (record.status, record.attempts, record.last_error) == ("sent", 2, None)
        assert len(mailbox.messages) == 3
    finally:
        store.close()


def test_an_interrupted_send_is_reported_not_resent(cli: Cli, mailbox: Mailbox, db_url: str) -> None:
    store = Store.open(db_url)
    try:
        issuer = store.issuers()[0]
        [first, *_] = store.outgoing(issuer.id, at=0)
        # What a run that died between the server's reply and the record leaves behind.
        assert store.claim_delivery(first.pk, first.holder_email, "<lost@uni.example>", was=None)
        assert not store.claim_delivery(first.pk, first.holder_email, "<again@uni.example>", was=None)  # compare-and-set
        out = cli.ok("notify")
        assert "sent 2 message(s); 0 failed" in out
        assert first.holder_email not in {str(m["To"].addresses[0].addr_spec) for m in mailbox.messages}
        _, _, err = cli("notify")
        assert f"{first.credential_id} to {first.holder_email} Message-ID <lost@uni.example>" in err
        assert "--resend-interrupted" in err
        assert "sent 1 message(s)" in cli.ok("notify", "--resend-interrupted")
        assert store.delivery_counts(issuer.id) == {"sent": 3}
    finally:
        store.close()


def test_an_unreachable_server_stops_the_run(cli: Cli, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    monkeypatch.setenv("ANCHOR_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ANCHOR_SMTP_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("ANCHOR_SMTP_FROM", "badges@uni.example")
    monkeypatch.setenv("ANCHOR_SMTP_STARTTLS", "false")
    monkeypatch.setenv("ANCHOR_SMTP_BACKOFF", "0.01")
    code, _, err = cli("notify")
    assert code == 1 and "stopped: the SMTP server 127.0.0.1:" in err and "is unreachable" in err
    store = Store.open(db_url)
    try:
        issuer = store.issuers()[0]
        assert store.delivery_counts(issuer.id) == {"failed": 1}  # the rest was not tried
    finally:
        store.close()


def test_login_failure_never_shows_the_password(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == b"badges" and data.password == b"right"
        return AuthResult(success=ok, handled=False)

    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False)
    controller.start()
    try:
        for key, value in {"HOST": "127.0.0.1", "PORT": str(port), "FROM": "badges@uni.example", "STARTTLS": "false",
                           "USER": "badges", "PASSWORD": "wrong-s3cret", "TIMEOUT": "10"}.items():
            monkeypatch.setenv(f"ANCHOR_SMTP_{key}", value)
        code, out, err = cli("notify")
        assert code == 1 and "refused the login of 'badges'" in err
        assert "wrong-s3cret" not in out + err
        monkeypatch.setenv("ANCHOR_SMTP_PASSWORD", "right")
        assert "sent 3 message(s)" in cli.ok("notify")
        assert len(box.messages) == 3
    finally:
        controller.stop()
    toml = tmp_path / "anchor.toml"
    toml.write_text('smtp_password = "x"\n')
    code, _, err = cli("--config", str(toml), "notify")
    assert code == 3 and "smtp_password is a secret and is read only from $ANCHOR_SMTP_PASSWORD" in err


def test_notify_needs_an_smtp_server(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANCHOR_SMTP_HOST", raising=False)
    code, _, err = cli("notify")
    assert code == 3 and "anchor notify needs an SMTP server" in err


def _root(cli: Cli) -> str:
    return next(line.split()[-1] for line in cli.ok("status").splitlines() if "confirmed" in line)


def _ids(store: Store) -> list[str]:
    issuer = store.issuers()[0]
    return [f.credential_id for f in store.find_credentials(issuer.id, name="", at=0)]


def test_no_page_link_for_a_hidden_page_or_when_pages_are_off(cli: Cli, mailbox: Mailbox) -> None:
    ada = cli.ok("find", "--email", "ada@example.org").split()[0]
    cli.ok("hide", ada)
    cli.ok("notify", "--batch", _root(cli))
    links = {str(m["To"].addresses[0].addr_spec): "/credentials/" in parts(m)[0] for m in mailbox.messages}
    assert links == {"ada@example.org": False, "eve@example.org": True, "grace@example.org": True}
    cli.ok("pages", "off")
    roster = Path(cli.home).parent / "later.csv"
    roster.write_text("name,email\nKatherine Johnson,katherine@example.org\n")
    cli.ok("issue", str(roster), "--achievement", ACHIEVEMENT)
    cli.ok("anchor")
    out = cli.ok("notify", "--dry-run")
    assert "dry run: 1 message(s)" in out and "would send to katherine@example.org" in out and out.rstrip().count(" page -") == 1
