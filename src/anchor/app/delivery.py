"""``anchor notify``: email each holder their badge and their page link, once.

Each message carries the badge as ``<uuid>.json`` (the Open Badges 3.0 credential with its proof
set, as ``anchor export`` writes it) and ``<uuid>.png`` (the same badge baked into an image),
with a plain-text and an HTML part (every value from the database HTML-escaped) naming the
achievement, the issuer, the credential page and LinkedIn's add-to-profile link.

**Sent once.** The ``deliveries`` table has one row per credential. Before a message is handed
to the SMTP server its row is set to ``sending`` (compare-and-set, so two runs at once never
both take it); after the server's answer it becomes ``sent`` or ``failed``. A rerun sends to
credentials with no row, retries ``failed`` ones (a refused message was not delivered, so
retrying cannot duplicate it) unless ``only_new``, and never sends ``sent`` ones.

**At most once across crashes.** A run that dies between the server accepting a message and
the ``sent`` record leaves the row ``sending``: whether the holder got it is unknown. Such rows
are *not* resent by default (a holder should not get the same badge twice because the issuer's
machine crashed); ``anchor notify`` lists them with their Message-ID, to look up in the mail
server's log, and ``resend_interrupted`` sends them again. The alternative, at least once
(resend what is not recorded ``sent``), would be one flag away; we chose the one that never
spams a holder and always tells the issuer.

**Retries.** A temporary failure (a 4xx reply, a lost or refused connection) is retried with
exponential backoff, at most ``attempts`` tries per message, reusing the same Message-ID (mail
systems drop duplicates by it when a connection was lost after the server had the message). A
permanent failure (a 5xx reply, e.g. an unknown mailbox) is recorded ``failed`` at once. If the
server itself is unreachable or refuses our login, the run stops instead of failing every
message: what was not tried stays for the next run.
"""

from __future__ import annotations

import html
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

from anchor.app.badge_forms import FormRenderer
from anchor.app.exporting import credential_with_proof, receipts_for
from anchor.app.manifest import Links
from anchor.core import merkle
from anchor.core.errors import ConfigError, InputError, NotFound, StoreError
from anchor.core.proof import ReceiptRenderer
from anchor.core.status import BatchStatus
from anchor.store import Issuer, Outgoing, Store

PAGE = 200  # credentials read per query


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str  # the From header: "Name <address>" or an address
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    timeout: float = 30.0
    attempts: int = 3
    backoff: float = 2.0


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


class ServerUnusable(Exception):
    """The SMTP server cannot be used at all (unreachable, refuses our login or our sender)."""


class SmtpMailer:
    """One SMTP connection, opened on first use and reopened after a failure."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.starttls:
                if not smtp.has_extn("starttls"):
                    raise ServerUnusable(f"the SMTP server {s.host}:{s.port} does not offer STARTTLS "
                                         "(set smtp_starttls = false only for a server on a trusted network)")
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.user:
                try:
                    smtp.login(s.user, s.password or "")
                except smtplib.SMTPAuthenticationError as e:
                    raise ServerUnusable(f"the SMTP server refused the login of {s.user!r}: {e.smtp_code} "
                                         f"{_reply_text(e.smtp_error)}") from None
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            self._smtp.send_message(message)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


def _reply_text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())[:300]


def classify(error: BaseException) -> tuple[bool, str]:
    """(temporary, one line) for an error from sending one message."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        replies = list(error.recipients.values())
        code, text = replies[0] if replies else (550, b"refused")
        return 400 <= code < 500, f"{code} {_reply_text(text)}"
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500, f"{error.smtp_code} {_reply_text(error.smtp_error)}"
    if isinstance(error, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError | OSError):
        return True, f"connection: {error}" if str(error) else f"connection: {type(error).__name__}"
    if isinstance(error, ValueError):  # a malformed address or header
        return False, f"bad message: {error}"
    return False, f"{type(error).__name__}: {error}"


def _one_line(text: str | None) -> str:
    """A header-safe value: no line breaks or control characters."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text or "").strip()


@dataclass(frozen=True)
class Letter:
    """What one holder is sent."""

    credential_id: str
    to: str
    name: str
    subject: str
    page_url: str | None
    attachments: tuple[tuple[str, str, bytes], ...]  # (file name, media type, bytes)
    text: str
    html: str


def compose(item: Outgoing, badge: bytes, png: bytes | None, issuer_name: str, links: Links) -> Letter:
    """The email for ``item`` (pure: no I/O)."""
    uuid = item.credential_id.removeprefix("urn:uuid:")
    name = _one_line(item.holder_name) or item.holder_email
    achievement = _one_line(item.achievement_name)
    organization = _one_line(issuer_name)
    page = links.page(item.credential_id) if links.public_pages and not item.hidden else None
    linkedin = links.linkedin(item.credential_id, item.achievement_name, item.valid_from, item.valid_until, page)
    files = [(uuid + ".json", "application/json", badge)]
    if png is not None:
        files.append((uuid + ".png", "image/png", png))
    names = " and ".join(f for f, _, _ in files)
    lines = [
        f"Dear {name},",
        "",
        f"{organization} has awarded you \"{achievement}\".",
        "",
    ]
    if page:
        lines += ["Your badge page, to share with anyone (it shows the badge and checks it live):", page, ""]
    lines += [
        "Add it to your LinkedIn profile:", linkedin, "",
        f"Your badge is attached: {names}. Keep it: it is an Open Badges 3.0 credential, signed by "
        f"{organization} and recorded on a blockchain, that anyone can verify.",
        "",
        f"Credential id: {item.credential_id}",
    ]
    e = html.escape
    body = [f"<p>Dear {e(name)},</p>", f"<p>{e(organization)} has awarded you <strong>{e(achievement)}</strong>.</p>"]
    if page:
        body.append(f'<p><a href="{e(page)}">Your badge page</a>: share it with anyone; it shows the badge and checks it live.</p>')
    body += [
        f'<p><a href="{e(linkedin)}">Add it to your LinkedIn profile</a></p>',
        f"<p>Your badge is attached: {e(names)}. Keep it: it is an Open Badges 3.0 credential, signed by "
        f"{e(organization)} and recorded on a blockchain, that anyone can verify.</p>",
        f"<p>Credential id: <code>{e(item.credential_id)}</code></p>",
    ]
    page_html = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{e(achievement)}</title></head>'
                 f"<body>{''.join(body)}</body></html>")
    return Letter(item.credential_id, item.holder_email, name, f"Your badge: {achievement} from {organization}", page,
                  tuple(files), "\n".join(lines) + "\n", page_html)


def to_message(letter: Letter, sender: str, message_id: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = letter.subject
    msg["From"] = sender
    local, _, domain = letter.to.rpartition("@")
    msg["To"] = Address(display_name=letter.name, username=local, domain=domain)
    msg["Message-ID"] = message_id
    msg.set_content(letter.text)
    msg.add_alternative(letter.html, subtype="html")
    for file_name, media, data in letter.attachments:
        maintype, subtype = media.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=file_name)
    return msg


@dataclass
class NotifyReport:
    sent: int = 0
    planned: list[Letter] = field(default_factory=list)  # dry run: what would be sent
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (credential id, email, last error)
    retried: int = 0  # messages that needed more than one try
    taken: int = 0  # claimed by another run at the same time
    interrupted: list[tuple[str, str, str | None]] = field(default_factory=list)  # left `sending` by a run that stopped
    stopped: str | None = None  # why the run stopped early (the server is unusable)


class Badges:
    """The complete badge (proof set included) of outgoing credentials, batch by batch."""

    def __init__(self, store: Store, issuer: Issuer, sign: Callable[[bytes], bytes] | None) -> None:
        self.store, self.issuer, self.sign = store, issuer, sign
        self._batch: tuple[int, list[bytes], ReceiptRenderer, int] | None = None
        self.png = FormRenderer(("png",), None)

    def badge(self, item: Outgoing) -> bytes:
        if self._batch is None or self._batch[0] != item.batch_id:
            batch = self.store.batch(item.batch_id)
            if batch is None or batch.status is not BatchStatus.CONFIRMED:
                raise StoreError(f"batch {item.batch_id} of {item.credential_id} is not confirmed")
            self._batch = (batch.id, self.store.levels(batch.id), receipts_for(batch, self.issuer.address), batch.leaf_count)
        _, levels, receipts, leaf_count = self._batch
        path = merkle.path_json(levels, item.leaf_index, leaf_count)
        signature = item.signature if item.signature is not None else self.sign(item.document) if self.sign else None
        return credential_with_proof(item.document, receipts.render(item.leaf_index, path), signature)

    def image(self, uuid: str, badge: bytes) -> bytes:
        return self.png(uuid, badge)[0][1]


def _outgoing(store: Store, issuer: Issuer, *, at: int, batch_id: int | None, retry_failed: bool,
              resend_interrupted: bool) -> Iterator[Outgoing]:
    after = 0
    while True:
        page = store.outgoing(issuer.id, at=at, batch_id=batch_id, retry_failed=retry_failed,
                              resend_interrupted=resend_interrupted, after_pk=after, limit=PAGE)
        if not page:
            return
        yield from page
        after = page[-1].pk


def notify_holders(store: Store, issuer: Issuer, issuer_name: str, *, mailer: Mailer | None, settings: SmtpSettings | None,
                   at: int, batch_root: bytes | None = None, only_new: bool = False, resend_interrupted: bool = False,
                   dry_run: bool = False, sign: Callable[[bytes], bytes] | None = None,
                   sleep: Callable[[float], None] = time.sleep,
                   on_result: Callable[[str, Letter, str | None], None] | None = None) -> NotifyReport:
    """Email the issuer's anchored, unrevoked, unexpired credentials to their holders; see the module doc.

    ``dry_run``: compose every message and return them in ``report.planned``; nothing is sent or
    recorded (``mailer`` and ``settings`` may be None). ``on_result(outcome, letter, error)`` is
    called per message (outcome: planned, sent, failed)."""
    if not dry_run and (mailer is None or settings is None):
        raise ConfigError("no SMTP server configured")
    batch_id = None
    if batch_root is not None:
        batch = store.batch_by_root(issuer.id, batch_root)
        if batch is None:
            raise NotFound(f"no batch with root 0x{batch_root.hex()} of this issuer in the database")
        if batch.status is not BatchStatus.CONFIRMED:
            raise InputError(f"batch {batch.id} is not anchored yet ({batch.status}); run `anchor anchor` first")
        batch_id = batch.id
    report = NotifyReport()
    links, badges = Links(issuer), Badges(store, issuer, sign)
    domain = (settings.sender.rpartition("@")[2].strip(" >") if settings else "") or "anchor.invalid"
    try:
        for item in _outgoing(store, issuer, at=at, batch_id=batch_id, retry_failed=not only_new,
                              resend_interrupted=resend_interrupted):
            badge = badges.badge(item)
            letter = compose(item, badge, badges.image(item.credential_id.removeprefix("urn:uuid:"), badge), issuer_name, links)
            if dry_run:
                report.planned.append(letter)
                if on_result:
                    on_result("planned", letter, None)
                continue
            assert mailer is not None and settings is not None
            message_id = make_msgid(domain=domain)
            if not store.claim_delivery(item.pk, item.holder_email, message_id, was=item.delivery):
                report.taken += 1
                continue
            error = _send_with_retries(mailer, settings, letter, message_id, item, store, report, sleep)
            if on_result:
                on_result("sent" if error is None else "failed", letter, error)
    except ServerUnusable as e:
        report.stopped = str(e)
    finally:
        if mailer is not None:
            mailer.close()
    report.interrupted = store.interrupted_deliveries(issuer.id)
    return report


def _send_with_retries(mailer: Mailer, settings: SmtpSettings, letter: Letter, message_id: str, item: Outgoing,
                       store: Store, report: NotifyReport, sleep: Callable[[float], None]) -> str | None:
    """Send one claimed message; record and return its outcome (None: sent, else the last error).
    Raises :class:`ServerUnusable` (after recording this message as failed) when the server
    cannot be used at all, so the run stops."""
    message = to_message(letter, settings.sender, message_id)
    error = ""
    for attempt in range(1, settings.attempts + 1):
        try:
            mailer.send(message)
        except ServerUnusable as e:
            store.finish_delivery(item.pk, sent=False, attempts=attempt, error=str(e))
            report.failed.append((item.credential_id, item.holder_email, str(e)))
            raise
        except Exception as e:  # smtplib's and the socket's errors, classified
            temporary, error = classify(e)
            if temporary and attempt < settings.attempts:
                sleep(settings.backoff * 2 ** (attempt - 1))
                continue
            store.finish_delivery(item.pk, sent=False, attempts=attempt, error=error)
            report.failed.append((item.credential_id, item.holder_email, error))
            if temporary and error.startswith("connection:"):  # the server is gone: stop, keep the rest for later
                raise ServerUnusable(f"the SMTP server {settings.host}:{settings.port} is unreachable ({error})") from None
            return error
        store.finish_delivery(item.pk, sent=True, attempts=attempt)
        report.sent += 1
        if attempt > 1:
            report.retried += 1
        return None
    return error  # not reached: the last attempt records and returns
